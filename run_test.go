package jetsam

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/results"
)

// jetsamBin runs the nodes of this package's tests.
var jetsamBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetsam-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jetsamBin = filepath.Join(dir, "jetsam")
	if out, err := exec.Command("go", "build", "-o", jetsamBin, "./cmd/jetsam").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build jetsam: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// recoveryRun runs a short fault-free KV run whose cluster is handled by
// breakIt after the last heal.
func recoveryRun(t *testing.T, name string, breakIt func(t *testing.T, c *node.Cluster)) *Outcome {
	t.Helper()
	cfg := Defaults()
	cfg.Name, cfg.Store, cfg.Seed = name, t.TempDir(), 7
	cfg.Nemesis = []string{"none"}
	cfg.TimeLimit, cfg.RecoverTimeout = Duration(6*time.Second), Duration(12*time.Second)
	cfg.Rate = 300
	cfg.NodeCommand = []string{jetsamBin, "node"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := Run(ctx, cfg, RunOptions{beforeRecover: func(c *node.Cluster) { breakIt(t, c) }})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// The folder checked again says the same.
	again, err := results.Check(ctx, out.Dir, checker.Options{Timeout: time.Minute})
	if err != nil || again.Valid != out.Result.Valid {
		t.Fatalf("%s: check of the folder: %v, %v; the run said %s", name, err, again, out.Result.Valid)
	}
	return out
}

// killAll kills every node, applies change to each node's folder, and
// starts them all again.
func killAll(t *testing.T, c *node.Cluster, change func(n *node.Node)) {
	for _, n := range c.Nodes() {
		if err := n.Kill(); err != nil {
			t.Errorf("kill %s: %v", n.Name(), err)
		}
	}
	for _, n := range c.Nodes() {
		change(n)
		if err := n.Start(); err != nil {
			t.Errorf("start %s: %v", n.Name(), err)
		}
	}
}

// TestRecoveryVerdict: after the last heal, a cluster whose nodes were all
// killed and restarted on their data recovers, and the run is valid; one
// whose nodes all lost their data comes back without the stream, and the
// run is invalid: the stream is lost with every acknowledged write, and the
// cluster did not recover, named by stream, node and time; one whose node
// cannot start again did not recover, and the anomaly says why.
func TestRecoveryVerdict(t *testing.T) {
	testlock.Cluster(t)
	out := recoveryRun(t, "restarted", func(t *testing.T, c *node.Cluster) {
		killAll(t, c, func(*node.Node) {})
	})
	rc := out.Result.Checkers[checker.CheckerRecovery]
	if out.Result.Valid != checker.Valid || rc == nil || rc.Valid != checker.Valid || rc.Counts["recovered"] != 1 {
		t.Fatalf("restarted cluster: verdict %s, recovery %+v; want valid and recovered", out.Result.Valid, rc)
	}
	t.Logf("restarted: %v", rc.Notes)

	out = recoveryRun(t, "wiped", func(t *testing.T, c *node.Cluster) {
		killAll(t, c, func(n *node.Node) { _ = os.RemoveAll(n.Spec.DataDir()) })
	})
	rc = out.Result.Checkers[checker.CheckerRecovery]
	if out.Result.Valid != checker.Invalid || out.ExitCode() != 1 || rc == nil || rc.Valid != checker.Invalid {
		t.Fatalf("wiped cluster: verdict %s, recovery %+v; want invalid", out.Result.Valid, rc)
	}
	kinds := map[string]checker.Anomaly{}
	for _, a := range rc.Anomalies {
		kinds[a.Kind] = a
		t.Logf("%s: %s", a.Kind, a.Explanation)
	}
	lost, noRec := kinds[checker.KindStreamLost], kinds[checker.KindNoRecovery]
	if lost.Key != "KV_"+Bucket || noRec.Key != "KV_"+Bucket || len(lost.Ops) < 2 {
		t.Fatalf("wiped cluster: anomalies %+v; want stream-lost and no-recovery of KV_%s, with the acknowledged writes", rc.Anomalies, Bucket)
	}
	for _, want := range []string{"exists on no node", "n1 does not have it", "n3 does not have it", "can no longer be read", "since "} {
		if !strings.Contains(noRec.Explanation, want) {
			t.Errorf("no-recovery explanation lacks %q: %s", want, noRec.Explanation)
		}
	}
	if kv := out.Result.Checkers[checker.WorkloadKV]; kv == nil || slices.ContainsFunc(kv.Notes, func(n string) bool { return strings.Contains(n, "before its final phase") }) {
		t.Errorf("the KV check says the run ended before its final phase, which it did not: %+v", kv)
	}

	out = recoveryRun(t, "dead-node", func(t *testing.T, c *node.Cluster) {
		n := c.Node("n3")
		if err := n.Kill(); err != nil {
			t.Error(err)
		}
		// A config the server refuses: it exits as it starts.
		_ = os.WriteFile(n.Spec.ConfigPath(), []byte("this is { not a config\n"), 0o644)
		_ = n.Start()
	})
	rc = out.Result.Checkers[checker.CheckerRecovery]
	if out.Result.Valid != checker.Invalid || rc == nil || len(rc.Anomalies) == 0 {
		t.Fatalf("dead node: verdict %s, recovery %+v; want invalid", out.Result.Valid, rc)
	}
	if a := rc.Anomalies[0]; a.Kind != checker.KindNoRecovery || !strings.Contains(a.Explanation, "n3 is not running") || !strings.Contains(a.Explanation, "n3 not running: ") {
		t.Fatalf("dead node: %s: %s; want no-recovery naming n3 and why it exited", a.Kind, a.Explanation)
	}
	t.Logf("dead node: %s", rc.Anomalies[0].Explanation)
}
