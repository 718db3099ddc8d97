package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jetsam-dev/jetsam/history"
)

// WorkloadCheck is how one workload's operations are judged. Its file
// holds the checks; this registry is the one place that names them.
type WorkloadCheck struct {
	Workload string
	// Ops are the operations (the "f" of its events) it judges: a history
	// naming another was not written for this check.
	Ops []OpSpec
	// Names are the checks it can report, in the order people read them
	// (a workload may be judged apart by read mode).
	Names []string
	// Check judges the workload. It reports only the checks that apply.
	Check func(ctx context.Context, in Input) map[string]*Check
	// Whole: Check reads the workload's operations from in.All, which it
	// indexes itself, rather than from a copy in in.Ops (for workloads
	// whose histories run to millions of operations).
	Whole bool
}

// Input is what a workload's check is given.
type Input struct {
	// All is every operation of the history; Ops those of the workload
	// (nil for a Whole check).
	All, Ops []Op
	Faults   []FaultWindow
	Opts     Options
}

// OpSpec is one operation of a workload, and what its invocation must
// carry: its checks read the value written and the revision expected.
type OpSpec struct {
	F                string
	Value, ExpectRev bool
}

// workloadChecks lists every workload's checks.
var workloadChecks = []WorkloadCheck{kvCheck, logCheck, queueCheck, registerCheck, appendKVCheck}

// Checks that judge a run as a whole, after the workloads'.
var runChecks = []string{CheckerRecovery, CheckerLogs, CheckerAssertions}

// Names lists every checker a result can hold, in the order people read
// them: a results.json naming another was written by a different jetsam.
var Names = func() []string {
	var out []string
	for _, w := range workloadChecks {
		out = append(out, w.Names...)
	}
	return append(out, runChecks...)
}()

// KnownWorkload reports whether a workload's operations can be judged.
func KnownWorkload(name string) bool {
	return slices.ContainsFunc(workloadChecks, func(w WorkloadCheck) bool { return w.Workload == name })
}

// checkClientEvent refuses a client's event that no check can judge: one
// without a workload, of a workload this jetsam does not know, or naming
// an operation its workload does not have. Judged anyway, such events would
// leave the verdict unknown, or an operation unconstrained, without a word.
func checkClientEvent(e *history.Event) error {
	if e.Process < 0 {
		return nil // the nemesis's and the observer's events name no workload
	}
	if e.Workload == "" {
		return fmt.Errorf(`%w: missing "workload" on an event of client process %d`, history.ErrMalformed, e.Process)
	}
	i := slices.IndexFunc(workloadChecks, func(w WorkloadCheck) bool { return w.Workload == e.Workload })
	if i < 0 {
		return fmt.Errorf("%w: unknown workload %q (this jetsam knows %s): check it with the jetsam that wrote it",
			history.ErrMalformed, e.Workload, strings.Join(workloadNames(), ", "))
	}
	w := workloadChecks[i]
	j := slices.IndexFunc(w.Ops, func(o OpSpec) bool { return o.F == e.F })
	if j < 0 {
		names := make([]string, len(w.Ops))
		for k, o := range w.Ops {
			names[k] = o.F
		}
		return fmt.Errorf("%w: workload %s has no operation %q (its operations are %s): check it with the jetsam that wrote it",
			history.ErrMalformed, w.Workload, e.F, strings.Join(names, ", "))
	}
	if e.Type != history.Invoke {
		return nil // an operation's fields are its invocation's
	}
	switch o := w.Ops[j]; {
	case o.Value && e.Value == nil:
		return fmt.Errorf(`%w: %s %s invoked without a "value"`, history.ErrMalformed, w.Workload, e.F)
	case o.ExpectRev && e.ExpectRev == nil:
		return fmt.Errorf(`%w: %s %s invoked without an "expect_rev"`, history.ErrMalformed, w.Workload, e.F)
	}
	return nil
}

func workloadNames() []string {
	out := make([]string, len(workloadChecks))
	for i, w := range workloadChecks {
		out[i] = w.Workload
	}
	return out
}

// checkWorkloads runs the check of every workload the history has.
func checkWorkloads(ctx context.Context, res *Result, ops []Op, opts Options) {
	present := map[string]bool{}
	byWorkload := map[string][]Op{}
	whole := map[string]bool{}
	for _, w := range workloadChecks {
		whole[w.Workload] = w.Whole
	}
	for _, op := range ops {
		present[op.Workload] = true
		if !whole[op.Workload] {
			// The other workloads are small beside KV's: copying is cheap.
			byWorkload[op.Workload] = append(byWorkload[op.Workload], op)
		}
	}
	for _, w := range workloadChecks {
		if !present[w.Workload] {
			continue
		}
		in := Input{All: ops, Ops: byWorkload[w.Workload], Faults: res.Faults, Opts: opts}
		checks := w.Check(ctx, in)
		for _, name := range w.Names {
			if c := checks[name]; c != nil {
				res.Checkers[name] = c
				res.Valid = Merge(res.Valid, c.Valid)
			}
		}
	}
}

// The workloads' entries: each names its checks and calls them.
var (
	kvCheck = WorkloadCheck{Workload: history.WorkloadKV,
		Ops: []OpSpec{{F: history.FRead}, {F: history.FWrite, Value: true}, {F: history.FCAS, Value: true, ExpectRev: true},
			{F: history.FCreate, Value: true}, {F: history.FDelete}}, Names: []string{WorkloadKV, WorkloadKVDirect}, Whole: true,
		Check: func(ctx context.Context, in Input) map[string]*Check {
			out := map[string]*Check{WorkloadKV: CheckKV(ctx, in.All, in.Faults, in.Opts, false)}
			refusedButAcknowledged(out[WorkloadKV], in.All, WorkloadKV, in.Faults)
			if slices.ContainsFunc(in.All, func(op Op) bool {
				return op.Workload == WorkloadKV && op.F == history.FRead && op.ReadMode == history.ReadDirect
			}) {
				c := CheckKV(ctx, in.All, in.Faults, in.Opts, true)
				c.Notes = append([]string{directNote}, c.Notes...)
				out[WorkloadKVDirect] = c
			}
			return out
		}}
	logCheck = WorkloadCheck{Workload: history.WorkloadLog, Ops: []OpSpec{{F: history.FAppend, Value: true}, {F: history.FRead}, {F: history.FReadAll}}, Names: []string{WorkloadLog, WorkloadLogDirect},
		Check: func(ctx context.Context, in Input) map[string]*Check {
			l, d := CheckLog(ctx, in.Ops, in.Faults, in.Opts)
			refusedButAcknowledged(l, in.Ops, WorkloadLog, in.Faults)
			return map[string]*Check{WorkloadLog: l, WorkloadLogDirect: d}
		}}
	queueCheck = WorkloadCheck{Workload: history.WorkloadQueue, Ops: []OpSpec{{F: history.FEnqueue, Value: true}, {F: history.FDequeue}}, Names: []string{WorkloadQueue},
		Check: func(_ context.Context, in Input) map[string]*Check {
			c := CheckQueue(in.Ops, in.Faults, in.Opts)
			refusedButAcknowledged(c, in.Ops, WorkloadQueue, in.Faults)
			return map[string]*Check{WorkloadQueue: c}
		}}
	registerCheck = WorkloadCheck{Workload: history.WorkloadRegister, Ops: []OpSpec{{F: history.FRead}, {F: history.FWrite, Value: true}, {F: history.FCAS, Value: true}}, Names: []string{history.WorkloadRegister},
		Check: func(ctx context.Context, in Input) map[string]*Check {
			return map[string]*Check{history.WorkloadRegister: CheckRegister(ctx, in.Ops, in.Opts)}
		}}
	appendKVCheck = WorkloadCheck{Workload: history.WorkloadAppendKV, Ops: []OpSpec{{F: jepsenGet}, {F: jepsenPut, Value: true}, {F: jepsenAppend, Value: true}}, Names: []string{history.WorkloadAppendKV},
		Check: func(ctx context.Context, in Input) map[string]*Check {
			return map[string]*Check{history.WorkloadAppendKV: CheckAppendKV(ctx, in.Ops, in.Opts)}
		}}
)

const directNote = "direct gets are served by any replica, and NATS documents them as not read-your-writes: anomalies here are that documented behaviour, reported so it can be seen"
