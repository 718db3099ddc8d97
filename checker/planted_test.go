package checker

import (
	"context"
	"slices"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

// testdata/all-workloads is a history jetsam recorded from a real 3-node
// cluster (nats-server 2.15.2) running the KV, log and queue workloads at
// once. Each test plants one anomaly in it and requires exactly that
// anomaly's kind, in the right checker, while the original stays valid.

func TestRealAllWorkloadsHistoryIsValid(t *testing.T) {
	h := loadFixture(t, "all-workloads.jsonl.gz")
	r := CheckHistory(context.Background(), h, Options{})
	if r.Valid != Valid {
		for name, c := range r.Checkers {
			t.Logf("%s: %s %v %+v", name, c.Valid, c.Notes, c.Anomalies)
		}
		t.Fatalf("recorded history judged %s", r.Valid)
	}
	for _, name := range []string{WorkloadKV, WorkloadLog, WorkloadQueue} {
		if r.Checkers[name] == nil {
			t.Fatalf("no %s checker ran", name)
		}
	}
}

// finalLogs returns every read-all completion of the log.
func finalLogs(h *history.History) []*history.Event {
	var out []*history.Event
	for i := range h.Events {
		e := &h.Events[i]
		if e.F == history.FReadAll && e.Type == history.OK {
			out = append(out, e)
		}
	}
	return out
}

// okAppends returns the acknowledged appends' completions, in order.
func okAppends(h *history.History) []*history.Event {
	var out []*history.Event
	for i := range h.Events {
		e := &h.Events[i]
		if e.Workload == WorkloadLog && e.F == history.FAppend && e.Type == history.OK {
			out = append(out, e)
		}
	}
	return out
}

func TestPlantedAnomaliesInARealHistory(t *testing.T) {
	cases := []struct {
		name    string
		checker string
		kind    string
		plant   func(t *testing.T, h *history.History)
	}{
		{"stale KV read", WorkloadKV, KindStaleRead, func(t *testing.T, h *history.History) {
			if !rewriteRead(h) {
				t.Fatal("no read to rewrite")
			}
		}},
		{"lost KV write", WorkloadKV, KindLostWrite, func(t *testing.T, h *history.History) {
			// The last final read of a written key sees it absent.
			for i := len(h.Events) - 1; i >= 0; i-- {
				e := &h.Events[i]
				if e.Workload == WorkloadKV && e.Phase == history.PhaseFinal && e.Type == history.OK && e.Value != nil {
					e.Value, e.Rev = nil, 0
					return
				}
			}
			t.Fatal("no final read with a value")
		}},
		{"lost append", WorkloadLog, KindLost, func(t *testing.T, h *history.History) {
			// The last acknowledged append vanishes from every final log.
			last := okAppends(h)
			v := *last[len(last)-1].Value
			for _, f := range finalLogs(h) {
				f.Log = slices.DeleteFunc(f.Log, func(e history.LogEntry) bool { return e.Value == v })
			}
		}},
		{"duplicated append", WorkloadLog, KindDuplicated, func(t *testing.T, h *history.History) {
			// Every copy of the log ends with its first value again.
			for _, f := range finalLogs(h) {
				f.Log = append(f.Log, history.LogEntry{Seq: f.Log[len(f.Log)-1].Seq + 1, Value: f.Log[0].Value})
			}
		}},
		{"reordered appends", WorkloadLog, KindOrderInversion, func(t *testing.T, h *history.History) {
			// Two appends, one acknowledged before the other began, swap
			// sequences, in the acknowledgements and in every copy.
			acks := okAppends(h)
			for i := range acks[:len(acks)-1] {
				a, b := acks[i], acks[i+1]
				if a.Time >= invocationTime(h, b) || a.Rev+1 != b.Rev {
					continue
				}
				a.Rev, b.Rev = b.Rev, a.Rev
				for _, f := range finalLogs(h) {
					for j := range f.Log {
						switch f.Log[j].Value {
						case *a.Value:
							f.Log[j].Value = *b.Value
						case *b.Value:
							f.Log[j].Value = *a.Value
						}
					}
				}
				return
			}
			t.Fatal("no two consecutive appends to swap")
		}},
		{"divergent replica", WorkloadLog, KindDivergence, func(t *testing.T, h *history.History) {
			for _, f := range finalLogs(h) {
				if f.ReadMode == history.ReadDirect {
					f.Log = f.Log[:len(f.Log)-1]
					return
				}
			}
			t.Fatal("no replica read")
		}},
		{"lost message", WorkloadQueue, KindLost, func(t *testing.T, h *history.History) {
			var v string
			for _, e := range h.Events {
				if e.F == history.FEnqueue && e.Type == history.OK {
					v = *e.Value
				}
			}
			for i := range h.Events {
				e := &h.Events[i]
				if e.F == history.FDequeue {
					e.Values = slices.DeleteFunc(e.Values, func(x string) bool { return x == v })
				}
			}
		}},
		{"unexpected message", WorkloadQueue, KindUnexpected, func(t *testing.T, h *history.History) {
			for i := range h.Events {
				e := &h.Events[i]
				if e.F == history.FDequeue && e.Type == history.OK && len(e.Values) > 0 {
					e.Values = append(e.Values, "never-enqueued")
					return
				}
			}
			t.Fatal("no delivery")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := loadFixture(t, "all-workloads.jsonl.gz")
			tc.plant(t, h)
			r := CheckHistory(context.Background(), h, Options{})
			c := r.Checkers[tc.checker]
			var kinds []string
			for _, a := range c.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if r.Valid != Invalid || c.Valid != Invalid || !slices.Contains(kinds, tc.kind) {
				t.Fatalf("verdict %s, %s %s with %v; want invalid with %s", r.Valid, tc.checker, c.Valid, kinds, tc.kind)
			}
			for name, other := range r.Checkers {
				if name != tc.checker && other.Valid != Valid {
					t.Errorf("checker %s also judged %s: %+v", name, other.Valid, other.Anomalies)
				}
			}
		})
	}
}

// rewriteRead makes the last main-phase KV read that saw a key's newest
// write return that key's first write instead.
func rewriteRead(h *history.History) bool {
	first := map[string]history.Event{}
	var target *history.Event
	for i := range h.Events {
		e := &h.Events[i]
		if e.Workload != WorkloadKV || e.Type != history.OK || e.Value == nil {
			continue
		}
		if e.F == history.FWrite {
			if _, ok := first[e.Key]; !ok {
				first[e.Key] = *e
			}
		}
		if e.F == history.FRead && e.Phase != history.PhaseFinal {
			if w, ok := first[e.Key]; ok && w.Rev < e.Rev {
				target = e
			}
		}
	}
	if target == nil {
		return false
	}
	w := first[target.Key]
	target.Value, target.Rev = w.Value, w.Rev
	return true
}

// invocationTime finds when a completion's operation was invoked.
func invocationTime(h *history.History, completion *history.Event) int64 {
	for _, op := range Pair(h.Events) {
		if op.Completion == completion.Index {
			return op.Call
		}
	}
	return completion.Time
}
