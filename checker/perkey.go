package checker

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// The one way every linearizability checker decides its keys: a direct
// analysis of each key first, then Porcupine on what the analysis could
// not settle, pruned, one key at a time, in parallel, within the check's
// time and no longer than the caller wants it.

// keyAnalysis is what a checker's direct analysis found on one key.
type keyAnalysis struct {
	// anomalies each prove alone that the key is not linearizable.
	anomalies []Anomaly
	// proved: the key is invalid without a search, by anomalies or by a
	// proof the checker has from elsewhere.
	proved bool
	// ops are the operations to search, pruned without changing the key's
	// verdict, when it is not proved.
	ops []porcupine.Operation
}

// keyOutcome is what the runner learned about one key.
type keyOutcome struct {
	analysis keyAnalysis
	// verdict is Illegal when the analysis or the search proved the key
	// invalid, Ok when the search found a linearization, and Unknown when
	// nothing was decided (out of time, or stopped).
	verdict porcupine.CheckResult
	// searched: the search decided the verdict; the operations searched
	// stay in analysis.ops only then, for an explanation.
	searched bool
}

// keyRunner decides a checker's keys.
type keyRunner struct {
	model porcupine.Model
	// analyse looks at one key (by its index). It runs for every key, even
	// once the searches are stopped: it is cheap, and its proofs stand.
	analyse func(i int) keyAnalysis
	// settle: one key proved invalid decides the whole verdict, so the
	// searches still running stop (and keys not yet searched are not).
	settle bool
}

// perKeyShare is how long one of n keys' searches may take within timeout:
// all of it while every key has a CPU of its own, else a quarter (at least
// a second), so one hard key cannot hold a worker for the whole budget
// while the keys queued behind it still wait to be decided.
func perKeyShare(timeout time.Duration, n int) time.Duration {
	if n <= runtime.GOMAXPROCS(0) {
		return timeout
	}
	return max(timeout/4, time.Second)
}

// run decides n keys within timeout (zero: no limit) and until ctx ends.
// When ctx ends, every search stops within milliseconds, and the keys it
// had not decided are Unknown.
func (r keyRunner) run(ctx context.Context, n int, timeout time.Duration) []keyOutcome {
	out := make([]keyOutcome, n)
	sctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	var stop atomic.Bool
	defer context.AfterFunc(sctx, func() { stop.Store(true) })()
	deadline, hasDeadline := sctx.Deadline()
	parallel(n, func(i int) {
		a := r.analyse(i)
		out[i] = keyOutcome{analysis: a, verdict: porcupine.Unknown}
		if a.proved {
			out[i].verdict = porcupine.Illegal
			out[i].analysis.ops = nil
			if r.settle {
				stop.Store(true)
			}
			return
		}
		limit := time.Duration(0)
		if hasDeadline {
			if limit = time.Until(deadline); limit <= 0 {
				return
			}
			if timeout > 0 {
				limit = min(limit, perKeyShare(timeout, n))
			}
		}
		if stop.Load() {
			return
		}
		res, _ := boundedCheck(r.model, a.ops, &stop, limit, false)
		out[i].verdict = res
		out[i].searched = res != porcupine.Unknown
		if res != porcupine.Illegal {
			out[i].analysis.ops = nil
		} else if r.settle {
			stop.Store(true)
		}
	})
	return out
}

// unfinished is the note on n keys the search did not decide: out of time,
// or stopped because the caller's ctx ended.
func unfinished(ctx context.Context, n int) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("the linearizability search for %d keys was interrupted", n)
	}
	return fmt.Sprintf("the linearizability search for %d keys did not finish within the check timeout", n)
}

// withTimeout is ctx bounded by timeout, when there is one.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}

// afterSearch bounds work that follows the search, such as the verbose
// search an explanation needs: it may take what is left of the check's
// time (timeout from began), and at least a moment to try, but stops as
// soon as ctx ends, since the caller no longer wants any of it. It returns
// the stop flag and a release to defer.
func afterSearch(ctx context.Context, began time.Time, timeout time.Duration) (*atomic.Bool, func()) {
	stop := new(atomic.Bool)
	if ctx.Err() != nil {
		stop.Store(true)
		return stop, func() {}
	}
	unregister := context.AfterFunc(ctx, func() { stop.Store(true) })
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(max(timeout-time.Since(began), 100*time.Millisecond), func() { stop.Store(true) })
	}
	return stop, func() {
		unregister()
		if timer != nil {
			timer.Stop()
		}
	}
}

// parallel calls fn(i) for every i in [0, n), on as many goroutines as
// there are CPUs. A panic of fn is raised again here, once every call has
// returned, so that it reaches the caller's recover.
func parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var crash atomic.Pointer[workerPanic]
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			defer catch(&crash, nil)
			fn(i)
		}()
	}
	wg.Wait()
	if p := crash.Load(); p != nil {
		panic(p)
	}
}

// workerPanic is a panic on one of the checker's goroutines, raised again
// on the goroutine that waited for it: on a goroutine of its own it would
// end the process before the command could say what happened.
type workerPanic struct {
	value any
	stack []byte // the goroutine's, where it panicked
}

func (p *workerPanic) Error() string { return fmt.Sprint(p.value) }

// PanicStack is the stack of the goroutine that panicked.
func (p *workerPanic) PanicStack() []byte { return p.stack }

// catch, deferred, keeps the first panic in crash and then calls recovered
// (if any), which sets the results of the function that panicked.
func catch(crash *atomic.Pointer[workerPanic], recovered func()) {
	v := recover()
	if v == nil {
		return
	}
	if p, ok := v.(*workerPanic); ok {
		crash.CompareAndSwap(nil, p) // raised again from a nested worker
	} else {
		crash.CompareAndSwap(nil, &workerPanic{value: v, stack: debug.Stack()})
	}
	if recovered != nil {
		recovered()
	}
}

// boundedCheck is stoppableCheck ended also after limit (zero: no limit).
func boundedCheck(model porcupine.Model, ops []porcupine.Operation, stop *atomic.Bool, limit time.Duration, verbose bool) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	var expired atomic.Bool
	if limit > 0 {
		t := time.AfterFunc(limit, func() { expired.Store(true) })
		defer t.Stop()
	}
	return stoppableCheck(model, ops, func() bool { return stop.Load() || expired.Load() }, verbose)
}

// stoppableCheck runs Porcupine on one key until it decides or stopped
// says so. Porcupine takes no context, so a stopped search is ended by
// refusing every further step (both Step and StepContext: a model that
// has StepContext is stepped through it alone); a stopped search that says
// Illegal proved nothing and is Unknown. A linearization found is a proof
// whatever else was refused, so Ok always stands.
func stoppableCheck(model porcupine.Model, ops []porcupine.Operation, stopped func() bool, verbose bool) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	// Porcupine steps the model on goroutines of its own: a panic there is
	// kept, stops the search, and is raised again once it returns.
	var crash atomic.Pointer[workerPanic]
	if step := model.Step; step != nil {
		model.Step = func(st, in, out any) (ok bool, next any) {
			if stopped() || crash.Load() != nil {
				return false, st
			}
			defer catch(&crash, func() { ok, next = false, st })
			return step(st, in, out)
		}
	}
	if step := model.StepContext; step != nil {
		model.StepContext = func(ctx context.Context, st, in, out any) (ok bool, next any) {
			if stopped() || crash.Load() != nil {
				return false, st
			}
			defer catch(&crash, func() { ok, next = false, st })
			return step(ctx, st, in, out)
		}
	}
	var res porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if verbose {
		res, info = porcupine.CheckOperationsVerbose(model, ops, 0)
	} else {
		res = porcupine.CheckOperationsTimeout(model, ops, 0)
	}
	if p := crash.Load(); p != nil {
		panic(p)
	}
	if res == porcupine.Illegal && stopped() {
		res = porcupine.Unknown
	}
	return res, info
}
