package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/results"
)

// sideRefused are run flags a side may not set: the seeds, the store and
// the names are the comparison's, the server is --baseline/--candidate.
var sideRefused = []string{"seed", "store", "name", "server-version", "server-src", "server-bin"}

func cmdCompare(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("compare", `Usage: jetsam compare --baseline SPEC --candidate SPEC [--seeds N] [flags] [run flags]

Runs two nats-servers on the same seeds, so both face the same fault
schedule and draw the same operations, and writes a side-by-side report
(compare.html and compare.json) under --store/<name>/<time>/; each run's own
folder is under --store/<name>-baseline/ and --store/<name>-candidate/.

A SPEC is embedded (the server inside jetsam), version:v2.12.1 (a release,
built once), src:PATH (a source tree) or bin:PATH (a binary). Run flags
given here apply to both sides; --baseline-flags and --candidate-flags add
flags for one side, so a setting can be the difference:
  jetsam compare --candidate-flags "--route-compression s2_auto"

The verdict compares anomaly kinds across seeds: the candidate is worse
only when a kind shows in every candidate run and in no baseline run. A
kind that comes and goes, or a run that did not finish, is inconclusive.
Throughput, latency and recovery are reported beside the baseline's own
spread, and never decide the verdict.

Exit codes: 0 candidate no worse, 1 worse, 2 inconclusive, 3 could not run.`, stdout)
	baseline := fs.String("baseline", build.Embedded, "the baseline server: embedded, version:vX.Y.Z, src:PATH or bin:PATH")
	candidate := fs.String("candidate", build.Embedded, "the candidate server, in the same form")
	baselineFlags := fs.String("baseline-flags", "", "run flags for the baseline alone, as one string")
	candidateFlags := fs.String("candidate-flags", "", "run flags for the candidate alone, as one string")
	seeds := fs.Int("seeds", 3, "seeds to run each side on (seed, seed+1, ...)")
	order := fs.String("order", "alternate", "alternate (baseline then candidate, then the other way round for the next seed, so a drifting machine favours neither) or grouped (every baseline run, then every candidate run)")
	scenarioList := fs.StringSlice("scenario", nil, "named scenarios to run, comma separated, each on every seed (see 'jetsam scenarios'); default: just the run flags")
	rf := addRunFlags(fs)
	fs.Lookup("name").DefValue = "compare"
	_ = fs.Set("name", "compare")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("compare takes no arguments, got %q: run 'jetsam compare --help' for the flags", fs.Args())
	}
	for _, f := range []string{"server-version", "server-src", "server-bin"} {
		if fs.Changed(f) {
			return 0, errorf("compare chooses servers with --baseline and --candidate, not --%s", f)
		}
	}
	if *seeds < 1 {
		return 0, errorf("--seeds must be at least 1, got %d", *seeds)
	}
	if *order != "alternate" && *order != "grouped" {
		return 0, errorf("--order %q is not alternate or grouped", *order)
	}
	var specs [2]build.Spec
	var sideArgs [2][]string
	for i, s := range []struct{ flag, spec, flags string }{{"--baseline", *baseline, *baselineFlags}, {"--candidate", *candidate, *candidateFlags}} {
		sp, err := build.ParseSpec(s.spec)
		if err != nil {
			return 0, errorf("%s: %v", s.flag, err)
		}
		specs[i] = sp
		if sideArgs[i], err = shell.Split(s.flags); err != nil {
			return 0, errorf("%s-flags: %v", s.flag, err)
		}
	}
	base := jetsam.Defaults()
	if err := rf.overlay(&base); err != nil {
		return 0, err
	}
	first := base.Seed
	if !fs.Changed("seed") {
		first = randomSeed()
	}
	scens := *scenarioList
	if len(scens) == 0 {
		scens = []string{""}
	}
	// Every configuration is checked before anything runs.
	cfgs := map[string][2]jetsam.Config{}
	for _, sc := range scens {
		var pair [2]jetsam.Config
		for i := range pair {
			c := base
			if sc != "" {
				if err := applyScenario(&c, sc); err != nil {
					return 0, err
				}
				// Flags given on the command line override the scenario's.
				if err := rf.overlay(&c); err != nil {
					return 0, err
				}
			}
			side := []string{results.Baseline, results.Candidate}[i]
			if err := overlayArgs(&c, "--"+side+"-flags", sideArgs[i], sideRefused...); err != nil {
				return 0, err
			}
			c.SetServer(specs[i])
			c.Name = base.Name + "-" + side
			c.Normalize()
			if err := c.Validate(); err != nil {
				return 0, errorf("%s: %v", side, err)
			}
			pair[i] = c
		}
		cfgs[sc] = pair
	}

	ctx, stop := interruptible(stderr, nil)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmp := &results.Comparison{Started: time.Now().UTC(), Order: *order}
	for _, sc := range scens {
		if sc != "" {
			cmp.Scenarios = append(cmp.Scenarios, sc)
		}
	}
	for i := 0; i < *seeds; i++ {
		cmp.Seeds = append(cmp.Seeds, first+uint64(i))
	}
	sides := []*results.Side{&cmp.Baseline, &cmp.Candidate}
	for i, sp := range specs {
		// Built before the first run, so a bad server stops everything at
		// once and no build time lands inside a run.
		srv, err := build.Prepare(ctx, sp, build.Options{Self: []string{exe, "node"}, EmbeddedVersion: node.ServerVersion,
			Log: func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }})
		if err != nil {
			return 0, cliError{fmt.Sprintf("%s: %v", []string{results.Baseline, results.Candidate}[i], err)}
		}
		sides[i].Spec, sides[i].Identity, sides[i].Flags = sp.String(), srv.Identity, sideArgs[i]
		fmt.Fprintf(stderr, "jetsam compare: %s is %s (%s)\n", []string{results.Baseline, results.Candidate}[i], sp, srv.Identity)
	}
	dir, err := results.NewRunDir(base.Store, base.Name, cmp.Started)
	if err != nil {
		return 0, cliError{err.Error()}
	}
	total := len(scens) * *seeds * 2
	done := 0
	for _, sc := range scens {
		for _, step := range compareOrder(*seeds, *order) {
			if ctx.Err() != nil {
				cmp.Interrupted = true
				break
			}
			cfg := cfgs[sc][step.side]
			cfg.Seed = cmp.Seeds[step.seed]
			side := []string{results.Baseline, results.Candidate}[step.side]
			done++
			fmt.Fprintf(stderr, "jetsam compare: run %d of %d: %s seed %d%s\n", done, total, side, cfg.Seed, map[bool]string{true: " scenario " + sc}[sc != ""])
			run := runSide(ctx, cfg, side, sc, dir, stderr)
			if rep := run.reported; rep != "" {
				sides[step.side].Reported = rep
			}
			cmp.Runs = append(cmp.Runs, run.CompareRun)
			fmt.Fprintf(stderr, "jetsam compare: %s seed %d: %s\n", side, cfg.Seed, run.Valid)
			cmp.Judge()
			if err := results.WriteComparison(dir, cmp); err != nil {
				return 0, err
			}
		}
	}
	if ctx.Err() != nil {
		cmp.Interrupted = true
	}
	cmp.Ended = time.Now().UTC()
	cmp.Judge()
	if err := results.WriteComparison(dir, cmp); err != nil {
		return 0, err
	}
	fmt.Fprintf(stdout, "comparison: CANDIDATE %s\n", strings.ToUpper(cmp.Verdict))
	for _, r := range cmp.Reasons {
		fmt.Fprintf(stdout, "  %s\n", r)
	}
	for _, p := range cmp.Performance {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, results.CompareHTML))
	return cmp.Exit, nil
}

type compareStep struct{ seed, side int }

// compareOrder lists the runs: alternate runs seed 0 as baseline then
// candidate, seed 1 the other way round, and so on; grouped runs every
// baseline seed first.
func compareOrder(seeds int, order string) []compareStep {
	var out []compareStep
	if order == "grouped" {
		for side := 0; side < 2; side++ {
			for s := 0; s < seeds; s++ {
				out = append(out, compareStep{s, side})
			}
		}
		return out
	}
	for s := 0; s < seeds; s++ {
		a, b := 0, 1
		if s%2 == 1 {
			a, b = 1, 0
		}
		out = append(out, compareStep{s, a}, compareStep{s, b})
	}
	return out
}

type sideRun struct {
	results.CompareRun
	reported string
}

// runSide runs one side on one seed, in this process.
func runSide(ctx context.Context, cfg jetsam.Config, side, scenario, compareDir string, stderr io.Writer) sideRun {
	out, err := jetsam.Run(ctx, cfg, jetsam.RunOptions{Status: stderr, Log: stderr, StatusIsTerminal: isTerminal(os.Stderr), Command: replayCommand(cfg)})
	var r sideRun
	if err != nil {
		r.CompareRun = results.RunOf(side, scenario, cfg.Seed, "", exitCannot, nil)
		r.Error = strings.TrimPrefix(err.Error(), jetsam.ErrSetup.Error()+": ")
		if !errors.Is(err, jetsam.ErrSetup) {
			r.Error = err.Error()
		}
		if out != nil {
			r.Dir = relTo(compareDir, out.Dir)
		}
		return r
	}
	r.CompareRun = results.RunOf(side, scenario, cfg.Seed, relTo(compareDir, out.Dir), out.ExitCode(), out.Result)
	if out.Test != nil && out.Test.Server != nil {
		r.reported = out.Test.Server.Summary()
	}
	return r
}

func relTo(base, path string) string {
	ab, err1 := filepath.Abs(base)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	if rel, err := filepath.Rel(ab, ap); err == nil {
		return rel
	}
	return path
}
