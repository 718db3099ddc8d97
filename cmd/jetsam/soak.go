package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jetsam-dev/jetsam/soak"
	"github.com/jetsam-dev/jetsam/workload"
)

func cmdSoak(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("soak", `Usage: jetsam soak [flags] [-- run flags given to every run]

Runs 'jetsam run' again and again, for a nightly: each run in a process of
its own, with a fresh seed (--seed, then seed+1, ...) and a fault mix taken in
turn from --mix, across --workloads. Run i (counted from 0) uses mix i mod M
and workload (i / M) mod W, so every (mix, workload) pair comes up in turn.
Runs stop being started at --runs or after --duration, whichever comes
first; the run in progress is finished.

Every failing run (exit 1, 2 or 3) is kept whole; of the passing runs only
the newest --keep-passing are kept, and store/latest is repointed if it
pointed at a deleted one. After every run --store/soak-summary.json says
what each run found, the failures by kind, and the two commands that
replay each failure.

A mix is a set of run flags as one string, quoted as in a shell. The
default mixes:
  `+strings.Join(soak.DefaultMixes, "\n  ")+`
Run flags after -- are given to every run after the mix's (they win).
Neither may set --seed, --store, --name or --workload: soak sets those.
When the first run of a mix cannot run (exit 3), soak stops with exit 3;
a later exit 3 is recorded as "could not run" and the soak goes on.

SIGINT or SIGTERM: no further run starts; the current run is told to stop
(it checks what it recorded), the summary is written; a second signal makes
the run quit at once.

Exit codes: the worst of any run, in the order 1 (anomaly found), 3 (could
not run), 2 (unknown), 0 (valid); at least 2 when interrupted.`, stdout)
	runs := fs.Int("runs", 0, "runs to do (0: no limit; at least one of --runs and --duration is needed)")
	duration := fs.Duration("duration", 0, "start no run after this long, e.g. 8h (0: no limit)")
	mixes := fs.StringArray("mix", nil, "a fault mix: run flags as one quoted string; repeat for several (default: the mixes above)")
	workloads := fs.String("workloads", "kv", "workloads to rotate through, comma separated: "+strings.Join(workload.Names(), ", ")+"; join with + to run several in one run (kv+log)")
	seed := fs.Uint64("seed", 0, "seed of the first run; run i uses seed+i (default: random)")
	keep := fs.Int("keep-passing", 3, "passing runs whose folders are kept, newest first; older ones are deleted")
	stopOnFail := fs.Bool("stop-on-failure", false, "stop after the first run that is not valid (exit 1, 2 or 3)")
	store := fs.String("store", "store", "folder that holds every run and soak-summary.json")
	name := fs.String("name", "soak", "test name of every run: they are stored under --store/<name>/")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	before, pass := fs.Args(), []string(nil)
	if dash := fs.ArgsLenAtDash(); dash >= 0 {
		before, pass = fs.Args()[:dash], fs.Args()[dash:]
	}
	if len(before) > 0 {
		return 0, errorf("soak takes no arguments, got %q: run flags for every run go after --", before)
	}
	ws, err := soak.ParseWorkloads(*workloads)
	if err != nil {
		return 0, err
	}
	p := soak.Plan{Runs: *runs, Duration: *duration, Mixes: *mixes, Workloads: ws, Seed: *seed, KeepPassing: *keep,
		StopOnFailure: *stopOnFail, Store: *store, Name: *name, PassThrough: pass}
	if !fs.Changed("seed") {
		p.Seed = randomSeed()
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, errorf("cannot find this jetsam binary to start runs with: %v", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return soak.Run(context.Background(), p, soak.Options{Jetsam: exe, Stdout: stdout, Stderr: stderr, Signals: sigs})
}
