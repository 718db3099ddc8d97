package results_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/fuzzseed"
	"github.com/jetsam-dev/jetsam/results"
)

// A run folder's other files, fixed: a test.json that puts the node log
// on the history's clock, and a node log.
const (
	fuzzTestJSON = `{"name":"fuzz","seed":1,"command":["jetsam","run","--seed","1"],"started":"2026-12-03T09:00:00Z","run":{"phase":"done","history_started":"2026-12-03T09:00:00Z"}}`
	fuzzNodeLog  = "[1] 2026/12/03 09:00:00.000000 [INF] Server is ready\n[1] 2026/12/03 09:00:00.000010 [WRN] Resetting stream cluster state\n"
)

// FuzzCheckRunFolder checks a run folder with a fuzzed history and
// results.json again, and rebuilds its report from the fuzzed results.json,
// as `jetsam check DIR` and `jetsam report DIR` do: a verdict or an error,
// never a panic, and a page or an error about results.json.
func FuzzCheckRunFolder(f *testing.F) {
	seeds, err := fuzzseed.Histories()
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range seeds {
		f.Add(h, resultsOf(f, h))
	}
	f.Add([]byte(fuzzseed.Synthetic), []byte(`{"valid": false, "checkers": {"kv": null}, "faults": [null], "stats": null}`))
	f.Fuzz(func(t *testing.T, history, resultsJSON []byte) {
		dir := runFolder(t, history, resultsJSON)
		_, _ = results.Recheck(context.Background(), dir, results.FormatJetsam, checker.Options{Timeout: time.Second})
		if err := results.WriteReport(dir, time.Second); err != nil && !strings.HasPrefix(err.Error(), "report needs results.json") {
			t.Fatalf("report: %v", err)
		}
	})
}

// resultsOf is the results.json a check of history writes.
func resultsOf(f *testing.F, history []byte) []byte {
	dir := runFolder(f, history, nil)
	res, err := results.Check(context.Background(), dir, checker.Options{Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func runFolder(t testing.TB, history, resultsJSON []byte) string {
	dir := t.TempDir()
	files := map[string][]byte{results.HistoryFile: history, results.TestFile: []byte(fuzzTestJSON),
		filepath.Join(results.NodesDir, "n1", "nats.log"): []byte(fuzzNodeLog)}
	if resultsJSON != nil {
		files[results.ResultsFile] = resultsJSON
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
