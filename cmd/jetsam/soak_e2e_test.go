package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/soak"
)

const (
	// soakValidMix has no faults and no reads but the final ones: valid.
	soakValidMix = "--nemesis none --read-mode none --time-limit 5s"
	// soakFailingMix isolates the stream leader with direct reads on:
	// direct gets from the isolated replica return stale values, NATS's
	// documented behaviour, which jetsam reports as kv-direct stale-read.
	// The partition holds 8s: with 4s, clients sat out most of it in 5s
	// write timeouts and the only stale reads were the occasional
	// fault-free follower lag (1 run in 4 came out valid); with 8s each run
	// had 176 to 378.
	soakFailingMix = "--nemesis partition --partition-shapes leader --nemesis-interval 8s --time-limit 24s --read-mode direct"
)

// TestSoakKeepsFailuresAndPrunesPasses: a real soak of two runs, one valid
// and one that finds stale direct reads. The valid run's folder is pruned,
// the failing one is whole, and the summary and the printed summary name
// the failure and how to replay it.
func TestSoakKeepsFailuresAndPrunesPasses(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	start := time.Now()
	r := runJetsam(t, 3*time.Minute, "soak", "--runs", "2", "--keep-passing", "0", "--seed", "40", "--store", store,
		"--mix", soakValidMix, "--mix", soakFailingMix, "--", "--check-timeout", "60s")
	t.Logf("soak took %s", time.Since(start).Round(100*time.Millisecond))
	if r.code != exitAnomaly {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSoakSummary(t, store)
	if s.RunsDone != 2 || len(s.Runs) != 2 || s.Ended == nil || s.Stopped != "runs" || s.ExitCode != exitAnomaly {
		t.Fatalf("summary: runs done %d, ended %v, stopped %q, exit %d", s.RunsDone, s.Ended, s.Stopped, s.ExitCode)
	}
	if s.Counts[results.VerdictValid] != 1 || s.Counts[results.VerdictInvalid] != 1 {
		t.Fatalf("counts %v", s.Counts)
	}

	// The valid run: pruned.
	pass, fail := s.Runs[0], s.Runs[1]
	if pass.Verdict != results.VerdictValid || pass.Folder != soak.Pruned || pass.Seed != 40 || pass.Mix != soakValidMix || pass.Workload != "kv" {
		t.Fatalf("run 0: %+v", pass)
	}
	folders := regexp.MustCompile(`\[run (\d)\] jetsam: run folder (.*)`).FindAllStringSubmatch(r.stderr, -1)
	if len(folders) != 2 || folders[0][1] != "0" || folders[1][2] != fail.Folder {
		t.Fatalf("run folders in the progress: %q (failing run's: %s)", folders, fail.Folder)
	}
	if _, err := os.Stat(folders[0][2]); !os.IsNotExist(err) {
		t.Fatalf("the valid run's folder %s was not pruned: %v", folders[0][2], err)
	}

	// The failing run: whole, with its replay commands.
	if fail.Verdict != results.VerdictInvalid || fail.ExitCode != exitAnomaly || fail.Seed != 41 || fail.Mix != soakFailingMix || fail.OKPerSecond <= 0 {
		t.Fatalf("run 1: %+v", fail)
	}
	for _, f := range []string{results.HistoryFile, results.ResultsFile, results.ReportFile, results.TestFile, results.NodesDir} {
		if _, err := os.Stat(filepath.Join(fail.Folder, f)); err != nil {
			t.Errorf("failing run folder lacks %s: %v", f, err)
		}
	}
	if nodes, _ := os.ReadDir(filepath.Join(fail.Folder, results.NodesDir)); len(nodes) != 3 {
		t.Errorf("failing run has %d node folders, want 3", len(nodes))
	}
	if latest, err := filepath.EvalSymlinks(filepath.Join(store, results.LatestLink)); err != nil || latest != fail.Folder {
		t.Errorf("latest -> %q (%v), want %s", latest, err, fail.Folder)
	}
	var direct []string
	for kind, runs := range s.FailuresByKind {
		if strings.HasPrefix(kind, "kv-direct ") && len(runs) == 1 && runs[0] == 1 {
			direct = append(direct, kind)
		}
	}
	if len(direct) == 0 {
		t.Fatalf("failures by kind name no kv-direct anomaly of run 1: %v", s.FailuresByKind)
	}
	t.Logf("failures by kind %v; run 1 anomalies %v, %.0f ok/s, %s", s.FailuresByKind, fail.Anomalies, fail.OKPerSecond, fail.Duration)
	if fail.Replay != "jetsam run --replay "+fail.Folder {
		t.Errorf("replay %q", fail.Replay)
	}
	wantCmd := "jetsam run --nemesis partition --partition-shapes leader --nemesis-interval 8s --time-limit 24s --read-mode direct --check-timeout 60s --workload kv --seed 41 --store " + store + " --name soak"
	if fail.Command != wantCmd {
		t.Errorf("command %q, want %q", fail.Command, wantCmd)
	}
	for _, w := range []string{"2 runs", "1 valid, 1 invalid", direct[0] + ": runs 1", fail.Replay, fail.Command, filepath.Join(store, soak.SummaryFile)} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("printed summary does not say %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range []string{`soak: run 0 (1/2) seed 40 mix "` + soakValidMix + `" workload kv: VALID (exit 0)`,
		`soak: run 1 (2/2) seed 41 mix "` + soakFailingMix + `" workload kv: INVALID (exit 1)`, "[run 1] verdict: INVALID"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("progress does not say %q:\n%s", w, r.stderr)
		}
	}
	if left := nodeProcesses(t, store); len(left) > 0 {
		t.Fatalf("node processes left behind: %v", left)
	}
}

// TestSoakBadMixExits3: a mix the run refuses stops the soak at its first
// run, with one sentence; a mix that sets the seed is refused before any
// run.
func TestSoakBadMixExits3(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, time.Minute, "soak", "--runs", "3", "--store", store, "--mix", "--nemesis bogus", "--mix", soakValidMix)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	want := `jetsam: soak stopped: the first run of mix "--nemesis bogus" could not run: --nemesis "bogus" is not a fault package`
	if r.code != exitCannot || !strings.HasPrefix(last, want) || strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("exit %d, last line %q; want exit 3 and %q\nstderr:\n%s", r.code, last, want, r.stderr)
	}
	s := readSoakSummary(t, store)
	if s.RunsDone != 1 || s.Runs[0].Verdict != results.VerdictCannot || s.Stopped != "bad-mix" || s.Ended == nil {
		t.Fatalf("summary: %+v", s)
	}

	r = runJetsam(t, time.Minute, "soak", "--runs", "1", "--store", store, "--mix", "--seed 1")
	if r.code != exitCannot || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
		!strings.Contains(r.stderr, `jetsam: --mix "--seed 1" sets --seed, which soak sets on every run`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSoakHelpDescribesEveryFlag(t *testing.T) {
	r := runJetsam(t, time.Minute, "soak", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, w := range []string{"--runs", "--duration", "--mix", "--workloads", "--seed", "--keep-passing", "--stop-on-failure", "--store", "--name",
		`(default "kv")`, "(default 3)", `(default "store")`, `(default "soak")`, "(default: random)", soak.DefaultMixes[0]} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("soak --help does not say %s", w)
		}
	}
	r = runJetsam(t, time.Minute, "--help")
	if !strings.Contains(r.stdout, "jetsam soak") {
		t.Errorf("jetsam --help does not list soak")
	}
}

func readSoakSummary(t *testing.T, store string) *soak.Summary {
	t.Helper()
	var s soak.Summary
	if err := results.ReadJSON(filepath.Join(store, soak.SummaryFile), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}
