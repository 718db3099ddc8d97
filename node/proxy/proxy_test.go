package proxy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// quiet is how long a test watches for bytes that must not arrive.
	quiet = 300 * time.Millisecond
	// patience bounds every wait for something that must happen.
	patience = 10 * time.Second
)

// newTarget stands in for node To's cluster port. Tests accept from it
// themselves, so that they can tell when the proxy dials.
func newTarget(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

func newLink(t testing.TB, target string) *Link {
	t.Helper()
	l, err := Listen("a", "b", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func accept(t testing.TB, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	ln.SetDeadline(time.Now().Add(patience))
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatalf("target accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pipe opens a connection through l and returns its two ends: c at node
// From, s at node To.
func pipe(t testing.TB, l *Link, ln *net.TCPListener) (c, s *net.TCPConn) {
	t.Helper()
	c = dial(t, l.Addr())
	return c, accept(t, ln)
}

func readFull(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	if got := readFull(t, c, len(want)); string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read = %d, %v; want EOF", n, err)
	}
}

// expectSilence fails if anything, data or EOF, arrives on c within quiet.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(quiet))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("while blocked: read = %d, %v; want nothing", n, err)
	}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test after patience.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(patience); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	buf := make([]byte, n)
	rand.NewChaCha8(key).Read(buf)
	return buf
}

func TestListenRejectsNonLoopbackTarget(t *testing.T) {
	for _, target := range []string{"localhost:4222", "no-port", ":4222"} {
		if l, err := Listen("a", "b", target); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", target)
		}
	}
}

func TestForwardsBothWays(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	if l.From != "a" || l.To != "b" {
		t.Fatalf("link %s->%s, want a->b", l.From, l.To)
	}
	c, s := pipe(t, l, ln)
	go func() { // echo, then pass the end on
		io.Copy(s, s)
		s.CloseWrite()
	}()

	msg := randomBytes(1, 1<<20)
	werr := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(patience))
		_, err := c.Write(msg)
		werr <- err
	}()
	if got := readFull(t, c, len(msg)); !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	n := int64(len(msg))
	eventually(t, "byte counts", func() bool {
		st := l.Stats()
		return st.BytesForward == n && st.BytesBackward == n
	})
	if st := l.Stats(); st.Accepted != 1 || st.Active != 1 {
		t.Fatalf("stats %+v, want 1 accepted, 1 active", st)
	}
	want := []ConnInfo{{Client: c.LocalAddr().String(), Upstream: s.RemoteAddr().String()}}
	if got := l.Conns(); !slices.Equal(got, want) {
		t.Fatalf("Conns() = %v, want %v", got, want)
	}

	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c)
	eventually(t, "connection to end", func() bool { return l.Stats().Active == 0 })
	if got := l.Conns(); len(got) != 0 {
		t.Fatalf("Conns() = %v after close, want none", got)
	}
}

func TestBlockHoldsBytesBothWays(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)
	write(t, c, "ping")
	expectRead(t, s, "ping")
	write(t, s, "pong")
	expectRead(t, c, "pong")
	eventually(t, "ping and pong counted", func() bool {
		st := l.Stats()
		return st.BytesForward == 4 && st.BytesBackward == 4
	})

	l.Block()
	l.Block() // idempotent
	if !l.Blocked() {
		t.Fatal("Blocked() = false after Block")
	}
	// More than the socket buffers hold, so the writers block too.
	fwd, rev := randomBytes(2, 4<<20), randomBytes(3, 4<<20)
	werr := make(chan error, 2)
	for _, w := range []struct {
		c    net.Conn
		data []byte
	}{{c, fwd}, {s, rev}} {
		go func() {
			w.c.SetWriteDeadline(time.Now().Add(patience))
			_, err := w.c.Write(w.data)
			werr <- err
		}()
	}
	expectSilence(t, s)
	expectSilence(t, c)
	if st := l.Stats(); st.BytesForward != 4 || st.BytesBackward != 4 {
		t.Fatalf("stats %+v while blocked, want 4 bytes each way", st)
	}

	l.Unblock()
	l.Unblock()
	if l.Blocked() {
		t.Fatal("Blocked() = true after Unblock")
	}
	gotFwd, rerr := make([]byte, len(fwd)), make(chan error, 1)
	go func() { // both ways at once, since the writers block each other
		s.SetReadDeadline(time.Now().Add(patience))
		_, err := io.ReadFull(s, gotFwd)
		rerr <- err
	}()
	if !bytes.Equal(readFull(t, c, len(rev)), rev) {
		t.Fatal("backward bytes differ after unblock")
	}
	if err := <-rerr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotFwd, fwd) {
		t.Fatal("forward bytes differ after unblock")
	}
	for range 2 {
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewConnectionHeldWhileBlocked(t *testing.T) {
	for _, cut := range []struct{ fwd, rev bool }{{true, true}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("fwd=%v,rev=%v", cut.fwd, cut.rev), func(t *testing.T) {
			ln := newTarget(t)
			l := newLink(t, ln.Addr().String())
			l.BlockDirection(cut.fwd, cut.rev)
			c := dial(t, l.Addr())
			write(t, c, "early")
			eventually(t, "accept", func() bool { return l.Stats().Accepted == 1 })
			want := []ConnInfo{{Client: c.LocalAddr().String()}}
			if got := l.Conns(); !slices.Equal(got, want) {
				t.Fatalf("Conns() = %v while held, want %v", got, want)
			}
			if st := l.Stats(); st.Active != 1 {
				t.Fatalf("stats %+v, want 1 active", st)
			}

			ln.SetDeadline(time.Now().Add(quiet))
			if s, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("target accepted while blocked: %v", err)
			}

			l.Unblock()
			s := accept(t, ln)
			expectRead(t, s, "early")
			want[0].Upstream = s.RemoteAddr().String()
			if got := l.Conns(); !slices.Equal(got, want) {
				t.Fatalf("Conns() = %v, want %v", got, want)
			}
		})
	}
}

func TestCloseHeldWhileBlocked(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)

	l.Block()
	write(t, c, "bye")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, s)
	l.Unblock()
	expectRead(t, s, "bye")
	expectEOF(t, s)

	// The other direction stays open until it is closed too.
	write(t, s, "ok")
	expectRead(t, c, "ok")
	l.Block()
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, c)
	if st := l.Stats(); st.Active != 1 {
		t.Fatalf("stats %+v, want the connection still open", st)
	}
	l.Unblock()
	expectEOF(t, c)
	eventually(t, "connection to end", func() bool { return l.Stats().Active == 0 })
}

// TestResetHeldWhileBlocked: when node To resets the connection while the
// way back to From is cut, From learns nothing until the cut heals, even as
// the proxy fails to write to To.
func TestResetHeldWhileBlocked(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)
	write(t, s, "up") // the proxy has dialed and is copying
	expectRead(t, c, "up")
	l.BlockDirection(false, true)
	s.SetLinger(0) // close with a reset
	s.Close()
	write(t, c, "x")
	time.Sleep(50 * time.Millisecond) // let the reset land, so the next write fails
	write(t, c, "y")
	expectSilence(t, c)
	if st := l.Stats(); st.Active != 1 {
		t.Fatalf("stats %+v, want the connection still open", st)
	}
	l.Unblock()
	c.SetReadDeadline(time.Now().Add(patience))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after unblock: %v, want the connection ended", err)
	}
	eventually(t, "connection to end", func() bool { return l.Stats().Active == 0 })
}

func TestBlockDirection(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)

	l.BlockDirection(true, false)
	if fwd, rev := l.BlockedDirection(); !fwd || rev || !l.Blocked() {
		t.Fatalf("BlockedDirection() = %v, %v; Blocked() = %v", fwd, rev, l.Blocked())
	}
	write(t, c, "to")
	expectSilence(t, s)
	write(t, s, "from")
	expectRead(t, c, "from")

	l.BlockDirection(false, true)
	expectRead(t, s, "to") // held forward bytes go on
	write(t, s, "back")
	expectSilence(t, c)
	write(t, c, "more")
	expectRead(t, s, "more")

	l.Unblock()
	expectRead(t, c, "back")
	if l.Blocked() {
		t.Fatal("Blocked() = true after Unblock")
	}
}

func TestDialFailureClosesClient(t *testing.T) {
	// A port that was just free and is closed now: the dial is refused. The
	// kernel may hand that port to the link itself, which would then dial
	// itself; take another then.
	var l *Link
	for range 3 {
		dead := newTarget(t)
		addr := dead.Addr().String()
		dead.Close()
		if l = newLink(t, addr); l.Addr() != addr {
			break
		}
	}
	c := dial(t, l.Addr())
	expectEOF(t, c)
	eventually(t, "connection to end", func() bool { return l.Stats().Active == 0 })
	if st := l.Stats(); st.Accepted != 1 {
		t.Fatalf("stats %+v, want 1 accepted", st)
	}
}

// TestIntegrity sends a long stream each way while the link is cut and
// restored, in both and in single directions, many times over; every byte
// must arrive once and in order.
func TestIntegrity(t *testing.T) {
	const size = 64 << 20
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)
	deadline := time.Now().Add(2 * time.Minute)
	for _, conn := range []net.Conn{c, s} {
		conn.SetDeadline(deadline)
	}

	type result struct {
		sum [sha256.Size]byte
		n   int64
		err error
	}
	send := func(conn *net.TCPConn, seed uint64, out chan<- result) {
		h := sha256.New()
		rng := rand.NewChaCha8([32]byte{byte(seed)})
		buf := make([]byte, 64<<10)
		var r result
		for r.n < size {
			rng.Read(buf)
			h.Write(buf)
			if _, r.err = conn.Write(buf); r.err != nil {
				break
			}
			r.n += int64(len(buf))
		}
		if r.err == nil {
			r.err = conn.CloseWrite()
		}
		copy(r.sum[:], h.Sum(nil))
		out <- r
	}
	recv := func(conn net.Conn, out chan<- result) {
		h := sha256.New()
		var r result
		r.n, r.err = io.Copy(h, conn)
		copy(r.sum[:], h.Sum(nil))
		out <- r
	}
	sentFwd, sentRev := make(chan result, 1), make(chan result, 1)
	gotFwd, gotRev := make(chan result, 1), make(chan result, 1)
	go send(c, 1, sentFwd)
	go send(s, 2, sentRev)
	go recv(s, gotFwd)
	go recv(c, gotRev)

	// Cycles of a few milliseconds, alternating cuts of both directions and
	// of each one alone.
	cuts := []struct{ fwd, rev bool }{{true, true}, {true, false}, {false, true}}
	const cycles = 50
	cycled := make(chan struct{})
	var done atomic.Int64 // cycles completed
	go func() {
		defer close(cycled)
		for i := range cycles {
			done.Add(1)
			cut := cuts[i%len(cuts)]
			l.BlockDirection(cut.fwd, cut.rev)
			time.Sleep(3 * time.Millisecond)
			l.Unblock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	for _, dir := range []struct {
		name       string
		sent, got  chan result
		statsBytes func() int64
	}{
		{"forward", sentFwd, gotFwd, func() int64 { return l.Stats().BytesForward }},
		{"backward", sentRev, gotRev, func() int64 { return l.Stats().BytesBackward }},
	} {
		sent, got := <-dir.sent, <-dir.got
		if sent.err != nil || got.err != nil {
			t.Fatalf("%s: send: %v; receive: %v", dir.name, sent.err, got.err)
		}
		if got.n != size || got.sum != sent.sum {
			t.Fatalf("%s: received %d bytes, sha256 %x; sent %d bytes, sha256 %x",
				dir.name, got.n, got.sum, sent.n, sent.sum)
		}
		if n := dir.statsBytes(); n != size {
			t.Fatalf("%s: stats count %d bytes, want %d", dir.name, n, size)
		}
	}
	t.Logf("%d of %d cycles began during the transfer", done.Load(), cycles)
	<-cycled
}

func TestNetPartition(t *testing.T) {
	ln := newTarget(t)
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	n := NewNet()
	t.Cleanup(func() { n.Close() })
	for _, from := range nodes {
		for _, to := range nodes {
			if from == to {
				continue
			}
			l, err := Listen(from, to, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			n.Add(l)
		}
	}
	links := n.Links()
	if len(links) != 20 {
		t.Fatalf("%d links, want 20", len(links))
	}
	if !slices.IsSortedFunc(links, func(x, y *Link) int {
		return cmp.Or(strings.Compare(x.From, y.From), strings.Compare(x.To, y.To))
	}) {
		t.Fatal("Links() not sorted by From, To")
	}
	if l := n.Link("n2", "n3"); l == nil || l.From != "n2" || l.To != "n3" {
		t.Fatalf("Link(n2, n3) = %v", l)
	}
	if l := n.Link("n2", "n9"); l != nil {
		t.Fatalf("Link(n2, n9) = %v, want nil", l)
	}

	// expect checks every link: cut says which pairs must be blocked.
	expect := func(what string, cut func(from, to string) bool) {
		t.Helper()
		for _, l := range n.Links() {
			if fwd, rev := l.BlockedDirection(); fwd != rev || fwd != cut(l.From, l.To) {
				t.Errorf("%s: %s->%s blocked %v, %v", what, l.From, l.To, fwd, rev)
			}
		}
	}
	group := map[string]int{"n1": 1, "n2": 1, "n3": 2, "n4": 2} // n5 in none
	crossGroup := func(from, to string) bool {
		gf, gt := group[from], group[to]
		return gf != 0 && gt != 0 && gf != gt
	}
	n.Partition([][]string{{"n1", "n2"}, {"n3", "n4"}})
	expect("partition", crossGroup)

	n.BlockPair("n5", "n1")
	expect("partition and pair", func(from, to string) bool {
		return crossGroup(from, to) || from == "n5" && to == "n1" || from == "n1" && to == "n5"
	})
	n.UnblockPair("n1", "n5")
	expect("pair unblocked", crossGroup)

	n.Heal()
	expect("heal", func(string, string) bool { return false })

	// Partition adds cuts and removes none.
	n.BlockPair("n1", "n2")
	n.Partition([][]string{{"n1", "n2", "n5"}, {"n3", "n4"}})
	group["n5"] = 1
	expect("partition over a cut pair", func(from, to string) bool {
		return crossGroup(from, to) || from == "n1" && to == "n2" || from == "n2" && to == "n1"
	})
	n.Heal()

	func() {
		defer func() {
			if recover() == nil {
				t.Error("Add of a second n1->n2 link did not panic")
			}
		}()
		n.Add(&Link{From: "n1", To: "n2"})
	}()

	addrs := make([]string, 0, len(links))
	for _, l := range links {
		addrs = append(addrs, l.Addr())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, patience); err == nil {
			c.Close()
			t.Fatalf("dial %s succeeded after Net.Close", addr)
		}
	}
}

func TestCloseLeavesNothingRunning(t *testing.T) {
	ln := newTarget(t)
	before := runtime.NumGoroutine()

	l, err := Listen("a", "b", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, s := pipe(t, l, ln)
	write(t, c, "flowing")
	expectRead(t, s, "flowing")
	l.Block()
	write(t, c, "held") // read by the proxy, held at the gate
	dial(t, l.Addr())   // held before its dial
	dial(t, l.Addr())
	eventually(t, "three connections", func() bool { return l.Stats().Active == 3 })

	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatal("Close did not return")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	if st := l.Stats(); st.Active != 0 {
		t.Fatalf("stats %+v after Close, want none active", st)
	}

	if conn, err := net.DialTimeout("tcp", l.Addr(), patience); err == nil {
		conn.Close()
		t.Fatal("dial succeeded after Close")
	}
	// Both ends see the connection end, and the held bytes never arrive.
	c.SetReadDeadline(time.Now().Add(patience))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read after Close: %v, want the connection ended", err)
	}
	expectEOF(t, s)
}

// BenchmarkLinkThroughput sends a one-way stream to a sink directly and
// through a link, to show what the proxy costs.
func BenchmarkLinkThroughput(b *testing.B) {
	for _, via := range []string{"direct", "proxy"} {
		b.Run(via, func(b *testing.B) {
			ln := newTarget(b)
			addr := ln.Addr().String()
			if via == "proxy" {
				addr = newLink(b, addr).Addr()
			}
			received := make(chan int64, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					received <- -1
					return
				}
				defer s.Close()
				n, _ := io.Copy(io.Discard, s)
				received <- n
			}()
			c := dial(b, addr)
			buf := randomBytes(4, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			// Count the time until the sink has it all.
			c.CloseWrite()
			select {
			case n := <-received:
				b.StopTimer()
				if want := int64(b.N) * int64(len(buf)); n != want {
					b.Fatalf("sink received %d bytes, want %d", n, want)
				}
			case <-time.After(patience):
				b.Fatal("sink did not finish")
			}
		})
	}
}
