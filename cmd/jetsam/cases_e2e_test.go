package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/cases"
	"github.com/jetsam-dev/jetsam/internal/testenv"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/node/disk"
	"github.com/jetsam-dev/jetsam/results"
)

// Every case's schedule, on each side, is a run configuration that
// passes validation: a typo in the battery fails here, not an hour into
// a night's run.
func TestEveryCaseIsAValidRun(t *testing.T) {
	for _, c := range cases.All() {
		for side, s := range map[string]cases.Side{"affected": c.Affected, "fixed": c.Fixed} {
			cfg := jetsam.Defaults()
			if err := overlayArgs(&cfg, c.Name, append(append([]string{}, c.Flags...), s.Flags...), "seed", "store", "name"); err != nil {
				t.Errorf("%s %s: %v", c.Name, side, err)
				continue
			}
			cfg.Normalize()
			if err := cfg.Validate(); err != nil {
				t.Errorf("%s %s: %v", c.Name, side, err)
			}
		}
		if len(c.Kinds) == 0 || c.Title == "" || c.Reference == "" || c.Demonstrates == "" {
			t.Errorf("%s: every case names its symptom, title, reference and what it demonstrates", c.Name)
		}
	}
}

// The fastest case, both sides, on real nodes: a coordinated power
// failure loses acknowledged appends with the default sync interval
// (found), and none with fsync on every write (silent).
func TestPowerLossCaseOnBothSides(t *testing.T) {
	testenv.Require(t, disk.Check())
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, 8*time.Minute, "cases", "run", "power-loss-default-sync", "--runs", "1", "--seed", "3", "--store", store)
	if r.code != exitValid {
		t.Fatalf("exit %d, want 0 (found on the affected side, silent on the fixed one)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, tail(r.stderr, 40))
	}
	var b results.Battery
	dirs, _ := filepath.Glob(filepath.Join(store, cases.BatteryName, "*", results.CasesJSON))
	if len(dirs) != 1 {
		t.Fatalf("want one cases.json, found %v", dirs)
	}
	if err := results.ReadJSON(dirs[0], &b); err != nil {
		t.Fatal(err)
	}
	c := b.Cases[0]
	if c.Affected.Found != 1 || c.Affected.Finished != 1 || c.Fixed.Found != 0 || c.Fixed.Finished != 1 {
		t.Fatalf("affected found %d of %d finished, fixed found %d of %d; want 1 of 1 and 0 of 1", c.Affected.Found, c.Affected.Finished, c.Fixed.Found, c.Fixed.Finished)
	}
	if c.Affected.FirstFinding <= 0 || !strings.Contains(r.stdout, "power-loss-default-sync") {
		t.Fatalf("first finding %.1f s; stdout:\n%s", c.Affected.FirstFinding, r.stdout)
	}
	for _, side := range []results.CaseSide{c.Affected, c.Fixed} {
		res := loadResults(t, filepath.Join(filepath.Dir(dirs[0]), side.Runs[0].Dir))
		if res == nil {
			t.Fatalf("run folder %s has no results", side.Runs[0].Dir)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
