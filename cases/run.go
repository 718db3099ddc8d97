package cases

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/results"
)

// BatteryName is the store folder of the batteries: Store/cases/<time>/.
const BatteryName = "cases"

// Plan is a battery to run.
type Plan struct {
	Cases []Case
	// Runs is how many runs each side of each case gets, on seeds
	// FirstSeed, FirstSeed+1, ... (the same seeds on both sides).
	Runs      int
	FirstSeed uint64
	Store     string
}

// Options are how the battery reaches the run flags and the person
// watching.
type Options struct {
	// Configure makes a run's configuration from run flags (the flag
	// parser lives with the command line).
	Configure func(flags []string) (jetsam.Config, error)
	// Jetsam is this jetsam executable (default: the running one).
	Jetsam           string
	Log              io.Writer
	StatusIsTerminal bool
}

// side is one side of one case, ready to run.
type side struct {
	name string
	cfg  jetsam.Config
	out  *results.CaseSide
}

// Run prepares every side's server, then runs each case's sides in turn
// (affected first on even runs, fixed first on odd ones), rewriting
// cases.json and cases.html after every run. When ctx ends it stops the
// current run, starts no other and writes the battery as interrupted. An
// error means nothing ran or the battery could not be written.
func Run(ctx context.Context, p Plan, o Options) (*results.Battery, string, error) {
	if p.Runs < 1 || p.Runs > 100 {
		return nil, "", fmt.Errorf("--runs must be between 1 and 100, got %d", p.Runs)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Jetsam == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, "", fmt.Errorf("cannot find this jetsam binary to run nodes with: %w", err)
		}
		o.Jetsam = exe
	}
	b := &results.Battery{Started: time.Now().UTC(), RunsPerSide: p.Runs, Cases: make([]results.CaseResult, len(p.Cases))}
	sides, err := prepare(ctx, p, o, b)
	if err != nil {
		return nil, "", err
	}
	dir, err := results.NewRunDir(p.Store, BatteryName, b.Started)
	if err != nil {
		return nil, "", err
	}
	if err := runAll(ctx, p, o, b, sides, dir); err != nil {
		return nil, "", err
	}
	b.Interrupted = b.Interrupted || ctx.Err() != nil
	b.Ended = time.Now().UTC()
	b.Judge()
	return b, dir, results.WriteBattery(dir, b)
}

// prepare makes every side's configuration and builds or finds its
// server before the first run, so a release that cannot be built stops
// the battery at once and no build time lands inside a run.
func prepare(ctx context.Context, p Plan, o Options, b *results.Battery) ([][2]side, error) {
	out := make([][2]side, len(p.Cases))
	for i, c := range p.Cases {
		b.Cases[i] = results.CaseResult{Name: c.Name, Title: c.Title, Reference: c.Reference, Kinds: c.Kinds}
		for j, s := range []Side{c.Affected, c.Fixed} {
			name := []string{results.Affected, results.Fixed}[j]
			cfg, err := o.Configure(append(slices.Clone(c.Flags), s.Flags...))
			if err != nil {
				return nil, fmt.Errorf("case %s, %s side: %w", c.Name, name, err)
			}
			cfg.Store, cfg.Name = p.Store, "cases-"+c.Name+"-"+name
			cfg.NodeCommand = []string{o.Jetsam, "node"}
			srv, err := build.Prepare(ctx, cfg.Server(), build.Options{Self: cfg.NodeCommand, EmbeddedVersion: node.ServerVersion,
				Log: func(f string, a ...any) { fmt.Fprintf(o.Log, f+"\n", a...) }})
			if err != nil {
				return nil, fmt.Errorf("case %s: the %s side's server %s cannot be prepared: %w", c.Name, name, cfg.Server(), err)
			}
			cs := &b.Cases[i].Affected
			if j == 1 {
				cs = &b.Cases[i].Fixed
			}
			cs.Spec, cs.Identity, cs.Flags = cfg.Server().String(), srv.Identity, s.Own()
			out[i][j] = side{name: name, cfg: cfg, out: cs}
		}
	}
	return out, nil
}

// runAll runs every case's sides until ctx ends.
func runAll(ctx context.Context, p Plan, o Options, b *results.Battery, sides [][2]side, dir string) error {
	total, done := len(p.Cases)*p.Runs*2, 0
	for i, c := range p.Cases {
		for run := 0; run < p.Runs; run++ {
			pair := []side{sides[i][0], sides[i][1]}
			if run%2 == 1 {
				slices.Reverse(pair)
			}
			for _, s := range pair {
				if ctx.Err() != nil {
					b.Interrupted = true
					return nil
				}
				done++
				seed := p.FirstSeed + uint64(run)
				fmt.Fprintf(o.Log, "jetsam cases: run %d of %d: %s on the %s side (%s), seed %d\n", done, total, c.Name, s.name, s.out.Spec, seed)
				r := runOne(ctx, s.cfg, seed, c.Kinds, dir, o)
				s.out.Runs = append(s.out.Runs, r)
				fmt.Fprintf(o.Log, "jetsam cases: %s %s seed %d: %s%s\n", c.Name, s.name, seed, r.Valid, foundText(r))
				b.Judge()
				if err := results.WriteBattery(dir, b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func foundText(r results.CaseRun) string {
	if !r.Found {
		return ", not found"
	}
	return fmt.Sprintf(", found %.1f s in", r.FirstFinding)
}

// runOne runs one side on one seed, in this process.
func runOne(ctx context.Context, cfg jetsam.Config, seed uint64, kinds []string, dir string, o Options) results.CaseRun {
	cfg.Seed = seed
	start := time.Now()
	out, err := jetsam.Run(ctx, cfg, jetsam.RunOptions{Status: o.Log, Log: o.Log, StatusIsTerminal: o.StatusIsTerminal,
		Command: append([]string{"jetsam", "run"}, jetsam.ReplayArgs(cfg)...)})
	secs := time.Since(start).Seconds()
	if err != nil {
		r := results.CaseRunOf(seed, "", results.ExitCannot, nil, kinds, secs)
		r.Error = jetsam.Sentence(err)
		if out != nil {
			r.Dir = results.RelTo(dir, out.Dir)
		}
		return r
	}
	return results.CaseRunOf(seed, results.RelTo(dir, out.Dir), out.ExitCode(), out.Result, kinds, secs)
}
