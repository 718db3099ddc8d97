package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/results"
)

// readTest loads a run folder's test.json.
func readTest(t *testing.T, dir string) *results.TestInfo {
	t.Helper()
	var ti results.TestInfo
	if err := results.ReadJSON(filepath.Join(dir, results.TestFile), &ti); err != nil {
		t.Fatal(err)
	}
	if ti.Server == nil {
		t.Fatalf("test.json of %s has no server", dir)
	}
	return &ti
}

// checkReported asserts that every node reported running version, and
// that the report names it.
func checkReported(t *testing.T, dir string, ti *results.TestInfo, version string) {
	t.Helper()
	if len(ti.Server.Reported) != 3 {
		t.Fatalf("%d nodes reported their server, want 3: %+v", len(ti.Server.Reported), ti.Server)
	}
	for _, r := range ti.Server.Reported {
		if r.Version != version {
			t.Errorf("node %s reported nats-server %s, want %s", r.Node, r.Version, version)
		}
	}
	if ti.Versions.NatsServer != version {
		t.Errorf("test.json versions.nats_server %q, want %q", ti.Versions.NatsServer, version)
	}
	page, err := os.ReadFile(filepath.Join(dir, results.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "reported by n1, n2, n3: v" + version; !strings.Contains(string(page), want) {
		t.Errorf("report does not say %q", want)
	}
}

// TestOlderServerVersion runs a cluster of an older release, built from
// the Go module proxy, with every route mutual TLS through the proxies,
// under kills; and the embedded version beside it. Each report names the
// version the nodes really ran.
func TestOlderServerVersion(t *testing.T) {
	testlock.Cluster(t)
	store := t.TempDir()
	args := []string{"run", "--store", store, "--time-limit", "8s", "--nemesis", "kill", "--nemesis-interval", "2s",
		"--read-mode", "none", "--rate", "300", "--seed", "11", "--route-tls"}
	r := runJetsam(t, 5*time.Minute, append(args, "--name", "old", "--server-version", "v2.12.8")...)
	dir := runDir(t, store)
	validOrProven(t, r, loadResults(t, dir))
	ti := readTest(t, dir)
	checkReported(t, dir, ti, "2.12.8")
	if ti.Server.Spec != "version:v2.12.8" || ti.Server.Identity != "v2.12.8" || !ti.Server.RouteTLS {
		t.Errorf("test.json server %+v", ti.Server)
	}
	t.Logf("v2.12.8: built in %.1fs (cached %v)", ti.Server.BuildSeconds, ti.Server.Cached)
	conf, _ := os.ReadFile(filepath.Join(dir, "nodes", "n1", "nats.conf"))
	if !strings.Contains(string(conf), "verify: true") {
		t.Errorf("n1's config has no route TLS:\n%s", conf)
	}

	r = runJetsam(t, 3*time.Minute, append(args, "--name", "embedded")...)
	dir = runDir(t, store)
	validOrProven(t, r, loadResults(t, dir))
	ti = readTest(t, dir)
	checkReported(t, dir, ti, node.ServerVersion)
	if ti.Server.Spec != "embedded" {
		t.Errorf("test.json server spec %q, want embedded", ti.Server.Spec)
	}
	if left := nodeProcesses(t, store); len(left) > 0 {
		t.Fatalf("node processes left behind: %v", left)
	}
}

// TestServerFromSourceTree builds nodes from a copy of nats-server's
// source with a deliberate change (its start-up banner), runs them, and
// finds the build's identity in test.json, in what the servers report and
// in the report, and the change in the nodes' logs.
func TestServerFromSourceTree(t *testing.T) {
	src := copyServerSource(t)
	testlock.Cluster(t)
	store := t.TempDir()
	r := runJetsam(t, 5*time.Minute, "run", "--store", store, "--time-limit", "4s", "--nemesis", "none",
		"--read-mode", "none", "--rate", "200", "--server-src", src)
	dir := runDir(t, store)
	validOrProven(t, r, loadResults(t, dir))
	ti := readTest(t, dir)
	id := ti.Server.Identity
	if !strings.HasPrefix(id, "tree-") {
		t.Fatalf("identity %q of a tree outside git, want tree-<hash>", id)
	}
	checkReported(t, dir, ti, node.ServerVersion)
	for _, rep := range ti.Server.Reported {
		if rep.GitCommit != id {
			t.Errorf("node %s reported commit %q, want the build's identity %q", rep.Node, rep.GitCommit, id)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, results.ReportFile))
	if !strings.Contains(string(page), id) {
		t.Errorf("report does not name the build %s", id)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "nodes", "n1", "nats.log"))
	if !strings.Contains(string(log), sourceMark) {
		t.Errorf("n1's log lacks the changed banner %q", sourceMark)
	}
	t.Logf("built %s in %.1fs (cached %v)", id, ti.Server.BuildSeconds, ti.Server.Cached)
}

// sourceMark is the deliberate change made to the copied source.
const sourceMark = "Starting nats-server (jetsam source build)"

// copyServerSource copies the embedded nats-server's source from the
// module cache into a writable folder and changes its start-up banner.
func copyServerSource(t *testing.T) string {
	t.Helper()
	dst := testenv.ServerSource(t)
	f := filepath.Join(dst, "server", "server.go")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `"Starting nats-server"`, `"`+sourceMark+`"`, 1)
	if changed == string(b) {
		t.Fatal(`server/server.go has no "Starting nats-server" banner to change`)
	}
	if err := os.WriteFile(f, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestCompareEmbeddedWithItself compares the embedded server with itself
// on 3 seeds, writes only: no worse, exit 0, and the page in Chromium shows
// both columns and every run.
func TestCompareEmbeddedWithItself(t *testing.T) {
	chromium, err := findChromium()
	testenv.Require(t, err)
	testlock.Cluster(t)
	store := t.TempDir()
	// Kills, not partitions: a partition can leave a deposed leader that
	// refuses a write its successor stores (a real anomaly jetsam reports)
	// in one seed and not the next, which the comparison rightly calls
	// inconclusive.
	r := runJetsam(t, 6*time.Minute, "compare", "--baseline", "embedded", "--candidate", "embedded", "--seeds", "3",
		"--read-mode", "none", "--store", store, "--time-limit", "6s", "--nemesis", "kill", "--nemesis-interval", "2s",
		"--rate", "300", "--seed", "21")
	if r.code != 0 || !strings.Contains(r.stdout, "CANDIDATE NO WORSE") {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(store, "compare", "*", results.CompareJSON))
	if len(dirs) != 1 {
		t.Fatalf("found %v, want one compare.json", dirs)
	}
	var c results.Comparison
	if err := results.ReadJSON(dirs[0], &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Runs) != 6 || c.Verdict != results.NoWorse || c.Exit != 0 {
		t.Fatalf("%d runs, verdict %q exit %d; want 6, no worse, 0", len(c.Runs), c.Verdict, c.Exit)
	}
	order := ""
	for _, run := range c.Runs {
		order += run.Side[:1]
		if _, err := os.Stat(filepath.Join(filepath.Dir(dirs[0]), run.Dir, results.ReportFile)); err != nil {
			t.Errorf("run %s seed %d: no report at %s", run.Side, run.Seed, run.Dir)
		}
	}
	if order != "bccbbc" {
		t.Errorf("runs in the order %s, want alternating bccbbc", order)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := startBrowser(t, ctx, chromium)
	p := openPage(t, browser, "file://"+filepath.Join(filepath.Dir(dirs[0]), results.CompareHTML), filepath.Join(artifactDir(t), "compare.png"))
	if p.Runs != 6 || len(p.ConsoleErr) > 0 {
		t.Errorf("compare page: %d run rows, want 6; console errors %v", p.Runs, p.ConsoleErr)
	}
	for _, want := range []string{"Candidate no worse", "baseline", "candidate", "embedded", "Performance", "ok/s"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("compare page lacks %q:\n%s", want, p.Text)
		}
	}
	if left := nodeProcesses(t, store); len(left) > 0 {
		t.Fatalf("node processes left behind: %v", left)
	}
}
