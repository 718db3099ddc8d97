package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/nemesis"
)

// TestRaftIsolationKeepsRoutes: raft isolation of the KV stream's leader
// on a real cluster drops every message of the stream's group to and from
// it, the rest of the cluster elects another leader, and every route stays
// connected throughout: the routes at the start and at the heal are a full
// mesh, and the leader's links carried bytes while its Raft messages were
// dropped. Writes only: valid.
func TestRaftIsolationKeepsRoutes(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, 3*time.Minute, "run", "--store", store, "--nemesis", "raft", "--raft-faults", "isolate", "--targets", "leader",
		"--read-mode", "none", "--time-limit", "30s", "--nemesis-interval", "10s", "--seed", "3")
	dir := runDir(t, store)
	res := loadResults(t, dir)
	validOrStalledReplica(t, r, res)
	// The report says, per link, what the fault dropped.
	if page, err := os.ReadFile(filepath.Join(dir, "report.html")); err != nil || !strings.Contains(string(page), " dropped heartbeat") {
		t.Errorf("the report does not list the dropped heartbeats per link (%v)", err)
	}
	var found bool
	for _, f := range res.Faults {
		if f.F != nemesis.FaultRaft {
			continue
		}
		found = true
		t.Logf("%s: %d ok during, %d after; %v", f.Describe(), f.OKDuring, f.OKAfter, f.Notes)
		if f.Params["routes-at-start"] != "n1:2 n2:2 n3:2" || f.Params["routes-at-heal"] != "n1:2 n2:2 n3:2" {
			t.Errorf("routes at the start %q and at the heal %q, want a full mesh both times", f.Params["routes-at-start"], f.Params["routes-at-heal"])
		}
		if len(f.Notes) == 0 || !strings.Contains(f.Notes[0], "leadership moved from "+f.Nodes[0]) {
			t.Errorf("no note of the leadership moving away from %v: %v", f.Nodes, f.Notes)
		}
		var dropped, bytes int64
		for _, l := range f.Traffic {
			if l.From == f.Nodes[0] || l.To == f.Nodes[0] {
				for k, v := range l.Raft {
					if strings.HasPrefix(k, "dropped ") {
						dropped += v
					}
				}
				bytes += l.BytesForward + l.BytesBackward
			}
		}
		if dropped == 0 || bytes == 0 {
			t.Errorf("the leader's links: %d Raft messages dropped, %d bytes carried; want both", dropped, bytes)
		}
	}
	if !found {
		t.Fatal("no raft fault in the results")
	}
}

// TestRaftFaultsBesidePartitionsAndKills: five nodes for a minute, raft
// faults of every kind overlapping partitions and kills; writes only, so
// valid; and the report shows the raft faults on its timeline.
func TestRaftFaultsBesidePartitionsAndKills(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, 5*time.Minute, "run", "--store", store, "--nodes", "5", "--nemesis", "raft,partition,kill", "--nemesis-overlap",
		"--read-mode", "none", "--time-limit", "60s", "--nemesis-interval", "6s", "--seed", "8", "--rate", "500")
	dir := runDir(t, store)
	res := loadResults(t, dir)
	validOrStalledReplica(t, r, res)
	kinds := map[string]bool{}
	for _, f := range res.Faults {
		if f.F == nemesis.FaultRaft {
			kinds[f.Shape] = true
		}
	}
	if len(kinds) == 0 {
		t.Fatal("no raft fault in the results")
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range kinds {
		if !strings.Contains(string(page), "raft "+k) {
			t.Errorf("the report does not show the raft %s fault", k)
		}
	}
	t.Logf("raft kinds: %v; %d faults in all", kinds, len(res.Faults))
}

// validOrStalledReplica is validOrProven, and also passes the one finding
// raft isolation makes on v2.15.2 in about a third of runs, and network
// faults now and then (see BENCHMARKS.md):
// a stream leader cut off at the Raft level, its routes up, never catches
// up after the heal (it asks for a snapshot, the new leader sends entries,
// "Expected first catchup entry to be a snapshot and peerstate, will
// retry" every 4 s), and jetsam reports no-recovery naming that replica.
// Any other anomaly fails the test.
func validOrStalledReplica(t *testing.T, r result, res *checker.Result) {
	t.Helper()
	rc := res.Checkers[checker.CheckerRecovery]
	if rc == nil || rc.Valid == checker.Valid {
		validOrProven(t, r, res)
		return
	}
	for _, a := range rc.Anomalies {
		if a.Kind != checker.KindNoRecovery || !strings.Contains(a.Explanation, "not current") && !strings.Contains(a.Explanation, "is not healthy") {
			t.Fatalf("recovery: %s: %s", a.Kind, a.Explanation)
		}
		t.Logf("NATS finding, a replica that never caught up: %s", a.Explanation)
	}
	for name, c := range res.Checkers {
		for _, a := range c.Anomalies {
			if name != checker.CheckerRecovery && a.Cause != checker.CauseTwoReplies {
				t.Fatalf("checker %s: anomaly %s: %s", name, a.Kind, a.Explanation)
			}
		}
	}
	if r.code != 1 {
		t.Fatalf("exit %d with a no-recovery anomaly, want 1", r.code)
	}
}
