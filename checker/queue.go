package checker

import (
	"fmt"
	"sort"

	"github.com/jetsam-dev/jetsam/history"
)

// WorkloadQueue names the queue workload.
const WorkloadQueue = history.WorkloadQueue

// KindFailedEnqueueVisible: a message the server refused was delivered.
const KindFailedEnqueueVisible = "failed-enqueue-visible"

// CheckQueue checks the queue: every acknowledged enqueue must be delivered
// at least once (by the end of the drain), and nothing must be delivered
// that nobody enqueued. Duplicate deliveries are counted, not anomalies:
// the consumer promises at-least-once. Indeterminate enqueues that were
// delivered are counted as recovered.
func CheckQueue(ops []Op, faults []FaultWindow, opts Options) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	enqueued := map[string]*Op{}
	delivered := map[string]int{}
	firstDelivery := map[string]*Op{}
	drained := false
	for i := range ops {
		op := &ops[i]
		c.Counts[op.F+"-"+string(op.Type)]++
		switch op.F {
		case history.FEnqueue:
			if op.Value != nil {
				enqueued[*op.Value] = op
			}
		case history.FDequeue:
			// A drain shows what is left only if its fetches succeeded.
			if op.Phase == history.PhaseFinal && op.Type == history.OK {
				drained = true
			}
			for _, v := range op.Values {
				delivered[v]++
				if firstDelivery[v] == nil {
					firstDelivery[v] = op
				}
			}
		}
	}
	// Without the final drain an undelivered message may only be late.
	var anomalies []Anomaly
	values := make([]string, 0, len(enqueued))
	for v := range enqueued {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		e := enqueued[v]
		n := delivered[v]
		switch {
		case e.Type == history.OK && n == 0 && !drained:
			c.Counts["undelivered"]++
		case e.Type == history.OK && n == 0:
			c.Counts["lost-on-"+e.Node]++
			anomalies = append(anomalies, Anomaly{Kind: KindLost, Ops: []int{e.Index}, Node: e.Node, Time: e.Call,
				Explanation: fmt.Sprintf("enqueue of %s on %s was acknowledged at %s, and no consumer ever received it", v, e.Node, seconds(e.Return))})
		case e.Type == history.Fail && n > 0:
			d := firstDelivery[v]
			anomalies = append(anomalies, Anomaly{Kind: KindFailedEnqueueVisible, Ops: []int{e.Index, d.Index}, Node: e.Node, Time: e.Call,
				Explanation: fmt.Sprintf("enqueue of %s on %s was refused (%s), yet %s received it", v, e.Node, e.Error, d.Node)})
		case e.Type == history.Info && n > 0:
			c.Counts["recovered"]++
		}
		if n > 1 {
			c.Counts["duplicated"]++
			c.Counts["duplicate-deliveries"] += n - 1
		}
		if n > 0 {
			c.Counts["delivered"]++
		}
	}
	for v, n := range delivered {
		if enqueued[v] == nil {
			d := firstDelivery[v]
			anomalies = append(anomalies, Anomaly{Kind: KindUnexpected, Ops: []int{d.Index}, Node: d.Node, Time: d.Call,
				Explanation: fmt.Sprintf("%s received %q (%d times), which no operation enqueued", d.Node, v, n)})
		}
	}
	for _, op := range ops {
		if op.F == history.FDequeue {
			c.Counts["received-on-"+op.Node] += len(op.Values)
		}
	}
	finish(c, anomalies, faults, ops, opts)
	if !drained {
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
