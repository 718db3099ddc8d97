package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/spf13/pflag"
)

// newFlagSet makes a command's flags; --help prints synopsis and flags to
// out.
func newFlagSet(name, synopsis string, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by realMain, in one sentence
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(out, "%s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
	}
	return fs
}

// parse parses flags; --help prints usage and stops with exit 0.
func parse(fs *pflag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if err == pflag.ErrHelp { // pflag has printed the usage
		return true, nil
	}
	if err != nil {
		return false, errorf("%v: run 'jetsam %s --help' for the flags", err, fs.Name())
	}
	return false, nil
}

// runFlags are the flags that define a run, made from jetsam.Params: the
// same set parses the command line of run, a scenario's flags, and each
// side's flags in compare; overlay applies only the flags a parse set, so
// each layer changes only what it names.
type runFlags struct {
	fs     *pflag.FlagSet
	params map[string]jetsam.Param
	values map[string]*paramValue
}

// paramValue holds what one command line gave a run flag.
type paramValue struct {
	p      jetsam.Param
	values []string
}

func (v *paramValue) String() string { return strings.Join(v.values, ",") }
func (v *paramValue) Type() string {
	if v.p.Type == "" {
		return "string"
	}
	return v.p.Type
}

func (v *paramValue) Set(s string) error {
	if v.p.Repeat {
		v.values = append(v.values, s)
	} else {
		v.values = []string{s}
	}
	return nil
}

// addRunFlags defines the run flags on fs, with jetsam's defaults.
func addRunFlags(fs *pflag.FlagSet) *runFlags {
	d := jetsam.Defaults()
	rf := &runFlags{fs: fs, params: map[string]jetsam.Param{}, values: map[string]*paramValue{}}
	for _, p := range jetsam.Params() {
		v := &paramValue{p: p}
		fs.Var(v, p.Name, p.Usage)
		f := fs.Lookup(p.Name)
		f.DefValue = p.Get(&d)
		if p.Type == "bool" {
			f.NoOptDefVal = "true"
		}
		rf.params[p.Name], rf.values[p.Name] = p, v
	}
	return rf
}

// overlay applies to cfg every run flag the last parse set, and no other,
// in the table's order (settings others depend on first).
func (rf *runFlags) overlay(cfg *jetsam.Config) error {
	servers := 0
	for _, f := range []string{"server-version", "server-src", "server-bin"} {
		if rf.fs.Changed(f) {
			servers++
		}
	}
	if servers > 1 {
		return errorf("give at most one of --server-version, --server-src and --server-bin")
	}
	if rf.fs.Changed("hosts") && rf.fs.Changed("host") {
		return errorf("give the hosts either in a --hosts file or with --host, not both")
	}
	var changed []jetsam.Param
	for _, p := range jetsam.Params() {
		if rf.fs.Changed(p.Name) {
			changed = append(changed, p)
		}
	}
	slices.SortStableFunc(changed, func(a, b jetsam.Param) int { return a.Order - b.Order })
	for _, p := range changed {
		if err := p.Set(cfg, rf.values[p.Name].String()); err != nil {
			return cliError{err.Error()}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// overlayArgs parses args (run flags only, such as a scenario's or one
// side's of a comparison) and applies what they set to cfg. what names
// them in errors. Flags in refused may not appear.
func overlayArgs(cfg *jetsam.Config, what string, args []string, refused ...string) error {
	fs := pflag.NewFlagSet(what, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rf := addRunFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errorf("%s: %v", what, err)
	}
	if fs.NArg() > 0 {
		return errorf("%s: %q is not a flag", what, fs.Args())
	}
	for _, r := range refused {
		if fs.Changed(r) {
			return errorf("%s may not set --%s", what, r)
		}
	}
	return rf.overlay(cfg)
}

func cmdRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("run", `Usage: jetsam run [flags]

Starts a local JetStream cluster (one nats-server process per node, every
route through a link proxy), runs the workload under the nemesis for
--time-limit, heals, reads every key once more, stops the cluster and checks
the history. Everything lands in --store/<name>/<time>/.

A scenario (--scenario, listed by 'jetsam scenarios') is a saved set of
these flags; flags given as well override it.

Exit codes: 0 valid, 1 anomaly found, 2 unknown, 3 the test could not run.`, stdout)
	rf := addRunFlags(fs)
	scenario := fs.String("scenario", "", "start from a named scenario's flags (see 'jetsam scenarios')")
	replay := fs.String("replay", "", "run folder whose test.json to replay: same configuration and seed (flags given as well override it)")
	// Not a run setting: it stays out of test.json and the replay command.
	outcome := fs.String("outcome", "", "at the very end (also when the test could not run or was interrupted) write FILE: JSON with the run folder, exit code, verdict and the error sentence, for a program that started the run (give it first, so flags that do not parse still get it)")
	help, err := parse(fs, args)
	if help {
		return exitValid, nil
	}
	of := &outcomeFile{path: *outcome}
	code := exitCannot
	if err == nil {
		code, err = runFromFlags(fs, rf, *scenario, *replay, of, stdout, stderr)
	}
	of.write(code, err, stderr)
	return code, err
}

// runFromFlags makes the run's configuration from --replay, then
// --scenario, then the flags given, and runs it.
func runFromFlags(fs *pflag.FlagSet, rf *runFlags, scenario, replay string, of *outcomeFile, stdout, stderr io.Writer) (int, error) {
	if fs.NArg() > 0 {
		return 0, errorf("run takes no arguments, got %q: run 'jetsam run --help' for the flags", fs.Args())
	}
	cfg := jetsam.Defaults()
	var left []string // settings the replay left out
	if replay != "" {
		var ti results.TestInfo
		if err := results.ReadJSON(filepath.Join(replay, results.TestFile), &ti); err != nil {
			return 0, errorf("cannot replay %s: %v", replay, err)
		}
		if err := json.Unmarshal(ti.Config, &cfg); err != nil {
			return 0, errorf("cannot replay %s: its test.json has no usable config: %v", replay, err)
		}
		left = cfg.LeaveOutUntrusted()
	}
	if scenario != "" {
		if err := applyScenario(&cfg, scenario); err != nil {
			return 0, err
		}
	}
	if err := rf.overlay(&cfg); err != nil {
		return 0, err
	}
	left = slices.DeleteFunc(left, func(f string) bool {
		name, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), " ")
		return fs.Changed(name) || (name == "host" && fs.Changed("hosts"))
	})
	if len(left) > 0 {
		fmt.Fprintf(stderr, "jetsam: the replay leaves out what its test.json may not choose for you (%s): give them on the command line to use them\n", strings.Join(left, "; "))
	}
	if !fs.Changed("seed") && replay == "" {
		cfg.Seed = randomSeed()
	}
	return runConfig(cfg, of, stdout, stderr)
}

// runConfig checks cfg, runs it and prints the summary.
func runConfig(cfg jetsam.Config, of *outcomeFile, stdout, stderr io.Writer) (int, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return 0, cliError{err.Error()}
	}
	ctx, stop := interruptible(stderr, func() { of.quit(stderr) })
	defer stop()
	out, err := jetsam.Run(ctx, cfg, jetsam.RunOptions{
		Status: stderr, Log: stderr, StatusIsTerminal: isTerminal(os.Stderr),
		Command: replayCommand(cfg), Folder: of.setDir,
	})
	if err != nil {
		return 0, setupError(err)
	}
	printSummary(stdout, out.Dir, out.Result)
	return out.ExitCode(), nil
}

// outcomeFile is --outcome: how the run ended, for the program that
// started it. The run folder is learnt as soon as it exists, so a second
// interrupt, which quits at once, can still name it.
type outcomeFile struct {
	mu       sync.Mutex
	path     string
	dir      string
	quitting bool // a second interrupt wrote the last word
}

func (o *outcomeFile) setDir(dir string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dir = dir
}

// write records how the command ends: err is the sentence realMain prints
// with exit code 3.
func (o *outcomeFile) write(code int, err error, stderr io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.path == "" || o.quitting {
		return
	}
	o.save(code, err, stderr)
}

// quit records the second interrupt; the process exits next.
func (o *outcomeFile) quit(stderr io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.path == "" {
		return
	}
	o.quitting = true
	o.save(exitCannot, errors.New(secondInterrupt), stderr)
}

// save writes the file; the caller holds mu.
func (o *outcomeFile) save(code int, err error, stderr io.Writer) {
	out := results.Outcome{Dir: o.dir, ExitCode: code}
	if _, serr := os.Stat(o.dir); serr != nil {
		out.Dir = "" // a run that could not start removes its folder
	}
	if err != nil {
		out.ExitCode, out.Error = exitCannot, err.Error()
	}
	out.Verdict = results.VerdictOf(out.ExitCode)
	if werr := results.WriteJSON(o.path, out); werr != nil {
		fmt.Fprintf(stderr, "jetsam: cannot write --outcome: %v\n", werr)
	}
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1 // fits any JSON reader's integers
}

// replayCommand is the command line that repeats cfg exactly.
func replayCommand(c jetsam.Config) []string {
	return append([]string{"jetsam", "run"}, jetsam.ReplayArgs(c)...)
}

func cmdCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("check", `Usage: jetsam check [flags] PATH

Checks a stored history again, offline: PATH is a run folder (or store/latest)
or a history file. Prints the verdict; the exit code is the verdict's:
0 valid, 1 anomaly found, 2 unknown, 3 PATH is not a readable history.`, stdout)
	timeout := fs.Duration("check-timeout", time.Duration(jetsam.Defaults().CheckTimeout), "time limit of the linearizability search; past it the verdict is unknown")
	write := fs.Bool("write", false, "also (re)write results.json and report.html in the run folder")
	format := fs.String("format", results.FormatJetsam, "history format: jetsam (history.jsonl), or jepsen (Jepsen's log lines or EDN op maps, for register read/write/cas and key-value get/put/append histories)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() != 1 {
		return 0, errorf("check needs one run folder or history file: jetsam check store/latest")
	}
	path := fs.Arg(0)
	_, dir, err := results.ResolveHistory(path)
	if err != nil {
		return 0, cliError{err.Error()}
	}
	if *write && dir == "" {
		return 0, errorf("--write needs a run folder, not a bare history file")
	}
	ctx, stop := interruptible(stderr, nil)
	defer stop()
	// The folder, not its history file: the nodes' logs are judged too.
	res, err := results.Recheck(ctx, path, *format, checker.Options{Timeout: *timeout})
	if err != nil {
		return 0, cliError{err.Error()}
	}
	if *write && res.Interrupted {
		// A check cut short would replace the verdict with less.
		fmt.Fprintln(stderr, "jetsam: the check was interrupted: results.json and report.html are left as they were")
	} else if *write {
		if err := results.WriteResults(dir, res); err != nil {
			return 0, err
		}
		if err := results.WriteReport(dir, *timeout); err != nil {
			return 0, err
		}
	}
	printSummary(stdout, dir, res)
	return exitFor(res.Valid), nil
}

func exitFor(v checker.Validity) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitAnomaly
	}
	return exitUnknown
}

func cmdReport(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("report", `Usage: jetsam report DIR

Rebuilds DIR/report.html from the run folder's test.json, results.json and
history.jsonl.`, stdout)
	timeout := fs.Duration("diagram-timeout", time.Minute, "time limit for computing each linearization diagram")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() != 1 {
		return 0, errorf("report needs one run folder: jetsam report store/latest")
	}
	dir := fs.Arg(0)
	if err := results.WriteReport(dir, *timeout); err != nil {
		return 0, cliError{fmt.Sprintf("cannot build the report of %s: %v", dir, err)}
	}
	fmt.Fprintln(stdout, filepath.Join(dir, results.ReportFile))
	return exitValid, nil
}

func cmdNode(args []string, stderr io.Writer) (int, error) {
	fs := newFlagSet("node", `Usage: jetsam node --config FILE

Runs one nats-server (embedded in this binary) from a config file until
SIGTERM or SIGINT. 'jetsam run' starts one per node.`, stderr)
	config := fs.String("config", "", "nats-server config file")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if *config == "" {
		return 0, errorf("node needs --config FILE")
	}
	if err := node.RunEmbedded(*config); err != nil {
		return 0, cliError{"node: " + err.Error()}
	}
	return exitValid, nil
}

func versions() string {
	return fmt.Sprintf("nats-server %s (embedded)\n%s", node.ServerVersion, runtime.Version())
}

// checkerOrder names a result's checkers in checker.Names order, then any
// other by name, so a summary reads the same every time.
func checkerOrder(res *checker.Result) []string {
	var out, other []string
	for _, n := range checker.Names {
		if res.Checkers[n] != nil {
			out = append(out, n)
		}
	}
	for n := range res.Checkers {
		if !slices.Contains(checker.Names, n) {
			other = append(other, n)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// printSummary tells a person what the run found, in a few lines.
func printSummary(w io.Writer, dir string, res *checker.Result) {
	verdict := map[checker.Validity]string{
		checker.Valid: "VALID", checker.Invalid: "INVALID: anomalies found", checker.Unknown: "UNKNOWN",
	}[res.Valid]
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	if res.Timeless || res.Stats.Seconds == 0 {
		fmt.Fprintf(w, "ops: ok %d, fail %d, info %d\n", res.Ops.OK, res.Ops.Fail, res.Ops.Info)
	} else {
		fmt.Fprintf(w, "ops: ok %d, fail %d, info %d; %.0f ok/s over %.1fs; latency p50 %.1fms p99 %.1fms\n",
			res.Ops.OK, res.Ops.Fail, res.Ops.Info, res.Stats.OKPerSecond, res.Stats.Seconds, res.Stats.LatencyP50, res.Stats.LatencyP99)
	}
	for _, f := range res.Faults {
		after := "no ok op after the heal"
		if f.FirstOKAfter != nil {
			after = fmt.Sprintf("first ok %.2fs after the heal, %d ok after", float64(*f.FirstOKAfter)/1e9, f.OKAfter)
		}
		// Keys, values, errors and node names come from the history:
		// printed escaped, so no terminal escape sequence passes through.
		fmt.Fprintf(w, "fault: %s at %.1fs: %d ok during; %s\n", printable(f.Describe(), ""), float64(f.Start)/1e9, f.OKDuring, after)
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  %s\n", printable(n, ""))
		}
	}
	for _, name := range checkerOrder(res) {
		c := res.Checkers[name]
		fmt.Fprintf(w, "checker %s: %s\n", printable(name, ""), c.Valid)
		for _, n := range c.Notes {
			fmt.Fprintf(w, "  note: %s\n", printable(n, ""))
		}
		for i, a := range c.Anomalies {
			if i == 5 {
				fmt.Fprintf(w, "  ... %d more listed in results.json\n", len(c.Anomalies)-5)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", printable(a.Kind, ""), printable(a.Explanation, ""))
		}
	}
	fmt.Fprintf(w, "check took %.2fs\n", res.CheckSeconds)
	if dir != "" {
		fmt.Fprintf(w, "report: %s\n", filepath.Join(dir, results.ReportFile))
	}
}
