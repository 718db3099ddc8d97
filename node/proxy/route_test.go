package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// appendEntry encodes an append entry as server/raft.go does: the fixed
// header, then each entry's length (type byte included), type and data.
func appendEntry(types []byte, dataLen int) []byte {
	b := make([]byte, aeHeaderLen)
	copy(b, "leader01")
	binary.LittleEndian.PutUint64(b[8:], 7) // term
	binary.LittleEndian.PutUint16(b[40:], uint16(len(types)))
	for _, t := range types {
		b = binary.LittleEndian.AppendUint32(b, uint32(1+dataLen))
		b = append(b, t)
		b = append(b, bytes.Repeat([]byte{'d'}, dataLen)...)
	}
	return append(b, 3) // the leader's term, as a uvarint
}

type wantUnit struct {
	verb, account, subject, reply string
	size                          int
	types                         string // entry types, as digits
}

// routeStream is a route connection's traffic: every kind of unit.
func routeStream() ([]byte, []wantUnit) {
	var b bytes.Buffer
	var want []wantUnit
	add := func(raw string, w wantUnit) {
		b.WriteString(raw)
		want = append(want, w)
	}
	add("INFO {\"server_id\":\"x\",\"route_pool_idx\":1}\r\n", wantUnit{verb: "INFO"})
	add("PING\r\n", wantUnit{verb: "PING"})
	add("RS+ $G foo.bar\r\n", wantUnit{verb: "RS+"})
	ae := appendEntry([]byte{0, 3, 0}, 5)
	add(fmt.Sprintf("RMSG $NRG.AE.S-R3F-abc $NRG.R.xyz %d\r\n%s\r\n", len(ae), ae),
		wantUnit{verb: "RMSG", subject: "$NRG.AE.S-R3F-abc", reply: "$NRG.R.xyz", size: len(ae), types: "030"})
	hb := appendEntry(nil, 0)
	add(fmt.Sprintf("RMSG $SYS $NRG.AE._meta_ + $NRG.R.q1 %d\r\n%s\r\n", len(hb), hb),
		wantUnit{verb: "RMSG", account: "$SYS", subject: "$NRG.AE._meta_", reply: "$NRG.R.q1", size: len(hb)})
	add("RMSG $G orders.1 | q1 q2 5\r\nhello\r\n", wantUnit{verb: "RMSG", account: "$G", subject: "orders.1", size: 5})
	add("RMSG $G orders.2 + _INBOX.1 q1 5\r\nworld\r\n", wantUnit{verb: "RMSG", account: "$G", subject: "orders.2", reply: "_INBOX.1", size: 5})
	add("RMSG $NRG.V.S-R3F-abc $NRG.R.v1 3\r\nabc\r\n", wantUnit{verb: "RMSG", subject: "$NRG.V.S-R3F-abc", reply: "$NRG.R.v1", size: 3})
	add("HMSG $JS $JS.API.x _INBOX.2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", wantUnit{verb: "HMSG", account: "$JS", subject: "$JS.API.x", reply: "_INBOX.2", size: 17})
	big := appendEntry([]byte{4}, 3<<20) // a snapshot-sized entry
	add(fmt.Sprintf("RMSG $NRG.CR.c1 $NRG.CP.p1 %d\r\n%s\r\n", len(big), big),
		wantUnit{verb: "RMSG", subject: "$NRG.CR.c1", reply: "$NRG.CP.p1", size: len(big), types: "4"})
	add("RMSG $G empty 0\r\n\r\n", wantUnit{verb: "RMSG", account: "$G", subject: "empty"})
	add("PONG\r\n", wantUnit{verb: "PONG"})
	return b.Bytes(), want
}

// frame feeds stream in pieces of the given sizes (cycled) and returns
// what came out, and the units in order with their entry types.
func frame(t *testing.T, stream []byte, sizes []int) ([]byte, []wantUnit) {
	t.Helper()
	var f framer
	var out bytes.Buffer
	var units []wantUnit
	open := false
	for i, k := 0, 0; i < len(stream); k++ {
		n := min(sizes[k%len(sizes)], len(stream)-i)
		f.feed(stream[i:i+n], func(p piece) {
			out.Write(p.b)
			if p.u == nil {
				t.Fatalf("a piece without its unit at %d: the framer lost the stream", out.Len())
			}
			if p.first == open {
				t.Fatalf("unit %d: first=%v while a unit is open=%v", len(units), p.first, open)
			}
			if p.first {
				units = append(units, wantUnit{verb: strings.ToUpper(string(p.u.verb)), account: string(p.u.account), subject: string(p.u.subject), reply: string(p.u.reply), size: p.u.size})
			}
			open = !p.last
			if p.last {
				_, types := f.ae.entries()
				for _, ty := range types {
					units[len(units)-1].types += fmt.Sprint(ty)
				}
			}
		})
		i += n
	}
	if open {
		t.Fatal("the stream ended inside a unit")
	}
	return out.Bytes(), units
}

func TestFramerSplitsAtEveryByte(t *testing.T) {
	stream, want := routeStream()
	// Every boundary in the first 2 KiB (small units, lines, heads and
	// entry headers cut anywhere), then whole reads of the big entry.
	for cut := 1; cut < 2048; cut++ {
		got, units := frame(t, stream, []int{cut, len(stream)})
		if !bytes.Equal(got, stream) {
			t.Fatalf("cut at %d: the bytes out differ from the bytes in", cut)
		}
		if fmt.Sprint(units) != fmt.Sprint(want) {
			t.Fatalf("cut at %d:\n got %v\nwant %v", cut, units, want)
		}
	}
	for _, sizes := range [][]int{{1}, {2}, {3, 7}, {4096}, {32 << 10}} {
		got, units := frame(t, stream, sizes)
		if !bytes.Equal(got, stream) || fmt.Sprint(units) != fmt.Sprint(want) {
			t.Fatalf("reads of %v: units %v", sizes, units)
		}
	}
}

func TestFramerPassesWhatItCannotRead(t *testing.T) {
	for _, bad := range []string{"RMSG foo notasize\r\nmore bytes", "HMSG a b 9 3\r\nxyz\r\n", strings.Repeat("x", maxLine+10)} {
		var f framer
		var out bytes.Buffer
		f.feed([]byte(bad), func(p piece) { out.Write(p.b) })
		if out.String() != bad || !f.lost {
			t.Fatalf("%.40q: passed %d of %d bytes, lost=%v", bad, out.Len(), len(bad), f.lost)
		}
	}
}

func FuzzFramer(f *testing.F) {
	stream, _ := routeStream()
	f.Add(stream[:4096], 7)
	f.Add([]byte("RMSG a b 3\r\nabc\r\nPING\r\n"), 1)
	f.Add([]byte("HMSG $G s r 2 4\r\nxxyy\r\n"), 3)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		cut = 1 + abs(cut)%64
		var fr framer
		var out bytes.Buffer
		for i := 0; i < len(b); i += cut {
			fr.feed(b[i:min(i+cut, len(b))], func(p piece) { out.Write(p.b) })
		}
		// Whatever came in, the framer never invents, drops or reorders a
		// byte: what it still gathers is what did not come out yet.
		held := len(fr.buf)
		if fr.state == inBody {
			held = 0 // the line and head went out already
		}
		if !bytes.HasPrefix(b, out.Bytes()) || out.Len()+held != len(b) || !bytes.Equal(b[out.Len():], fr.buf[:held]) {
			t.Fatalf("out %d bytes + %d held, in %d", out.Len(), held, len(b))
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// BenchmarkFramer frames a route stream of every kind of unit, read in
// the proxy's chunks; the baseline in the same run is copying the bytes.
func BenchmarkFramer(b *testing.B) {
	// Small whole units, as a busy system route carries: heartbeats,
	// append entries with a few entries, their replies, client messages.
	var units bytes.Buffer
	for units.Len() < 32<<10 {
		units.Write(fmt.Appendf(nil, "RMSG $NRG.AE.S-R3F-abc $NRG.R.xyz %d\r\n%s\r\n", len(appendEntry(nil, 0)), appendEntry(nil, 0)))
		units.Write(fmt.Appendf(nil, "RMSG $NRG.AE.S-R3F-abc $NRG.R.xyz %d\r\n%s\r\n", len(appendEntry([]byte{0, 0}, 150)), appendEntry([]byte{0, 0}, 150)))
		units.WriteString("RMSG $NRG.R.xyz 25\r\n0123456789012345678901234\r\n")
		units.WriteString("RMSG $G orders.1 + _INBOX.abc 128\r\n" + strings.Repeat("x", 128) + "\r\n")
	}
	stream := units.Bytes()
	b.Run("copy", func(b *testing.B) {
		dst := make([]byte, len(stream))
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, stream)
		}
	})
	b.Run("frame", func(b *testing.B) {
		var f framer
		var s raftState
		var n int
		out := func(p piece) {
			if p.first && p.u != nil {
				s.classify(p.u)
			}
			n += len(p.b)
		}
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			f.feed(stream, out)
		}
	})
}
