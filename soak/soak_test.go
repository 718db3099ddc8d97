package soak

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/results"
)

// fakeRun is a stand-in for 'jetsam run': it makes a run folder named by
// the seed under --store/--name, writes a results.json, and exits with the
// code --exit gives (3 for --workload log, to play a run that could not
// run), writing the --outcome file as run does. It names a wrong folder in
// its log, as a check that soak reads the outcome file, not the log. With
// --sleep it waits, counting the signals it gets in DIR/signals, and exits
// 2 once signalled. --crash plays a run that panics before writing its
// outcome; --no-outcome one that exits 0 without writing it.
const fakeRun = `#!/bin/sh
code=0 sleep=0 crash=0 silent=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift;; --store) store=$2; shift;; --name) name=$2; shift;;
    --exit) code=$2; shift;; --sleep) sleep=$2; shift;; --workload) wl=$2; shift;;
    --outcome) out=$2; shift;; --crash) crash=1;; --no-outcome) silent=1;;
  esac
  shift
done
# outcome CODE [ERROR]: the --outcome file, replaced atomically.
outcome() {
  case "$1" in 0) v=valid;; 1) v=invalid;; 2) v=unknown;; *) v=could-not-run;; esac
  printf '{"dir":"%s","exit_code":%s,"verdict":"%s","error":"%s"}\n' "$dir" "$1" "$v" "$2" > "$out.tmp"
  mv "$out.tmp" "$out"
}
dir="$store/$name/$seed"
mkdir -p "$dir"
ln -sfn "$name/$seed" "$store/latest"
echo "jetsam: run folder /nowhere/decoy" >&2
echo "verdict: fake"
if [ $crash = 1 ]; then printf 'panic: boom\n\ngoroutine 1 [running]:\n' >&2; exit 2; fi
if [ $silent = 1 ]; then exit 0; fi
if [ "$wl" = log ]; then outcome 3 "the log workload is broken today"; exit 3; fi
if [ "$sleep" != 0 ]; then
  got=0
  trap 'echo signal >> "$dir/signals"; got=1' INT TERM
  sleep "$sleep" & pid=$!
  wait $pid
  if [ $got = 1 ]; then kill $pid; sleep 1; outcome 2; exit 2; fi
fi
if [ "$code" = 1 ]; then
  echo '{"valid":false,"stats":{"ok_per_second":12.5},"checkers":{"kv-direct":{"valid":false,"anomalies":[{"kind":"stale-read"},{"kind":"stale-read"}]}}}' > "$dir/results.json"
else
  echo '{"valid":true,"stats":{"ok_per_second":12.5},"checkers":{"kv":{"valid":true,"anomalies":[]}}}' > "$dir/results.json"
fi
outcome "$code"
exit "$code"
`

func fakeSoak(t *testing.T, runs int, mixes []string, workloads string, stopOnFail bool) (Plan, string) {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake-jetsam")
	if err := os.WriteFile(exe, []byte(fakeRun), 0o755); err != nil {
		t.Fatal(err)
	}
	ws, err := ParseWorkloads(workloads)
	if err != nil {
		t.Fatal(err)
	}
	p := Plan{Runs: runs, Mixes: mixes, Workloads: ws, KeepPassing: 1, StopOnFailure: stopOnFail, Store: filepath.Join(dir, "store"), Name: "soak", Seed: 100}
	return p, exe
}

func readSoakSummary(t *testing.T, store string) *Summary {
	t.Helper()
	var s Summary
	if err := results.ReadJSON(filepath.Join(store, SummaryFile), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// The soak loop with fake runs: rotation, seeds, a later exit 3 recorded
// and passed over, pruning, failures by kind, the worst exit code.
func TestSoakLoopWithFakeRuns(t *testing.T) {
	p, exe := fakeSoak(t, 6, []string{"--exit 0", "--exit 1"}, "kv,log", false)
	var stdout, stderr bytes.Buffer
	code, err := Run(context.Background(), p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if code != results.ExitAnomaly {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	s := readSoakSummary(t, p.Store)
	if s.RunsDone != 6 || s.Ended == nil || s.Stopped != "runs" {
		t.Fatalf("runs done %d, ended %v, stopped %q", s.RunsDone, s.Ended, s.Stopped)
	}
	// mix 0, mix 1 on kv; both on log (could not run); again on kv.
	want := []struct {
		mix, wl, verdict string
	}{{"--exit 0", "kv", results.VerdictValid}, {"--exit 1", "kv", results.VerdictInvalid}, {"--exit 0", "log", results.VerdictCannot},
		{"--exit 1", "log", results.VerdictCannot}, {"--exit 0", "kv", results.VerdictValid}, {"--exit 1", "kv", results.VerdictInvalid}}
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
	if s.Runs[0].Folder != Pruned || s.Runs[4].Folder == Pruned {
		t.Errorf("pruning: run 0 %q, run 4 %q", s.Runs[0].Folder, s.Runs[4].Folder)
	}
	if _, err := os.Stat(filepath.Join(p.Store, "soak", "100")); !os.IsNotExist(err) {
		t.Errorf("pruned folder still there: %v", err)
	}
	if !reflect.DeepEqual(s.FailuresByKind, map[string][]int{"kv-direct stale-read": {1, 5}}) {
		t.Errorf("failures by kind %v", s.FailuresByKind)
	}
	r := s.Runs[1]
	if r.Anomalies["kv-direct stale-read"] != 2 || r.OKPerSecond != 12.5 || r.ExitCode != 1 {
		t.Errorf("run 1: %+v", r)
	}
	wantCmd := "jetsam run --exit 1 --workload kv --seed 101 --store " + p.Store + " --name soak"
	if r.Replay != "jetsam run --replay "+r.Folder || r.Command != wantCmd {
		t.Errorf("replay %q, command %q; want command %q", r.Replay, r.Command, wantCmd)
	}
	if s.Runs[0].Command != "" || s.Runs[0].Replay != "" {
		t.Errorf("a passing run has replay commands: %+v", s.Runs[0])
	}
	if s.Counts[results.VerdictValid] != 2 || s.Counts[results.VerdictInvalid] != 2 || s.Counts[results.VerdictCannot] != 2 || s.ExitCode != 1 {
		t.Errorf("counts %v exit %d", s.Counts, s.ExitCode)
	}
	for _, w := range []string{"6 runs", "kv-direct stale-read: runs 1, 5", r.Replay, r.Command, "summary: " + filepath.Join(p.Store, SummaryFile)} {
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
	target, err := os.Readlink(filepath.Join(p.Store, results.LatestLink))
	if err != nil || target != "soak/105" {
		t.Errorf("latest -> %q, %v", target, err)
	}
}

func TestSoakStopOnFailure(t *testing.T) {
	p, exe := fakeSoak(t, 5, []string{"--exit 0", "--exit 1"}, "kv", true)
	var stdout, stderr bytes.Buffer
	code, err := Run(context.Background(), p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr})
	s := readSoakSummary(t, p.Store)
	if err != nil || code != results.ExitAnomaly || s.RunsDone != 2 || s.Stopped != "failure" {
		t.Fatalf("exit %d, %v, runs done %d, stopped %q", code, err, s.RunsDone, s.Stopped)
	}
}

// The first run of a mix that cannot run stops the soak with exit 3.
func TestSoakBadMixStops(t *testing.T) {
	p, exe := fakeSoak(t, 5, []string{"--exit 0", "--exit 3"}, "kv", false)
	var stdout, stderr bytes.Buffer
	_, err := Run(context.Background(), p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr})
	s := readSoakSummary(t, p.Store)
	if err == nil || !strings.Contains(err.Error(), `the first run of mix "--exit 3" could not run`) || s.RunsDone != 2 || s.Stopped != "bad-mix" || s.ExitCode != results.ExitCannot {
		t.Fatalf("%v, runs done %d, stopped %q, exit %d", err, s.RunsDone, s.Stopped, s.ExitCode)
	}
}

// A signal to soak alone reaches the current run exactly once; no run
// starts after it, and the soak exits 2.
func TestSoakForwardsASignalOnce(t *testing.T) {
	p, exe := fakeSoak(t, 3, []string{"--sleep 20"}, "kv", false)
	p.Duration = time.Hour
	// As jetsam soak does: the caller owns signal.Notify.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		// Once the first run is going.
		for range 100 {
			if _, err := os.Stat(filepath.Join(p.Store, "soak", "100")); err == nil {
				time.Sleep(300 * time.Millisecond)
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code, err := Run(context.Background(), p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr, Signals: sigs})
	if err != nil || code != results.ExitUnknown || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d, %v after %s\n%s", code, err, time.Since(start), stderr.String())
	}
	s := readSoakSummary(t, p.Store)
	if s.RunsDone != 1 || s.Stopped != "interrupted" || s.ExitCode != results.ExitUnknown || s.Runs[0].Verdict != results.VerdictUnknown {
		t.Fatalf("runs done %d, stopped %q, exit %d: %+v", s.RunsDone, s.Stopped, s.ExitCode, s.Runs)
	}
	b, err := os.ReadFile(filepath.Join(p.Store, "soak", "100", "signals"))
	if err != nil || string(b) != "signal\n" {
		t.Fatalf("the run got %q (%v), want one signal", b, err)
	}
}

// A context that ends stops the soak as a SIGTERM would: the current run
// is told once, and no run starts after it.
func TestSoakStopsWhenTheContextEnds(t *testing.T) {
	p, exe := fakeSoak(t, 3, []string{"--sleep 20"}, "kv", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range 100 {
			if _, err := os.Stat(filepath.Join(p.Store, "soak", "100")); err == nil {
				time.Sleep(300 * time.Millisecond)
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code, err := Run(ctx, p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr})
	s := readSoakSummary(t, p.Store)
	if err != nil || code != results.ExitUnknown || time.Since(start) > 10*time.Second || s.RunsDone != 1 || s.Stopped != "interrupted" {
		t.Fatalf("exit %d, %v after %s; runs done %d, stopped %q\n%s", code, err, time.Since(start), s.RunsDone, s.Stopped, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(p.Store, "soak", "100", "signals")); err != nil || string(b) != "signal\n" {
		t.Fatalf("the run got %q (%v), want one signal", b, err)
	}
}

// A run that ends without writing its outcome could not run: a crash says
// so with its panic line, whatever else its log says; the folder its log
// names is not taken.
func TestSoakRunWithoutOutcome(t *testing.T) {
	for _, tc := range []struct{ mix, want string }{
		{"--crash", "crashed: panic: boom"},
		{"--no-outcome", "exited with code 0 without writing its outcome"},
	} {
		p, exe := fakeSoak(t, 1, []string{tc.mix}, "kv", false)
		var stdout, stderr bytes.Buffer
		_, err := Run(context.Background(), p, Options{Jetsam: exe, Stdout: &stdout, Stderr: &stderr})
		s := readSoakSummary(t, p.Store)
		if err == nil || !strings.Contains(err.Error(), "could not run: "+tc.want) || len(s.Runs) != 1 {
			t.Fatalf("%s: %v, %d runs\n%s", tc.mix, err, len(s.Runs), stderr.String())
		}
		r := s.Runs[0]
		if r.Verdict != results.VerdictCannot || r.Error != tc.want || r.Folder != "" || r.Replay != "" || r.Command == "" {
			t.Errorf("%s: %+v", tc.mix, r)
		}
	}
}
