package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/results"
)

func TestSoakChoiceCoversEveryPair(t *testing.T) {
	const mixes, workloads = 3, 2
	want := [][2]int{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}, {0, 0}, {1, 0}}
	for i, w := range want {
		m, wl := soakChoice(i, mixes, workloads)
		if m != w[0] || wl != w[1] {
			t.Errorf("run %d: mix %d workload %d, want %v", i, m, wl, w)
		}
	}
	if m, wl := soakChoice(5, 1, 1); m != 0 || wl != 0 {
		t.Errorf("one mix, one workload: %d %d", m, wl)
	}
}

func TestWorseExit(t *testing.T) {
	// 1 > 3 > 2 > 0
	order := []int{exitValid, exitUnknown, exitCannot, exitAnomaly}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := worseExit(a, b); got != want {
				t.Errorf("worseExit(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
	}
	s := &soakSummary{Runs: []*soakRun{
		{Verdict: verdictValid, ExitCode: 0}, {Verdict: verdictUnknown, ExitCode: 2},
		{Verdict: verdictCannot, ExitCode: -1}, // killed by a signal: could not run
	}}
	s.tally()
	if s.ExitCode != exitCannot {
		t.Errorf("exit %d, want 3", s.ExitCode)
	}
	if want := map[string]int{"valid": 1, "invalid": 0, "unknown": 1, "could-not-run": 1}; !reflect.DeepEqual(s.Counts, want) {
		t.Errorf("counts %v, want %v", s.Counts, want)
	}
	s = &soakSummary{Stopped: "interrupted", Runs: []*soakRun{{Verdict: verdictValid}}}
	s.tally()
	if s.ExitCode != exitUnknown {
		t.Errorf("interrupted soak of valid runs: exit %d, want 2", s.ExitCode)
	}
	s.Runs = append(s.Runs, &soakRun{Index: 1, Verdict: verdictInvalid, ExitCode: 1,
		Anomalies: map[string]int{"kv-direct stale-read": 4, "kv lost-write": 1}})
	s.Runs = append(s.Runs, &soakRun{Index: 2, Verdict: verdictInvalid, ExitCode: 1, Anomalies: map[string]int{"kv-direct stale-read": 1}})
	s.tally()
	if s.ExitCode != exitAnomaly {
		t.Errorf("exit %d, want 1", s.ExitCode)
	}
	if want := map[string][]int{"kv-direct stale-read": {1, 2}, "kv lost-write": {1}}; !reflect.DeepEqual(s.FailuresByKind, want) {
		t.Errorf("failures by kind %v, want %v", s.FailuresByKind, want)
	}
}

func TestRefusedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nemesis", "partition"}, ""},
		{[]string{"--seed", "1"}, "seed"},
		{[]string{"--store=/tmp/x"}, "store"},
		{[]string{"--time-limit", "5s", "--name", "x"}, "name"},
		{[]string{"--workload", "log"}, "workload"},
		{[]string{"--seeds", "3", "--stored"}, ""}, // other flags that merely start alike
	} {
		if got := refusedFlag(tc.args); got != tc.want {
			t.Errorf("refusedFlag(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// Refused and malformed flags stop soak before any run: one sentence, no
// run started (there is no cluster in this test).
func TestSoakRefusesUpFront(t *testing.T) {
	store := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mix", "--seed 1", "--runs", "1"}, `--mix "--seed 1" sets --seed, which soak sets on every run`},
		{[]string{"--mix", "--workload=log", "--runs", "1"}, "sets --workload"},
		{[]string{"--runs", "1", "--", "--store", "elsewhere"}, "the run flags after -- set --store"},
		{[]string{"--runs", "1", "--mix", `--name 'open`}, "single quote is not closed"},
		{[]string{"--mix", "--nemesis none"}, "soak needs --runs N or --duration D"},
		{[]string{"--runs", "-1"}, "--runs must not be negative"},
		{[]string{"--runs", "1", "--keep-passing", "-1"}, "--keep-passing must not be negative"},
		{[]string{"--runs", "1", "--workloads", "kv,,log"}, "has an empty item"},
		{[]string{"--runs", "1", "--workloads", "kv,graph"}, `"graph" is not one of kv, log, queue`},
		{[]string{"--runs", "1", "--name", "a/b"}, "--name \"a/b\" may hold only"},
		{[]string{"--runs", "1", "stray"}, "soak takes no arguments"},
		{[]string{"--runs", "1", "--frobnicate"}, "unknown flag: --frobnicate"},
	} {
		var stdout, stderr bytes.Buffer
		code := realMain(append([]string{"soak", "--store", store}, tc.args...), &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != exitCannot || strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "jetsam: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("soak %q: exit %d, stderr %q; want exit 3 and one line saying %q", tc.args, code, msg, tc.want)
		}
	}
	if entries, _ := os.ReadDir(store); len(entries) > 0 {
		t.Errorf("a refused soak wrote to the store: %v", entries)
	}
}

func TestParseSoakWorkloads(t *testing.T) {
	got, err := parseSoakWorkloads("kv, log,kv+queue")
	if err != nil || !reflect.DeepEqual(got, []string{"kv", "log", "kv,queue"}) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestSoakPruning builds a fake store: passing runs beyond --keep-passing
// are deleted oldest first, failing runs stay whole, and a dangling
// store/latest is repointed at the newest run that remains, or removed.
func TestSoakPruning(t *testing.T) {
	store := t.TempDir()
	p := &soakPlan{store: store, name: "soak", keepPassing: 2}
	mk := func(i int, verdict string) *soakRun {
		dir := filepath.Join(store, "soak", "20250101T0000"+string(rune('0'+i))+"0.000")
		if err := os.MkdirAll(filepath.Join(dir, results.NodesDir, "n1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, results.HistoryFile), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return &soakRun{Index: i, Verdict: verdict, Folder: dir}
	}
	link := func(to string) {
		l := filepath.Join(store, results.LatestLink)
		_ = os.Remove(l)
		if err := os.Symlink(filepath.Join("soak", filepath.Base(to)), l); err != nil {
			t.Fatal(err)
		}
	}
	say := func(string, ...any) {}
	var runs []*soakRun
	for i, v := range []string{verdictValid, verdictInvalid, verdictValid, verdictUnknown, verdictValid, verdictCannot} {
		runs = append(runs, mk(i, v))
	}
	// A run that made no folder is left alone.
	runs = append(runs, &soakRun{Index: 6, Verdict: verdictValid})
	keepFolders := map[int]string{}
	for _, r := range runs {
		keepFolders[r.Index] = r.Folder
	}
	// latest points at the oldest passing run, which is pruned.
	link(runs[0].Folder)
	p.prune(runs, say)
	for _, r := range runs {
		_, err := os.Stat(keepFolders[r.Index])
		switch {
		case r.Index == 0:
			if r.Folder != folderPruned || err == nil {
				t.Errorf("run 0 (oldest passing): folder %q, stat %v; want pruned and gone", r.Folder, err)
			}
		case r.Index == 6:
			if r.Folder != "" {
				t.Errorf("run 6 (no folder): %q", r.Folder)
			}
		default:
			if r.Folder != keepFolders[r.Index] || err != nil {
				t.Errorf("run %d (%s): folder %q, stat %v; want it kept", r.Index, r.Verdict, r.Folder, err)
			}
		}
	}
	// Failing runs are whole.
	if _, err := os.Stat(filepath.Join(keepFolders[1], results.NodesDir, "n1")); err != nil {
		t.Errorf("failing run not whole: %v", err)
	}
	target, err := os.Readlink(filepath.Join(store, results.LatestLink))
	if err != nil || target != filepath.Join("soak", filepath.Base(keepFolders[5])) {
		t.Errorf("latest -> %q (%v), want the newest remaining run %s", target, err, keepFolders[5])
	}

	// keep 0: every passing folder goes; latest pointing at a kept failing
	// run is left alone.
	link(runs[1].Folder)
	p.keepPassing = 0
	p.prune(runs, say)
	for _, i := range []int{2, 4} {
		if runs[i].Folder != folderPruned {
			t.Errorf("keep 0: run %d kept", i)
		}
	}
	if target, _ := os.Readlink(filepath.Join(store, results.LatestLink)); target != filepath.Join("soak", filepath.Base(keepFolders[1])) {
		t.Errorf("latest moved to %q though it pointed at a kept run", target)
	}

	// Nothing of the soak remains: latest is removed.
	only := []*soakRun{mk(7, verdictValid)}
	link(only[0].Folder)
	p.prune(only, say)
	if _, err := os.Lstat(filepath.Join(store, results.LatestLink)); !os.IsNotExist(err) {
		t.Errorf("latest left dangling: %v", err)
	}

	// A folder outside store/name is never deleted.
	outside := t.TempDir()
	stray := []*soakRun{{Index: 8, Verdict: verdictValid, Folder: outside}}
	p.prune(stray, say)
	if _, err := os.Stat(outside); err != nil || stray[0].Folder != outside {
		t.Errorf("a folder outside the store was deleted: %v", err)
	}
}

func TestRunCapture(t *testing.T) {
	var c runCapture
	for _, l := range []string{
		"jetsam: run folder /tmp/store with space/soak/20250101T000000.000",
		"jetsam: cluster ready",
		"something else",
		"jetsam: --nemesis \"bogus\" is not a fault package",
	} {
		c.line(l)
	}
	if c.folder != "/tmp/store with space/soak/20250101T000000.000" || c.sentence != `--nemesis "bogus" is not a fault package` || c.panicLine != "" {
		t.Fatalf("%+v", c)
	}
	c.line("panic: runtime error: index out of range")
	c.line("panic: again")
	if c.panicLine != "panic: runtime error: index out of range" {
		t.Fatalf("%+v", c)
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[string]string{"12.34s": "12.3s", "62s": "1m02s", "3723s": "1h02m03s"} {
		dd, _ := time.ParseDuration(d)
		if got := fmtDuration(dd); got != want {
			t.Errorf("fmtDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// fakeRun is a stand-in for 'jetsam run': it makes a run folder named by
// the seed under --store/--name, says so as run does, writes a
// results.json, and exits with the code --exit gives (3 for --workload log,
// to play a run that could not run). With --sleep it waits, counting the
// signals it gets in DIR/signals, and exits 2 once signalled.
const fakeRun = `#!/bin/sh
code=0 sleep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift;; --store) store=$2; shift;; --name) name=$2; shift;;
    --exit) code=$2; shift;; --sleep) sleep=$2; shift;; --workload) wl=$2; shift;;
  esac
  shift
done
dir="$store/$name/$seed"
mkdir -p "$dir"
ln -sfn "$name/$seed" "$store/latest"
echo "jetsam: run folder $dir" >&2
echo "verdict: fake" 
if [ "$wl" = log ]; then echo "jetsam: the log workload is broken today" >&2; exit 3; fi
if [ "$sleep" != 0 ]; then
  got=0
  trap 'echo signal >> "$dir/signals"; got=1' INT TERM
  sleep "$sleep" & pid=$!
  wait $pid
  if [ $got = 1 ]; then kill $pid; sleep 1; exit 2; fi
fi
if [ "$code" = 1 ]; then
  echo '{"valid":false,"stats":{"ok_per_second":12.5},"checkers":{"kv-direct":{"valid":false,"anomalies":[{"kind":"stale-read"},{"kind":"stale-read"}]}}}' > "$dir/results.json"
else
  echo '{"valid":true,"stats":{"ok_per_second":12.5},"checkers":{"kv":{"valid":true,"anomalies":[]}}}' > "$dir/results.json"
fi
exit "$code"
`

func fakeSoak(t *testing.T, runs int, mixes []string, workloads string, stopOnFail bool) (*soakPlan, string) {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake-jetsam")
	if err := os.WriteFile(exe, []byte(fakeRun), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &soakPlan{runs: runs, keepPassing: 1, stopOnFail: stopOnFail, store: filepath.Join(dir, "store"), name: "soak", seed: 100}
	if err := p.validate(mixes, workloads); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.store, 0o755); err != nil {
		t.Fatal(err)
	}
	return p, exe
}

func readSoakSummary(t *testing.T, store string) *soakSummary {
	t.Helper()
	var s soakSummary
	if err := results.ReadJSON(filepath.Join(store, SoakSummaryFile), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// The soak loop with fake runs: rotation, seeds, a later exit 3 recorded
// and passed over, pruning, failures by kind, the worst exit code.
func TestSoakLoopWithFakeRuns(t *testing.T) {
	p, exe := fakeSoak(t, 6, []string{"--exit 0", "--exit 1"}, "kv,log", false)
	var stdout, stderr bytes.Buffer
	code, err := p.soak(exe, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if code != exitAnomaly {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	s := readSoakSummary(t, p.store)
	if s.RunsDone != 6 || s.Ended == nil || s.Stopped != "runs" {
		t.Fatalf("runs done %d, ended %v, stopped %q", s.RunsDone, s.Ended, s.Stopped)
	}
	// mix 0, mix 1 on kv; both on log (could not run); again on kv.
	want := []struct {
		mix, wl, verdict string
	}{{"--exit 0", "kv", verdictValid}, {"--exit 1", "kv", verdictInvalid}, {"--exit 0", "log", verdictCannot},
		{"--exit 1", "log", verdictCannot}, {"--exit 0", "kv", verdictValid}, {"--exit 1", "kv", verdictInvalid}}
	for i, w := range want {
		r := s.Runs[i]
		if r.Index != i || r.Seed != uint64(100+i) || r.Mix != w.mix || r.Workload != w.wl || r.Verdict != w.verdict {
			t.Errorf("run %d: %+v, want %+v", i, r, w)
		}
	}
	if s.Runs[2].Error != "the log workload is broken today" {
		t.Errorf("could-not-run reason %q", s.Runs[2].Error)
	}
	// keep 1: run 0 is pruned, run 4 (the newest pass) kept.
	if s.Runs[0].Folder != folderPruned || s.Runs[4].Folder == folderPruned {
		t.Errorf("pruning: run 0 %q, run 4 %q", s.Runs[0].Folder, s.Runs[4].Folder)
	}
	if _, err := os.Stat(filepath.Join(p.store, "soak", "100")); !os.IsNotExist(err) {
		t.Errorf("pruned folder still there: %v", err)
	}
	if !reflect.DeepEqual(s.FailuresByKind, map[string][]int{"kv-direct stale-read": {1, 5}}) {
		t.Errorf("failures by kind %v", s.FailuresByKind)
	}
	r := s.Runs[1]
	if r.Anomalies["kv-direct stale-read"] != 2 || r.OKPerSecond != 12.5 || r.ExitCode != 1 {
		t.Errorf("run 1: %+v", r)
	}
	wantCmd := "jetsam run --exit 1 --workload kv --seed 101 --store " + p.store + " --name soak"
	if r.Replay != "jetsam run --replay "+r.Folder || r.Command != wantCmd {
		t.Errorf("replay %q, command %q; want command %q", r.Replay, r.Command, wantCmd)
	}
	if s.Runs[0].Command != "" || s.Runs[0].Replay != "" {
		t.Errorf("a passing run has replay commands: %+v", s.Runs[0])
	}
	if s.Counts[verdictValid] != 2 || s.Counts[verdictInvalid] != 2 || s.Counts[verdictCannot] != 2 || s.ExitCode != 1 {
		t.Errorf("counts %v exit %d", s.Counts, s.ExitCode)
	}
	for _, w := range []string{"6 runs", "kv-direct stale-read: runs 1, 5", r.Replay, r.Command, "summary: " + filepath.Join(p.store, SoakSummaryFile)} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("summary does not say %q:\n%s", w, stdout.String())
		}
	}
	for _, w := range []string{"soak: run 1 (2/6) seed 101 mix \"--exit 1\" workload kv: starting", "  [run 1] verdict: fake",
		"soak: run 1 (2/6) seed 101 mix \"--exit 1\" workload kv: INVALID (exit 1) in"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("progress does not say %q:\n%s", w, stderr.String())
		}
	}
	target, err := os.Readlink(filepath.Join(p.store, results.LatestLink))
	if err != nil || target != "soak/105" {
		t.Errorf("latest -> %q, %v", target, err)
	}
}

func TestSoakStopOnFailure(t *testing.T) {
	p, exe := fakeSoak(t, 5, []string{"--exit 0", "--exit 1"}, "kv", true)
	var stdout, stderr bytes.Buffer
	code, err := p.soak(exe, &stdout, &stderr)
	s := readSoakSummary(t, p.store)
	if err != nil || code != exitAnomaly || s.RunsDone != 2 || s.Stopped != "failure" {
		t.Fatalf("exit %d, %v, runs done %d, stopped %q", code, err, s.RunsDone, s.Stopped)
	}
}

// The first run of a mix that cannot run stops the soak with exit 3.
func TestSoakBadMixStops(t *testing.T) {
	p, exe := fakeSoak(t, 5, []string{"--exit 0", "--exit 3"}, "kv", false)
	var stdout, stderr bytes.Buffer
	_, err := p.soak(exe, &stdout, &stderr)
	s := readSoakSummary(t, p.store)
	if err == nil || !strings.Contains(err.Error(), `the first run of mix "--exit 3" could not run`) || s.RunsDone != 2 || s.Stopped != "bad-mix" || s.ExitCode != exitCannot {
		t.Fatalf("%v, runs done %d, stopped %q, exit %d", err, s.RunsDone, s.Stopped, s.ExitCode)
	}
}

// A signal to soak alone reaches the current run exactly once; no run
// starts after it, and the soak exits 2.
func TestSoakForwardsASignalOnce(t *testing.T) {
	p, exe := fakeSoak(t, 3, []string{"--sleep 20"}, "kv", false)
	p.duration = time.Hour
	go func() {
		// Once the first run is going.
		for range 100 {
			if _, err := os.Stat(filepath.Join(p.store, "soak", "100")); err == nil {
				time.Sleep(300 * time.Millisecond)
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code, err := p.soak(exe, &stdout, &stderr)
	if err != nil || code != exitUnknown || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d, %v after %s\n%s", code, err, time.Since(start), stderr.String())
	}
	s := readSoakSummary(t, p.store)
	if s.RunsDone != 1 || s.Stopped != "interrupted" || s.ExitCode != exitUnknown || s.Runs[0].Verdict != verdictUnknown {
		t.Fatalf("runs done %d, stopped %q, exit %d: %+v", s.RunsDone, s.Stopped, s.ExitCode, s.Runs)
	}
	b, err := os.ReadFile(filepath.Join(p.store, "soak", "100", "signals"))
	if err != nil || string(b) != "signal\n" {
		t.Fatalf("the run got %q (%v), want one signal", b, err)
	}
}
