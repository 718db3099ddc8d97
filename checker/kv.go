package checker

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
)

// WorkloadKV names the KV register workload in histories and results; the
// check of its direct reads is WorkloadKVDirect.
const (
	WorkloadKV       = history.WorkloadKV
	WorkloadKVDirect = "kv-direct"
)

// Anomaly kinds of the KV checker.
const (
	KindStaleRead       = "stale-read"
	KindLostWrite       = "lost-write"
	KindUnexpectedValue = "unexpected-value"
	KindFailedWriteSeen = "failed-write-visible"
	KindWrongRevision   = "wrong-revision"
	KindFutureRead      = "future-read"
	KindDuplicateRev    = "duplicate-revision"
	KindNonlinearizable = "nonlinearizable"
)

// CheckKV checks the KV register operations: Porcupine decides, per key,
// whether a linearization exists; a direct analysis names the anomalies in
// words. Every anomaly the analysis names is also a proof of
// non-linearizability, so a key Porcupine could not decide in time is still
// invalid when the analysis finds something.
//
// With direct set the reads are direct gets: the final reads and the checks
// of writes alone belong to the leader-read check, so neither is repeated.
//
// ops may hold every operation of a history: only the KV workload's are
// taken, and they are not copied but indexed by key, since a history can
// hold millions.
func CheckKV(ctx context.Context, ops []Op, faults []FaultWindow, opts Options, direct bool) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	idx := indexKV(ops, direct, c.Counts)
	keys := idx.keys()
	c.Counts["keys"] = len(keys)
	anomalies, outcomes := decideKVKeys(ctx, ops, keys, idx.ops, idx.end, direct, opts.Timeout)
	anomalies = judgeKVKeys(ctx, c, idx, keys, anomalies, outcomes)

	// Durability needs a final read: without one the run did not finish.
	var unread []string
	if !direct {
		unread = unreadKeys(keys, idx.ops)
	}
	if len(unread) > 0 {
		why := "the run ended before its final phase"
		if finalBegan(ops, WorkloadKV) {
			why = "every final read of them failed (see the recovery check)"
		}
		c.Notes = append(c.Notes, fmt.Sprintf("%d written keys have no successful final read: %s: %s", len(unread), why, abbreviate(unread, 10)))
	}

	finish(c, anomalies, faults, ops, opts)
	sort.Strings(c.Notes)

	switch {
	case len(anomalies) > 0 || len(c.FailingKeys) > 0:
		c.Valid = Invalid
	case len(c.UnknownKeys) > 0 || len(unread) > 0:
		c.Valid = Unknown
	}
	return c
}

// kvIndex is where each key's operations are in a history, without
// copying them (a history can hold millions).
type kvIndex struct {
	all   []Op
	byKey map[string][]int32
	end   int64 // after every time in the history
}

// indexKV indexes the KV workload's operations judged together (every
// write, and the leader reads or the direct reads), counting them.
func indexKV(ops []Op, direct bool, counts map[string]int) *kvIndex {
	idx := &kvIndex{all: ops, byKey: map[string][]int32{}}
	for i := range ops {
		op := &ops[i]
		if op.Workload != WorkloadKV || (op.F == history.FRead && (op.ReadMode == history.ReadDirect) != direct) {
			continue
		}
		idx.byKey[op.Key] = append(idx.byKey[op.Key], int32(i))
		if op.Return != Open && op.Return > idx.end {
			idx.end = op.Return
		}
		idx.end = max(idx.end, op.Call)
		counts[op.F+"-"+string(op.Type)]++
	}
	idx.end++
	return idx
}

func (idx *kvIndex) keys() []string {
	keys := make([]string, 0, len(idx.byKey))
	for k := range idx.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ops copies one key's operations, when that key is worked on.
func (idx *kvIndex) ops(k string) []Op {
	out := make([]Op, len(idx.byKey[k]))
	for j, i := range idx.byKey[k] {
		out[j] = idx.all[i]
	}
	return out
}

// judgeKVKeys records each key's verdict: failing (explained by an
// anomaly, or by the search alone), or unknown; it returns the anomalies
// with one for each key only the search found wanting.
func judgeKVKeys(ctx context.Context, c *Check, idx *kvIndex, keys []string, anomalies []Anomaly, outcomes []keyOutcome) []Anomaly {
	explained := map[string]bool{}
	for _, a := range anomalies {
		explained[a.Key] = true
	}
	for i, k := range keys {
		switch {
		case explained[k]: // failing: added below
		case outcomes[i].verdict == porcupine.Illegal:
			c.FailingKeys = append(c.FailingKeys, k)
			first := idx.all[idx.byKey[k][0]]
			anomalies = append(anomalies, Anomaly{
				Kind: KindNonlinearizable, Key: k, Ops: []int{first.Index}, Time: first.Call,
				Explanation: fmt.Sprintf("no order of the %d operations on key %s is consistent with a single register; see the linearization diagram", len(idx.byKey[k]), k),
			})
		case outcomes[i].verdict == porcupine.Unknown:
			c.UnknownKeys = append(c.UnknownKeys, k)
		}
	}
	for k := range explained {
		if !slices.Contains(c.FailingKeys, k) {
			c.FailingKeys = append(c.FailingKeys, k)
		}
	}
	sort.Strings(c.FailingKeys)
	if len(c.UnknownKeys) > 0 {
		c.Notes = append(c.Notes, unfinished(ctx, len(c.UnknownKeys)))
	}
	return anomalies
}

// decideKVKeys runs the explanations on every key, and the search on every
// key they did not prove invalid: it is the search over a key with an
// anomaly and open writes that can take minutes. It returns the anomalies
// the explanations found and each key's outcome.
func decideKVKeys(ctx context.Context, ops []Op, keys []string, byKey func(string) []Op, end int64, direct bool, timeout time.Duration) ([]Anomaly, []keyOutcome) {
	var dups []Anomaly
	if !direct {
		dups = duplicateRevisions(ops)
	}
	dupKeys := map[string]bool{}
	for _, a := range dups {
		dupKeys[a.Key] = true
	}
	outcomes := keyRunner{model: KVModel, analyse: func(i int) keyAnalysis {
		kops := byKey(keys[i])
		a := explainKey(keys[i], kops)
		if len(a) > 0 || dupKeys[keys[i]] {
			return keyAnalysis{anomalies: a, proved: true}
		}
		return keyAnalysis{ops: kvOperations(prune(kops), end)}
	}}.run(ctx, len(keys), timeout)
	var anomalies []Anomaly
	for _, o := range outcomes {
		anomalies = append(anomalies, o.analysis.anomalies...)
	}
	return append(anomalies, dups...), outcomes
}

// prune shrinks one key's operations for the search without changing its
// verdict. An indeterminate write whose value a read saw did happen, at the
// revision the read saw, before the first such read returned: it becomes an
// acknowledged write ending then. An indeterminate write nobody saw can
// always be linearized after everything else, so it is dropped, unless some
// successful compare-and-set expected a revision no known operation
// produced: that revision may be the unseen write's, and then it stays.
func prune(ops []Op) []Op {
	type sighting struct {
		ret int64
		rev uint64
	}
	seen := map[string]sighting{}
	known := map[uint64]bool{0: true}
	for _, op := range ops {
		if op.Type != history.OK {
			continue
		}
		known[op.Rev] = true
		if op.F == history.FRead && op.Value != nil {
			if s, ok := seen[*op.Value]; !ok || op.Return < s.ret {
				seen[*op.Value] = sighting{op.Return, op.Rev}
			}
		}
	}
	// A compare-and-set that took effect (acknowledged, or indeterminate
	// and seen) proves its expected revision was the key's: when no known
	// operation produced it, an unseen indeterminate write did, and must
	// stay.
	unexplained := false
	for _, op := range ops {
		_, sawIt := seen[valueOf(&op)]
		took := op.Type == history.OK || (op.Type == history.Info && op.Value != nil && sawIt)
		if op.F == history.FCAS && took && op.ExpectRev != nil && !known[*op.ExpectRev] {
			unexplained = true
		}
	}
	out := make([]Op, 0, len(ops))
	for _, op := range ops {
		writes := op.F == history.FWrite || op.F == history.FCAS || op.F == history.FCreate
		if !writes || op.Type != history.Info || op.Value == nil {
			out = append(out, op)
			continue
		}
		if s, ok := seen[*op.Value]; ok {
			op.Type, op.Rev = history.OK, s.rev
			op.Return = max(op.Call, min(op.Return, s.ret))
			out = append(out, op)
			continue
		}
		if unexplained {
			out = append(out, op)
		}
	}
	return out
}

// explainKey finds the anomalies on one key that can be stated as a simple
// fact about the history. Each one alone makes the key non-linearizable.
func explainKey(key string, ops []Op) []Anomaly {
	f := newKeyFacts(key, ops)
	var out []Anomaly
	for i := range ops {
		r := &ops[i]
		if r.F != history.FRead || r.Type != history.OK {
			continue
		}
		rd := f.describeRead(r)
		if a := f.valueAnomaly(rd); a != nil {
			out = append(out, *a)
		} else if a := f.staleAnomaly(rd); a != nil {
			out = append(out, *a)
		}
	}
	return out
}

// keyFacts are what one key's operations establish, for judging its reads.
type keyFacts struct {
	key     string
	writers map[string][]*Op // value -> operations that wrote it
	acked   []*Op            // ok operations with a known revision, by completion time
	// newest[i] is the op with the highest revision among acked[:i+1]; an
	// absent read has revision 0.
	newest  []*Op
	deletes []*Op // deletes that may have happened
}

func newKeyFacts(key string, ops []Op) *keyFacts {
	f := &keyFacts{key: key, writers: map[string][]*Op{}}
	for i := range ops {
		op := &ops[i]
		if op.F != history.FRead && op.F != history.FDelete && op.Value != nil {
			f.writers[*op.Value] = append(f.writers[*op.Value], op)
		}
		if op.Type == history.OK && op.Rev > 0 {
			f.acked = append(f.acked, op)
		}
		if op.F == history.FDelete && op.Type != history.Fail {
			f.deletes = append(f.deletes, op)
		}
	}
	sort.Slice(f.acked, func(i, j int) bool { return f.acked[i].Return < f.acked[j].Return })
	f.newest = make([]*Op, len(f.acked))
	for i, op := range f.acked {
		f.newest[i] = op
		if i > 0 && f.newest[i-1].Rev >= op.Rev {
			f.newest[i] = f.newest[i-1]
		}
	}
	return f
}

// readDesc is a read and its words: where it happened and what it saw.
type readDesc struct {
	r          *Op
	base       Anomaly
	where, saw string
}

func (f *keyFacts) describeRead(r *Op) readDesc {
	d := readDesc{r: r, base: Anomaly{Key: f.key, Node: r.Node, ReadMode: r.ReadMode, Phase: r.Phase, Time: r.Call}}
	d.saw = "nothing (the key was absent)"
	if r.Value != nil {
		d.saw = fmt.Sprintf("%s at revision %d", *r.Value, r.Rev)
	} else if r.Rev > 0 {
		d.saw = fmt.Sprintf("the key deleted at revision %d", r.Rev)
	}
	d.where = fmt.Sprintf("read of %s by process %d on %s (%s get) at %s", f.key, r.Process, r.Node, r.ReadMode, seconds(r.Call))
	if r.Phase == history.PhaseFinal {
		d.where = "final " + d.where
	}
	return d
}

// anomaly is the read's anomaly of kind with the given operations.
func (d readDesc) anomaly(kind string, ops []int, explanation string) *Anomaly {
	a := d.base
	a.Kind, a.Ops, a.Explanation = kind, ops, explanation
	return &a
}

// valueAnomaly judges the value a read returned against who wrote it.
func (f *keyFacts) valueAnomaly(d readDesc) *Anomaly {
	r := d.r
	if r.Value == nil {
		return nil
	}
	ws := f.writers[*r.Value]
	var possible *Op
	for _, w := range ws {
		if w.Type != history.Fail {
			possible = w
		}
	}
	switch {
	case len(ws) == 0:
		return d.anomaly(KindUnexpectedValue, []int{r.Index}, fmt.Sprintf("%s returned %s, a value no operation wrote", d.where, d.saw))
	case possible == nil:
		a := d.anomaly(KindFailedWriteSeen, []int{r.Index, ws[0].Index},
			fmt.Sprintf("%s returned %s, written by op %d, which the server had answered with a failure (%s)", d.where, d.saw, ws[0].Index, ws[0].Error))
		if why := twoReplies(ws[0], r.Rev); why != "" {
			a.Explanation += why
			a.Cause = CauseTwoReplies
		}
		return a
	case possible.Call > r.Return:
		return d.anomaly(KindFutureRead, []int{r.Index, possible.Index},
			fmt.Sprintf("%s returned %s, but op %d that wrote it was only invoked at %s, after the read had returned", d.where, d.saw, possible.Index, seconds(possible.Call)))
	case possible.Type == history.OK && possible.Rev != r.Rev:
		return d.anomaly(KindWrongRevision, []int{r.Index, possible.Index},
			fmt.Sprintf("%s returned %s, but op %d wrote that value at revision %d", d.where, d.saw, possible.Index, possible.Rev))
	}
	return nil
}

// staleAnomaly: something acknowledged before the read began had a newer
// revision. Revisions only grow, so a linearizable read sees it.
func (f *keyFacts) staleAnomaly(d readDesc) *Anomaly {
	r := d.r
	j := sort.Search(len(f.acked), func(k int) bool { return f.acked[k].Return >= r.Call }) - 1
	if j < 0 || f.newest[j].Rev <= r.Rev {
		return nil
	}
	w := f.newest[j]
	if r.Value == nil && r.Rev == 0 && f.absentMayBeCurrent(r, w) {
		return nil
	}
	if r.Phase == history.PhaseFinal && w.F != history.FRead {
		return d.anomaly(KindLostWrite, []int{r.Index, w.Index}, fmt.Sprintf("acknowledged write op %d (%s at revision %d, on %s) is missing: the %s returned %s",
			w.Index, valueOf(w), w.Rev, w.Node, d.where, d.saw))
	}
	what := "written"
	if w.F == history.FRead {
		what = "seen by a read"
	}
	return d.anomaly(KindStaleRead, []int{r.Index, w.Index}, fmt.Sprintf("%s returned %s, but revision %d (%s) had already been %s by op %d on %s, acknowledged %s before this read began",
		d.where, d.saw, w.Rev, valueOf(w), what, w.Index, w.Node, ago(r.Call-w.Return)))
}

// absentMayBeCurrent: a read of an absent key that did not see the delete
// marker does not know its revision. It is stale only if the newest state
// before it, w, was present and no delete can come between the two: a
// delete that may have happened after w (not known to be older) and before
// the read returned.
func (f *keyFacts) absentMayBeCurrent(r, w *Op) bool {
	if w.F == history.FDelete || (w.F == history.FRead && w.Value == nil) {
		return true
	}
	return slices.ContainsFunc(f.deletes, func(d *Op) bool {
		return d.Call < r.Return && d.Return > w.Call && (d.Type != history.OK || d.Rev > w.Rev)
	})
}

// duplicateRevisions finds revisions acknowledged to two different writes:
// a revision is a stream sequence, which names exactly one message.
func duplicateRevisions(ops []Op) []Anomaly {
	var out []Anomaly
	seen := map[uint64]*Op{}
	for i := range ops {
		op := &ops[i]
		if op.Workload != WorkloadKV || op.F == history.FRead || op.Type != history.OK {
			continue
		}
		if prev, ok := seen[op.Rev]; ok {
			out = append(out, Anomaly{
				Kind: KindDuplicateRev, Key: op.Key, Ops: []int{op.Index, prev.Index}, Node: op.Node, Time: op.Call,
				Explanation: fmt.Sprintf("op %d (%s of %s on %s) and op %d (%s of %s on %s) were both acknowledged at revision %d",
					op.Index, op.F, op.Key, op.Node, prev.Index, prev.F, prev.Key, prev.Node, op.Rev),
			})
			continue
		}
		seen[op.Rev] = op
	}
	return out
}

// unreadKeys lists keys with an acknowledged or possible write but no
// successful final read.
func unreadKeys(keys []string, byKey func(string) []Op) []string {
	var out []string
	for _, k := range keys {
		written, read := false, false
		for _, op := range byKey(k) {
			if op.F != history.FRead && op.Type != history.Fail {
				written = true
			}
			if op.F == history.FRead && op.Phase == history.PhaseFinal && op.Type == history.OK {
				read = true
			}
		}
		if written && !read {
			out = append(out, k)
		}
	}
	return out
}

func valueOf(op *Op) string {
	if op.Value == nil {
		return "absent"
	}
	return *op.Value
}

// finalBegan reports whether any of a workload's final operations was
// tried: the run reached its final phase.
func finalBegan(ops []Op, workload string) bool {
	for i := range ops {
		if ops[i].Workload == workload && ops[i].Phase == history.PhaseFinal {
			return true
		}
	}
	return false
}

// opEnd is when an anomaly's observing operation returned.
func opEnd(ops []Op, a Anomaly) int64 {
	if len(a.Ops) == 0 {
		return a.Time
	}
	i := sort.Search(len(ops), func(k int) bool { return ops[k].Index >= a.Ops[0] })
	if i < len(ops) && ops[i].Index == a.Ops[0] {
		return ops[i].Return
	}
	return a.Time
}

func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return fmt.Sprint(items)
	}
	return fmt.Sprintf("%v and %d more", items[:n], len(items)-n)
}

// DiagramOps is how many operations a diagram shows at most.
const DiagramOps = 200

// VisualizeKV writes Porcupine's linearization diagram of one key as a
// standalone HTML page. A key with more than DiagramOps operations is cut
// to the DiagramOps around the time at, and searched from a state that can
// be anything (whatever the window's first operations imply), so the page
// stays small and the verbose search, which is costly, never runs over a
// whole history.
func VisualizeKV(w io.Writer, ops []Op, key string, at int64, timeout time.Duration) error {
	var keyOps []Op
	var end int64
	for _, op := range ops {
		if op.Return != Open && op.Return > end {
			end = op.Return
		}
		if op.Workload == WorkloadKV && op.Key == key {
			keyOps = append(keyOps, op)
		}
	}
	if len(keyOps) == 0 {
		return fmt.Errorf("no operations on key %q", key)
	}
	model := KVModel
	if len(keyOps) > DiagramOps {
		sort.Slice(keyOps, func(i, j int) bool { return keyOps[i].Call < keyOps[j].Call })
		i := sort.Search(len(keyOps), func(k int) bool { return keyOps[k].Call >= at })
		lo := max(0, min(i-DiagramOps*2/3, len(keyOps)-DiagramOps))
		keyOps = keyOps[lo : lo+DiagramOps]
		model = kvWindowModel
	}
	pops := kvOperations(keyOps, end+1)
	packLanes(pops)
	_, info := porcupine.CheckOperationsVerbose(model, pops, timeout)
	return porcupine.Visualize(model, info, w)
}

// packLanes puts operations on as few rows as never overlap in time. The
// diagram draws a row per client id from 0 to the largest, and process
// numbers grow through a run (a client takes a fresh one after every
// indeterminate operation): one process numbered in the millions made a
// page no browser could draw. A row holds one operation at a time, as a
// process does; the op's history index is still in its details.
func packLanes(ops []porcupine.Operation) {
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ops[order[a]].Call < ops[order[b]].Call })
	var busyUntil []int64 // per lane, the return of its last operation
	for _, i := range order {
		lane := -1
		for l, until := range busyUntil {
			if until < ops[i].Call {
				lane = l
				break
			}
		}
		if lane < 0 {
			lane = len(busyUntil)
			busyUntil = append(busyUntil, 0)
		}
		busyUntil[lane] = ops[i].Return
		ops[i].ClientId = lane
	}
}
