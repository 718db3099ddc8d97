package checker

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

// logHist builds stream log histories on top of hist.
type logHist struct{ hist }

func (h *logHist) appendOp(p int, v string, t history.Type, seq uint64, expect *uint64) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FAppend, Workload: WorkloadLog, Value: &v, ExpectRev: expect})
	h.add(history.Event{Type: t, Process: history.Process(p), F: history.FAppend, Workload: WorkloadLog, Value: &v, ExpectRev: expect, Rev: seq})
}

// resend records an append of v by process p with v as its message ID,
// a resend of the invocation at first (-1: none), acknowledged as a
// duplicate at seq when dup.
func (h *logHist) resend(p int, v string, t history.Type, seq uint64, dup bool, first int) int {
	var of *int
	if first >= 0 {
		of = &first
	}
	inv := len(h.events)
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FAppend, Workload: WorkloadLog, Value: &v, RetryOf: of})
	done := history.Event{Type: t, Process: history.Process(p), F: history.FAppend, Workload: WorkloadLog, Value: &v, Rev: seq}
	if dup {
		done.Error = history.DuplicateAck
	}
	h.add(done)
	return inv
}

func (h *logHist) read(p int, seq uint64, v *string, mode string) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FRead, Workload: WorkloadLog, Rev: seq, ReadMode: mode})
	h.add(history.Event{Type: history.OK, Process: history.Process(p), F: history.FRead, Workload: WorkloadLog, Rev: seq, Value: v, ReadMode: mode})
}

func (h *logHist) readAll(p int, node, mode string, log ...string) {
	var entries []history.LogEntry
	for i, v := range log {
		entries = append(entries, history.LogEntry{Seq: uint64(i + 1), Value: v})
	}
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FReadAll, Workload: WorkloadLog, Node: node, ReadMode: mode, Phase: history.PhaseFinal})
	h.add(history.Event{Type: history.OK, Process: history.Process(p), F: history.FReadAll, Workload: WorkloadLog, Node: node, ReadMode: mode, Phase: history.PhaseFinal, Log: entries})
}

// final reads the same log through the leader and from three replicas.
func (h *logHist) final(log ...string) {
	h.readAll(9, "n1", history.ReadLeader, log...)
	for _, n := range []string{"n1", "n2", "n3"} {
		h.readAll(9, n, history.ReadDirect, log...)
	}
}

func TestLogVerdicts(t *testing.T) {
	u := history.U64
	cases := []struct {
		name  string
		build func(h *logHist)
		want  Validity
		kind  string
	}{
		{"appends, reads, and one final log everywhere", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, u(0))
			h.appendOp(1, "b", history.OK, 2, nil)
			h.appendOp(0, "c", history.Fail, 0, u(1)) // refused: b came first
			h.read(2, 1, s("a"), history.ReadLeader)
			h.read(2, 2, s("b"), history.ReadDirect)
			h.appendOp(1, "d", history.Info, 0, nil) // indeterminate, and it landed
			h.final("a", "b", "d")
		}, Valid, ""},
		{"acknowledged append missing", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, u(0))
			h.appendOp(1, "b", history.OK, 2, nil)
			h.final("a")
		}, Invalid, KindLost},
		{"a value twice", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.final("a", "a")
		}, Invalid, KindDuplicated},
		{"a sequence acknowledged twice", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.appendOp(1, "b", history.OK, 1, nil)
			h.final("a", "b")
		}, Invalid, KindDuplicateSequence},
		{"stored at another sequence than acknowledged", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 2, nil)
			h.appendOp(1, "b", history.OK, 1, nil)
			h.final("b", "x", "a")
		}, Invalid, KindSequenceMismatch},
		{"order against real time", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 2, nil)
			h.appendOp(1, "b", history.OK, 1, nil)
			h.final("b", "a")
		}, Invalid, KindOrderInversion},
		{"a value nobody appended", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.final("a", "zzz")
		}, Invalid, KindUnexpected},
		{"a refused append in the log", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, u(0))
			h.appendOp(1, "b", history.Fail, 0, u(0))
			h.final("a", "b")
		}, Invalid, KindFailedAppendVisible},
		{"a replica that differs", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.appendOp(0, "b", history.OK, 2, nil)
			h.readAll(9, "n1", history.ReadLeader, "a", "b")
			h.readAll(9, "n1", history.ReadDirect, "a", "b")
			h.readAll(9, "n2", history.ReadDirect, "a")
		}, Invalid, KindDivergence},
		{"a leader read that missed an acknowledged append", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.read(1, 1, nil, history.ReadLeader)
			h.final("a")
		}, Invalid, KindStaleRead},
		{"a read of a value the log does not hold", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			h.read(1, 1, s("b"), history.ReadLeader)
			h.final("a")
		}, Invalid, KindReadMismatch},
		{"a timed-out append resent, answered duplicate, stored once", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			first := h.resend(1, "b", history.Info, 0, false, -1)
			h.appendOp(0, "c", history.OK, 3, nil)
			h.resend(4, "b", history.OK, 2, true, first) // the original's sequence, lower than c's
			h.appendOp(2, "d", history.Info, 0, nil)
			h.final("a", "b", "c", "d")
		}, Valid, ""},
		{"an acknowledged append answered duplicate again", func(h *logHist) {
			first := h.resend(1, "b", history.OK, 1, false, -1)
			h.resend(1, "b", history.OK, 1, true, first)
			h.appendOp(2, "d", history.Info, 0, nil)
			h.final("b", "d")
		}, Valid, ""},
		{"a resend answered duplicate, never stored", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			first := h.resend(1, "b", history.Info, 0, false, -1)
			h.resend(4, "b", history.OK, 0, true, first)
			h.final("a")
		}, Invalid, KindDuplicateUnstored},
		{"a resend stored twice", func(h *logHist) {
			first := h.resend(1, "b", history.Info, 0, false, -1)
			h.resend(4, "b", history.Info, 0, false, first)
			h.resend(7, "b", history.OK, 2, false, first)
			h.final("b", "b")
		}, Invalid, KindDuplicated},
		{"a duplicate answered at another value's sequence", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
			first := h.resend(1, "b", history.Info, 0, false, -1)
			h.resend(4, "b", history.OK, 1, true, first)
			h.final("a", "b")
		}, Invalid, KindSequenceMismatch},
		{"no final log", func(h *logHist) {
			h.appendOp(0, "a", history.OK, 1, nil)
		}, Unknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &logHist{}
			tc.build(h)
			r := CheckHistory(context.Background(), &history.History{Events: h.events}, Options{})
			c := r.Checkers[WorkloadLog]
			if r.Valid != tc.want {
				t.Fatalf("verdict %s, want %s: %+v %v", r.Valid, tc.want, c.Anomalies, c.Notes)
			}
			var kinds []string
			for _, a := range c.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if tc.kind != "" && !slices.Contains(kinds, tc.kind) {
				t.Fatalf("anomalies %v, want %s", kinds, tc.kind)
			}
			if tc.want == Invalid && tc.kind != KindLost && slices.Contains(kinds, KindLost) {
				t.Fatalf("anomalies %v: a lost append too", kinds)
			}
			if tc.want == Valid && c.Counts["recovered"] < 1 {
				t.Fatalf("counts %v, want the indeterminate append recovered", c.Counts)
			}
		})
	}
}

func TestLogDirectReadsAreJudgedApart(t *testing.T) {
	h := &logHist{}
	h.appendOp(0, "a", history.OK, 1, nil)
	h.read(1, 1, nil, history.ReadDirect) // stale, but a direct get
	h.final("a")
	r := CheckHistory(context.Background(), &history.History{Events: h.events}, Options{})
	if r.Checkers[WorkloadLog].Valid != Valid || r.Checkers[WorkloadLogDirect].Valid != Invalid {
		t.Fatalf("log %s, log-direct %s; want the stale direct read only in log-direct", r.Checkers[WorkloadLog].Valid, r.Checkers[WorkloadLogDirect].Valid)
	}
	if a := r.Checkers[WorkloadLogDirect].Anomalies; len(a) != 1 || a[0].ReadMode != history.ReadDirect {
		t.Fatalf("anomalies %+v", a)
	}
}

// A value appended with retries and stored twice is one duplicated
// anomaly, however many attempts it took; a resend answered duplicate and
// never stored is duplicate-unstored, not lost.
func TestLogRetriesReportedOncePerValue(t *testing.T) {
	h := &logHist{}
	first := h.resend(1, "b", history.Info, 0, false, -1)
	h.resend(4, "b", history.OK, 1, false, first)
	h.resend(7, "b", history.OK, 1, true, first)
	first = h.resend(2, "c", history.Info, 0, false, -1)
	h.resend(5, "c", history.OK, 0, true, first)
	h.final("b", "b")
	r := CheckHistory(context.Background(), &history.History{Events: h.events}, Options{})
	c := r.Checkers[WorkloadLog]
	if c.Counts["anomaly-"+KindDuplicated] != 1 || c.Counts["anomaly-"+KindDuplicateUnstored] != 1 || c.Counts["anomaly-"+KindLost] != 0 {
		t.Fatalf("counts %v, want one duplicated and one duplicate-unstored", c.Counts)
	}
	for _, a := range c.Anomalies {
		if a.Kind == KindDuplicateUnstored && (a.Ops[0] != first+2 || !strings.Contains(a.Explanation, "answered duplicate at sequence 0 ")) {
			t.Fatalf("anomaly %+v: want the duplicate's acknowledgement first, and its sequence", a)
		}
		if a.Kind == KindDuplicateSequence || a.Kind == KindOrderInversion {
			t.Fatalf("anomaly %+v: a duplicate's acknowledgement shares its original's sequence", a)
		}
	}
}
