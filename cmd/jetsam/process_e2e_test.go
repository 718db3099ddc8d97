package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/nemesis"
)

// TestKillAndPause: kills (restarted at the heal) and pauses (resumed),
// aimed at the stream leader and at random nodes, on a real cluster. The
// results name the nodes hit, the cluster serves after every heal, the
// killed nodes really ran again, and nothing is left stopped or running
// after the run.
func TestKillAndPause(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, 4*time.Minute, "run", "--store", store, "--workload", "kv,log", "--time-limit", "40s",
		"--nemesis", "kill,pause", "--targets", "leader,one,minority", "--nemesis-interval", "5s",
		"--read-mode", "none", "--sync-interval", "always", "--seed", "2")
	dir := runDir(t, store)
	res := loadResults(t, dir)
	validOrProven(t, r, res)
	seen := map[string]int{}
	killed := map[string]bool{}
	for _, f := range res.Faults {
		if f.F != nemesis.FaultKill && f.F != nemesis.FaultPause {
			continue
		}
		seen[f.F]++
		t.Logf("%s: %d ok during, %d ok after", f.Describe(), f.OKDuring, f.OKAfter)
		if len(f.Nodes) == 0 || !slices.Contains([]string{"leader", "one", "minority"}, f.Shape) {
			t.Errorf("fault %s does not name its target and nodes", f.Describe())
		}
		if f.End == nil || f.OKAfter == 0 {
			t.Errorf("fault %s: healed %v, %d ok ops after; want healed and serving", f.Describe(), f.End != nil, f.OKAfter)
		}
		if f.F == nemesis.FaultKill {
			for _, n := range f.Nodes {
				killed[n] = true
			}
		}
	}
	if seen[nemesis.FaultKill] == 0 || seen[nemesis.FaultPause] == 0 {
		t.Fatalf("faults %v in 40s at a 5s interval; want kills and pauses", seen)
	}
	// A killed node started again: its log shows a second server start.
	for n := range killed {
		b, err := os.ReadFile(filepath.Join(dir, "nodes", n, "nats.log"))
		if err != nil {
			t.Fatal(err)
		}
		if starts := strings.Count(string(b), "Starting nats-server"); starts < 2 {
			t.Errorf("node %s was killed but its log shows %d server starts", n, starts)
		}
	}
	if left := nodeProcesses(t, store); len(left) > 0 {
		t.Fatalf("node processes left behind: %v", left)
	}
}
