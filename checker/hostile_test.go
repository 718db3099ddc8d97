package checker

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
)

// Events no check can judge are refused, at their line, rather than
// judged: an unknown op on kv made the key nonlinearizable (INVALID), and
// an unknown workload or a history without events was UNKNOWN without a
// word.
func TestCheckReaderRefusesWhatNoCheckJudges(t *testing.T) {
	const read = `{"index":0,"time":1,"type":"invoke","process":0,"f":"read","workload":"kv","key":"k","read_mode":"leader"}` + "\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown op on kv", read + `{"index":1,"time":2,"type":"invoke","process":1,"f":"frob","workload":"kv","key":"k","value":"a"}` + "\n" +
			`{"index":2,"time":3,"type":"ok","process":1,"f":"frob","workload":"kv","key":"k","value":"a","rev":1}` + "\n",
			`line 2: workload kv has no operation "frob" (its operations are read, write, cas, create, delete)`},
		{"unknown workload", read + `{"index":1,"time":2,"type":"invoke","process":1,"f":"write","workload":"zz","key":"k","value":"a"}` + "\n",
			`line 2: unknown workload "zz" (this jetsam knows kv, log, queue, register, append-kv)`},
		{"missing workload", read + `{"index":1,"time":2,"type":"invoke","process":1,"f":"write"}` + "\n",
			`line 2: missing "workload" on an event of client process 1`},
		{"op of another workload", read + `{"index":1,"time":2,"type":"invoke","process":1,"f":"enqueue","workload":"log"}` + "\n",
			`line 2: workload log has no operation "enqueue"`},
		// Found by FuzzCheckReader: a nil-pointer panic on a search's
		// goroutine, which ended the process.
		{"kv cas without expect_rev", `{"index":0,"time":1,"type":"invoke","process":0,"f":"cas","workload":"kv","key":"k","value":"a"}` + "\n" +
			`{"index":1,"time":2,"type":"ok","process":0,"f":"cas","workload":"kv","key":"k","value":"a","rev":2}` + "\n",
			`line 1: kv cas invoked without an "expect_rev"`},
		{"log append without a value", read + `{"index":1,"time":2,"type":"invoke","process":1,"f":"append","workload":"log"}` + "\n",
			`line 2: log append invoked without a "value"`},
		{"enqueue without a value", `{"index":0,"time":2,"type":"invoke","process":1,"f":"enqueue","workload":"queue"}` + "\n",
			`line 1: queue enqueue invoked without a "value"`},
		{"empty", "", "holds no events"},
		{"blank lines", "\n \n", "holds no events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := CheckReader(context.Background(), strings.NewReader(tc.in), Options{})
			if !errors.Is(err, history.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %+v, %v; want ErrMalformed saying %q", r, err, tc.want)
			}
		})
	}
}

// Every operation the workloads record is one their checks know, and so
// are the nemesis's and the observer's events.
func TestCheckReaderTakesEveryRecordedOperation(t *testing.T) {
	for _, name := range []string{"all-workloads.jsonl.gz", "kv-direct-partition.jsonl.gz", "kv-leader-reads.jsonl.gz"} {
		h := loadFixture(t, name)
		for _, e := range h.Events {
			if err := checkClientEvent(&e); err != nil {
				t.Fatalf("%s: event %d: %v", name, e.Index, err)
			}
		}
	}
	for _, e := range []history.Event{
		{Process: history.Nemesis, F: "partition"},
		{Process: history.Observer, F: history.FReply},
		{Process: 3, Workload: history.WorkloadRegister, F: history.FCAS},
		{Process: 3, Workload: history.WorkloadAppendKV, F: "get"},
	} {
		if err := checkClientEvent(&e); err != nil {
			t.Errorf("%+v: %v", e, err)
		}
	}
}

// A node-log line longer than the line bound once stopped the scan there,
// silently: a fatal line after it was never seen.
func TestScanLogsSeesPastAnOverlongLine(t *testing.T) {
	log := "[1] 2026/11/26 10:00:00.000000 [INF] Server is ready\n" +
		"[1] 2026/11/26 10:00:01.000000 [DBG] " + strings.Repeat("x", 3<<20) + "\n" +
		"[1] 2026/11/26 10:00:02.000000 [FTL] JetStream could not start\n"
	c := ScanLogs([]NodeLog{{Node: "n1", File: "nats.log", R: strings.NewReader(log)}}, Options{MaxListed: 10})
	if c.Valid != Invalid || c.Counts["anomaly-fatal"] != 1 || c.Counts["lines-cut"] != 1 {
		t.Fatalf("verdict %s, counts %v", c.Valid, c.Counts)
	}
	if !strings.Contains(c.Anomalies[0].Explanation, "nats.log line 3: ") {
		t.Fatalf("anomaly %+v", c.Anomalies[0])
	}
}

// A log that cannot be read to its end may have hidden a failure: the
// verdict is unknown, and a note says why.
func TestScanLogsReadErrorIsUnknown(t *testing.T) {
	r := io.MultiReader(strings.NewReader("[1] 2026/11/26 10:00:00.000000 [INF] Server is ready\n"), errReader{})
	c := ScanLogs([]NodeLog{{Node: "n1", File: "nats.log", R: r}}, Options{MaxListed: 10})
	if c.Valid != Unknown || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "n1 nats.log: read after line 1: disk on fire") {
		t.Fatalf("verdict %s, notes %q", c.Valid, c.Notes)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// Times outside a history's bounds (from a caller building events itself)
// get no bucket of the timeline: a negative one was an index out of range,
// 9e17 ns some 29 GB of buckets.
func TestMainStatsIgnoresTimesOutOfBounds(t *testing.T) {
	st := MainStats([]Op{
		{Workload: "kv", F: "write", Type: history.OK, Call: -6e9, Return: -5e9},
		{Workload: "kv", F: "write", Type: history.OK, Call: 0, Return: 9e17},
		{Workload: "kv", F: "write", Type: history.OK, Call: 0, Return: 1.5e9},
	})
	if len(st.Timeline) != 2 || st.Timeline[1].OK != 1 {
		t.Fatalf("timeline %+v", st.Timeline)
	}
}

// A panic on one of the checker's goroutines reaches the caller, with the
// goroutine's stack, instead of ending the process where no recover can
// see it.
func TestWorkerPanicsReachTheCaller(t *testing.T) {
	caught := func(fn func()) (p *workerPanic) {
		defer func() { p, _ = recover().(*workerPanic) }()
		fn()
		return nil
	}
	p := caught(func() {
		parallel(8, func(i int) {
			if i == 5 {
				panic("boom")
			}
		})
	})
	if p == nil || p.Error() != "boom" || !strings.Contains(string(p.PanicStack()), "hostile_test.go") {
		t.Fatalf("parallel: got %+v", p)
	}
	model := porcupine.Model{
		Init: func() any { return 0 },
		Step: func(st, in, out any) (bool, any) { panic("model bug") },
	}
	ops := []porcupine.Operation{{ClientId: 0, Input: 1, Output: 1, Call: 0, Return: 1}, {ClientId: 1, Input: 1, Output: 1, Call: 0, Return: 1}}
	p = caught(func() { stoppableCheck(model, ops, func() bool { return false }, false) })
	if p == nil || p.Error() != "model bug" || !strings.Contains(string(p.PanicStack()), "hostile_test.go") {
		t.Fatalf("a search: got %+v", p)
	}
}
