package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/cases"
	"github.com/jetsam-dev/jetsam/results"
)

func cmdCases(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) > 0 && args[0] == "run" {
		return cmdCasesRun(args[1:], stdout, stderr)
	}
	fs := newFlagSet("cases", `Usage: jetsam cases
       jetsam cases run [NAME...] [--runs N] [--seed N] [--store DIR]

Lists the battery of known NATS bugs: each case is a schedule that
re-finds one bug, run on a release that had it (the affected side) and on
the release that fixed it, or with the setting that avoids it (the fixed
side). 'jetsam cases run' runs them; 'jetsam cases run --help' says how.`, stdout)
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("unknown cases command %q: 'jetsam cases' lists the battery, 'jetsam cases run [NAME...]' runs it", fs.Arg(0))
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, c := range cases.All() {
		raft := ""
		if c.Raft {
			raft = " (raft faults)"
		}
		fmt.Fprintf(w, "%s\t%s%s\n", c.Name, c.Title, raft)
		fmt.Fprintf(w, "\t  %s\n\t  affected: %s\n\t  fixed:    %s\n\t  symptom:  %s\n", c.Reference,
			c.Affected.Describe(), c.Fixed.Describe(), strings.Join(c.Kinds, ", "))
		fmt.Fprintf(w, "\t  both:     %s\n", strings.Join(c.Flags, " "))
	}
	w.Flush()
	return exitValid, nil
}

func cmdCasesRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("cases run", `Usage: jetsam cases run [NAME...] [flags]

Runs the named cases (default: all of them, 'jetsam cases' lists them),
each --runs times on its affected side and as often on its fixed side, on
the same seeds, and writes one table: per case, how many runs found the
bug on the affected release, how many false alarms on the fixed one, the
time into a run of the first finding, and the anomaly kinds seen. The
table goes to --store/cases/<time>/cases.json and cases.html; each run's
own folder is under --store/cases-<name>-<side>/. Releases are built once
(needs the go command) before the first run.

Exit codes: 0 every case found in every affected run and in no fixed run,
1 a case missed on its affected side or found on its fixed side, 2 some
runs did not finish, 3 the battery could not run.`, stdout)
	runs := fs.Int("runs", 3, "runs of each side of each case")
	seed := fs.Uint64("seed", 0, "seed of each case's first run (the next runs take seed+1, ...; default: random, and recorded)")
	store := fs.String("store", "store", "folder that holds every run")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	chosen, err := cases.Find(fs.Args())
	if err != nil {
		return 0, errorf("%v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	plan := cases.Plan{Cases: chosen, Runs: *runs, FirstSeed: *seed, Store: *store}
	if !fs.Changed("seed") {
		plan.FirstSeed = randomSeed()
	}
	configure := func(flags []string) (jetsam.Config, error) {
		cfg := jetsam.Defaults()
		err := overlayArgs(&cfg, "the case's flags", flags, "seed", "store", "name")
		return cfg, err
	}
	ctx, stop := interruptible(stderr, nil)
	defer stop()
	b, dir, err := cases.Run(ctx, plan, cases.Options{Configure: configure, Jetsam: exe, Log: stderr, StatusIsTerminal: isTerminal(os.Stderr)})
	if err != nil {
		return 0, setupError(err)
	}
	printBattery(stdout, b)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, results.CasesHTML))
	return b.Exit, nil
}

// printBattery prints the battery's table.
func printBattery(stdout io.Writer, b *results.Battery) {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "case\taffected\tfound\tfirst finding\tfixed\tfalse alarms\tkinds on the affected side")
	for _, c := range b.Cases {
		fmt.Fprintf(w, "%s\t%s\t%d / %d\t%s\t%s\t%d / %d\t%s\n", c.Name, c.Affected.Label(), c.Affected.Found, len(c.Affected.Runs),
			c.Affected.FirstFindingText(), c.Fixed.Label(), c.Fixed.Found, len(c.Fixed.Runs), c.Affected.KindList())
	}
	w.Flush()
	for _, r := range b.Reasons {
		fmt.Fprintf(stdout, "  %s\n", r)
	}
}
