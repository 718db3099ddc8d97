package soak

import (
	"reflect"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/results"
)

func TestWorseExit(t *testing.T) {
	// 1 > 3 > 2 > 0
	order := []int{results.ExitValid, results.ExitUnknown, results.ExitCannot, results.ExitAnomaly}
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
	s := &Summary{Runs: []*Record{
		{Verdict: results.VerdictValid, ExitCode: 0}, {Verdict: results.VerdictUnknown, ExitCode: 2},
		{Verdict: results.VerdictCannot, ExitCode: -1}, // killed by a signal: could not run
	}}
	s.tally()
	if s.ExitCode != results.ExitCannot {
		t.Errorf("exit %d, want 3", s.ExitCode)
	}
	if want := map[string]int{"valid": 1, "invalid": 0, "unknown": 1, "could-not-run": 1}; !reflect.DeepEqual(s.Counts, want) {
		t.Errorf("counts %v, want %v", s.Counts, want)
	}
	s = &Summary{Stopped: "interrupted", Runs: []*Record{{Verdict: results.VerdictValid}}}
	s.tally()
	if s.ExitCode != results.ExitUnknown {
		t.Errorf("interrupted soak of valid runs: exit %d, want 2", s.ExitCode)
	}
	s.Runs = append(s.Runs, &Record{Index: 1, Verdict: results.VerdictInvalid, ExitCode: 1,
		Anomalies: map[string]int{"kv-direct stale-read": 4, "kv lost-write": 1}})
	s.Runs = append(s.Runs, &Record{Index: 2, Verdict: results.VerdictInvalid, ExitCode: 1, Anomalies: map[string]int{"kv-direct stale-read": 1}})
	s.tally()
	if s.ExitCode != results.ExitAnomaly {
		t.Errorf("exit %d, want 1", s.ExitCode)
	}
	if want := map[string][]int{"kv-direct stale-read": {1, 2}, "kv lost-write": {1}}; !reflect.DeepEqual(s.FailuresByKind, want) {
		t.Errorf("failures by kind %v, want %v", s.FailuresByKind, want)
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
