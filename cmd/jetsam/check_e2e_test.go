package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/results"
)

// runFolder makes a run folder from a real valid history (every workload,
// leader reads, a partition) and a node log that ends with log.
func runFolder(t *testing.T, log string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "checker", "testdata", "all-workloads.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, results.HistoryFile), h, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := "[1] 2026/12/03 09:00:00.000000 [INF] Starting nats-server\n" + log
	if err := os.WriteFile(filepath.Join(dir, "nodes", "n1", "nats.log"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckDirJudgesLikeTheRun: `jetsam check DIR` runs every checker a
// run does, the node-log checker included, so a fatal line in a node's
// log makes the folder invalid (exit 1) while the bare history is valid;
// --write keeps every checker; and a folder it cannot judge as the run did
// is one sentence, exit 3, with results.json untouched.
func TestCheckDirJudgesLikeTheRun(t *testing.T) {
	clean := runFolder(t, "")
	if r := runJetsam(t, time.Minute, "check", clean); r.code != 0 {
		t.Fatalf("clean folder: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := runFolder(t, "[1] 2026/12/03 09:00:01.000000 [FTL] JetStream could not start\n")
	r := runJetsam(t, time.Minute, "check", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "checker logs: invalid") {
		t.Fatalf("folder with a fatal log line: exit %d, want 1 from the logs checker\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runJetsam(t, time.Minute, "check", filepath.Join(dir, results.HistoryFile)); r.code != 0 {
		t.Fatalf("the bare history file: exit %d, want 0 (no node logs)\n%s", r.code, r.stdout)
	}
	if r := runJetsam(t, time.Minute, "check", "--write", dir); r.code != 1 {
		t.Fatalf("check --write: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var res checker.Result
	if err := results.ReadJSON(filepath.Join(dir, results.ResultsFile), &res); err != nil || res.Checkers[checker.CheckerLogs] == nil || res.Valid != checker.Invalid {
		t.Fatalf("results.json after --write: %v, checkers %v, valid %s; want the logs checker and invalid", err, res.Checkers, res.Valid)
	}

	refused := func(name, want string, change func()) {
		t.Run(name, func(t *testing.T) {
			change()
			before, _ := os.ReadFile(filepath.Join(dir, results.ResultsFile))
			r := runJetsam(t, time.Minute, "check", "--write", dir)
			after, _ := os.ReadFile(filepath.Join(dir, results.ResultsFile))
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != exitCannot || !strings.Contains(lines[len(lines)-1], want) || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("exit %d, stderr %q; want 3 saying %q", r.code, r.stderr, want)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("results.json changed")
			}
		})
	}
	hp := filepath.Join(dir, results.HistoryFile)
	h, _ := os.ReadFile(hp)
	refused("node logs gone", "logs checker, which cannot run again", func() {
		_ = os.Rename(filepath.Join(dir, "nodes"), filepath.Join(dir, "nodes-gone"))
	})
	_ = os.Rename(filepath.Join(dir, "nodes-gone"), filepath.Join(dir, "nodes"))
	refused("torn line in the middle", "is not a readable jetsam history", func() {
		_ = os.WriteFile(hp, append([]byte("{\"index\":0,\"ti\n"), h...), 0o644)
	})
	_ = os.WriteFile(hp, h, 0o644)
	refused("unknown checker", "names a checker this jetsam does not know (\"oracle\")", func() {
		b, _ := os.ReadFile(filepath.Join(dir, results.ResultsFile))
		b = bytes.Replace(b, []byte(`"checkers": {`), []byte(`"checkers": {"oracle": {"valid": true},`), 1)
		_ = os.WriteFile(filepath.Join(dir, results.ResultsFile), b, 0o644)
	})
	refused("no history", "holds no history.jsonl", func() { _ = os.Remove(hp) })

	// A torn last line is what a killed run leaves: it still loads.
	torn := runFolder(t, "")
	b, _ := os.ReadFile(filepath.Join(torn, results.HistoryFile))
	_ = os.WriteFile(filepath.Join(torn, results.HistoryFile), append(b, []byte(`{"index":99999,"ti`)...), 0o644)
	if r := runJetsam(t, time.Minute, "check", torn); r.code != 0 {
		t.Fatalf("torn last line: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
}
