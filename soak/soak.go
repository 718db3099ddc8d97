package soak

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/results"
)

// Options are how a soak starts its runs and talks to the person watching.
type Options struct {
	// Jetsam is the jetsam executable each run is started from.
	Jetsam string
	// Stdout gets the summary in words at the end; Stderr gets soak's
	// progress and every run's output, each line prefixed with its run.
	Stdout, Stderr io.Writer
	// Signals are the interrupts to act on; the caller owns
	// signal.Notify. The first stops the soak after the current run; each
	// one is forwarded to the current run, which stops at the first and
	// quits at once at the second.
	Signals <-chan os.Signal
}

// Run runs the soak p: one run after another until p's limits, a failure
// with StopOnFailure, or an interrupt (a signal, or ctx ending, which acts
// as a SIGTERM). It returns the worst exit code of its runs (1 > 3 > 2 >
// 0; at least 2 when interrupted). An error means exit code 3: the plan
// was refused before any run, or a mix could not run at its first try.
func Run(ctx context.Context, p Plan, o Options) (int, error) {
	mixArgs, err := p.validate()
	if err != nil {
		return results.ExitCannot, err
	}
	if err := os.MkdirAll(p.Store, 0o755); err != nil {
		return results.ExitCannot, fmt.Errorf("cannot write to store %s: %w", p.Store, err)
	}
	tmp, err := os.MkdirTemp("", "jetsam-soak-")
	if err != nil {
		return results.ExitCannot, fmt.Errorf("cannot make a folder for the runs' outcome files: %w", err)
	}
	defer os.RemoveAll(tmp)
	s := &soaker{p: p, o: o, mixArgs: mixArgs, tmp: tmp}
	defer s.forward(ctx)()
	return s.loop()
}

// soaker is a soak under way.
type soaker struct {
	p       Plan
	o       Options
	mixArgs [][]string
	tmp     string // the runs' outcome files

	// outMu orders soak's own lines and the runs' output lines.
	outMu sync.Mutex

	mu          sync.Mutex // guards the fields below, shared with forward
	current     *os.Process
	interrupted bool
	signals     int
}

func (s *soaker) say(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.o.Stderr, format+"\n", args...)
}

// forward acts on every signal, and on ctx ending, until the returned
// function is called.
func (s *soaker) forward(ctx context.Context) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		sigs, ctxDone := s.o.Signals, ctx.Done()
		for {
			select {
			case sig, ok := <-sigs:
				if !ok {
					sigs = nil
					continue
				}
				s.interrupt(sig, sig.String())
			case <-ctxDone:
				ctxDone = nil
				s.interrupt(syscall.SIGTERM, "cancelled")
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// interrupt stops the soak after the current run and passes sig on to it.
func (s *soaker) interrupt(sig os.Signal, what string) {
	s.mu.Lock()
	s.interrupted = true
	s.signals++
	n, proc := s.signals, s.current
	s.mu.Unlock()
	switch {
	case proc == nil:
		s.say("soak: %s: stopping", what)
	case n == 1:
		s.say("soak: %s: stopping after the current run, which is told to stop (again to make it quit at once)", what)
	default:
		s.say("soak: %s again: the current run quits at once", what)
	}
	// The run is in a process group of its own (a terminal's Ctrl-C
	// reaches only soak), so it hears each signal once.
	if proc != nil {
		_ = proc.Signal(sig)
	}
}

func (s *soaker) isInterrupted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interrupted
}

// loop starts runs until the soak stops, saving the summary after each.
func (s *soaker) loop() (int, error) {
	p := s.p
	sum := &Summary{
		Name: p.Name, Store: p.Store, Started: time.Now().UTC(), PlannedRuns: p.Runs,
		FirstSeed: p.Seed, Mixes: p.Mixes, Workloads: p.Workloads, PassThrough: p.PassThrough,
		KeepPassing: p.KeepPassing, Counts: map[string]int{}, FailuresByKind: map[string][]int{},
		Runs: []*Record{},
	}
	if p.Duration > 0 {
		sum.Duration = p.Duration.String()
	}
	path := filepath.Join(p.Store, SummaryFile)
	save := func() {
		sum.tally()
		if err := results.WriteJSON(path, sum); err != nil {
			s.say("soak: cannot write the summary: %v", err)
		}
	}
	save()
	started := time.Now()
	var fatal error
	for i := 0; ; i++ {
		if sum.Stopped = s.limitReached(i, started); sum.Stopped != "" {
			break
		}
		r := s.record(i)
		if !s.runOne(r, i) {
			sum.Stopped = "interrupted"
			break
		}
		sum.Runs = append(sum.Runs, r)
		p.prune(sum.Runs, s.say)
		save()
		if sum.Stopped, fatal = s.stopAfter(r, i); sum.Stopped != "" {
			break
		}
	}
	ended := time.Now().UTC()
	sum.Ended = &ended
	save()
	Print(s.o.Stdout, sum, path, ended.Sub(sum.Started))
	if fatal != nil {
		return results.ExitCannot, fatal
	}
	return sum.ExitCode, nil
}

// limitReached says why no run i starts: runs or duration; "" to go on.
func (s *soaker) limitReached(i int, started time.Time) string {
	switch {
	case s.p.Runs > 0 && i >= s.p.Runs:
		return "runs"
	case s.p.Duration > 0 && time.Since(started) >= s.p.Duration:
		return "duration"
	}
	return ""
}

// record is run i before it runs: its seed, mix, workload and command.
func (s *soaker) record(i int) *Record {
	p := s.p
	mi, wi := choice(i, len(p.Mixes), len(p.Workloads))
	r := &Record{Index: i, Seed: p.Seed + uint64(i), Mix: p.Mixes[mi], Workload: p.Workloads[wi]}
	r.args = append(append(append([]string{}, s.mixArgs[mi]...), p.PassThrough...),
		"--workload", r.Workload, "--seed", strconv.FormatUint(r.Seed, 10), "--store", p.Store, "--name", p.Name)
	r.Command = shell.Join(append([]string{"jetsam", "run"}, r.args...))
	return r
}

// stopAfter says whether the soak stops after run i, and why; the error
// is for a mix that cannot run at its first try, which is a mistake.
func (s *soaker) stopAfter(r *Record, i int) (string, error) {
	switch {
	case s.isInterrupted():
		return "interrupted", nil
	case r.Verdict == results.VerdictCannot && i < len(s.p.Mixes):
		return "bad-mix", fmt.Errorf("soak stopped: the first run of mix %q could not run: %s", r.Mix, r.Error)
	case s.p.StopOnFailure && r.Verdict != results.VerdictValid:
		return "failure", nil
	}
	return "", nil
}
