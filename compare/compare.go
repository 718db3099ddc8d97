package compare

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/results"
)

// Options are how a comparison talks to the person watching it.
type Options struct {
	// Jetsam is this jetsam executable: `Jetsam node` runs the embedded
	// server (default: the running executable).
	Jetsam string
	// Log gets the comparison's progress and every run's own lines.
	Log io.Writer
	// StatusIsTerminal redraws the runs' status lines in place.
	StatusIsTerminal bool
}

// Run builds both sides' servers, then runs every case on every seed in
// the plan's order, judging and rewriting compare.json and compare.html
// in dir (Store/Name/<time>/) after every run. When ctx ends it stops the
// current run (which still checks what it has), starts no other, and
// writes the comparison as interrupted. The exit code is the
// comparison's Exit; an error means nothing was compared, or the
// comparison could not be written.
func Run(ctx context.Context, p Plan, o Options) (cmp *results.Comparison, dir string, err error) {
	if err := p.validate(); err != nil {
		return nil, "", err
	}
	if o.Jetsam == "" {
		if o.Jetsam, err = os.Executable(); err != nil {
			return nil, "", fmt.Errorf("cannot find this jetsam binary to run nodes with: %w", err)
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	cmp = &results.Comparison{Started: time.Now().UTC(), Order: p.Order}
	for _, c := range p.Cases {
		if c.Scenario != "" {
			cmp.Scenarios = append(cmp.Scenarios, c.Scenario)
		}
	}
	for i := 0; i < p.Seeds; i++ {
		cmp.Seeds = append(cmp.Seeds, p.FirstSeed+uint64(i))
	}
	if err := prepareSides(ctx, p, o, cmp); err != nil {
		return nil, "", err
	}
	if dir, err = results.NewRunDir(p.Store, p.Name, cmp.Started); err != nil {
		return nil, "", err
	}
	if err := runAll(ctx, p, o, cmp, dir); err != nil {
		return nil, "", err
	}
	if ctx.Err() != nil {
		cmp.Interrupted = true
	}
	cmp.Ended = time.Now().UTC()
	cmp.Judge()
	if err := results.WriteComparison(dir, cmp); err != nil {
		return nil, "", err
	}
	return cmp, dir, nil
}

// prepareSides builds or finds both servers before the first run, so a bad
// server stops everything at once and no build time lands inside a run.
func prepareSides(ctx context.Context, p Plan, o Options, cmp *results.Comparison) error {
	sides := []*results.Side{&cmp.Baseline, &cmp.Candidate}
	for i, side := range p.Sides {
		srv, err := build.Prepare(ctx, side.Spec, build.Options{Self: []string{o.Jetsam, "node"}, EmbeddedVersion: node.ServerVersion,
			Log: func(f string, a ...any) { fmt.Fprintf(o.Log, f+"\n", a...) }})
		if err != nil {
			return fmt.Errorf("%s: %w", sideNames[i], err)
		}
		sides[i].Spec, sides[i].Identity, sides[i].Flags = side.Spec.String(), srv.Identity, side.Flags
		fmt.Fprintf(o.Log, "jetsam compare: %s is %s (%s)\n", sideNames[i], side.Spec, srv.Identity)
	}
	return nil
}

// runAll runs every case on every seed until ctx ends, rewriting the
// comparison after each run.
func runAll(ctx context.Context, p Plan, o Options, cmp *results.Comparison, dir string) error {
	sides := []*results.Side{&cmp.Baseline, &cmp.Candidate}
	total := len(p.Cases) * p.Seeds * 2
	done := 0
	for _, c := range p.Cases {
		for _, st := range order(p.Seeds, p.Order) {
			if ctx.Err() != nil {
				cmp.Interrupted = true
				return nil
			}
			cfg := c.Configs[st.side]
			cfg.Seed = cmp.Seeds[st.seed]
			side := sideNames[st.side]
			done++
			scenario := ""
			if c.Scenario != "" {
				scenario = " scenario " + c.Scenario
			}
			fmt.Fprintf(o.Log, "jetsam compare: run %d of %d: %s seed %d%s\n", done, total, side, cfg.Seed, scenario)
			run := runSide(ctx, cfg, side, c.Scenario, dir, o)
			if run.reported != "" {
				sides[st.side].Reported = run.reported
			}
			cmp.Runs = append(cmp.Runs, run.CompareRun)
			fmt.Fprintf(o.Log, "jetsam compare: %s seed %d: %s\n", side, cfg.Seed, run.Valid)
			cmp.Judge()
			if err := results.WriteComparison(dir, cmp); err != nil {
				return err
			}
		}
	}
	return nil
}
