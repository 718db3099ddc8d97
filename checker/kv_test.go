package checker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// hist builds histories by hand: every call advances the clock by 1 ms.
type hist struct {
	events []history.Event
	now    int64
}

func (h *hist) add(e history.Event) {
	h.now += int64(time.Millisecond)
	e.Index, e.Time = len(h.events), h.now
	if e.Process != history.Nemesis {
		if e.Workload == "" {
			e.Workload = WorkloadKV
		}
		if e.Node == "" {
			e.Node = "n1"
		}
	}
	h.events = append(h.events, e)
}

func (h *hist) invoke(p int, f, key string, value *string, expect *uint64) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: f, Key: key, Value: value, ExpectRev: expect, ReadMode: readMode(f)})
}

func (h *hist) done(p int, t history.Type, f, key string, value *string, rev uint64) {
	h.add(history.Event{Type: t, Process: history.Process(p), F: f, Key: key, Value: value, Rev: rev, ReadMode: readMode(f)})
}

func readMode(f string) string {
	if f == history.FRead {
		return history.ReadLeader
	}
	return ""
}

func (h *hist) write(p int, key, v string, rev uint64) {
	h.invoke(p, history.FWrite, key, &v, nil)
	h.done(p, history.OK, history.FWrite, key, &v, rev)
}

func (h *hist) read(p int, key string, v *string, rev uint64) {
	h.invoke(p, history.FRead, key, nil, nil)
	h.done(p, history.OK, history.FRead, key, v, rev)
}

func (h *hist) final(p int, key string, v *string, rev uint64) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FRead, Key: key, ReadMode: history.ReadLeader, Phase: history.PhaseFinal})
	h.add(history.Event{Type: history.OK, Process: history.Process(p), F: history.FRead, Key: key, Value: v, Rev: rev, ReadMode: history.ReadLeader, Phase: history.PhaseFinal})
}

func (h *hist) check(t *testing.T, opts Options) *Result {
	t.Helper()
	return CheckHistory(context.Background(), &history.History{Events: h.events}, opts)
}

var s = history.Str

func kinds(r *Result) []string {
	var out []string
	for _, a := range r.Checkers[WorkloadKV].Anomalies {
		out = append(out, a.Kind)
	}
	return out
}

func TestKVVerdicts(t *testing.T) {
	cases := []struct {
		name  string
		build func(h *hist)
		want  Validity
		kind  string // an anomaly kind that must be reported
	}{
		{"sequential register", func(h *hist) {
			h.read(0, "k", nil, 0)
			h.write(0, "k", "a", 1)
			h.read(1, "k", s("a"), 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.OK, history.FCAS, "k", s("b"), 5)
			h.read(0, "k", s("b"), 5)
			h.final(2, "k", s("b"), 5)
		}, Valid, ""},
		{"an unseen indeterminate cas whose revision a seen indeterminate cas expected", func(h *hist) {
			// b took effect at 20 though nobody read it: c, expecting 20,
			// was read at 21. Dropping b as never seen was a false alarm.
			h.write(0, "k", "a", 10)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(10))
			h.done(1, history.Info, history.FCAS, "k", s("b"), 0)
			h.invoke(2, history.FCAS, "k", s("c"), history.U64(20))
			h.done(2, history.Info, history.FCAS, "k", s("c"), 0)
			h.read(3, "k", s("c"), 21)
			h.final(4, "k", s("c"), 21)
		}, Valid, ""},
		{"stale read after an acknowledged write", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.write(0, "k", "b", 2)
			h.read(1, "k", s("a"), 1)
			h.final(2, "k", s("b"), 2)
		}, Invalid, KindStaleRead},
		{"stale read after another read saw newer", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(0, history.FWrite, "k", s("b"), nil) // still in flight
			h.read(1, "k", s("b"), 2)
			h.read(2, "k", s("a"), 1)
			h.done(0, history.OK, history.FWrite, "k", s("b"), 2)
			h.final(3, "k", s("b"), 2)
		}, Invalid, KindStaleRead},
		{"read concurrent with a write may see either", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(0, history.FWrite, "k", s("b"), nil)
			h.read(1, "k", s("a"), 1)
			h.read(2, "k", s("b"), 2)
			h.done(0, history.OK, history.FWrite, "k", s("b"), 2)
			h.final(3, "k", s("b"), 2)
		}, Valid, ""},
		{"lost write", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.final(1, "k", nil, 0)
		}, Invalid, KindLostWrite},
		{"indeterminate write seen later", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FWrite, "k", s("b"), nil)
			h.done(1, history.Info, history.FWrite, "k", s("b"), 0)
			h.read(0, "k", s("a"), 1)
			h.read(0, "k", s("b"), 7)
			h.final(2, "k", s("b"), 7)
		}, Valid, ""},
		{"indeterminate write never seen", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FWrite, "k", s("b"), nil)
			h.done(1, history.Info, history.FWrite, "k", s("b"), 0)
			h.final(2, "k", s("a"), 1)
		}, Valid, ""},
		{"write that never returned stays open to the end", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FWrite, "k", s("b"), nil) // no completion at all
			h.read(0, "k", s("a"), 1)
			h.final(2, "k", s("b"), 9)
		}, Valid, ""},
		{"indeterminate write seen with a revision older than an acknowledged one", func(h *hist) {
			h.invoke(1, history.FWrite, "k", s("a"), nil)
			h.done(1, history.Info, history.FWrite, "k", s("a"), 0)
			h.write(0, "k", "b", 5)
			h.read(0, "k", s("a"), 3)
			h.final(2, "k", s("b"), 5)
		}, Invalid, KindStaleRead},
		{"refused compare-and-set whose revision matched", func(h *hist) {
			// The leader refuses a CAS while another on the key is in flight
			// (10164), even with the right revision.
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
			h.read(2, "k", s("a"), 1)
			h.final(2, "k", s("a"), 1)
		}, Valid, ""},
		{"value of a refused write is visible", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
			h.read(2, "k", s("b"), 2)
			h.final(2, "k", s("b"), 2)
		}, Invalid, KindFailedWriteSeen},
		{"value nobody wrote", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.read(1, "k", s("zzz"), 2)
			h.final(2, "k", s("a"), 1)
		}, Invalid, KindUnexpectedValue},
		{"revision differs from the write's acknowledgement", func(h *hist) {
			h.write(0, "k", "a", 3)
			h.read(1, "k", s("a"), 4)
			h.final(2, "k", s("a"), 3)
		}, Invalid, KindWrongRevision},
		{"read of a value written only later", func(h *hist) {
			h.read(1, "k", s("a"), 1)
			h.write(0, "k", "a", 1)
			h.final(2, "k", s("a"), 1)
		}, Invalid, KindFutureRead},
		{"one revision acknowledged to two writes", func(h *hist) {
			h.write(0, "k", "a", 4)
			h.write(1, "j", "b", 4)
			h.final(2, "k", s("a"), 4)
			h.final(2, "j", s("b"), 4)
		}, Invalid, KindDuplicateRev},
		{"indeterminate compare-and-set that could not have applied", func(h *hist) {
			// Only Porcupine sees this one: the CAS expected revision 2, the
			// key was at 1, yet its value appears.
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(2))
			h.done(1, history.Info, history.FCAS, "k", s("b"), 0)
			h.read(0, "k", s("b"), 3)
			h.final(2, "k", s("b"), 3)
		}, Invalid, KindNonlinearizable},
		{"indeterminate compare-and-set that applied", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Info, history.FCAS, "k", s("b"), 0)
			h.read(0, "k", s("b"), 3)
			h.final(2, "k", s("b"), 3)
		}, Valid, ""},
		{"failed and indeterminate reads constrain nothing", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FRead, "k", nil, nil)
			h.done(1, history.Fail, history.FRead, "k", nil, 0)
			h.invoke(1, history.FRead, "k", nil, nil)
			h.done(1, history.Info, history.FRead, "k", nil, 0)
			h.final(2, "k", s("a"), 1)
		}, Valid, ""},
		{"read after a delete sees the key absent", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(0, history.FDelete, "k", nil, nil)
			h.done(0, history.OK, history.FDelete, "k", nil, 2)
			h.read(1, "k", nil, 0) // a direct read: no marker revision
			h.read(1, "k", nil, 2) // a leader read: the marker
			h.final(2, "k", nil, 2)
		}, Valid, ""},
		{"read of a deleted value after the delete was acknowledged", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(0, history.FDelete, "k", nil, nil)
			h.done(0, history.OK, history.FDelete, "k", nil, 2)
			h.read(1, "k", s("a"), 1)
			h.final(2, "k", nil, 2)
		}, Invalid, KindStaleRead},
		{"absent after an acknowledged write, no delete anywhere", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.read(1, "k", nil, 0)
			h.final(2, "k", s("a"), 1)
		}, Invalid, KindStaleRead},
		{"absent after an acknowledged write, a delete in flight", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(3, history.FDelete, "k", nil, nil)
			h.read(1, "k", nil, 0)
			h.done(3, history.Info, history.FDelete, "k", nil, 0)
			h.final(2, "k", nil, 0)
		}, Valid, ""},
		{"create of an absent key, then a refused create", func(h *hist) {
			h.invoke(0, history.FCreate, "k", s("a"), nil)
			h.done(0, history.OK, history.FCreate, "k", s("a"), 3)
			h.invoke(1, history.FCreate, "k", s("b"), nil)
			h.done(1, history.Fail, history.FCreate, "k", s("b"), 0)
			h.final(2, "k", s("a"), 3)
		}, Valid, ""},
		{"create that succeeded on a present key", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCreate, "k", s("b"), nil)
			h.done(1, history.OK, history.FCreate, "k", s("b"), 3)
			h.final(2, "k", s("b"), 3)
		}, Invalid, KindNonlinearizable},
		{"create after a delete", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(0, history.FDelete, "k", nil, nil)
			h.done(0, history.OK, history.FDelete, "k", nil, 2)
			h.invoke(1, history.FCreate, "k", s("b"), nil)
			h.done(1, history.OK, history.FCreate, "k", s("b"), 3)
			h.final(2, "k", s("b"), 3)
		}, Valid, ""},
		{"compare-and-set at the revision of a write nobody saw", func(h *hist) {
			// The indeterminate write must stay in the search: the
			// compare-and-set's expected revision can only be its own.
			h.write(0, "k", "a", 5)
			h.invoke(1, history.FWrite, "k", s("w"), nil)
			h.done(1, history.Info, history.FWrite, "k", s("w"), 0)
			h.invoke(0, history.FCAS, "k", s("b"), history.U64(7))
			h.done(0, history.OK, history.FCAS, "k", s("b"), 9)
			h.read(2, "k", s("b"), 9)
			h.final(2, "k", s("b"), 9)
		}, Valid, ""},
		{"no final read: the run did not finish", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.read(1, "k", s("a"), 1)
		}, Unknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			tc.build(h)
			r := h.check(t, Options{Timeout: time.Minute})
			if r.Valid != tc.want {
				t.Fatalf("verdict %s, want %s; anomalies %+v notes %v", r.Valid, tc.want, r.Checkers[WorkloadKV].Anomalies, r.Checkers[WorkloadKV].Notes)
			}
			if tc.kind != "" && !slices.Contains(kinds(r), tc.kind) {
				t.Fatalf("anomalies %v, want one of kind %s", kinds(r), tc.kind)
			}
			if tc.want == Invalid && len(r.Checkers[WorkloadKV].FailingKeys) == 0 {
				t.Fatalf("invalid with no failing key")
			}
			if tc.want != Invalid && len(r.Checkers[WorkloadKV].Anomalies) != 0 {
				t.Fatalf("%s history has anomalies: %+v", tc.want, r.Checkers[WorkloadKV].Anomalies)
			}
		})
	}
}

func TestKVTimeoutIsUnknownNeverValid(t *testing.T) {
	h := &hist{}
	h.write(0, "k", "a", 1)
	h.read(1, "k", s("a"), 1)
	h.final(2, "k", s("a"), 1)
	r := h.check(t, Options{Timeout: time.Nanosecond})
	if r.Valid != Unknown {
		t.Fatalf("verdict %s after the search ran out of time, want unknown", r.Valid)
	}
	if got := r.Checkers[WorkloadKV].UnknownKeys; !slices.Equal(got, []string{"k"}) {
		t.Fatalf("unknown keys %v, want [k]", got)
	}
}

func TestKVTimeoutStillReportsProvenAnomalies(t *testing.T) {
	h := &hist{}
	h.write(0, "k", "a", 1)
	h.write(0, "k", "b", 2)
	h.read(1, "k", s("a"), 1)
	h.final(2, "k", s("b"), 2)
	r := h.check(t, Options{Timeout: time.Nanosecond})
	if r.Valid != Invalid {
		t.Fatalf("verdict %s, want invalid: the stale read is proven without the search", r.Valid)
	}
}

func TestAnomalyNamesActiveFault(t *testing.T) {
	h := &hist{}
	h.write(0, "k", "a", 1)
	h.add(history.Event{Type: history.Info, Process: history.Nemesis, F: "partition",
		Fault: &history.Fault{Action: history.FaultStart, Shape: "one", Groups: [][]string{{"n1"}, {"n2", "n3"}}}})
	h.write(0, "k", "b", 2)
	h.read(1, "k", s("a"), 1)
	h.add(history.Event{Type: history.Info, Process: history.Nemesis, F: "partition",
		Fault: &history.Fault{Action: history.FaultStop, Shape: "one", Groups: [][]string{{"n1"}, {"n2", "n3"}}}})
	h.write(0, "k", "c", 3)
	h.final(2, "k", s("c"), 3)
	r := h.check(t, Options{})
	a := r.Checkers[WorkloadKV].Anomalies
	if len(a) != 1 || len(a[0].Faults) != 1 || a[0].Faults[0] != "partition one [n1] | [n2 n3]" {
		t.Fatalf("anomalies %+v, want one naming the partition", a)
	}
	if len(r.Faults) != 1 || r.Faults[0].End == nil || r.Faults[0].OKAfter != 2 {
		t.Fatalf("faults %+v, want one healed window with 2 ok ops after it", r.Faults)
	}
}

func TestPairLeavesUnfinishedOpsOpen(t *testing.T) {
	h := &hist{}
	h.write(0, "k", "a", 1)
	h.invoke(1, history.FWrite, "k", s("b"), nil)
	ops := Pair(h.events)
	if len(ops) != 2 || ops[1].Type != history.Info || ops[1].Return != Open || ops[1].Completion != -1 {
		t.Fatalf("ops %+v, want the second open and indeterminate", ops)
	}
	if ops[0].Type != history.OK || ops[0].Rev != 1 || ops[0].Completion != 1 {
		t.Fatalf("first op %+v", ops[0])
	}
}
