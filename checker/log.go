package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"

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

// checkFinalLog compares the acknowledged appends with the final log.
func checkFinalLog(appends []*Op, final *Op, counts map[string]int) []Anomaly {
	var out []Anomaly
	seqsOf := map[string][]uint64{}
	for _, e := range final.Log {
		seqsOf[e.Value] = append(seqsOf[e.Value], e.Seq)
	}
	byValue := map[string]*Op{}
	for _, a := range appends {
		if a.Value != nil {
			byValue[*a.Value] = a
		}
	}
	base := func(op *Op) Anomaly {
		return Anomaly{Node: op.Node, Phase: history.PhaseFinal, Time: op.Call}
	}
	for _, a := range appends {
		v := *a.Value
		seqs := seqsOf[v]
		switch {
		case a.Type == history.OK && len(seqs) == 0:
			an := base(a)
			an.Kind, an.Ops = KindLost, []int{a.Index, final.Index}
			an.Explanation = fmt.Sprintf("append of %s on %s, acknowledged at sequence %d at %s, is missing from the final log (%d messages, read through the leader)",
				v, a.Node, a.Rev, seconds(a.Return), len(final.Log))
			out = append(out, an)
		case a.Type == history.OK && !slices.Contains(seqs, a.Rev):
			an := base(a)
			an.Kind, an.Ops = KindSequenceMismatch, []int{a.Index, final.Index}
			an.Explanation = fmt.Sprintf("append of %s on %s was acknowledged at sequence %d, but the final log holds it at %v", v, a.Node, a.Rev, seqs)
			out = append(out, an)
		case a.Type == history.Fail && len(seqs) > 0:
			an := base(a)
			an.Kind, an.Ops = KindFailedAppendVisible, []int{a.Index, final.Index}
			an.Explanation = fmt.Sprintf("append of %s on %s was refused (%s), yet the final log holds it at %v", v, a.Node, a.Error, seqs)
			if why := twoReplies(a, seqs[0]); why != "" {
				an.Explanation += why
				an.Cause = CauseTwoReplies
			}
			out = append(out, an)
		case a.Type == history.Info && len(seqs) > 0:
			counts["recovered"]++
		}
		if len(seqs) > 1 {
			an := base(a)
			an.Kind, an.Ops = KindDuplicated, []int{a.Index, final.Index}
			how := "a conditional append, which must not apply twice"
			if a.ExpectRev == nil {
				how = "its message ID should have made the stream drop any copy"
			}
			an.Explanation = fmt.Sprintf("%s (appended on %s) is in the final log %d times, at %v: %s", v, a.Node, len(seqs), seqs, how)
			out = append(out, an)
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
		if a.Type == history.OK {
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

// duplicateSequences finds one sequence acknowledged to two appends.
func duplicateSequences(appends []*Op) []Anomaly {
	var out []Anomaly
	bySeq := map[uint64]*Op{}
	for _, a := range appends {
		if a.Type != history.OK {
			continue
		}
		if p, ok := bySeq[a.Rev]; ok {
			out = append(out, Anomaly{Kind: KindDuplicateSequence, Ops: []int{a.Index, p.Index}, Node: a.Node, Time: a.Call,
				Explanation: fmt.Sprintf("sequence %d was acknowledged to two appends: %s on %s and %s on %s", a.Rev, *a.Value, a.Node, *p.Value, p.Node)})
			continue
		}
		bySeq[a.Rev] = a
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
