package soak

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jetsam-dev/jetsam/results"
)

func TestPanicLine(t *testing.T) {
	var c panicLine
	for _, l := range []string{"jetsam: run folder /tmp/x", "something else", "jetsam: cluster ready"} {
		c.line(l)
	}
	if c.first != "" {
		t.Fatalf("%+v", c)
	}
	c.line("panic: runtime error: index out of range")
	c.line("panic: again")
	if c.first != "panic: runtime error: index out of range" {
		t.Fatalf("%+v", c)
	}
}

// The outcome file decides: its folder, exit code and sentence; a valid
// run without a folder, a file that contradicts itself, or none at all,
// could not run.
func TestJudgeReadsTheOutcome(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct {
		out                  *results.Outcome
		verdict, folder, err string
	}{
		{&results.Outcome{Dir: "/s/soak/1", ExitCode: 1, Verdict: "invalid"}, results.VerdictInvalid, "/s/soak/1", ""},
		{&results.Outcome{ExitCode: 3, Verdict: "could-not-run", Error: `--nemesis "bogus" is not a fault package`}, results.VerdictCannot, "", `--nemesis "bogus" is not a fault package`},
		{&results.Outcome{Dir: "/s/soak/2", ExitCode: 3, Verdict: "could-not-run"}, results.VerdictCannot, "/s/soak/2", "the run gave no reason"},
		{&results.Outcome{ExitCode: 0, Verdict: "valid"}, results.VerdictCannot, "", "the run named no run folder"},
		{&results.Outcome{Dir: "/s/soak/3", ExitCode: 0, Verdict: "invalid"}, results.VerdictCannot, "/s/soak/3", `its outcome file is not one jetsam run writes (exit 0, verdict "invalid")`},
		{nil, results.VerdictCannot, "", "exited with code 3 without writing its outcome"},
	} {
		path := filepath.Join(dir, "outcome.json")
		_ = os.Remove(path)
		if tc.out != nil {
			if err := results.WriteJSON(path, tc.out); err != nil {
				t.Fatal(err)
			}
		}
		r := Record{ExitCode: 3} // as the process exited
		r.judgeOutcome(path, "", "")
		if r.Verdict != tc.verdict || r.Folder != tc.folder || r.Error != tc.err {
			t.Errorf("case %d: verdict %q folder %q error %q; want %q %q %q", i, r.Verdict, r.Folder, r.Error, tc.verdict, tc.folder, tc.err)
		}
	}
}
