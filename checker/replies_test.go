package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// reply adds an observer's extra reply to the invocation at index of.
func (h *hist) reply(of int, t history.Type, rev uint64) {
	h.add(history.Event{Type: t, Process: history.Observer, F: history.FReply, Of: &of, Rev: rev})
}

// A refused write that took effect is an anomaly either way; a recorded
// second reply acknowledging it where it was found names the cause, and a
// second reply elsewhere does not.
func TestTwoRepliesNameTheCause(t *testing.T) {
	cases := []struct {
		name  string
		build func(h *hist)
		kind  string
		cause string
	}{
		{"log, acknowledged where it was found", func(h *hist) {
			lh := &logHist{*h}
			lh.appendOp(0, "a", history.OK, 1, history.U64(0))
			lh.appendOp(1, "b", history.Fail, 0, history.U64(0))
			lh.reply(len(lh.events)-2, history.OK, 2)
			lh.final("a", "b")
			*h = lh.hist
		}, KindFailedAppendVisible, CauseTwoReplies},
		{"log, acknowledged elsewhere", func(h *hist) {
			lh := &logHist{*h}
			lh.appendOp(0, "a", history.OK, 1, history.U64(0))
			lh.appendOp(1, "b", history.Fail, 0, history.U64(0))
			lh.reply(len(lh.events)-2, history.OK, 7)
			lh.final("a", "b")
			*h = lh.hist
		}, KindFailedAppendVisible, ""},
		{"log, a second refusal", func(h *hist) {
			lh := &logHist{*h}
			lh.appendOp(0, "a", history.OK, 1, history.U64(0))
			lh.appendOp(1, "b", history.Fail, 0, history.U64(0))
			lh.reply(len(lh.events)-2, history.Fail, 0)
			lh.final("a", "b")
			*h = lh.hist
		}, KindFailedAppendVisible, ""},
		{"kv, acknowledged where it was read", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
			h.reply(len(h.events)-2, history.OK, 2)
			h.final(2, "k", s("b"), 2)
		}, KindFailedWriteSeen, CauseTwoReplies},
		{"kv, acknowledged but never read", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
			h.reply(len(h.events)-2, history.OK, 2)
			h.write(0, "k", "c", 3)
			h.final(2, "k", s("c"), 3)
		}, KindRefusedButAcknowledged, CauseTwoReplies},
		{"log, acknowledged but not in the log", func(h *hist) {
			lh := &logHist{*h}
			lh.appendOp(0, "a", history.OK, 1, history.U64(0))
			lh.appendOp(1, "b", history.Fail, 0, history.U64(0))
			lh.reply(len(lh.events)-2, history.OK, 2)
			lh.final("a")
			*h = lh.hist
		}, KindRefusedButAcknowledged, CauseTwoReplies},
		{"kv, no second reply", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.invoke(1, history.FCAS, "k", s("b"), history.U64(1))
			h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
			h.final(2, "k", s("b"), 2)
		}, KindFailedWriteSeen, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			tc.build(h)
			// Through the file format, as a real history is checked.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			for _, e := range h.events {
				if err := enc.Encode(e); err != nil {
					t.Fatal(err)
				}
			}
			r, err := CheckReader(context.Background(), &buf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Valid != Invalid {
				t.Fatalf("verdict %s, want invalid", r.Valid)
			}
			var found *Anomaly
			for _, c := range r.Checkers {
				for i := range c.Anomalies {
					if c.Anomalies[i].Kind == tc.kind {
						found = &c.Anomalies[i]
					}
				}
			}
			if found == nil {
				t.Fatalf("no %s anomaly: %+v", tc.kind, r.Checkers)
			}
			if found.Cause != tc.cause {
				t.Fatalf("cause %q, want %q: %s", found.Cause, tc.cause, found.Explanation)
			}
			if said := strings.Contains(found.Explanation, "second reply"); said != (tc.cause != "") {
				t.Fatalf("explanation %q: mentions a second reply %v, want %v", found.Explanation, said, tc.cause != "")
			}
			t.Log(found.Explanation)
		})
	}
}

// Extra replies that agree with the outcome are no anomaly: a second
// refusal of a refused write, a late acknowledgement of a write that timed
// out (it may have happened anyway).
func TestAgreeingRepliesAreValid(t *testing.T) {
	h := &hist{}
	h.write(0, "k", "a", 1)
	h.invoke(1, history.FCAS, "k", s("b"), history.U64(7))
	h.done(1, history.Fail, history.FCAS, "k", s("b"), 0)
	h.reply(len(h.events)-2, history.Fail, 0)
	h.invoke(2, history.FWrite, "k", s("c"), nil)
	h.done(2, history.Info, history.FWrite, "k", s("c"), 0)
	h.reply(len(h.events)-2, history.OK, 2)
	h.final(3, "k", s("c"), 2)
	if r := h.check(t, Options{}); r.Valid != Valid {
		t.Fatalf("verdict %s: %+v", r.Valid, r.Checkers[WorkloadKV].Anomalies)
	}
}

// A diagram has as many rows as operations overlap, whatever the process
// numbers: a row per process number up to a million froze the browser.
func TestDiagramRowsArePacked(t *testing.T) {
	h := &hist{}
	h.write(1<<20, "k", "a", 1)
	h.write(7000, "k", "b", 2)
	h.read(3<<20, "k", s("a"), 1) // stale: the diagram shows the failure
	h.final(5000, "k", s("b"), 2)
	var buf bytes.Buffer
	if err := VisualizeKV(&buf, Pair(h.events), "k", 0, time.Second); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, huge := range []string{`"ClientId":1048576`, `"ClientId":7000`, `"ClientId":5000`} {
		if strings.Contains(page, huge) {
			t.Fatalf("diagram keeps %s", huge)
		}
	}
	if !strings.Contains(page, `"ClientId":0`) {
		t.Fatal("diagram has no row 0")
	}
}
