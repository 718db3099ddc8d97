package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/workload"
)

// SoakSummaryFile is written at the top of the store after every run of a
// soak.
const SoakSummaryFile = "soak-summary.json"

// defaultMixes are the fault mixes a soak rotates through unless --mix is
// given. Reads stay off under partitions and process faults, where current
// NATS serves stale reads by design (see README), so that a failure is a
// write or durability regression.
var defaultMixes = []string{
	"--nemesis partition --read-mode none --time-limit 60s",
	"--nemesis kill,pause --read-mode none --time-limit 60s",
	"--nemesis latency,bandwidth --read-mode leader --time-limit 60s",
	"--nemesis reset,clients --read-mode none --time-limit 60s",
}

// soakRefused are the run flags soak sets itself on every run.
var soakRefused = []string{"seed", "store", "name", "workload"}

// Verdicts of a soak's runs, also the keys of the summary's counts.
const (
	verdictValid    = "valid"
	verdictInvalid  = "invalid"
	verdictUnknown  = "unknown"
	verdictCannot   = "could-not-run"
	folderPruned    = "pruned"
	soakRunSentence = "jetsam: run folder "
)

// soakSummary is soak-summary.json.
type soakSummary struct {
	Name    string     `json:"name"`
	Store   string     `json:"store"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Stopped says why the soak stopped: runs, duration, failure,
	// interrupted, or bad-mix. Empty while it is going.
	Stopped     string   `json:"stopped,omitempty"`
	PlannedRuns int      `json:"planned_runs,omitempty"`
	Duration    string   `json:"duration,omitempty"`
	FirstSeed   uint64   `json:"first_seed"`
	Mixes       []string `json:"mixes"`
	Workloads   []string `json:"workloads"`
	PassThrough []string `json:"pass_through,omitempty"`
	KeepPassing int      `json:"keep_passing"`
	RunsDone    int      `json:"runs_done"`
	// Counts has every verdict as a key: valid, invalid, unknown,
	// could-not-run.
	Counts map[string]int `json:"counts"`
	// ExitCode is the worst exit code so far (1 > 3 > 2 > 0).
	ExitCode int `json:"exit_code"`
	// FailuresByKind maps "checker kind" (e.g. "kv-direct stale-read") to
	// the indexes of the runs that found it.
	FailuresByKind map[string][]int `json:"failures_by_kind"`
	Runs           []*soakRun       `json:"runs"`
}

// soakRun is one run of a soak.
type soakRun struct {
	Index    int       `json:"index"`
	Seed     uint64    `json:"seed"`
	Mix      string    `json:"mix"`
	Workload string    `json:"workload"`
	Started  time.Time `json:"started"`
	ExitCode int       `json:"exit_code"`
	Verdict  string    `json:"verdict"`
	// Folder is the run folder, or "pruned" once a passing run's folder is
	// deleted; empty when the run made none.
	Folder      string  `json:"folder"`
	OKPerSecond float64 `json:"ok_per_second"`
	Seconds     float64 `json:"duration_seconds"`
	Duration    string  `json:"duration"`
	// Error is the run's own sentence when it could not run.
	Error string `json:"error,omitempty"`
	// Anomalies counts the anomalies results.json lists, by "checker
	// kind" (a checker lists at most 100; its counts have the totals).
	Anomalies map[string]int `json:"anomalies,omitempty"`
	// Replay and Command repeat a failing run: from its folder, or from
	// scratch with the same flags and seed.
	Replay  string `json:"replay,omitempty"`
	Command string `json:"command,omitempty"`

	args []string // the arguments after "jetsam run"
}

type soakPlan struct {
	runs        int
	duration    time.Duration
	mixes       []string
	mixArgs     [][]string
	workloads   []string // each a --workload value
	seed        uint64
	keepPassing int
	stopOnFail  bool
	store, name string
	pass        []string
}

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
  `+strings.Join(defaultMixes, "\n  ")+`
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
	p := soakPlan{runs: *runs, duration: *duration, workloads: nil, keepPassing: *keep,
		stopOnFail: *stopOnFail, store: *store, name: *name, pass: pass}
	if err := p.validate(*mixes, *workloads); err != nil {
		return 0, err
	}
	p.seed = *seed
	if !fs.Changed("seed") {
		p.seed = randomSeed()
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, errorf("cannot find this jetsam binary to start runs with: %v", err)
	}
	if err := os.MkdirAll(p.store, 0o755); err != nil {
		return 0, errorf("cannot write to store %s: %v", p.store, err)
	}
	return p.soak(exe, stdout, stderr)
}

// validate checks every soak flag and mix, and fills in the split mixes and
// the workload values.
func (p *soakPlan) validate(mixes []string, workloads string) error {
	switch {
	case p.runs < 0:
		return errorf("--runs must not be negative, got %d", p.runs)
	case p.duration < 0:
		return errorf("--duration must not be negative, got %s", p.duration)
	case p.runs == 0 && p.duration == 0:
		return errorf("soak needs --runs N or --duration D (or both): it stops starting runs at whichever comes first")
	case p.keepPassing < 0:
		return errorf("--keep-passing must not be negative, got %d", p.keepPassing)
	case !results.ValidName(p.name):
		return errorf("--name %q may hold only letters, digits, '.', '_' and '-'", p.name)
	}
	ws, err := parseSoakWorkloads(workloads)
	if err != nil {
		return err
	}
	p.workloads = ws
	if len(mixes) == 0 {
		mixes = defaultMixes
	}
	p.mixes = mixes
	p.mixArgs = nil
	for _, m := range mixes {
		a, err := shell.Split(m)
		if err != nil {
			return errorf("--mix %q: %v", m, err)
		}
		if f := refusedFlag(a); f != "" {
			return errorf("--mix %q sets --%s, which soak sets on every run (use soak's --seed, --store, --name or --workloads)", m, f)
		}
		p.mixArgs = append(p.mixArgs, a)
	}
	if f := refusedFlag(p.pass); f != "" {
		return errorf("the run flags after -- set --%s, which soak sets on every run (use soak's --seed, --store, --name or --workloads)", f)
	}
	return nil
}

// parseSoakWorkloads reads --workloads: a comma list whose items are one
// workload or several joined with +.
func parseSoakWorkloads(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errorf("--workloads %q has an empty item: give a comma list such as kv,log,queue", s)
		}
		parts := strings.Split(item, "+")
		for _, w := range parts {
			if !slices.Contains(workload.Names(), w) {
				return nil, errorf("--workloads: %q is not one of %s (join with + to run several in one run)", w, strings.Join(workload.Names(), ", "))
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out, nil
}

// refusedFlag returns the name of the first soak-set flag args set, or "".
func refusedFlag(args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, f := range soakRefused {
			if a == "--"+f || strings.HasPrefix(a, "--"+f+"=") {
				return f
			}
		}
	}
	return ""
}

// soakChoice is the mix and workload of run i: every mix in turn, and the
// next workload once every mix has had its turn.
func soakChoice(i, mixes, workloads int) (mix, wl int) {
	return i % mixes, (i / mixes) % workloads
}

// exitRank orders exit codes from best to worst: 0, 2, 3, 1.
func exitRank(code int) int {
	switch code {
	case exitValid:
		return 0
	case exitUnknown:
		return 1
	case exitAnomaly:
		return 3
	}
	return 2 // exitCannot, and anything a crashed run returns
}

// worseExit is the worse of two exit codes: 1 > 3 > 2 > 0.
func worseExit(a, b int) int {
	if exitRank(b) > exitRank(a) {
		return b
	}
	return a
}

// soakState is a soak under way, shared with the signal handler.
type soakState struct {
	mu          sync.Mutex
	current     *os.Process
	interrupted bool
	signals     int
}

func (p *soakPlan) soak(exe string, stdout, stderr io.Writer) (int, error) {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stderr, format+"\n", args...)
	}
	sum := &soakSummary{
		Name: p.name, Store: p.store, Started: time.Now().UTC(), PlannedRuns: p.runs,
		FirstSeed: p.seed, Mixes: p.mixes, Workloads: p.workloads, PassThrough: p.pass,
		KeepPassing: p.keepPassing, Counts: map[string]int{}, FailuresByKind: map[string][]int{},
		Runs: []*soakRun{},
	}
	if p.duration > 0 {
		sum.Duration = p.duration.String()
	}
	summaryPath := filepath.Join(p.store, SoakSummaryFile)
	save := func() {
		sum.tally()
		if err := results.WriteJSON(summaryPath, sum); err != nil {
			say("soak: cannot write the summary: %v", err)
		}
	}
	save()

	st := &soakState{}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer func() {
		signal.Stop(sigs)
		close(sigs)
	}()
	go func() {
		for s := range sigs {
			st.mu.Lock()
			st.interrupted = true
			st.signals++
			n, proc := st.signals, st.current
			st.mu.Unlock()
			switch {
			case proc == nil:
				say("soak: %v: stopping", s)
			case n == 1:
				say("soak: %v: stopping after the current run, which is told to stop (again to make it quit at once)", s)
			default:
				say("soak: %v again: the current run quits at once", s)
			}
			// The run is in a process group of its own (a terminal's
			// Ctrl-C reaches only soak), so it hears each signal once.
			if proc != nil {
				_ = proc.Signal(s)
			}
		}
	}()

	started := time.Now()
	var fatal error
	for i := 0; ; i++ {
		if p.runs > 0 && i >= p.runs {
			sum.Stopped = "runs"
			break
		}
		if p.duration > 0 && time.Since(started) >= p.duration {
			sum.Stopped = "duration"
			break
		}
		mi, wi := soakChoice(i, len(p.mixes), len(p.workloads))
		r := &soakRun{Index: i, Seed: p.seed + uint64(i), Mix: p.mixes[mi], Workload: p.workloads[wi]}
		r.args = append(append(append([]string{}, p.mixArgs[mi]...), p.pass...),
			"--workload", r.Workload, "--seed", strconv.FormatUint(r.Seed, 10), "--store", p.store, "--name", p.name)
		r.Command = shell.Join(append([]string{"jetsam", "run"}, r.args...))
		if !p.runOne(exe, r, i, st, say, &outMu, stderr) {
			sum.Stopped = "interrupted"
			break
		}
		sum.Runs = append(sum.Runs, r)
		p.prune(sum.Runs, say)
		save()
		st.mu.Lock()
		interrupted := st.interrupted
		st.mu.Unlock()
		switch {
		case interrupted:
			sum.Stopped = "interrupted"
		case r.Verdict == verdictCannot && i < len(p.mixes):
			// A mix that cannot run at its first try is a mistake.
			sum.Stopped = "bad-mix"
			fatal = errorf("soak stopped: the first run of mix %q could not run: %s", r.Mix, r.Error)
		case p.stopOnFail && r.Verdict != verdictValid:
			sum.Stopped = "failure"
		}
		if sum.Stopped != "" {
			break
		}
	}
	ended := time.Now().UTC()
	sum.Ended = &ended
	save()
	printSoakSummary(stdout, sum, summaryPath, ended.Sub(sum.Started))
	if fatal != nil {
		return 0, fatal
	}
	return sum.ExitCode, nil
}

// runOne runs r as a child process and fills in what it found. It returns
// false when the soak was interrupted before the run could start.
func (p *soakPlan) runOne(exe string, r *soakRun, i int, st *soakState, say func(string, ...any), outMu *sync.Mutex, stderr io.Writer) bool {
	of := strconv.Itoa(i + 1)
	if p.runs > 0 {
		of += "/" + strconv.Itoa(p.runs)
	}
	var cap runCapture
	prefix := fmt.Sprintf("  [run %d] ", i)
	outW := &lineWriter{mu: outMu, out: stderr, prefix: prefix}
	errW := &lineWriter{mu: outMu, out: stderr, prefix: prefix, onLine: cap.line}
	cmd := exec.Command(exe, append([]string{"run"}, r.args...)...)
	cmd.Stdout, cmd.Stderr = outW, errW
	// Its own process group, so a terminal's Ctrl-C reaches it once, through
	// soak; and a SIGTERM if soak dies, so it stops in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// A helper the run left behind must not hold soak on its output.
	cmd.WaitDelay = 10 * time.Second

	st.mu.Lock()
	if st.interrupted {
		st.mu.Unlock()
		return false
	}
	begin := time.Now()
	r.Started = begin.UTC()
	err := cmd.Start()
	if err == nil {
		st.current = cmd.Process
	}
	st.mu.Unlock()
	say("soak: run %d (%s) seed %d mix %q workload %s: starting", i, of, r.Seed, r.Mix, r.Workload)
	if err == nil {
		err = cmd.Wait()
		st.mu.Lock()
		st.current = nil
		st.mu.Unlock()
	}
	outW.flush()
	errW.flush()
	elapsed := time.Since(begin)
	r.Seconds = elapsed.Seconds()
	r.Duration = fmtDuration(elapsed)

	outMu.Lock()
	r.Folder, r.Error = cap.folder, cap.sentence
	panicked := cap.panicLine
	outMu.Unlock()

	r.ExitCode = exitCannot
	var how string
	switch {
	case cmd.ProcessState != nil:
		r.ExitCode = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = fmt.Sprintf("killed by %v", ws.Signal())
		}
	case err != nil:
		how = fmt.Sprintf("could not start: %v", err)
	}
	r.Verdict = map[int]string{exitValid: verdictValid, exitAnomaly: verdictInvalid, exitUnknown: verdictUnknown, exitCannot: verdictCannot}[r.ExitCode]
	switch {
	case how != "":
		r.Verdict, r.Error = verdictCannot, how
	case panicked != "":
		r.Verdict, r.Error = verdictCannot, "crashed: "+panicked
	case r.Verdict == "":
		r.Verdict, r.Error = verdictCannot, fmt.Sprintf("exited with code %d", r.ExitCode)
	case r.Verdict == verdictValid && r.Folder == "":
		r.Verdict, r.Error = verdictCannot, "the run named no run folder"
	case r.Verdict != verdictCannot:
		r.Error = ""
	}
	if r.Verdict == verdictCannot && r.Error == "" {
		r.Error = "the run gave no reason"
	}
	if r.Folder != "" {
		var res checker.Result
		if results.ReadJSON(filepath.Join(r.Folder, results.ResultsFile), &res) == nil {
			r.OKPerSecond = res.Stats.OKPerSecond
			r.Anomalies = anomalyKinds(&res)
		}
	}
	if r.Verdict != verdictValid {
		if r.Folder != "" {
			r.Replay = shell.Join([]string{"jetsam", "run", "--replay", r.Folder})
		}
	} else {
		r.Command = ""
	}
	line := fmt.Sprintf("soak: run %d (%s) seed %d mix %q workload %s: %s (exit %d) in %s", i, of, r.Seed, r.Mix, r.Workload,
		strings.ToUpper(strings.ReplaceAll(r.Verdict, "-", " ")), r.ExitCode, r.Duration)
	if r.Folder != "" {
		line += fmt.Sprintf(", %.0f ok/s, folder %s", r.OKPerSecond, r.Folder)
	}
	if r.Error != "" {
		line += ": " + r.Error
	}
	say("%s", line)
	return true
}

// anomalyKinds counts a result's anomalies by "checker kind".
func anomalyKinds(res *checker.Result) map[string]int {
	var out map[string]int
	for name, c := range res.Checkers {
		if c == nil {
			continue
		}
		for _, a := range c.Anomalies {
			if out == nil {
				out = map[string]int{}
			}
			out[name+" "+a.Kind]++
		}
	}
	return out
}

// runCapture is what soak reads from a run's stderr.
type runCapture struct {
	folder    string
	sentence  string // the last "jetsam: ..." line: a run that could not run says why there
	panicLine string
}

func (c *runCapture) line(s string) {
	switch {
	case strings.Contains(s, soakRunSentence):
		_, c.folder, _ = strings.Cut(s, soakRunSentence)
	case strings.HasPrefix(s, "jetsam: "):
		c.sentence = strings.TrimPrefix(s, "jetsam: ")
	case c.panicLine == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")):
		c.panicLine = s
	}
}

// lineWriter copies a child's output to out line by line, each prefixed,
// under a lock shared with soak's own lines.
type lineWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix string
	onLine func(string)
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<16 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// emit writes one line; the caller holds mu.
func (w *lineWriter) emit(s string) {
	// A status line redrawn in place on a terminal.
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\033[K", ""), "\r", "")
	if w.onLine != nil {
		w.onLine(s)
	}
	fmt.Fprintf(w.out, "%s%s\n", w.prefix, s)
}

// prune deletes the folders of passing runs beyond the newest keepPassing,
// oldest first, and repoints store/latest if it was left dangling.
func (p *soakPlan) prune(runs []*soakRun, say func(string, ...any)) {
	var passing []*soakRun
	for _, r := range runs {
		if r.Verdict == verdictValid && r.Folder != "" && r.Folder != folderPruned {
			passing = append(passing, r)
		}
	}
	pruned := false
	for _, r := range passing[:max(len(passing)-p.keepPassing, 0)] {
		if !p.inStore(r.Folder) {
			say("soak: not deleting %s: it is not a run folder under %s", r.Folder, filepath.Join(p.store, p.name))
			continue
		}
		if err := os.RemoveAll(r.Folder); err != nil {
			say("soak: cannot delete passing run %d's folder: %v", r.Index, err)
			continue
		}
		say("soak: deleted the folder of passing run %d (%s), keeping the newest %d", r.Index, r.Folder, p.keepPassing)
		r.Folder = folderPruned
		pruned = true
	}
	if pruned {
		if err := p.fixLatest(runs); err != nil {
			say("soak: %v", err)
		}
	}
}

// inStore reports whether dir is a folder right below store/name/.
func (p *soakPlan) inStore(dir string) bool {
	abs, err1 := filepath.Abs(dir)
	parent, err2 := filepath.Abs(filepath.Join(p.store, p.name))
	return err1 == nil && err2 == nil && filepath.Dir(abs) == parent && filepath.Base(abs) != "." && filepath.Base(abs) != ".."
}

// fixLatest repoints a dangling store/latest at the soak's newest run
// folder that remains, or removes it when none remains.
func (p *soakPlan) fixLatest(runs []*soakRun) error {
	link := filepath.Join(p.store, results.LatestLink)
	if _, err := os.Lstat(link); err != nil {
		return nil // no link at all
	}
	if _, err := os.Stat(link); err == nil {
		return nil // it still points at a run
	}
	for i := len(runs) - 1; i >= 0; i-- {
		f := runs[i].Folder
		if f == "" || f == folderPruned {
			continue
		}
		if fi, err := os.Stat(f); err != nil || !fi.IsDir() {
			continue
		}
		tmp := filepath.Join(p.store, fmt.Sprintf(".latest-soak-%d", os.Getpid()))
		_ = os.Remove(tmp)
		if err := os.Symlink(filepath.Join(p.name, filepath.Base(f)), tmp); err != nil {
			return fmt.Errorf("cannot repoint %s: %w", link, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("cannot repoint %s: %w", link, err)
		}
		return nil
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", link, err)
	}
	return nil
}

// tally recomputes the counts, the worst exit code and the failures by
// kind from the runs.
func (s *soakSummary) tally() {
	s.RunsDone = len(s.Runs)
	s.Counts = map[string]int{verdictValid: 0, verdictInvalid: 0, verdictUnknown: 0, verdictCannot: 0}
	s.FailuresByKind = map[string][]int{}
	s.ExitCode = exitValid
	for _, r := range s.Runs {
		s.Counts[r.Verdict]++
		code := r.ExitCode
		if r.Verdict == verdictCannot {
			code = exitCannot
		}
		s.ExitCode = worseExit(s.ExitCode, code)
		for kind := range r.Anomalies {
			s.FailuresByKind[kind] = append(s.FailuresByKind[kind], r.Index)
		}
	}
	if s.Stopped == "interrupted" {
		s.ExitCode = worseExit(s.ExitCode, exitUnknown)
	}
}

// printSoakSummary tells a person what the soak found.
func printSoakSummary(w io.Writer, s *soakSummary, path string, took time.Duration) {
	fmt.Fprintf(w, "soak: %d runs in %s: %d valid, %d invalid, %d unknown, %d could not run",
		s.RunsDone, fmtDuration(took), s.Counts[verdictValid], s.Counts[verdictInvalid], s.Counts[verdictUnknown], s.Counts[verdictCannot])
	if s.Stopped != "" {
		fmt.Fprintf(w, " (stopped: %s)", s.Stopped)
	}
	fmt.Fprintln(w)
	if len(s.FailuresByKind) > 0 {
		fmt.Fprintln(w, "failures by kind (run numbers from 0):")
		kinds := make([]string, 0, len(s.FailuresByKind))
		for k := range s.FailuresByKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			idx := make([]string, len(s.FailuresByKind[k]))
			for i, n := range s.FailuresByKind[k] {
				idx[i] = strconv.Itoa(n)
			}
			fmt.Fprintf(w, "  %s: runs %s\n", k, strings.Join(idx, ", "))
		}
	}
	failing := false
	for _, r := range s.Runs {
		if r.Verdict == verdictValid {
			continue
		}
		if !failing {
			fmt.Fprintln(w, "failing runs, kept whole:")
			failing = true
		}
		fmt.Fprintf(w, "  run %d seed %d mix %q workload %s: %s (exit %d)", r.Index, r.Seed, r.Mix, r.Workload, r.Verdict, r.ExitCode)
		if r.Error != "" {
			fmt.Fprintf(w, ": %s", r.Error)
		}
		fmt.Fprintln(w)
		if r.Folder != "" {
			fmt.Fprintf(w, "    folder: %s\n", r.Folder)
		}
		if r.Replay != "" {
			fmt.Fprintf(w, "    replay: %s\n", r.Replay)
		}
		fmt.Fprintf(w, "    rerun:  %s\n", r.Command)
	}
	fmt.Fprintf(w, "summary: %s\n", path)
}

// fmtDuration writes 12.3s, 1m02s or 1h02m03s.
func fmtDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
