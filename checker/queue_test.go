package checker

import (
	"context"
	"slices"
	"strings"
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

// fetched is a dequeue whose fetch received vs and had the acks of acked
// confirmed; the invocation is recorded by the caller, so that fetches can
// overlap.
func (h *queueHist) fetched(p int, phase string, vs []string, acked ...string) {
	h.add(history.Event{Type: history.OK, Process: history.Process(p), F: history.FDequeue, Workload: WorkloadQueue, Phase: phase, Values: vs, Acked: acked})
}

func (h *queueHist) fetch(p int, phase string) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FDequeue, Workload: WorkloadQueue, Phase: phase})
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
		{"delivered again while its ack was unconfirmed or in flight", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.fetch(1, "")
			h.fetched(1, "", []string{"a"}) // the ack timed out
			h.fetch(2, "")
			h.fetch(1, "")
			h.fetched(1, "", []string{"a"}, "a") // confirmed while 2 fetched
			h.fetched(2, "", []string{"a"}, "a")
			h.dequeue(3, history.PhaseFinal)
		}, Valid, "", map[string]int{"duplicate-deliveries": 2, "delivered-after-ack": 0, "ack-confirmed": 1}},
		{"delivered by a fetch begun after its ack was confirmed", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.enqueue(0, "b", history.OK)
			h.fetch(1, "")
			h.fetched(1, "", []string{"a", "b"}, "a", "b")
			h.fetch(2, "")
			h.fetched(2, "", []string{"b"})
			h.fetch(2, history.PhaseFinal)
			h.fetched(2, history.PhaseFinal, []string{"b"}, "b")
		}, Invalid, KindDeliveredAfterAck, map[string]int{"delivered-after-ack": 2}},
		{"an ack of a value the fetch did not receive counts for nothing", func(h *queueHist) {
			h.enqueue(0, "a", history.OK)
			h.fetch(1, "")
			h.fetched(1, "", nil, "a")
			h.dequeue(2, history.PhaseFinal, "a")
		}, Valid, "", nil},
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

// TestDeliveredAfterAckSaysWhichCopy: with the stream sequences recorded,
// the anomaly tells a lost acknowledgement (the same message again) from a
// value stored twice (another message), and values delivered from two
// sequences are counted.
func TestDeliveredAfterAckSaysWhichCopy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		again     history.Delivery
		want      string
		twiceWant int
	}{
		{"the same message", history.Delivery{Seq: 7, Count: 2}, "the same message, stream sequence 7, in its delivery 2: the acknowledgement was lost", 0},
		{"another copy", history.Delivery{Seq: 9, Count: 1}, "another copy at stream sequence 9; the acknowledged one was 7", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &queueHist{}
			h.enqueue(0, "a", history.OK)
			h.fetch(1, "")
			h.add(history.Event{Type: history.OK, Process: 1, F: history.FDequeue, Workload: WorkloadQueue,
				Values: []string{"a"}, Acked: []string{"a"}, Deliveries: []history.Delivery{{Seq: 7, Count: 1}}})
			h.fetch(1, history.PhaseFinal)
			h.add(history.Event{Type: history.OK, Process: 1, F: history.FDequeue, Workload: WorkloadQueue, Phase: history.PhaseFinal,
				Values: []string{"a"}, Deliveries: []history.Delivery{tc.again}})
			c := CheckHistory(context.Background(), &history.History{Events: h.events}, Options{}).Checkers[WorkloadQueue]
			if c.Valid != Invalid || len(c.Anomalies) != 1 || !strings.Contains(c.Anomalies[0].Explanation, tc.want) {
				t.Fatalf("%s: %+v; want one anomaly saying %q", c.Valid, c.Anomalies, tc.want)
			}
			if c.Counts["stored-twice"] != tc.twiceWant {
				t.Fatalf("stored-twice %d, want %d", c.Counts["stored-twice"], tc.twiceWant)
			}
		})
	}
}
