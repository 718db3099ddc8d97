package results

import (
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/checker"
)

func runWith(valid checker.Validity, kinds map[string]int64) *checker.Result {
	c := &checker.Check{Valid: valid, Counts: map[string]int{}}
	for k, at := range kinds {
		c.Anomalies = append(c.Anomalies, checker.Anomaly{Kind: k, Time: at})
		c.Counts["anomaly-"+k] += 2
	}
	return &checker.Result{Valid: valid, Checkers: map[string]*checker.Check{"log": c}}
}

// A case found on every affected run and never on the fixed side passes;
// a miss on the affected side, or the symptom on the fixed side, fails;
// a run that did not finish leaves the battery unfinished, not passed.
func TestBatteryJudgesBothSides(t *testing.T) {
	kinds := []string{"lost"}
	found := CaseRunOf(1, "a", ExitAnomaly, runWith(checker.Invalid, map[string]int64{"lost": 7.5e9, "stale-read": 1e9}), kinds, 40)
	if !found.Found || found.FirstFinding != 7.5 || found.Anomalies["log lost"] != 2 || found.Anomalies["log stale-read"] != 2 {
		t.Fatalf("found run summarised as %+v", found)
	}
	other := CaseRunOf(1, "b", ExitAnomaly, runWith(checker.Invalid, map[string]int64{"stale-read": 1e9}), kinds, 40)
	quiet := CaseRunOf(1, "c", ExitValid, runWith(checker.Valid, nil), kinds, 40)
	if other.Found || quiet.Found || quiet.FirstFinding != -1 {
		t.Fatalf("runs without the symptom counted as found: %+v %+v", other, quiet)
	}
	cannot := CaseRunOf(2, "", ExitCannot, nil, kinds, 1)

	battery := func(affected, fixed []CaseRun) *Battery {
		b := &Battery{RunsPerSide: len(affected), Cases: []CaseResult{{Name: "c", Kinds: kinds,
			Affected: CaseSide{Spec: "version:v1", Runs: affected}, Fixed: CaseSide{Spec: "version:v2", Runs: fixed}}}}
		b.Judge()
		return b
	}
	for _, tc := range []struct {
		name            string
		affected, fixed []CaseRun
		exit            int
		reason          string
	}{
		{"found and silent", []CaseRun{found, found}, []CaseRun{quiet, other}, 0, ""},
		{"missed once", []CaseRun{found, quiet}, []CaseRun{quiet, quiet}, 1, "missed in 1 of 2"},
		{"fired on the fixed side", []CaseRun{found, found}, []CaseRun{quiet, found}, 1, "fired in 1 of 2"},
		{"a run could not run", []CaseRun{found, cannot}, []CaseRun{quiet, quiet}, 2, "did not finish"},
	} {
		b := battery(tc.affected, tc.fixed)
		if b.Exit != tc.exit || !strings.Contains(strings.Join(b.Reasons, "\n"), tc.reason) {
			t.Errorf("%s: exit %d, reasons %q; want %d and %q", tc.name, b.Exit, b.Reasons, tc.exit, tc.reason)
		}
	}
	b := battery([]CaseRun{found, found}, []CaseRun{quiet, quiet})
	if c := b.Cases[0]; c.Affected.FirstFinding != 7.5 || c.Affected.KindList() != "log lost (2), log stale-read (2)" {
		t.Fatalf("affected side tallied as %+v (%s)", c.Affected, c.Affected.KindList())
	}
	b.Cases[0].Title = `<script>alert(1)</script>`
	page, err := RenderBattery(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "<script>") || !strings.Contains(string(page), "2 / 2") {
		t.Fatalf("page: %s", page)
	}
}
