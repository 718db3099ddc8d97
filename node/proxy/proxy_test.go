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
	"syscall"
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

// serveEcho echoes back every connection ln accepts, until the connection
// or ln closes.
func serveEcho(ln *net.TCPListener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				io.Copy(c, c)
			}()
		}
	}()
}

// roundTrip sends 64 bytes through an echo and times their return.
func roundTrip(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	msg := randomBytes(5, 64)
	start := time.Now()
	write(t, c, string(msg))
	if !bytes.Equal(readFull(t, c, len(msg)), msg) {
		t.Fatal("echo differs from what was sent")
	}
	return time.Since(start)
}

// flood writes to c until it fails, at the latest when the test ends.
func flood(t *testing.T, c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(patience))
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
}

// drain reads and drops what arrives on c until it fails.
func drain(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(patience))
	go io.Copy(io.Discard, c)
}

// expectReset fails unless c's next read fails with a connection reset
// within a second.
func expectReset(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read = %d, %v; want a connection reset", n, err)
	}
}

// expectNoAccept fails if the target accepts a connection within quiet.
func expectNoAccept(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(quiet))
	if s, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("target accepted: %v", err)
	}
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
// restored, in both and in single directions, many times over, or while it
// delays chunks by a jitter wider than the delay, or both; every byte must
// arrive once and in order.
func TestIntegrity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jitter bool
		cuts   bool
	}{
		{"cuts", false, true},
		{"jitter", true, false},
		{"jitter and cuts", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := newTarget(t)
			l := newLink(t, ln.Addr().String())
			if tc.jitter {
				l.SetLatency(2*time.Millisecond, 2*time.Millisecond)
			}
			testIntegrity(t, l, ln, tc.cuts)
		})
	}
}

func testIntegrity(t *testing.T, l *Link, ln *net.TCPListener, cut bool) {
	const size = 64 << 20
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
		if !cut {
			return
		}
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
	if cut {
		t.Logf("%d of %d cycles began during the transfer", done.Load(), cycles)
	}
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

// TestLatency: a round trip crosses the link twice, so it takes at least
// twice the delay; a cut still holds delayed bytes; lifting the delay makes
// round trips fast again and lets the delay lines' writers exit.
func TestLatency(t *testing.T) {
	const delay = 50 * time.Millisecond
	ln := newTarget(t)
	serveEcho(ln)
	l := newLink(t, ln.Addr().String())
	c := dial(t, l.Addr())
	roundTrip(t, c)
	before := runtime.NumGoroutine()

	l.SetLatency(delay, 0)
	for range 3 {
		rtt := roundTrip(t, c)
		if rtt < 2*delay || rtt > 8*delay {
			t.Fatalf("round trip took %v with latency %v, want between %v and %v", rtt, delay, 2*delay, 8*delay)
		}
		t.Logf("round trip with latency %v: %v", delay, rtt)
	}
	// A cut holds delayed bytes past their release.
	l.BlockDirection(true, false)
	write(t, c, "held")
	expectSilence(t, c)
	l.Unblock()
	expectRead(t, c, "held")

	l.SetLatency(0, 0)
	fastest := time.Hour
	for range 5 {
		fastest = min(fastest, roundTrip(t, c))
	}
	if fastest > delay/2 {
		t.Fatalf("fastest round trip took %v without latency", fastest)
	}
	t.Logf("fastest round trip without latency: %v", fastest)
	eventually(t, "delay line writers to exit", func() bool { return runtime.NumGoroutine() <= before })
}

// TestLatencyKeepsThroughput: a delayed link still streams at full speed;
// writing each 32 KiB chunk only after the previous one's delay would take
// 512 * 20 ms, over 10 s.
func TestLatencyKeepsThroughput(t *testing.T) {
	const size = 16 << 20
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	l.SetLatency(20*time.Millisecond, 0)
	c, s := pipe(t, l, ln)
	received := make(chan int64, 1)
	go func() {
		s.SetReadDeadline(time.Now().Add(patience))
		n, _ := io.Copy(io.Discard, s)
		received <- n
	}()
	start := time.Now()
	write(t, c, string(randomBytes(6, size)))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n := <-received; n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	took := time.Since(start)
	if took > 3*time.Second {
		t.Fatalf("%d MiB took %v through a link with 20ms latency", size>>20, took)
	}
	t.Logf("%d MiB took %v", size>>20, took)
}

// TestBandwidth: each direction delivers about the cap, alone and under
// latency.
func TestBandwidth(t *testing.T) {
	const rate = 1 << 20
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("latency=%v", delay), func(t *testing.T) {
			ln := newTarget(t)
			l := newLink(t, ln.Addr().String())
			l.SetBandwidth(rate)
			l.SetLatency(delay, 0)
			c, s := pipe(t, l, ln)
			start := time.Now()
			for _, conn := range []net.Conn{c, s} {
				flood(t, conn)
				drain(conn)
			}
			time.Sleep(2 * time.Second)
			st := l.Stats()
			want := rate*time.Since(start).Seconds() + bufSize
			for dir, got := range map[string]int64{"forward": st.BytesForward, "backward": st.BytesBackward} {
				r := float64(got) / want
				if r < 0.5 || r > 1.5 {
					t.Errorf("%s: %d bytes delivered, want about %.0f", dir, got, want)
				}
				t.Logf("%s: %d bytes delivered, %.2f of rate x time + burst", dir, got, r)
			}
		})
	}
}

// TestBandwidthLifted: lifting a cap frees a chunk waiting for it at once,
// not after the ~32 s its wait would take under the old cap.
func TestBandwidthLifted(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	l.SetBandwidth(1 << 10)
	c, s := pipe(t, l, ln)
	flood(t, c)
	drain(s)
	time.Sleep(quiet)
	held := l.Stats().BytesForward
	if held > 2*bufSize {
		t.Fatalf("%d bytes crossed a cap of 1 KiB/s", held)
	}
	l.SetBandwidth(0)
	for end := time.Now().Add(2 * time.Second); l.Stats().BytesForward < held+1<<20; {
		if time.Now().After(end) {
			t.Fatalf("%d bytes crossed within 2s of lifting the cap", l.Stats().BytesForward-held)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReset: both ends of an established connection, and the client of a
// held one, see a reset; later connections work.
func TestReset(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	c, s := pipe(t, l, ln)
	write(t, c, "ping")
	expectRead(t, s, "ping")
	write(t, s, "pong")
	expectRead(t, c, "pong")
	if n := l.Reset(); n != 1 {
		t.Fatalf("Reset() = %d, want 1", n)
	}
	expectReset(t, c)
	expectReset(t, s)
	eventually(t, "connection to end", func() bool { return l.Stats().Active == 0 })

	l.Block()
	held := dial(t, l.Addr())
	eventually(t, "held connection", func() bool { return l.Stats().Active == 1 })
	if n := l.Reset(); n != 1 {
		t.Fatalf("Reset() = %d, want the held connection", n)
	}
	expectReset(t, held)
	l.Unblock()
	expectNoAccept(t, ln)
	eventually(t, "held connection to end", func() bool { return l.Stats().Active == 0 })

	c, s = pipe(t, l, ln)
	write(t, c, "again")
	expectRead(t, s, "again")
	if st := l.Stats(); st.Resets != 2 || st.Accepted != 3 || st.Refused != 0 {
		t.Fatalf("stats %+v, want 2 resets of 3 accepted", st)
	}
}

// TestRefuse: with refuse set, a connection arriving during a cut is reset
// and never reaches the target; without, it is held as by default.
// Connections held before refuse is set stay held.
func TestRefuse(t *testing.T) {
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	l.BlockDirection(false, true)
	held := dial(t, l.Addr())
	write(t, held, "held")
	eventually(t, "held connection", func() bool { return l.Stats().Active == 1 })

	l.SetRefuse(true)
	// The reset may come before the dial returns.
	if refused, err := net.DialTimeout("tcp", l.Addr(), patience); err == nil {
		defer refused.Close()
		refused.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := refused.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("refused connection: read = %d, %v; want EOF or a reset", n, err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("refused connection: dial: %v; want success or a reset", err)
	}
	expectNoAccept(t, ln)
	if st := l.Stats(); st.Refused != 1 || st.Accepted != 2 || st.Active != 1 {
		t.Fatalf("stats %+v, want 1 refused of 2 accepted, 1 active", st)
	}

	l.SetRefuse(false)
	held2 := dial(t, l.Addr())
	expectSilence(t, held2)
	eventually(t, "second held connection", func() bool { return l.Stats().Active == 2 })

	write(t, held2, "too!")

	l.Unblock()
	var got []string
	for range 2 {
		got = append(got, string(readFull(t, accept(t, ln), 4)))
	}
	if slices.Sort(got); !slices.Equal(got, []string{"held", "too!"}) {
		t.Fatalf("target received %q, want both held connections", got)
	}
	if st := l.Stats(); st.Refused != 1 || st.Active != 2 {
		t.Fatalf("stats %+v after unblock, want 1 refused, 2 active", st)
	}
}

// TestNetCut: a directed cut stops one node's bytes to another on the
// connections each of them dialed, and only those.
func TestNetCut(t *testing.T) {
	n := NewNet()
	t.Cleanup(func() { n.Close() })
	port := map[string]*net.TCPListener{"a": newTarget(t), "b": newTarget(t)}
	for _, p := range []pair{{"a", "b"}, {"b", "a"}} {
		l, err := Listen(p.from, p.to, port[p.to].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		n.Add(l)
	}
	// at[i] and bt[i] are the ends at a and at b of connection i: the
	// first dialed by a, the second by b.
	ac, bs := pipe(t, n.Link("a", "b"), port["b"])
	bc, as := pipe(t, n.Link("b", "a"), port["a"])
	at, bt := []net.Conn{ac, as}, []net.Conn{bs, bc}

	n.Cut("a", "b")
	if got, want := n.Cuts(), [][2]string{{"a", "b"}}; !slices.Equal(got, want) {
		t.Fatalf("Cuts() = %v, want %v", got, want)
	}
	for i := range at {
		write(t, at[i], "a")
		write(t, bt[i], "b")
		expectRead(t, at[i], "b")
	}
	for i := range bt {
		expectSilence(t, bt[i])
	}
	n.Uncut("a", "b")
	for i := range bt {
		expectRead(t, bt[i], "a")
	}
	if cuts := n.Cuts(); len(cuts) != 0 {
		t.Fatalf("Cuts() = %v after Uncut", cuts)
	}
}

// TestNetCutRules: cuts are a set of directed pairs, and a link direction is
// shut exactly while the cut over it is in the set, whatever added it and
// whatever else is added or removed.
func TestNetCutRules(t *testing.T) {
	ln := newTarget(t)
	n := NewNet()
	t.Cleanup(func() { n.Close() })
	add := func(from, to string) {
		l, err := Listen(from, to, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		n.Add(l)
	}
	for _, p := range []pair{{"a", "b"}, {"b", "a"}, {"a", "c"}, {"c3", "a"}} {
		add(p.from, p.to)
	}
	expect := func(what string, cuts ...[2]string) {
		t.Helper()
		if got := n.Cuts(); !slices.Equal(got, cuts) {
			t.Fatalf("%s: Cuts() = %v, want %v", what, got, cuts)
		}
		for _, l := range n.Links() {
			fwd, rev := l.BlockedDirection()
			wantFwd := slices.Contains(cuts, [2]string{l.From, l.To})
			wantRev := slices.Contains(cuts, [2]string{l.To, l.From})
			if fwd != wantFwd || rev != wantRev {
				t.Fatalf("%s: %s->%s blocked %v, %v; want %v, %v", what, l.From, l.To, fwd, rev, wantFwd, wantRev)
			}
		}
	}

	n.Cut("a", "b")
	n.BlockPair("a", "b")
	expect("cut, then pair", [2]string{"a", "b"}, [2]string{"b", "a"})
	n.Uncut("b", "a")
	expect("pair less b->a", [2]string{"a", "b"})
	n.BlockPair("a", "b")
	n.UnblockPair("a", "b") // removes a->b too: it names it
	expect("pair unblocked")

	n.Grudge([][2]string{{"c3", "a"}, {"a", "c"}, {"c", "a"}})
	expect("grudge", [2]string{"a", "c"}, [2]string{"c", "a"}, [2]string{"c3", "a"})
	n.Partition([][]string{{"a"}, {"b"}}) // c and c3 in no group: untouched
	expect("partition over a grudge",
		[2]string{"a", "b"}, [2]string{"a", "c"}, [2]string{"b", "a"}, [2]string{"c", "a"}, [2]string{"c3", "a"})
	n.Uncut("c3", "a")
	expect("client uncut", [2]string{"a", "b"}, [2]string{"a", "c"}, [2]string{"b", "a"}, [2]string{"c", "a"})

	// A link added later takes on the cuts and the refuse setting.
	n.SetRefuse(true)
	add("c", "a")
	expect("link added", [2]string{"a", "b"}, [2]string{"a", "c"}, [2]string{"b", "a"}, [2]string{"c", "a"})
	for _, l := range n.Links() {
		if !l.refuse.Load() {
			t.Fatalf("%s->%s does not refuse", l.From, l.To)
		}
	}

	var names []string
	for _, l := range n.LinksOf("c") {
		names = append(names, l.From+"->"+l.To)
	}
	if want := []string{"a->c", "c->a"}; !slices.Equal(names, want) {
		t.Fatalf("LinksOf(c) = %v, want %v", names, want)
	}

	l := n.Link("a", "b")
	l.SetLatency(time.Millisecond, 0)
	n.Heal()
	expect("heal")
	if !l.refuse.Load() || l.latency.Load() == nil {
		t.Fatal("Heal changed the refuse or latency setting")
	}
}

// TestCloseWhileDelaying: Close ends a link whose chunks are queued for a
// minute and whose readers wait for a cap, drops what it delayed, and leaves
// no goroutine behind.
func TestCloseWhileDelaying(t *testing.T) {
	ln := newTarget(t)
	before := runtime.NumGoroutine()
	l, err := Listen("a", "b", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	l.SetLatency(time.Minute, 0)
	l.SetBandwidth(1 << 10)
	c, s := pipe(t, l, ln)
	flood(t, c)
	flood(t, s)
	time.Sleep(quiet) // one burst each way queued, the next chunk waiting

	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatal("Close did not return")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
	for _, end := range []net.Conn{c, s} {
		end.SetReadDeadline(time.Now().Add(patience))
		if n, err := end.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after Close = %d, %v; want the connection ended, nothing delivered", n, err)
		}
	}
	if st := l.Stats(); st.BytesForward != 0 || st.BytesBackward != 0 {
		t.Fatalf("stats %+v, want nothing delivered", st)
	}
	c.Close()
	s.Close()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
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

// BenchmarkLinkRoundTrip bounces 64 bytes off an echo directly and through a
// link; an op is one round trip, so the link adds (proxy-direct)/2 to each
// crossing.
func BenchmarkLinkRoundTrip(b *testing.B) {
	for _, via := range []string{"direct", "proxy"} {
		b.Run(via, func(b *testing.B) {
			ln := newTarget(b)
			serveEcho(ln)
			addr := ln.Addr().String()
			if via == "proxy" {
				addr = newLink(b, addr).Addr()
			}
			c := dial(b, addr)
			c.SetDeadline(time.Now().Add(time.Minute))
			msg, got := randomBytes(5, 64), make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
