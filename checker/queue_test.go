package checker

import (
	"context"
	"slices"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

type queueHist struct{ hist }

func (h *queueHist) enqueue(p int, v string, t history.Type) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FEnqueue, Workload: WorkloadQueue, Value: &v})
	h.add(history.Event{Type: t, Process: history.Process(p), F: history.FEnqueue, Workload: WorkloadQueue, Value: &v})
}

func (h *queueHist) dequeue(p int, phase string, vs ...string) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FDequeue, Workload: WorkloadQueue, Phase: phase})
	h.add(history.Event{Type: history.OK, Process: history.Process(p), F: history.FDequeue, Workload: WorkloadQueue, Phase: phase, Values: vs})
}

func TestQueueVerdicts(t *testing.T) {
	cases := []struct {
		name   string
		build  func(h *queueHist)
		want   Validity
		kind   string
		counts map[string]int
	}{
		{"everything delivered, some twice, an indeterminate one recovered", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.enqueue(0, "b", history.OK)
			h.enqueue(0, "c", history.Info)
			h.dequeue(1, "", "a", "b")
			h.dequeue(1, history.PhaseFinal, "b", "c")
		}, Valid, "", map[string]int{"duplicated": 1, "recovered": 1, "delivered": 3}},
		{"an acknowledged message never delivered", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.enqueue(0, "b", history.OK)
			h.dequeue(1, history.PhaseFinal, "a")
		}, Invalid, KindLost, nil},
		{"a message nobody enqueued", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.dequeue(1, history.PhaseFinal, "a", "zzz")
		}, Invalid, KindUnexpected, nil},
		{"a refused message delivered", func(h *queueHist) {
			h.enqueue(0, "a", history.Fail)
			h.dequeue(1, history.PhaseFinal, "a")
		}, Invalid, KindFailedEnqueueVisible, nil},
		{"no drain yet: undelivered is not lost", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
		}, Unknown, "", map[string]int{"undelivered": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &queueHist{}
			tc.build(h)
			r := CheckHistory(context.Background(), &history.History{Events: h.events}, Options{})
			c := r.Checkers[WorkloadQueue]
			if r.Valid != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", r.Valid, tc.want, c.Anomalies)
			}
			var kinds []string
			for _, a := range c.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if tc.kind != "" && !slices.Contains(kinds, tc.kind) {
				t.Fatalf("anomalies %v, want %s", kinds, tc.kind)
			}
			for k, v := range tc.counts {
				if c.Counts[k] != v {
					t.Errorf("count %s = %d, want %d (%v)", k, c.Counts[k], v, c.Counts)
				}
			}
		})
	}
}
