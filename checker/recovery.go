package checker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jetsam-dev/jetsam/history"
)

// CheckerRecovery names the check of what the run saw after the last heal.
const CheckerRecovery = "recovery"

// Anomaly kinds of the recovery check.
const (
	// KindNoRecovery: after the last heal, with every node up again, the
	// cluster did not serve within the recovery timeout. NATS promises a
	// working stream while a majority of its replicas is up.
	KindNoRecovery = "no-recovery"
	// KindStreamLost: a workload's stream exists on no node any more, so
	// every acknowledged write to it is lost.
	KindStreamLost = "stream-lost"
)

// listedOps caps the operations an anomaly of this check lists.
const listedOps = 20

// finalView is what one workload's final phase shows: its acknowledged
// writes, those no successful final read covers, and its final reads.
type finalView struct {
	acked, unread []int
	finalOK       int
	failed        []*Op // final operations that did not succeed
}

// CheckRecovery judges the cluster's recovery after the last heal from the
// run's FRecovery event and its final phase. It returns nil for a history
// without that event: one cut short before its final phase, or written by
// an older jetsam.
func CheckRecovery(ops []Op, nemesis []history.Event, faults []FaultWindow, opts Options) *Check {
	var ev *history.Event
	finalDone := false
	for i := range nemesis {
		e := &nemesis[i]
		switch {
		case e.F == history.FRecovery && e.Recovery != nil:
			ev, finalDone = e, false
		case e.F == history.FFinalDone && ev != nil:
			finalDone = true
		}
	}
	if ev == nil {
		return nil
	}
	rec := ev.Recovery
	c := &Check{Valid: Valid, Counts: map[string]int{"waited-ms": int((ev.Time - rec.Began) / 1e6)}}
	var anomalies []Anomaly
	if rec.Recovered {
		c.Counts["recovered"] = 1
		c.Notes = append(c.Notes, fmt.Sprintf("the cluster recovered %s after the last heal", ago(ev.Time-rec.Began)))
	} else if a := clusterNotRecovered(ev); a != nil {
		anomalies = append(anomalies, *a)
	}
	for _, s := range rec.Streams {
		v := viewFinal(s.Workload, ops)
		c.Counts["unreadable-acknowledged"] += len(v.unread)
		if streamGone(s) {
			anomalies = append(anomalies, streamLost(ev, s, v))
		}
		if a := streamNotRecovered(ev, s, v, finalDone); a != nil {
			anomalies = append(anomalies, *a)
		}
	}
	if !finalDone {
		c.Notes = append(c.Notes, "the run was stopped during its final phase")
	}
	finish(c, anomalies, faults, ops, opts)
	return c
}

// clusterNotRecovered explains the problems that are not one stream's.
func clusterNotRecovered(ev *history.Event) *Anomaly {
	rec := ev.Recovery
	var what []string
	for _, p := range rec.Problems {
		if p.Stream == "" {
			what = append(what, problemSince(p, ev.Time))
		}
	}
	if len(what) == 0 {
		return nil
	}
	return &Anomaly{
		Kind: KindNoRecovery, Time: rec.Began, Ops: []int{},
		Explanation: fmt.Sprintf("the cluster did not recover within %s of the last heal (%s to %s): %s. Nodes: %s",
			ago(rec.Timeout), seconds(rec.Began), seconds(ev.Time), strings.Join(what, "; "), describeNodes(rec.Nodes)),
	}
}

// streamNotRecovered explains why one workload's stream did not serve
// after the last heal: the problems the nodes showed, or, when they showed
// none, that no final operation on it succeeded.
func streamNotRecovered(ev *history.Event, s history.StreamState, v finalView, finalDone bool) *Anomaly {
	rec := ev.Recovery
	var what []string
	for _, p := range rec.Problems {
		if p.Stream == s.Stream {
			what = append(what, problemSince(p, ev.Time))
		}
	}
	var why string
	switch {
	case !rec.Recovered && len(what) > 0:
		why = fmt.Sprintf("stream %s (workload %s) did not recover within %s of the last heal (%s to %s): %s",
			s.Stream, s.Workload, ago(rec.Timeout), seconds(rec.Began), seconds(ev.Time), strings.Join(what, "; "))
		if s.LeaderSeen == nil {
			why += "; it had no leader at any moment of the wait"
		} else if s.Leader == "" {
			why += fmt.Sprintf("; it last had a leader at %s", seconds(*s.LeaderSeen))
		}
	case finalDone && v.finalOK == 0 && len(v.failed) > 0:
		why = fmt.Sprintf("the nodes described stream %s (workload %s) as recovered at %s, yet none of its %d final operations succeeded",
			s.Stream, s.Workload, seconds(ev.Time), len(v.failed))
	default:
		return nil
	}
	why += fmt.Sprintf(". Replicas: %s. %s", describeReplicas(s.Replicas), describeFinal(v))
	return &Anomaly{Kind: KindNoRecovery, Key: s.Stream, Time: rec.Began, Ops: involved(v, v.unread), Explanation: why}
}

// streamLost explains a stream that no node has any more.
func streamLost(ev *history.Event, s history.StreamState, v finalView) Anomaly {
	return Anomaly{
		Kind: KindStreamLost, Key: s.Stream, Time: ev.Recovery.Began, Ops: involved(v, v.acked),
		Explanation: fmt.Sprintf("stream %s (workload %s) exists on no node after the last heal: every node answered at %s without it, so all %d acknowledged writes to it are lost",
			s.Stream, s.Workload, seconds(ev.Time), len(v.acked)),
	}
}

// streamGone: every node answered, and none has the stream.
func streamGone(s history.StreamState) bool {
	return len(s.Replicas) > 0 && !slices.ContainsFunc(s.Replicas, func(r history.ReplicaState) bool { return !r.Answered || r.Present })
}

// involved lists a failed final operation (the observer), then the first
// of the writes it concerns.
func involved(v finalView, writes []int) []int {
	out := []int{}
	if len(v.failed) > 0 {
		out = append(out, v.failed[0].Index)
	}
	return append(out, writes[:min(len(writes), listedOps)]...)
}

func problemSince(p history.Problem, end int64) string {
	return fmt.Sprintf("%s (since %s, %s before jetsam stopped waiting)", p.What, seconds(p.Since), ago(end-p.Since))
}

func describeNodes(nodes []history.NodeState) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		var b strings.Builder
		b.WriteString(n.Node)
		if n.Server != "" {
			fmt.Fprintf(&b, " (server %s)", n.Server)
		}
		switch {
		case !n.Running:
			fmt.Fprintf(&b, " not running: %s", n.Exit)
		case n.Health != "":
			fmt.Fprintf(&b, " unhealthy (%s), %d routes, meta leader %q", n.Health, n.Routes, n.MetaLeader)
		default:
			fmt.Fprintf(&b, " healthy, %d routes, meta leader %q", n.Routes, n.MetaLeader)
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "; ")
}

func describeReplicas(rs []history.ReplicaState) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		var s string
		switch {
		case !r.Answered:
			s = r.Node + " did not answer"
		case !r.Present:
			s = r.Node + " does not have it"
		default:
			leader := r.Leader
			if leader == "" {
				leader = "none"
			}
			s = fmt.Sprintf("%s has %d messages (sequences %d to %d), leader %s", r.Node, r.Messages, r.FirstSeq, r.LastSeq, leader)
			if r.Current != nil && !*r.Current {
				s += fmt.Sprintf(", not current (lag %d)", r.Lag)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func describeFinal(v finalView) string {
	s := fmt.Sprintf("%d of its %d acknowledged writes can no longer be read", len(v.unread), len(v.acked))
	if n := len(v.failed); n > 0 {
		last := v.failed[n-1]
		s += fmt.Sprintf("; %d final operations failed, the last with %q", n, last.Error)
	}
	return s
}

// viewFinal gathers a workload's acknowledged writes and what its final
// reads covered. A KV write is covered by a successful final read of its
// key; the log's by a successful final read of the whole log; the queue's
// by its delivery, or by a successful final fetch.
func viewFinal(workload string, ops []Op) finalView {
	var v finalView
	readKeys := map[string]bool{}
	delivered := map[string]bool{}
	for i := range ops {
		op := &ops[i]
		if op.Workload != workload {
			continue
		}
		if op.Phase == history.PhaseFinal {
			if op.Type == history.OK {
				v.finalOK++
				readKeys[op.Key] = true
			} else {
				v.failed = append(v.failed, op)
			}
		}
		for _, val := range op.Values {
			delivered[val] = true
		}
	}
	for i := range ops {
		op := &ops[i]
		if op.Workload != workload || op.Type != history.OK || op.Phase == history.PhaseFinal || !isWrite(op.F) {
			continue
		}
		v.acked = append(v.acked, op.Index)
		covered := false
		switch workload {
		case WorkloadKV:
			covered = readKeys[op.Key]
		case WorkloadQueue:
			covered = v.finalOK > 0 || (op.Value != nil && delivered[*op.Value])
		default:
			covered = v.finalOK > 0
		}
		if !covered {
			v.unread = append(v.unread, op.Index)
		}
	}
	return v
}

// isWrite: an operation that changes a stream.
func isWrite(f string) bool {
	switch f {
	case history.FWrite, history.FCAS, history.FCreate, history.FDelete, history.FAppend, history.FEnqueue:
		return true
	}
	return false
}
