package checker

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
)

// Checkers for imported Jepsen histories (history.ReadJepsen): a single
// register with compare-and-set, and a key-value map of strings with append.
// They exist to prove the checking machinery on histories whose verdicts are
// known, so they model exactly what those histories promise and no more.
//
// Indeterminate operations stay open to the end of the history. Porcupine may
// then linearize one after every other operation, which is the same as its
// never having happened; so each model only has to allow the case in which
// it did happen, and a deterministic model with an always-legal step for an
// unknown outcome is complete.

// Operation names of the key-value histories.
const (
	jepsenGet    = "get"
	jepsenPut    = "put"
	jepsenAppend = "append"
)

// The register. The state is the value, or unset before the first write.

type registerState struct {
	set   bool
	value string
}

type registerInput struct {
	f      string
	value  *string // write, cas: the value written
	expect *string // cas: the value required; nil requires the register unset
	op     *Op     // for descriptions
}

type registerOutput struct {
	typ   history.Type // ok or info
	value *string      // ok read: the value seen; nil when unset
}

func (s registerState) matches(v *string) bool {
	if v == nil {
		return !s.set
	}
	return s.set && s.value == *v
}

func registerStateOf(v *string) registerState {
	if v == nil {
		return registerState{}
	}
	return registerState{set: true, value: *v}
}

func registerStep(st, in, out any) (bool, any) {
	s := st.(registerState)
	i := in.(registerInput)
	o := out.(registerOutput)
	switch i.f {
	case history.FRead:
		return s.matches(o.value), s
	case history.FWrite:
		return true, registerStateOf(i.value)
	case history.FCAS:
		match := s.matches(i.expect)
		if o.typ == history.OK {
			return match, registerStateOf(i.value)
		}
		// Indeterminate: legal wherever it is placed, with the effect a cas
		// has there: the new value if the compare holds, none if it does
		// not. Its never having happened is the placement after everything
		// else, where no operation sees its effect.
		if match {
			return true, registerStateOf(i.value)
		}
		return true, s
	}
	return false, s
}

func describeRegisterState(st any) string {
	s := st.(registerState)
	if !s.set {
		return "unset"
	}
	return s.value
}

// RegisterModel is the Porcupine model of a Jepsen register.
var RegisterModel = porcupine.Model{
	Init: func() any { return registerState{} },
	Step: registerStep,
	Hash: func(st any) uint64 {
		s := st.(registerState)
		h := fnv.New64a()
		if s.set {
			h.Write([]byte{1})
		}
		h.Write([]byte(s.value))
		return h.Sum64()
	},
	DescribeOperation: func(in, _ any) string { return describeJepsenOp(in.(registerInput).op) },
	DescribeState:     describeRegisterState,
}

// The key-value map, one key per partition. The state is the key's string;
// a key never written holds "".

type appendKVInput struct {
	f     string
	value string
	op    *Op // for descriptions
}

type appendKVOutput struct {
	typ   history.Type
	value string // ok get: the string read
}

func appendKVStep(st, in, out any) (bool, any) {
	s := st.(string)
	i := in.(appendKVInput)
	switch i.f {
	case jepsenGet:
		return out.(appendKVOutput).value == s, s
	case jepsenPut:
		return true, i.value
	case jepsenAppend:
		return true, s + i.value
	}
	return false, s
}

// AppendKVModel is the Porcupine model of one key of a Jepsen key-value map.
var AppendKVModel = porcupine.Model{
	Init: func() any { return "" },
	Step: appendKVStep,
	Hash: func(st any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(st.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(in, _ any) string { return describeJepsenOp(in.(appendKVInput).op) },
	DescribeState:     func(st any) string { return strconv.Quote(st.(string)) },
}

// jepsenSpec says how one Jepsen checker models its operations.
type jepsenSpec struct {
	model porcupine.Model
	// fs are the operations the model knows.
	fs []string
	// keyed: one partition per key; otherwise everything is one register.
	keyed bool
	// convert makes the Porcupine input and output of op, or reports that op
	// constrains nothing (failed writes did not happen; reads that did not
	// return saw nothing). orig is the history's operation, which op may be
	// a pruned copy of; descriptions name it.
	convert func(op, orig *Op) (in, out any, keep bool)
	// analyse, when set, is the direct analysis of one partition (see
	// keyAnalysis); without it every operation is searched as it is.
	analyse func(spec jepsenSpec, key string, ops []*Op, end int64) keyAnalysis
	// what names a partition in words.
	what func(key string) string
}

var registerSpec = jepsenSpec{
	model: RegisterModel,
	fs:    []string{history.FRead, history.FWrite, history.FCAS},
	convert: func(op, orig *Op) (any, any, bool) {
		// A failed operation did not happen. A failed cas in Jepsen's etcd
		// test also says the compare did not hold, but :fail does not mean
		// that in every test, so like Knossos we draw nothing from it (all of
		// Porcupine's etcd verdicts come out the same either way).
		if op.Type == history.Fail || (op.F == history.FRead && op.Type != history.OK) {
			return nil, nil, false
		}
		in := registerInput{f: op.F, op: orig}
		out := registerOutput{typ: op.Type}
		if op.F == history.FRead {
			out.value = op.Value
		} else {
			in.value, in.expect = op.Value, op.Expect
		}
		return in, out, true
	},
	what: func(string) string { return "the register" },
}

var appendKVSpec = jepsenSpec{
	model: AppendKVModel,
	fs:    []string{jepsenGet, jepsenPut, jepsenAppend},
	keyed: true,
	convert: func(op, orig *Op) (any, any, bool) {
		if op.Type == history.Fail || (op.F == jepsenGet && op.Type != history.OK) {
			return nil, nil, false
		}
		in := appendKVInput{f: op.F, op: orig}
		out := appendKVOutput{typ: op.Type}
		if op.F == jepsenGet {
			out.value = jepsenDeref(op.Value) // a get of a missing key reads ""
		} else {
			in.value = jepsenDeref(op.Value)
		}
		return in, out, true
	},
	analyse: analyseAppendKV,
	what:    func(key string) string { return "key " + strconv.Quote(key) },
}

// jepsenOperation is op as Porcupine sees it, or false when it constrains
// nothing. An operation that never returned returns at end, after
// everything else. Its Metadata is orig, the history's operation.
func jepsenOperation(spec jepsenSpec, op, orig *Op, end int64) (porcupine.Operation, bool) {
	in, out, keep := spec.convert(op, orig)
	if !keep {
		return porcupine.Operation{}, false
	}
	ret := op.Return
	if ret == Open {
		ret = end
	}
	return porcupine.Operation{ClientId: int(op.Process), Input: in, Output: out, Call: op.Call, Return: ret, Metadata: orig}, true
}

// CheckRegister checks a Jepsen single-register history (read, write, cas on
// one value) for linearizability. All operations are one register,
// whatever their keys.
func CheckRegister(ctx context.Context, ops []Op, opts Options) *Check {
	return checkJepsen(ctx, ops, opts, registerSpec)
}

// CheckAppendKV checks a Jepsen key-value history (get, put, append) for
// linearizability, one key at a time, the keys in parallel under
// opts.Timeout; keys not decided in time are unknown. Each key is analysed
// first (analyseAppendKV): a key the analysis proves invalid is not
// searched, and the others are searched pruned.
func CheckAppendKV(ctx context.Context, ops []Op, opts Options) *Check {
	return checkJepsen(ctx, ops, opts, appendKVSpec)
}

// jepsenPartition is one key's operations as Porcupine sees them; ops[i] is
// the operation of porc[i].
type jepsenPartition struct {
	key  string
	ops  []*Op
	porc []porcupine.Operation
}

// jepsenKey is one partition's operations in the history.
type jepsenKey struct {
	key string
	ops []*Op
}

// partitionJepsen groups the operations the spec knows by partition, in
// key order, counting every operation by f and type; it also returns how
// many it does not know.
func partitionJepsen(ops []Op, spec jepsenSpec, counts map[string]int) ([]jepsenKey, int) {
	byKey := map[string]int{}
	var parts []jepsenKey
	unsupported := 0
	for k := range ops {
		op := &ops[k]
		counts[op.F+"-"+string(op.Type)]++
		if !slices.Contains(spec.fs, op.F) {
			unsupported++
			continue
		}
		key := ""
		if spec.keyed {
			key = op.Key
		}
		i, ok := byKey[key]
		if !ok {
			i = len(parts)
			byKey[key] = i
			parts = append(parts, jepsenKey{key: key})
		}
		parts[i].ops = append(parts[i].ops, op)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].key < parts[j].key })
	return parts, unsupported
}

func checkJepsen(ctx context.Context, ops []Op, opts Options, spec jepsenSpec) *Check {
	began := time.Now()
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	maxListed := opts.MaxListed
	if maxListed == 0 {
		maxListed = 100
	}
	// end is after every time in the history: open operations return then,
	// so Porcupine may place them after everything else.
	var end int64
	for _, op := range ops {
		end = max(end, op.Call)
		if op.Return != Open {
			end = max(end, op.Return)
		}
	}
	end++
	parts, unsupported := partitionJepsen(ops, spec, c.Counts)
	c.Counts["keys"] = len(parts)

	// The verdicts. Undecided partitions stay Unknown. One proven violation
	// settles the verdict, so it stops the other searches: a key that is
	// hard to decide would otherwise hold the check to its timeout for
	// nothing the verdict needs (one key of Porcupine's c50-bad takes
	// minutes alone).
	outcomes := keyRunner{model: spec.model, settle: true, analyse: func(i int) keyAnalysis {
		if spec.analyse != nil {
			return spec.analyse(spec, parts[i].key, parts[i].ops, end)
		}
		var porc []porcupine.Operation
		for _, op := range parts[i].ops {
			if o, ok := jepsenOperation(spec, op, op, end); ok {
				porc = append(porc, o)
			}
		}
		return keyAnalysis{ops: porc}
	}}.run(ctx, len(parts), opts.Timeout)

	var searched []*jepsenPartition // proved invalid by the search
	var proved []Anomaly
	for i, o := range outcomes {
		switch {
		case o.verdict == porcupine.Illegal:
			c.FailingKeys = append(c.FailingKeys, parts[i].key)
			proved = append(proved, o.analysis.anomalies...)
			if o.searched {
				p := &jepsenPartition{key: parts[i].key, porc: o.analysis.ops}
				for _, po := range p.porc {
					p.ops = append(p.ops, po.Metadata.(*Op))
				}
				searched = append(searched, p)
			}
		case o.verdict == porcupine.Unknown:
			c.UnknownKeys = append(c.UnknownKeys, parts[i].key)
		}
	}
	listJepsenAnomalies(c, proved, maxListed)
	explained := explainSearched(ctx, spec, searched, maxListed, began, opts.Timeout)
	c.Anomalies = append(c.Anomalies, explained...)
	if len(searched) > 0 {
		c.Counts["anomaly-"+KindNonlinearizable] = len(searched)
	}
	if len(explained) < len(searched) {
		c.Notes = append(c.Notes, fmt.Sprintf("%d %s anomalies, the first %d listed", len(searched), KindNonlinearizable, len(explained)))
	}
	jepsenNotes(ctx, c, unsupported, len(ops), spec)

	switch {
	case len(c.FailingKeys) > 0:
		c.Valid = Invalid
	case len(c.UnknownKeys) > 0 || unsupported > 0 || len(ops) == 0:
		// Nothing checked, or not everything: no grounds to call it valid.
		c.Valid = Unknown
	}
	return c
}

// listJepsenAnomalies lists the analysis' anomalies, in key order, at most
// maxListed of each kind (all counted).
func listJepsenAnomalies(c *Check, anomalies []Anomaly, maxListed int) {
	listed := map[string]int{}
	for _, a := range anomalies {
		c.Counts["anomaly-"+a.Kind]++
		if listed[a.Kind] < maxListed || maxListed < 0 {
			listed[a.Kind]++
			c.Anomalies = append(c.Anomalies, a)
		}
	}
	for kind, n := range listed {
		if total := c.Counts["anomaly-"+kind]; total > n {
			c.Notes = append(c.Notes, fmt.Sprintf("%d %s anomalies, the first %d listed", total, kind, n))
		}
	}
}

// jepsenNotes says why a verdict is not valid when nothing was found.
func jepsenNotes(ctx context.Context, c *Check, unsupported, ops int, spec jepsenSpec) {
	switch {
	case len(c.UnknownKeys) > 0 && len(c.FailingKeys) > 0:
		c.Notes = append(c.Notes, fmt.Sprintf("the linearizability search for %d keys was stopped once a key proved the history not linearizable", len(c.UnknownKeys)))
	case len(c.UnknownKeys) > 0:
		c.Notes = append(c.Notes, unfinished(ctx, len(c.UnknownKeys)))
	}
	if unsupported > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d operations are not %v and were not checked", unsupported, spec.fs))
	}
	if ops == 0 {
		c.Notes = append(c.Notes, "the history has no operations")
	}
	sort.Strings(c.Notes)
}

// explainSearched words the partitions the search proved invalid, at most
// maxListed of them. The partial linearizations cost a second, verbose
// search, which a valid history never needs; it gets what is left of the
// check's time, and at least a moment to try, but stops at once when ctx
// ends. A search that does not finish leaves the verdict unexplained.
func explainSearched(ctx context.Context, spec jepsenSpec, parts []*jepsenPartition, maxListed int, began time.Time, timeout time.Duration) []Anomaly {
	if maxListed >= 0 && len(parts) > maxListed {
		parts = parts[:maxListed]
	}
	out := make([]Anomaly, len(parts))
	for k, p := range parts {
		out[k] = explainNonlinearizable(spec, p, porcupine.Unknown, nil)
	}
	stop, release := afterSearch(ctx, began, timeout)
	defer release()
	parallel(len(parts), func(k int) {
		if stop.Load() {
			return
		}
		res, info := stoppableCheck(spec.model, parts[k].porc, stop.Load, true)
		out[k] = explainNonlinearizable(spec, parts[k], res, info.PartialLinearizations())
	})
	return out
}

// explainNonlinearizable names where a failing partition stops being
// linearizable: of the operations missing from the longest partial
// linearization Porcupine found, the one that returned first. Everything
// invoked after it returned must follow it, so it is the operation the
// search most needed and could not place.
func explainNonlinearizable(spec jepsenSpec, p *jepsenPartition, res porcupine.CheckResult, partials [][][]int) Anomaly {
	a := Anomaly{Kind: KindNonlinearizable, Key: p.key}
	var best []int
	if res == porcupine.Illegal && len(partials) == 1 {
		for _, seq := range partials[0] {
			if len(seq) > len(best) || (len(seq) == len(best) && slices.Compare(seq, best) < 0) {
				best = seq
			}
		}
	}
	if res != porcupine.Illegal || len(best) == len(p.porc) {
		// Out of time for the second search: the verdict stands, unexplained.
		first := p.ops[0]
		a.Ops, a.Time, a.Node, a.Phase = []int{first.Index}, first.Call, first.Node, first.Phase
		a.Explanation = fmt.Sprintf("no order of the %d operations on %s is consistent with their results; the search for the first operation that cannot be placed did not finish", len(p.porc), spec.what(p.key))
		return a
	}
	placed := make([]bool, len(p.porc))
	state := spec.model.Init()
	for _, id := range best {
		placed[id] = true
		_, state = spec.model.Step(state, p.porc[id].Input, p.porc[id].Output)
	}
	stuck := -1
	for id, o := range p.porc {
		if placed[id] {
			continue
		}
		if stuck < 0 || o.Return < p.porc[stuck].Return ||
			(o.Return == p.porc[stuck].Return && o.Call < p.porc[stuck].Call) {
			stuck = id
		}
	}
	op := p.ops[stuck]
	a.Ops, a.Time, a.Node, a.Phase = []int{op.Index}, op.Call, op.Node, op.Phase
	a.Explanation = fmt.Sprintf("no order of the %d operations on %s is consistent with their results: the longest consistent order Porcupine found places %d of them, leaves the value %s, and cannot be extended to op %d (process %d: %s), the earliest-returning operation it leaves out",
		len(p.porc), spec.what(p.key), len(best), jepsenClip(spec.model.DescribeState(state)), op.Index, op.Process, describeJepsenOp(op))
	return a
}

// describeJepsenOp words an operation and its outcome, e.g. "cas 1→2 ok" or
// "read → nil".
func describeJepsenOp(op *Op) string {
	v := func(s *string) string {
		if s == nil {
			return "nil"
		}
		return *s
	}
	outcome := "ok"
	switch op.Type {
	case history.Fail:
		outcome = "failed"
	case history.Info:
		outcome = "indeterminate"
	}
	switch op.F {
	case history.FRead:
		return "read → " + jepsenClip(v(op.Value))
	case history.FWrite:
		return fmt.Sprintf("write %s %s", jepsenClip(v(op.Value)), outcome)
	case history.FCAS:
		return fmt.Sprintf("cas %s→%s %s", jepsenClip(v(op.Expect)), jepsenClip(v(op.Value)), outcome)
	case jepsenGet:
		return fmt.Sprintf("get %q → %s", op.Key, jepsenClip(strconv.Quote(jepsenDeref(op.Value))))
	}
	return fmt.Sprintf("%s %q %s %s", op.F, op.Key, jepsenClip(strconv.Quote(jepsenDeref(op.Value))), outcome)
}

// clip shortens long values (appended strings grow) for one-line messages.
func jepsenClip(s string) string {
	const n = 60
	if r := []rune(s); len(r) > n {
		return string(r[:n/2]) + "…" + string(r[len(r)-n/2:])
	}
	return s
}

func jepsenDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
