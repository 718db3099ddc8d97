package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jetsam-dev/jetsam/history"
)

// The stream log workload and its checks.
const (
	WorkloadLog       = history.WorkloadLog
	WorkloadLogDirect = "log-direct"
)

// Anomaly kinds of the log checker (stale-read is shared with KV).
const (
	KindLost                = "lost"
	KindDuplicated          = "duplicated"
	KindDuplicateSequence   = "duplicate-sequence"
	KindSequenceMismatch    = "sequence-mismatch"
	KindOrderInversion      = "order-inversion"
	KindUnexpected          = "unexpected"
	KindFailedAppendVisible = "failed-append-visible"
	KindDivergence          = "divergence"
	KindReadMismatch        = "read-mismatch"
	// KindDuplicateUnstored: an append answered as a duplicate of an
	// earlier message with its message ID, when no message with it was
	// ever stored.
	KindDuplicateUnstored = "duplicate-unstored"
)

// CheckLog checks the stream log: the final log read through the leader
// must hold every acknowledged append exactly once, at the sequence it was
// acknowledged with, in an order that respects real time, and nothing else;
// every replica must hold the same log; reads must agree with it. Reads by
// direct get are judged apart (the second result), as for KV.
func CheckLog(ctx context.Context, ops []Op, faults []FaultWindow, opts Options) (leader, direct *Check) {
	leader = &Check{Valid: Valid, Counts: map[string]int{}}
	var appends, reads, replicas []*Op
	var final *Op
	for i := range ops {
		op := &ops[i]
		leader.Counts[op.F+"-"+string(op.Type)]++
		switch op.F {
		case history.FAppend:
			appends = append(appends, op)
		case history.FRead:
			reads = append(reads, op)
		case history.FReadAll:
			if op.Type != history.OK {
				continue
			}
			if op.ReadMode == history.ReadDirect {
				replicas = append(replicas, op)
			} else {
				final = op
			}
		}
	}
	var anomalies, directAnomalies []Anomaly
	if final == nil {
		why := "the run ended before its final phase"
		if finalBegan(ops, WorkloadLog) {
			why = "every attempt failed (see the recovery check)"
		}
		leader.Notes = append(leader.Notes, "no successful final read of the log through the leader: "+why)
	} else {
		leader.Counts["final-length"] = len(final.Log)
		anomalies = append(anomalies, checkFinalLog(appends, final, leader.Counts)...)
		for _, r := range replicas {
			if a := divergence(final, r); a != nil {
				anomalies = append(anomalies, *a)
			}
		}
		leader.Counts["replicas-read"] = len(replicas)
	}
	anomalies = append(anomalies, orderInversions(appends)...)
	anomalies = append(anomalies, duplicateSequences(appends)...)
	la, da := checkLogReads(reads, appends, final)
	anomalies = append(anomalies, la...)
	directAnomalies = append(directAnomalies, da...)

	finish(leader, anomalies, faults, ops, opts)
	if final == nil && leader.Valid == Valid {
		leader.Valid = Unknown
	}
	if !slices.ContainsFunc(reads, func(r *Op) bool { return r.ReadMode == history.ReadDirect }) {
		return leader, nil
	}
	direct = &Check{Valid: Valid, Counts: map[string]int{}}
	direct.Notes = []string{"direct gets are served by any replica, and NATS documents them as not read-your-writes: anomalies here are that documented behaviour, reported so it can be seen"}
	for _, r := range reads {
		if r.ReadMode == history.ReadDirect {
			direct.Counts["read-"+string(r.Type)]++
		}
	}
	finish(direct, directAnomalies, faults, ops, opts)
	return leader, direct
}

// finish lists anomalies (capped per kind), names the faults active at each,
// and sets the verdict.
func finish(c *Check, anomalies []Anomaly, faults []FaultWindow, ops []Op, opts Options) {
	sort.SliceStable(anomalies, func(i, j int) bool { return anomalies[i].Time < anomalies[j].Time })
	listed := map[string]int{}
	for _, a := range anomalies {
		a.Faults = activeFaults(faults, a.Time, opEnd(ops, a))
		c.Counts["anomaly-"+a.Kind]++
		if a.ReadMode != "" {
			c.Counts["anomaly-"+a.Kind+"-"+a.ReadMode]++
		}
		if listed[a.Kind] < opts.MaxListed || opts.MaxListed < 0 {
			listed[a.Kind]++
			c.Anomalies = append(c.Anomalies, a)
		}
	}
	for kind, n := range listed {
		if total := c.Counts["anomaly-"+kind]; total > n {
			c.Notes = append(c.Notes, fmt.Sprintf("%d %s anomalies, the first %d listed", total, kind, n))
		}
	}
	if len(anomalies) > 0 {
		c.Valid = Invalid
	}
}

// checkFinalLog compares the acknowledged appends with the final log. The
// appends of one value (a first attempt and its resends with the same
// message ID) are judged together.
func checkFinalLog(appends []*Op, final *Op, counts map[string]int) []Anomaly {
	var out []Anomaly
	seqsOf := map[string][]uint64{}
	for _, e := range final.Log {
		seqsOf[e.Value] = append(seqsOf[e.Value], e.Seq)
	}
	byValue := map[string][]*Op{}
	var values []string // in the order of their first append
	for _, a := range appends {
		v := *a.Value
		if _, ok := byValue[v]; !ok {
			values = append(values, v)
		}
		byValue[v] = append(byValue[v], a)
	}
	for _, v := range values {
		ops, seqs := byValue[v], seqsOf[v]
		for _, a := range ops {
			if an := judgeAppend(a, ops, seqs, final, counts); an != nil {
				out = append(out, *an)
			}
		}
		if len(seqs) > 1 {
			out = append(out, duplicated(v, ops, seqs, final))
		}
	}
	for _, e := range final.Log {
		if _, ok := byValue[e.Value]; !ok {
			out = append(out, Anomaly{Kind: KindUnexpected, Ops: []int{final.Index}, Phase: history.PhaseFinal, Time: final.Call,
				Explanation: fmt.Sprintf("the final log holds %q at sequence %d, which no operation appended", e.Value, e.Seq)})
		}
	}
	return out
}

// duplicateAck reports whether an append was acknowledged as a duplicate:
// its sequence is the one the server gave for an earlier message with the
// same message ID.
func duplicateAck(op *Op) bool {
	return op.Type == history.OK && op.Error == history.DuplicateAck
}

// judgeAppend compares one append with where the final log holds its value
// (seqs); ops are every append of that value.
func judgeAppend(a *Op, ops []*Op, seqs []uint64, final *Op, counts map[string]int) *Anomaly {
	v := *a.Value
	an := &Anomaly{Node: a.Node, Phase: history.PhaseFinal, Time: a.Call, Ops: []int{a.Index, final.Index}}
	switch {
	case duplicateAck(a) && len(seqs) == 0:
		an.Kind, an.Ops = KindDuplicateUnstored, append(attempts(a, ops), final.Index)
		an.Explanation = fmt.Sprintf("append of %s on %s was answered duplicate at sequence %d at %s but never stored: the final log (%d messages, read through the leader) does not hold it%s",
			v, a.Node, a.Rev, seconds(a.Return), len(final.Log), attemptsNote(ops))
	case a.Type == history.OK && len(seqs) == 0:
		an.Kind = KindLost
		an.Explanation = fmt.Sprintf("append of %s on %s, acknowledged at sequence %d at %s, is missing from the final log (%d messages, read through the leader)",
			v, a.Node, a.Rev, seconds(a.Return), len(final.Log))
	case duplicateAck(a) && !slices.Contains(seqs, a.Rev):
		an.Kind = KindSequenceMismatch
		an.Explanation = fmt.Sprintf("append of %s on %s was answered as a duplicate at sequence %d, but the final log holds it at %v: a duplicate's acknowledgement must give the stored copy's sequence", v, a.Node, a.Rev, seqs)
	case a.Type == history.OK && !slices.Contains(seqs, a.Rev):
		an.Kind = KindSequenceMismatch
		an.Explanation = fmt.Sprintf("append of %s on %s was acknowledged at sequence %d, but the final log holds it at %v", v, a.Node, a.Rev, seqs)
	case a.Type == history.Fail && len(seqs) > 0:
		an.Kind = KindFailedAppendVisible
		an.Explanation = fmt.Sprintf("append of %s on %s was refused (%s), yet the final log holds it at %v", v, a.Node, a.Error, seqs)
		if why := twoReplies(a, seqs[0]); why != "" {
			an.Explanation += why
			an.Cause = CauseTwoReplies
		}
	case a.Type == history.Info && len(seqs) > 0:
		counts["recovered"]++
		return nil
	default:
		return nil
	}
	return an
}

// duplicated reports a value the final log holds more than once, once for
// all its appends.
func duplicated(v string, ops []*Op, seqs []uint64, final *Op) Anomaly {
	a := ops[0]
	if i := slices.IndexFunc(ops, func(op *Op) bool { return op.Type == history.OK }); i >= 0 {
		a = ops[i] // an acknowledged one: its time span places the faults
	}
	how := "a conditional append, which must not apply twice"
	if a.ExpectRev == nil {
		how = "its message ID should have made the stream drop any copy"
	}
	return Anomaly{Kind: KindDuplicated, Ops: append(attempts(a, ops), final.Index), Node: a.Node, Phase: history.PhaseFinal, Time: a.Call,
		Explanation: fmt.Sprintf("%s (appended on %s) is in the final log %d times, at %v: %s%s", v, a.Node, len(seqs), seqs, how, attemptsNote(ops))}
}

// attempts lists the invocations of a value's appends, first's first.
func attempts(first *Op, ops []*Op) []int {
	out := []int{first.Index}
	for _, a := range ops {
		if a != first {
			out = append(out, a.Index)
		}
	}
	return out
}

// attemptsNote describes the appends of a value that was sent more than once.
func attemptsNote(ops []*Op) string {
	if len(ops) < 2 {
		return ""
	}
	parts := make([]string, len(ops))
	for i, a := range ops {
		parts[i] = fmt.Sprintf("op %d %s", a.Index, a.Type)
		if duplicateAck(a) {
			parts[i] += " (duplicate)"
		}
	}
	return fmt.Sprintf(" (%d attempts with the same message ID: %s)", len(ops), strings.Join(parts, ", "))
}

// divergence compares one replica's own log with the leader's.
func divergence(final, replica *Op) *Anomaly {
	a, b := final.Log, replica.Log
	for i := 0; i < max(len(a), len(b)); i++ {
		switch {
		case i >= len(a):
			return divergent(replica, final, b[i].Seq, fmt.Sprintf("%s holds %q at sequence %d, past the end of the leader's log (%d messages)", replica.Node, b[i].Value, b[i].Seq, len(a)))
		case i >= len(b):
			return divergent(replica, final, a[i].Seq, fmt.Sprintf("%s's copy ends at %d messages; the leader's goes on to sequence %d (%d messages)", replica.Node, len(b), a[len(a)-1].Seq, len(a)))
		case a[i] != b[i]:
			return divergent(replica, final, min(a[i].Seq, b[i].Seq), fmt.Sprintf("%s holds %q at sequence %d where the leader holds %q at sequence %d", replica.Node, b[i].Value, b[i].Seq, a[i].Value, a[i].Seq))
		}
	}
	return nil
}

func divergent(replica, final *Op, seq uint64, why string) *Anomaly {
	return &Anomaly{Kind: KindDivergence, Ops: []int{replica.Index, final.Index}, Node: replica.Node, Phase: history.PhaseFinal,
		Time: replica.Call, Explanation: fmt.Sprintf("replicas diverge from sequence %d: %s", seq, why)}
}

// orderInversions finds acknowledged appends ordered against real time: A
// acknowledged before B began, yet A's sequence is higher.
func orderInversions(appends []*Op) []Anomaly {
	var ok []*Op
	for _, a := range appends {
		// A duplicate's acknowledgement gives the original message's
		// sequence, which real time does not order.
		if a.Type == history.OK && !duplicateAck(a) {
			ok = append(ok, a)
		}
	}
	byReturn := slices.Clone(ok)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	highest := make([]*Op, len(byReturn)) // highest sequence among byReturn[:i+1]
	for i, a := range byReturn {
		highest[i] = a
		if i > 0 && highest[i-1].Rev > a.Rev {
			highest[i] = highest[i-1]
		}
	}
	var out []Anomaly
	for _, b := range ok {
		j := sort.Search(len(byReturn), func(k int) bool { return byReturn[k].Return >= b.Call }) - 1
		if j < 0 || highest[j].Rev <= b.Rev {
			continue
		}
		a := highest[j]
		out = append(out, Anomaly{Kind: KindOrderInversion, Ops: []int{b.Index, a.Index}, Node: b.Node, Time: b.Call,
			Explanation: fmt.Sprintf("append of %s on %s got sequence %d, but append of %s on %s had already been acknowledged at the higher sequence %d, %s before it began",
				*b.Value, b.Node, b.Rev, *a.Value, a.Node, a.Rev, ago(b.Call-a.Return))})
	}
	return out
}

// duplicateSequences finds one sequence acknowledged to two values. A
// duplicate's acknowledgement gives the sequence of the copy stored
// first, so it may share it with that copy's own acknowledgement; one at
// sequence 0 names no message (the final log judges it).
func duplicateSequences(appends []*Op) []Anomaly {
	var out []Anomaly
	bySeq := map[uint64]*Op{}
	for _, a := range appends {
		if a.Type != history.OK || duplicateAck(a) && a.Rev == 0 {
			continue
		}
		p, ok := bySeq[a.Rev]
		switch {
		case !ok:
			bySeq[a.Rev] = a
		case *p.Value != *a.Value:
			how := func(op *Op) string {
				if duplicateAck(op) {
					return " (answered as a duplicate)"
				}
				return ""
			}
			out = append(out, Anomaly{Kind: KindDuplicateSequence, Ops: []int{a.Index, p.Index}, Node: a.Node, Time: a.Call,
				Explanation: fmt.Sprintf("sequence %d was acknowledged to two appends: %s on %s%s and %s on %s%s", a.Rev, *a.Value, a.Node, how(a), *p.Value, p.Node, how(p))})
		}
	}
	return out
}

// checkLogReads compares reads by sequence with the final log, and finds
// reads that missed a sequence acknowledged before they began. Anomalies of
// direct reads are returned apart.
func checkLogReads(reads, appends []*Op, final *Op) (leader, direct []Anomaly) {
	valueAt := map[uint64]string{}
	if final != nil {
		for _, e := range final.Log {
			valueAt[e.Seq] = e.Value
		}
	}
	var acked []*Op
	for _, a := range appends {
		if a.Type == history.OK {
			acked = append(acked, a)
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Return < acked[j].Return })
	highest := make([]*Op, len(acked))
	for i, a := range acked {
		highest[i] = a
		if i > 0 && highest[i-1].Rev > a.Rev {
			highest[i] = highest[i-1]
		}
	}
	for _, r := range reads {
		if r.Type != history.OK {
			continue
		}
		seq := r.Rev
		where := fmt.Sprintf("read of sequence %d by process %d on %s (%s get) at %s", seq, r.Process, r.Node, r.ReadMode, seconds(r.Call))
		var a *Anomaly
		if r.Value != nil {
			if want, ok := valueAt[seq]; final != nil && (!ok || want != *r.Value) {
				held := "nothing there"
				if ok {
					held = fmt.Sprintf("%q", want)
				}
				a = &Anomaly{Kind: KindReadMismatch, Ops: []int{r.Index, final.Index},
					Explanation: fmt.Sprintf("%s returned %q, but the final log holds %s", where, *r.Value, held)}
			}
		} else if j := sort.Search(len(acked), func(k int) bool { return acked[k].Return >= r.Call }) - 1; j >= 0 && highest[j].Rev >= seq {
			w := highest[j]
			a = &Anomaly{Kind: KindStaleRead, Ops: []int{r.Index, w.Index},
				Explanation: fmt.Sprintf("%s found nothing, but sequence %d (%s, on %s) had been acknowledged %s before the read began",
					where, w.Rev, *w.Value, w.Node, ago(r.Call-w.Return))}
		}
		if a == nil {
			continue
		}
		a.Node, a.ReadMode, a.Time = r.Node, r.ReadMode, r.Call
		if r.ReadMode == history.ReadDirect {
			direct = append(direct, *a)
		} else {
			leader = append(leader, *a)
		}
	}
	return leader, direct
}
