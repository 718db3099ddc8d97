package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/compare"
	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/spf13/pflag"
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
	order := fs.String("order", compare.Alternate, "alternate (baseline then candidate, then the other way round for the next seed, so a drifting machine favours neither) or grouped (every baseline run, then every candidate run)")
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
	plan, err := comparePlan(fs, rf, [2]string{*baseline, *candidate}, [2]string{*baselineFlags, *candidateFlags}, *scenarioList)
	if err != nil {
		return 0, err
	}
	plan.Seeds, plan.Order = *seeds, *order
	ctx, stop := interruptible(stderr, nil)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmp, dir, err := compare.Run(ctx, plan, compare.Options{Jetsam: exe, Log: stderr, StatusIsTerminal: isTerminal(os.Stderr)})
	if err != nil {
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

// comparePlan makes the comparison's sides and, per scenario, both
// sides' configurations from the command line; the seeds and order are
// the caller's to set.
func comparePlan(fs *pflag.FlagSet, rf *runFlags, servers, flags [2]string, scens []string) (compare.Plan, error) {
	var plan compare.Plan
	for i, name := range []string{"--baseline", "--candidate"} {
		sp, err := build.ParseSpec(servers[i])
		if err != nil {
			return plan, errorf("%s: %v", name, err)
		}
		args, err := shell.Split(flags[i])
		if err != nil {
			return plan, errorf("%s-flags: %v", name, err)
		}
		plan.Sides[i] = compare.Side{Spec: sp, Flags: args}
	}
	base := jetsam.Defaults()
	if err := rf.overlay(&base); err != nil {
		return plan, err
	}
	plan.FirstSeed, plan.Store, plan.Name = base.Seed, base.Store, base.Name
	if !fs.Changed("seed") {
		plan.FirstSeed = randomSeed()
	}
	if len(scens) == 0 {
		scens = []string{""}
	}
	for _, sc := range scens {
		c := compare.Case{Scenario: sc}
		for i := range c.Configs {
			cfg, err := sideConfig(base, rf, sc, i, plan.Sides[i])
			if err != nil {
				return plan, err
			}
			c.Configs[i] = cfg
		}
		plan.Cases = append(plan.Cases, c)
	}
	return plan, nil
}

// sideConfig is one side's configuration of a scenario ("" for none): the
// run flags, then the scenario's with the run flags given again over them
// (they win), then the side's own flags and server.
func sideConfig(base jetsam.Config, rf *runFlags, scenario string, i int, side compare.Side) (jetsam.Config, error) {
	c := base
	if scenario != "" {
		if err := applyScenario(&c, scenario); err != nil {
			return c, err
		}
		if err := rf.overlay(&c); err != nil {
			return c, err
		}
	}
	name := []string{results.Baseline, results.Candidate}[i]
	if err := overlayArgs(&c, "--"+name+"-flags", side.Flags, sideRefused...); err != nil {
		return c, err
	}
	c.SetServer(side.Spec)
	c.Name = base.Name + "-" + name
	return c, nil
}
