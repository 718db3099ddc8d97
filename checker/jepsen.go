package checker

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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
	// convert makes the Porcupine operation of op, or reports that op
	// constrains nothing (failed writes did not happen; reads that did not
	// return saw nothing).
	convert func(op *Op) (in, out any, keep bool)
	// what names a partition in words.
	what func(key string) string
}

var registerSpec = jepsenSpec{
	model: RegisterModel,
	fs:    []string{history.FRead, history.FWrite, history.FCAS},
	convert: func(op *Op) (any, any, bool) {
		// A failed operation did not happen. A failed cas in Jepsen's etcd
		// test also says the compare did not hold, but :fail does not mean
		// that in every test, so like Knossos we draw nothing from it (all of
		// Porcupine's etcd verdicts come out the same either way).
		if op.Type == history.Fail || (op.F == history.FRead && op.Type != history.OK) {
			return nil, nil, false
		}
		in := registerInput{f: op.F, op: op}
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
	convert: func(op *Op) (any, any, bool) {
		if op.Type == history.Fail || (op.F == jepsenGet && op.Type != history.OK) {
			return nil, nil, false
		}
		in := appendKVInput{f: op.F, op: op}
		out := appendKVOutput{typ: op.Type}
		if op.F == jepsenGet {
			out.value = jepsenDeref(op.Value) // a get of a missing key reads ""
		} else {
			in.value = jepsenDeref(op.Value)
		}
		return in, out, true
	},
	what: func(key string) string { return "key " + strconv.Quote(key) },
}

// CheckRegister checks a Jepsen single-register history (read, write, cas on
// one value) for linearizability. All operations are one register,
// whatever their keys.
func CheckRegister(ctx context.Context, ops []Op, opts Options) *Check {
	return checkJepsen(ctx, ops, opts, registerSpec)
}

// CheckAppendKV checks a Jepsen key-value history (get, put, append) for
// linearizability, one key at a time, the keys in parallel under
// opts.Timeout; keys not decided in time are unknown.
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

func checkJepsen(ctx context.Context, ops []Op, opts Options, spec jepsenSpec) *Check {
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

	byKey := map[string]*jepsenPartition{}
	unsupported := 0
	for k := range ops {
		op := &ops[k]
		c.Counts[op.F+"-"+string(op.Type)]++
		if !slices.Contains(spec.fs, op.F) {
			unsupported++
			continue
		}
		key := ""
		if spec.keyed {
			key = op.Key
		}
		p := byKey[key]
		if p == nil {
			p = &jepsenPartition{key: key}
			byKey[key] = p
		}
		in, out, keep := spec.convert(op)
		if !keep {
			continue
		}
		ret := op.Return
		if ret == Open {
			ret = end
		}
		p.ops = append(p.ops, op)
		p.porc = append(p.porc, porcupine.Operation{
			ClientId: int(op.Process), Input: in, Output: out, Call: op.Call, Return: ret,
			Metadata: op.Index,
		})
	}
	parts := make([]*jepsenPartition, 0, len(byKey))
	for _, p := range byKey {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].key < parts[j].key })
	c.Counts["keys"] = len(parts)

	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}

	// The verdicts. Undecided partitions stay Unknown. One proven violation
	// settles the verdict, so it stops the other searches: a key that is
	// hard to decide would otherwise hold the check to its timeout for
	// nothing the verdict needs (one key of Porcupine's c50-bad takes
	// minutes alone).
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	verdicts := make([]porcupine.CheckResult, len(parts))
	for i := range verdicts {
		verdicts[i] = porcupine.Unknown
	}
	jepsenParallel(ctx, &stop, len(parts), func(i int) {
		res, _ := stoppableCheck(spec.model, parts[i].porc, &stop, false)
		if res == porcupine.Illegal {
			stop.Store(true)
		}
		verdicts[i] = res
	})
	var failing []int
	for i, p := range parts {
		switch verdicts[i] {
		case porcupine.Illegal:
			failing = append(failing, i)
			c.FailingKeys = append(c.FailingKeys, p.key)
		case porcupine.Unknown:
			c.UnknownKeys = append(c.UnknownKeys, p.key)
		}
	}

	// The explanations, only for failing partitions: the partial
	// linearizations cost a second search, which a valid history never needs.
	// The verdict is already known, so they get what time is left, and at
	// least a moment to try.
	listed := failing
	if maxListed > 0 && len(listed) > maxListed {
		listed = listed[:maxListed]
	}
	ectx := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ectx, cancel = context.WithTimeout(ectx, max(time.Until(deadline), 100*time.Millisecond))
		defer cancel()
	} else if ctx.Err() != nil {
		var cancel context.CancelFunc
		ectx, cancel = context.WithTimeout(ectx, 100*time.Millisecond)
		defer cancel()
	}
	var estop atomic.Bool
	defer context.AfterFunc(ectx, func() { estop.Store(true) })()
	anomalies := make([]Anomaly, len(listed))
	for k := range anomalies {
		// The fallback, should the explanation not finish.
		anomalies[k] = explainNonlinearizable(spec, parts[listed[k]], porcupine.Unknown, nil)
	}
	jepsenParallel(ectx, &estop, len(listed), func(k int) {
		p := parts[listed[k]]
		res, info := stoppableCheck(spec.model, p.porc, &estop, true)
		anomalies[k] = explainNonlinearizable(spec, p, res, info.PartialLinearizations())
	})
	c.Anomalies = anomalies
	if len(failing) > 0 {
		c.Counts["anomaly-"+KindNonlinearizable] = len(failing)
	}
	if len(listed) < len(failing) {
		c.Notes = append(c.Notes, fmt.Sprintf("%d %s anomalies, the first %d listed", len(failing), KindNonlinearizable, len(listed)))
	}
	switch {
	case len(c.UnknownKeys) > 0 && len(failing) > 0:
		c.Notes = append(c.Notes, fmt.Sprintf("the linearizability search for %d keys was stopped once a key proved the history not linearizable", len(c.UnknownKeys)))
	case len(c.UnknownKeys) > 0:
		c.Notes = append(c.Notes, fmt.Sprintf("the linearizability search for %d keys did not finish within the check timeout", len(c.UnknownKeys)))
	}
	if unsupported > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d operations are not %v and were not checked", unsupported, spec.fs))
	}
	if len(ops) == 0 {
		c.Notes = append(c.Notes, "the history has no operations")
	}
	sort.Strings(c.Notes)

	switch {
	case len(failing) > 0:
		c.Valid = Invalid
	case len(c.UnknownKeys) > 0 || unsupported > 0 || len(ops) == 0:
		// Nothing checked, or not everything: no grounds to call it valid.
		c.Valid = Unknown
	}
	return c
}

// jepsenParallel calls fn(i) for i in [0, n), on as many goroutines as
// there are CPUs, until ctx ends or stop is set: calls not started by then
// are skipped.
func jepsenParallel(ctx context.Context, stop *atomic.Bool, n int, fn func(i int)) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() == nil && !stop.Load() {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// stoppableCheck runs Porcupine on one partition until it decides or stop is
// set. Porcupine takes no context, so a stopped search is ended by refusing
// every further step; a stopped search that says Illegal proved nothing and
// is Unknown. A linearization found is a proof whatever else was refused, so
// Ok always stands.
func stoppableCheck(model porcupine.Model, ops []porcupine.Operation, stop *atomic.Bool, verbose bool) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	step := model.Step
	model.Step = func(st, in, out any) (bool, any) {
		if stop.Load() {
			return false, st
		}
		return step(st, in, out)
	}
	var res porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if verbose {
		res, info = porcupine.CheckOperationsVerbose(model, ops, 0)
	} else {
		res = porcupine.CheckOperationsTimeout(model, ops, 0)
	}
	if res == porcupine.Illegal && stop.Load() {
		res = porcupine.Unknown
	}
	return res, info
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
