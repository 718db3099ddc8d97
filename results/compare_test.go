package results

import (
	"strings"
	"testing"
)

func run(side string, seed uint64, valid string, anomalies map[string]int) CompareRun {
	return CompareRun{Side: side, Seed: seed, Valid: valid, Anomalies: anomalies, OKPerSecond: 500 + float64(seed), Recovery: []float64{1.5}}
}

// Each verdict of a comparison, from runs planted to show it.
func TestJudge(t *testing.T) {
	stale := map[string]int{"kv stale-read": 4}
	lost := map[string]int{"log lost": 2}
	cases := []struct {
		name    string
		runs    []CompareRun
		verdict string
		exit    int
		reason  string
	}{
		{"clean on both sides", []CompareRun{
			run(Baseline, 1, "valid", nil), run(Candidate, 1, "valid", nil),
			run(Baseline, 2, "valid", nil), run(Candidate, 2, "valid", nil),
		}, NoWorse, 0, "no anomaly on either side in 4 runs"},
		{"a regression in every candidate seed", []CompareRun{
			run(Baseline, 1, "valid", nil), run(Candidate, 1, "invalid", lost),
			run(Baseline, 2, "valid", nil), run(Candidate, 2, "invalid", lost),
		}, Worse, 1, "log lost in every candidate run (2 of 2, 4 anomalies) and in no baseline run"},
		{"a kind that comes and goes", []CompareRun{
			run(Baseline, 1, "valid", nil), run(Candidate, 1, "invalid", stale),
			run(Baseline, 2, "valid", nil), run(Candidate, 2, "valid", nil),
		}, Inconclusive, 2, "kv stale-read comes and goes: candidate 1 of 2 runs, baseline 0 of 2"},
		{"the same kind on both sides", []CompareRun{
			run(Baseline, 1, "invalid", stale), run(Candidate, 1, "invalid", stale),
			run(Baseline, 2, "valid", nil), run(Candidate, 2, "valid", nil),
		}, NoWorse, 0, "shows on both sides or only on the baseline"},
		{"only the baseline is broken", []CompareRun{
			run(Baseline, 1, "invalid", lost), run(Candidate, 1, "valid", nil),
		}, NoWorse, 0, "log lost shows on both sides or only on the baseline"},
		{"a run that did not finish", []CompareRun{
			run(Baseline, 1, "valid", nil), run(Candidate, 1, "unknown", nil),
		}, Inconclusive, 2, "1 of 2 runs did not reach a verdict"},
		{"a run that could not start", []CompareRun{
			run(Baseline, 1, "valid", nil), run(Candidate, 1, "could not run", nil),
		}, Inconclusive, 2, "did not reach a verdict"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Comparison{Runs: tc.runs, Order: "alternate"}
			c.Judge()
			if c.Verdict != tc.verdict || c.Exit != tc.exit {
				t.Fatalf("verdict %q exit %d, want %q %d; reasons %q", c.Verdict, c.Exit, tc.verdict, tc.exit, c.Reasons)
			}
			if !strings.Contains(strings.Join(c.Reasons, "\n"), tc.reason) {
				t.Fatalf("reasons %q do not say %q", c.Reasons, tc.reason)
			}
			page, err := RenderComparison(c)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(page), `<tr class="run`); n != len(tc.runs) {
				t.Fatalf("page has %d run rows, want %d", n, len(tc.runs))
			}
		})
	}
}

// Performance is described against the baseline's own spread, and a
// difference inside it is called that.
func TestComparisonPerformance(t *testing.T) {
	c := &Comparison{Runs: []CompareRun{
		{Side: Baseline, Valid: "valid", OKPerSecond: 400, P50: 2, P99: 10},
		{Side: Baseline, Valid: "valid", OKPerSecond: 600, P50: 2, P99: 12},
		{Side: Candidate, Valid: "valid", OKPerSecond: 500, P50: 4, P99: 30},
		{Side: Candidate, Valid: "valid", OKPerSecond: 520, P50: 4, P99: 30},
	}}
	c.Judge()
	all := strings.Join(c.Performance, "\n")
	for _, want := range []string{
		"throughput: baseline median 500.0 ok/s (its runs 400.0 to 600.0), candidate median 510.0 ok/s, 1.02x; within the baseline's own spread",
		"latency p99: baseline median 11.0ms (its runs 10.0 to 12.0), candidate median 30.0ms, 2.73x; worse than every baseline run",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("performance lacks %q:\n%s", want, all)
		}
	}
	if c.Verdict != NoWorse {
		t.Errorf("a slower candidate with no anomaly is %q; performance must not decide", c.Verdict)
	}
}

// Differences between the sides of one seed are highlighted, and every
// string from a run is escaped.
func TestComparisonPageHighlightsDifferences(t *testing.T) {
	c := &Comparison{Baseline: Side{Spec: "embedded"}, Candidate: Side{Spec: "bin:/x/<script>"}, Runs: []CompareRun{
		run(Baseline, 1, "valid", nil), run(Candidate, 1, "invalid", map[string]int{"kv stale-read": 1}),
		run(Baseline, 2, "valid", nil), run(Candidate, 2, "valid", nil),
	}}
	c.Judge()
	page, err := RenderComparison(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	if n := strings.Count(s, `<tr class="run differ"`); n != 2 {
		t.Errorf("%d highlighted rows, want the 2 of seed 1", n)
	}
	if strings.Contains(s, "<script>") {
		t.Error("a spec's <script> reached the page unescaped")
	}
	for _, want := range []string{`id="col-baseline"`, `id="col-candidate"`, "kv stale-read ×1"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}
