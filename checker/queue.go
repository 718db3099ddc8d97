package checker

import (
	"fmt"
	"maps"
	"slices"

	"github.com/jetsam-dev/jetsam/history"
)

// WorkloadQueue names the queue workload.
const WorkloadQueue = history.WorkloadQueue

// Kinds of queue anomalies.
const (
	// KindFailedEnqueueVisible: a message the server refused was delivered.
	KindFailedEnqueueVisible = "failed-enqueue-visible"
	// KindDeliveredAfterAck: a message was delivered again by a fetch that
	// began after the server had confirmed its acknowledgement. A confirmed
	// ack is committed in the consumer's group (the reply waits for it), and
	// a work queue removes the message, so no leader that knows the
	// consumer's state can deliver it again.
	KindDeliveredAfterAck = "delivered-after-ack"
)

// CheckQueue checks the queue: every acknowledged enqueue must be delivered
// at least once (by the end of the drain), nothing must be delivered that
// nobody enqueued, and nothing once its acknowledgement was confirmed.
// Other duplicate deliveries are counted, not anomalies: the consumer
// promises at-least-once. Indeterminate enqueues that were delivered are
// counted as recovered.
func CheckQueue(ops []Op, faults []FaultWindow, opts Options) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	q := gatherQueue(ops, c.Counts)
	anomalies := q.judgeEnqueues(c.Counts)
	anomalies = append(anomalies, q.unexpected()...)
	anomalies = append(anomalies, q.afterAck(ops, c.Counts)...)
	c.Counts["ack-confirmed"] = len(q.acked)
	for _, op := range ops {
		if op.F == history.FDequeue {
			c.Counts["received-on-"+op.Node] += len(op.Values)
		}
	}
	finish(c, anomalies, faults, ops, opts)
	if !q.drained {
		why := "no final drain: the run ended before its final phase"
		if finalBegan(ops, WorkloadQueue) {
			why = "no final fetch succeeded (see the recovery check)"
		}
		c.Notes = append(c.Notes, why+", so undelivered messages may only be late")
		if c.Valid == Valid {
			c.Valid = Unknown
		}
	}
	return c
}

// queueFacts are what the queue's operations show: who enqueued each value,
// how often and first where it was received, and whether a drain ran.
type queueFacts struct {
	enqueued      map[string]*Op
	delivered     map[string]int
	firstDelivery map[string]*Op
	// acked is, per value, the fetch that first had its acknowledgement
	// confirmed.
	acked map[string]*Op
	// seq is the stream sequence each value was first delivered from.
	seq     map[string]uint64
	drained bool
}

func gatherQueue(ops []Op, counts map[string]int) *queueFacts {
	q := &queueFacts{enqueued: map[string]*Op{}, delivered: map[string]int{}, firstDelivery: map[string]*Op{}, acked: map[string]*Op{}, seq: map[string]uint64{}}
	for i := range ops {
		op := &ops[i]
		counts[op.F+"-"+string(op.Type)]++
		switch op.F {
		case history.FEnqueue:
			if op.Value != nil {
				q.enqueued[*op.Value] = op
			}
		case history.FDequeue:
			// A drain shows what is left only if its fetches succeeded.
			if op.Phase == history.PhaseFinal && op.Type == history.OK {
				q.drained = true
			}
			q.noteSeqs(op, counts)
			for _, v := range op.Values {
				q.delivered[v]++
				if q.firstDelivery[v] == nil {
					q.firstDelivery[v] = op
				}
			}
			q.noteAcks(op)
		}
	}
	return q
}

// judgeEnqueues finds acknowledged messages never delivered (after a
// drain; without one an undelivered message may only be late) and refused
// ones delivered, counting deliveries and recoveries.
func (q *queueFacts) judgeEnqueues(counts map[string]int) []Anomaly {
	var anomalies []Anomaly
	for _, v := range slices.Sorted(maps.Keys(q.enqueued)) {
		e, n := q.enqueued[v], q.delivered[v]
		switch {
		case e.Type == history.OK && n == 0 && !q.drained:
			counts["undelivered"]++
		case e.Type == history.OK && n == 0:
			counts["lost-on-"+e.Node]++
			anomalies = append(anomalies, Anomaly{Kind: KindLost, Ops: []int{e.Index}, Node: e.Node, Time: e.Call,
				Explanation: fmt.Sprintf("enqueue of %s on %s was acknowledged at %s, and no consumer ever received it", v, e.Node, seconds(e.Return))})
		case e.Type == history.Fail && n > 0:
			d := q.firstDelivery[v]
			anomalies = append(anomalies, Anomaly{Kind: KindFailedEnqueueVisible, Ops: []int{e.Index, d.Index}, Node: e.Node, Time: e.Call,
				Explanation: fmt.Sprintf("enqueue of %s on %s was refused (%s), yet %s received it", v, e.Node, e.Error, d.Node)})
		case e.Type == history.Info && n > 0:
			counts["recovered"]++
		}
		if n > 1 {
			counts["duplicated"]++
			counts["duplicate-deliveries"] += n - 1
		}
		if n > 0 {
			counts["delivered"]++
		}
	}
	return anomalies
}

// unexpected finds values received that nobody enqueued.
func (q *queueFacts) unexpected() []Anomaly {
	var anomalies []Anomaly
	for _, v := range slices.Sorted(maps.Keys(q.delivered)) {
		if q.enqueued[v] == nil {
			d := q.firstDelivery[v]
			anomalies = append(anomalies, Anomaly{Kind: KindUnexpected, Ops: []int{d.Index}, Node: d.Node, Time: d.Call,
				Explanation: fmt.Sprintf("%s received %q (%d times), which no operation enqueued", d.Node, v, q.delivered[v])})
		}
	}
	return anomalies
}

// noteAcks keeps, per value, the fetch whose confirmed acknowledgement of it
// returned first. Only values the fetch received count: an ack of anything
// else is no fact about the queue.
func (q *queueFacts) noteAcks(op *Op) {
	for _, v := range op.Acked {
		if !slices.Contains(op.Values, v) {
			continue
		}
		if a := q.acked[v]; a == nil || op.Return < a.Return {
			q.acked[v] = op
		}
	}
}

// afterAck finds deliveries by fetches that began after the value's
// acknowledgement was confirmed: one anomaly per value, every such
// delivery counted.
func (q *queueFacts) afterAck(ops []Op, counts map[string]int) []Anomaly {
	var anomalies []Anomaly
	reported := map[string]bool{}
	for i := range ops {
		op := &ops[i]
		if op.F != history.FDequeue {
			continue
		}
		for _, v := range op.Values {
			a := q.acked[v]
			if a == nil || op.Call <= a.Return {
				continue
			}
			counts["delivered-after-ack"]++
			if reported[v] {
				continue
			}
			reported[v] = true
			anomalies = append(anomalies, Anomaly{Kind: KindDeliveredAfterAck, Ops: []int{a.Index, op.Index}, Node: op.Node, Time: op.Call,
				Explanation: fmt.Sprintf("%s received %s in a fetch begun at %s, after the server had confirmed its acknowledgement to a fetch through %s at %s%s",
					op.Node, v, seconds(op.Call), a.Node, seconds(a.Return), whichCopy(a, op, v))})
		}
	}
	return anomalies
}

// whichCopy tells, when both fetches recorded how the message came, whether
// the later one got the acknowledged message again or another copy of it.
func whichCopy(acked, again *Op, v string) string {
	a, okA := deliveryOf(acked, v)
	b, okB := deliveryOf(again, v)
	switch {
	case !okA || !okB:
		return ""
	case a.Seq == b.Seq:
		return fmt.Sprintf(" (the same message, stream sequence %d, in its delivery %d: the acknowledgement was lost)", b.Seq, b.Count)
	default:
		return fmt.Sprintf(" (another copy at stream sequence %d; the acknowledged one was %d: the value was stored twice)", b.Seq, a.Seq)
	}
}

// deliveryOf returns how op received v, if the history says.
func deliveryOf(op *Op, v string) (history.Delivery, bool) {
	i := slices.Index(op.Values, v)
	if i < 0 || i >= len(op.Deliveries) || op.Deliveries[i].Seq == 0 {
		return history.Delivery{}, false
	}
	return op.Deliveries[i], true
}

// noteSeqs counts values delivered from more than one stream sequence: an
// enqueue stored twice. Counted, not judged: the client publishes each
// value once, but its library may resend a publish nobody answered.
func (q *queueFacts) noteSeqs(op *Op, counts map[string]int) {
	for i, d := range op.Deliveries {
		v := op.Values[i]
		switch first, seen := q.seq[v]; {
		case d.Seq == 0:
		case !seen:
			q.seq[v] = d.Seq
		case first != d.Seq && first != 0:
			counts["stored-twice"]++
			q.seq[v] = 0 // count each value once
		}
	}
}
