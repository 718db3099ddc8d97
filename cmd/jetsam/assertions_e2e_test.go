package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/testenv"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/results"
)

// plantedMessage is the assertion planted in the copied source: it fails on
// every stream a node creates while JETSAM_PLANT=1 is in its environment.
const plantedMessage = "jetsam planted assertion"

// plantAssertion copies the embedded nats-server's source and plants an
// always assertion at the start of every stream's creation, with the SDK
// import nats-server's stream.go already has.
func plantAssertion(t *testing.T) string {
	t.Helper()
	dst := testenv.ServerSource(t)
	f := filepath.Join(dst, "server", "stream.go")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, need := range []string{"\t\"github.com/antithesishq/antithesis-sdk-go/assert\"\n", "\t\"os\"\n"} {
		if !strings.Contains(src, need) {
			t.Fatalf("server/stream.go no longer imports %s", strings.TrimSpace(need))
		}
	}
	fn := "func (a *Account) addStreamWithAssignmentAndMode("
	i := strings.Index(src, fn)
	if i < 0 {
		t.Fatalf("server/stream.go has no %s", fn)
	}
	i += strings.Index(src[i:], "{\n") + 2
	plant := "\tassert.Always(os.Getenv(\"JETSAM_PLANT\") != \"1\", \"" + plantedMessage + "\", map[string]any{\"n\": 1})\n"
	if err := os.WriteFile(f, []byte(src[:i]+plant+src[i:]), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestServerAssertions builds nodes with nats-server's assertions compiled
// in, from a tree with one planted: the nodes fail it while JETSAM_PLANT=1
// is in their environment (they inherit jetsam's), and the run is invalid
// with an assertion anomaly naming it, in `jetsam check` too; without it
// the same build passes it and the run is valid.
func TestServerAssertions(t *testing.T) {
	src := plantAssertion(t)
	testlock.Cluster(t)
	store := t.TempDir()
	args := []string{"run", "--store", store, "--time-limit", "5s", "--nemesis", "none",
		"--read-mode", "none", "--rate", "200", "--server-src", src, "--server-assertions"}

	t.Setenv("JETSAM_PLANT", "1")
	began := time.Now()
	r := runJetsam(t, 8*time.Minute, append(args, "--name", "planted")...)
	dir := runDir(t, store)
	res := loadResults(t, dir)
	ti := readTest(t, dir)
	t.Logf("planted: exit %d in %s (build %.1fs, cached %v)", r.code, time.Since(began).Round(time.Second), ti.Server.BuildSeconds, ti.Server.Cached)
	if r.code != 1 || res.Valid != checker.Invalid {
		t.Fatalf("planted run: exit %d, verdict %s; want 1, invalid\n%s", r.code, res.Valid, r.stderr)
	}
	c := res.Checkers[checker.CheckerAssertions]
	if c == nil || c.Valid != checker.Invalid || len(c.Anomalies) == 0 {
		t.Fatalf("planted run: assertions checker %+v, want invalid with anomalies", c)
	}
	for _, a := range c.Anomalies {
		if a.Kind != checker.KindAssertion || a.Node == "" || !strings.Contains(a.Explanation, plantedMessage) || !strings.Contains(a.Explanation, "stream.go") {
			t.Errorf("anomaly %+v, want an assertion on a node naming %q at stream.go", a, plantedMessage)
		}
	}
	var cfg struct {
		ServerAssertions bool `json:"server_assertions"`
	}
	if err := json.Unmarshal(ti.Config, &cfg); err != nil || !cfg.ServerAssertions || !strings.HasSuffix(ti.Server.Identity, "+assertions") {
		t.Errorf("test.json config %s (%v), identity %q: want server_assertions and a +assertions build", ti.Config, err, ti.Server.Identity)
	}
	t.Logf("planted: %s", c.Anomalies[0].Explanation)
	page, _ := os.ReadFile(filepath.Join(dir, results.ReportFile))
	if !strings.Contains(string(page), plantedMessage) {
		t.Errorf("report.html does not show the failed assertion")
	}

	t.Setenv("JETSAM_PLANT", "")
	r = runJetsam(t, 5*time.Minute, append(args, "--name", "clean")...)
	dir = runDir(t, store)
	res = loadResults(t, dir)
	validOrProven(t, r, res)
	c = res.Checkers[checker.CheckerAssertions]
	if c == nil || c.Valid != checker.Valid || c.Counts["passed"] == 0 || c.Counts["files"] != 3 {
		t.Fatalf("clean run: assertions checker %+v, want valid, 3 files, the planted assertion passed", c)
	}
	if b, err := os.ReadFile(filepath.Join(dir, results.NodesDir, "n1", results.AssertionsFile)); err == nil && len(b) < 8<<10 {
		t.Logf("clean run, n1's %s:\n%s", results.AssertionsFile, b)
	}
	if ti := readTest(t, dir); !ti.Server.Cached {
		t.Errorf("the second run built the server again: %+v", ti.Server)
	}
	if left := nodeProcesses(t, store); len(left) > 0 {
		t.Fatalf("node processes left behind: %v", left)
	}
}
