package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Histories come from elsewhere (other tools, colleagues' stores): every
// event a checker could not make sense of is refused at its line.
func TestEventsBreakingTheRulesAreRefusedAtTheirLine(t *testing.T) {
	const invoke = `{"index":0,"time":100,"type":"invoke","process":0,"f":"write","workload":"kv","key":"k","value":"a"}`
	ok := func(fields string) string {
		return `{"index":1,"type":"ok","process":0,"f":"write","workload":"kv","key":"k","value":"a","rev":1` + fields + `}`
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"negative time", invoke + "\n" + ok(`,"time":-5000000000`) + "\n", "line 2: time -5000000000 is negative"},
		{"a time of 9e17 ns", invoke + "\n" + ok(`,"time":900000000000000000`) + "\n", "line 2: time 900000000000000000 is more than a week"},
		{"completion before its invocation", invoke + "\n" + ok(`,"time":10`) + "\n", "line 2: process 0's ok completion at time 10 is earlier than its invocation at 100 (line 1)"},
		{"missing time", invoke + "\n" + ok(``) + "\n", `line 2: missing "time"`},
		{"null time", invoke + "\n" + ok(`,"time":null`) + "\n", `line 2: missing "time"`},
		{"missing index", `{"time":1,"type":"invoke","process":0,"f":"read","workload":"kv"}` + "\n" + invoke, `line 1: missing "index"`},
		{"negative index", `{"index":-4,"time":1,"type":"invoke","process":0,"f":"read","workload":"kv"}` + "\n" + invoke, `line 1: index -4 is negative`},
		{"missing process", `{"index":0,"time":1,"type":"invoke","f":"read","workload":"kv"}` + "\n" + invoke, `line 1: missing "process"`},
		// A whole JSON line is not torn, even last: its content is wrong.
		{"bad last line", invoke + "\n" + ok(`,"time":-1`), "line 2: time -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Read(strings.NewReader(tc.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", h, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A completion at its invocation's time, and a process's next operation
// after an indeterminate one, are fine.
func TestCompletionAtItsInvocationsTimeLoads(t *testing.T) {
	in := `{"index":0,"time":5,"type":"invoke","process":0,"f":"read","workload":"kv"}
{"index":1,"time":5,"type":"info","process":0,"f":"read","workload":"kv"}
{"index":2,"time":6,"type":"invoke","process":0,"f":"read","workload":"kv"}
{"index":3,"time":604800000000000,"type":"ok","process":0,"f":"read","workload":"kv"}
`
	h, err := Read(strings.NewReader(in))
	if err != nil || len(h.Events) != 4 {
		t.Fatalf("got %v, %v", h, err)
	}
}

// A callback's refusal of an event, wrapping ErrMalformed, names its line.
func TestScanPlacesACallbacksRefusalAtItsLine(t *testing.T) {
	in := "\n" + `{"index":0,"time":5,"type":"invoke","process":0,"f":"read","workload":"kv"}` + "\n\n" +
		`{"index":1,"time":6,"type":"invoke","process":1,"f":"frob","workload":"kv"}` + "\n"
	_, err := Scan(strings.NewReader(in), func(e *Event) error {
		if e.F == "frob" {
			return fmt.Errorf("%w: no operation frob", ErrMalformed)
		}
		return nil
	})
	if !errors.Is(err, ErrMalformed) || err.Error() != "malformed history: line 4: no operation frob" {
		t.Fatalf("err = %v", err)
	}
	stop := errors.New("stop")
	if _, err := Scan(strings.NewReader(in), func(*Event) error { return stop }); err != stop {
		t.Fatalf("another error came back as %v", err)
	}
}

// A line longer than the bound is refused without reading the rest of it,
// however long it goes on (check /dev/zero, one 800 MB line).
func TestOverlongLineIsRefused(t *testing.T) {
	ev := `{"index":0,"time":5,"type":"invoke","process":0,"f":"read","workload":"kv","key":"` + strings.Repeat("k", 100) + `"}`
	_, err := scan(strings.NewReader(ev+"\n"+ev+"x\n"), len(ev), func(*Event) error { return nil })
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("line 2 is longer than %d bytes", len(ev))) {
		t.Fatalf("err = %v", err)
	}
	if h, err := Read(strings.NewReader(ev + "\n" + ev)); err != nil || len(h.Events) != 2 {
		t.Fatalf("lines within the bound: %v, %v", h, err)
	}
	zeros := &countingReader{}
	_, err = Scan(zeros, func(*Event) error { return nil })
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 1 is longer than 256 MiB") {
		t.Fatalf("endless zeros: %v", err)
	}
	if zeros.n > MaxLine+2<<20 {
		t.Fatalf("read %d bytes of a line refused at %d", zeros.n, MaxLine)
	}
}

// countingReader is an endless line of zeros that counts what was read.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	clear(p)
	c.n += len(p)
	return len(p), nil
}

func TestLineReader(t *testing.T) {
	in := "abcde\n" + "abcdef\n" + "ab\r\n" + strings.Repeat("x", 40) + "\n" + "[FTL]\n" + "tail"
	lr := NewLineReader(strings.NewReader(in), 5)
	var got []string
	for {
		b, cut, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s:%v", lr.Line(), b, cut))
	}
	want := "1:abcde:false 2:abcde:true 3:ab:false 4:xxxxx:true 5:[FTL]:false 6:tail:false"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	// Lines longer than the buffer: joined whole within the bound, cut
	// past it, and the next line read either way.
	long := strings.Repeat("y", 3<<20)
	lr = NewLineReader(strings.NewReader(long+"\n"+long+"z\nnext"), 3<<20)
	for i, want := range []struct {
		n   int // bytes; 0: the beginning of the line, however much
		cut bool
	}{{3 << 20, false}, {0, true}, {4, false}} {
		b, cut, err := lr.Next()
		if err != nil || (want.n > 0 && len(b) != want.n) || len(b) > 3<<20 || (cut && !strings.HasPrefix(long, string(b))) || cut != want.cut {
			t.Fatalf("line %d: %d bytes, cut %v, %v; want %d bytes, cut %v", i+1, len(b), cut, err, want.n, want.cut)
		}
	}
}

// Jepsen histories are bounded the same way, and nesting cannot exhaust
// the stack (a fatal error that no recover catches).
func TestHostileJepsenHistories(t *testing.T) {
	deep := "{:process 0, :type :invoke, :f :write, :value " + strings.Repeat("[", 5_000_000) + "}\n"
	if _, err := ReadJepsen(strings.NewReader(deep)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nested more than 100 deep") {
		t.Fatalf("deep nesting: %v", err)
	}
	tags := "{:process 0, :type :invoke, :f :write, :value " + strings.Repeat("#a ", 1000) + "1}\n"
	if _, err := ReadJepsen(strings.NewReader(tags)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a chain of tags: %v", err)
	}
	_, err := readLinesMax(context.Background(), strings.NewReader("INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"+strings.Repeat("x", 100)+"\n"), 64)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 2 is longer than 64 bytes") {
		t.Fatalf("long line: %v", err)
	}
	// A :time past a week is no clock reading: the history is timeless.
	h := readJepsenString(t, `{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time 0}
{:process 0, :type :ok, :f :put, :key "0", :value "a", :time 900000000000000000}
`)
	if !h.Timeless || h.Events[1].Time != 1 {
		t.Fatalf("times past a week: timeless %v, time %d", h.Timeless, h.Events[1].Time)
	}
}
