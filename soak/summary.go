package soak

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/results"
)

// SummaryFile is written at the top of the store after every run of a
// soak. Its fields and their meaning are a contract: nightly jobs read it.
const SummaryFile = "soak-summary.json"

// Pruned is a run's folder once a passing run's folder is deleted.
const Pruned = "pruned"

// Summary is soak-summary.json.
type Summary struct {
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
	Runs           []*Record        `json:"runs"`
}

// Record is one run of a soak.
type Record struct {
	Index    int       `json:"index"`
	Seed     uint64    `json:"seed"`
	Mix      string    `json:"mix"`
	Workload string    `json:"workload"`
	Started  time.Time `json:"started"`
	ExitCode int       `json:"exit_code"`
	// Verdict is valid, invalid, unknown or could-not-run.
	Verdict string `json:"verdict"`
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

// exitRank orders exit codes from best to worst: 0, 2, 3, 1.
func exitRank(code int) int {
	switch code {
	case results.ExitValid:
		return 0
	case results.ExitUnknown:
		return 1
	case results.ExitAnomaly:
		return 3
	}
	return 2 // ExitCannot, and anything a crashed run returns
}

// worseExit is the worse of two exit codes: 1 > 3 > 2 > 0.
func worseExit(a, b int) int {
	if exitRank(b) > exitRank(a) {
		return b
	}
	return a
}

// tally recomputes the counts, the worst exit code and the failures by
// kind from the runs.
func (s *Summary) tally() {
	s.RunsDone = len(s.Runs)
	s.Counts = map[string]int{results.VerdictValid: 0, results.VerdictInvalid: 0, results.VerdictUnknown: 0, results.VerdictCannot: 0}
	s.FailuresByKind = map[string][]int{}
	s.ExitCode = results.ExitValid
	for _, r := range s.Runs {
		s.Counts[r.Verdict]++
		code := r.ExitCode
		if r.Verdict == results.VerdictCannot {
			code = results.ExitCannot
		}
		s.ExitCode = worseExit(s.ExitCode, code)
		for kind := range r.Anomalies {
			s.FailuresByKind[kind] = append(s.FailuresByKind[kind], r.Index)
		}
	}
	if s.Stopped == "interrupted" {
		s.ExitCode = worseExit(s.ExitCode, results.ExitUnknown)
	}
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

// Print tells a person what the soak found: the counts, the failures by
// kind, and each failing run with the commands that repeat it.
func Print(w io.Writer, s *Summary, path string, took time.Duration) {
	fmt.Fprintf(w, "soak: %d runs in %s: %d valid, %d invalid, %d unknown, %d could not run", s.RunsDone, fmtDuration(took),
		s.Counts[results.VerdictValid], s.Counts[results.VerdictInvalid], s.Counts[results.VerdictUnknown], s.Counts[results.VerdictCannot])
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
		if r.Verdict == results.VerdictValid {
			continue
		}
		if !failing {
			fmt.Fprintln(w, "failing runs, kept whole:")
			failing = true
		}
		printFailure(w, r)
	}
	fmt.Fprintf(w, "summary: %s\n", path)
}

func printFailure(w io.Writer, r *Record) {
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
