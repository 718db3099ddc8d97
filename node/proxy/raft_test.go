package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// raftMsg is a route protocol message from a server to its peer.
func raftMsg(subject, reply string, payload []byte) []byte {
	if reply != "" {
		reply += " "
	}
	return append(fmt.Appendf(nil, "RMSG %s %s%d\r\n", subject, reply, len(payload)), append(payload, '\r', '\n')...)
}

// framedPipe is a connection through a framed link: c at From, s at To.
func framedPipe(t *testing.T) (*Link, *net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln := newTarget(t)
	l := newLink(t, ln.Addr().String())
	l.Frame()
	c, s := pipe(t, l, ln)
	return l, c, s
}

// readUntil reads from c until want has arrived whole, or fails.
func readUntil(t *testing.T, c net.Conn, want []byte) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", len(want), err, got)
	}
	return got
}

func TestFramedLinkDropsOnlyWhatTheRuleNames(t *testing.T) {
	l, c, s := framedPipe(t)
	l.SetRaftRule(&RaftRule{Groups: []string{"G1"}, Kinds: []RaftKind{KindHeartbeat}, Forward: true, Action: ActDrop})
	hb, ae := appendEntry(nil, 0), appendEntry([]byte{0}, 10)
	units := [][]byte{
		[]byte("PING\r\n"),
		raftMsg("$NRG.AE.G1", "$NRG.R.a", hb), // dropped
		raftMsg("$NRG.AE.G2", "$NRG.R.b", hb),
		[]byte("RMSG $G foo 3\r\nbar\r\n"),
		raftMsg("$NRG.AE.G1", "$NRG.R.a", ae),
		[]byte("PONG\r\n"),
	}
	want := bytes.Join(append(units[:1:1], units[2:]...), nil)
	c.Write(bytes.Join(units, nil))
	if got := readUntil(t, s, want); !bytes.Equal(got, want) {
		t.Fatalf("To got\n%q\nwant\n%q", got, want)
	}
	// Backward is not in the rule: the same heartbeat comes through.
	s.Write(units[1])
	readUntil(t, c, units[1])
	st := l.RaftStats()
	if st["dropped heartbeat"] != 1 || st["seen heartbeat"] != 3 || st["seen append"] != 1 {
		t.Fatalf("stats %v", st)
	}
	l.SetRaftRule(nil)
	c.Write(units[1])
	readUntil(t, s, units[1])
}

func TestFramedLinkDuplicatesAndDelaysInOrder(t *testing.T) {
	l, c, s := framedPipe(t)
	vote := raftMsg("$NRG.V.G1", "$NRG.R.v", []byte("vote-request"))
	l.SetRaftRule(&RaftRule{Kinds: []RaftKind{KindVote}, Forward: true, Action: ActDuplicate})
	c.Write(append(append([]byte{}, vote...), "PING\r\n"...))
	want := append(append(append([]byte{}, vote...), vote...), "PING\r\n"...)
	if got := readUntil(t, s, want); !bytes.Equal(got, want) {
		t.Fatalf("duplicate: got %q", got)
	}
	const delay = 300 * time.Millisecond
	l.SetRaftRule(&RaftRule{Kinds: []RaftKind{KindVote}, Forward: true, Action: ActDelay, Delay: delay})
	began := time.Now()
	c.Write(append(append([]byte{}, vote...), "PING\r\n"...))
	got := readUntil(t, s, append(append([]byte{}, vote...), "PING\r\n"...))
	if took := time.Since(began); took < delay || !bytes.HasSuffix(got, []byte("PING\r\n")) {
		t.Fatalf("delay: arrived after %s (want at least %s), got %q", took, delay, got)
	}
	st := l.RaftStats()
	if st["duplicated vote"] != 1 || st["delayed vote"] != 1 {
		t.Fatalf("stats %v", st)
	}
	// The reply to the vote, to an inbox the link learned, is a vote reply.
	s.Write(raftMsg("$NRG.R.v", "", []byte("yes")))
	readUntil(t, c, raftMsg("$NRG.R.v", "", []byte("yes")))
	if l.RaftStats()["seen vote-reply"] != 1 {
		t.Fatalf("the reply was not known as a vote reply: %v", l.RaftStats())
	}
}

func TestFramedLinkWatchFiresOnceOnTheEntry(t *testing.T) {
	l, c, s := framedPipe(t)
	fired := make(chan RaftEvent, 2)
	l.WatchRaft(&RaftWatch{Groups: []string{"G1"}, Entry: 3, Fired: fired})
	normal := raftMsg("$NRG.AE.G1", "$NRG.R.a", appendEntry([]byte{0, 0}, 4))
	other := raftMsg("$NRG.AE.G2", "$NRG.R.b", appendEntry([]byte{3}, 4))
	addPeer := raftMsg("$NRG.AE.G1", "$NRG.R.a", appendEntry([]byte{0, 3}, 8))
	all := bytes.Join([][]byte{normal, other, addPeer, addPeer}, nil)
	c.Write(all)
	readUntil(t, s, all)
	select {
	case ev := <-fired:
		if ev.Group != "G1" || ev.Kind != KindAppend || !bytes.Equal(ev.Entries, []byte{0, 3}) || ev.From != "a" || ev.To != "b" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(patience):
		t.Fatal("the watch never fired")
	}
	if len(fired) != 0 {
		t.Fatal("the watch fired twice")
	}
}
