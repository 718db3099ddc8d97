package results

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
)

// results.json comes from elsewhere too: nulls where a report expects
// values give a page that says what is missing, or one clear error. A null
// checker was a nil-pointer panic; the other rows keep what already held.
func TestReportOfResultsWithNulls(t *testing.T) {
	for _, tc := range []struct {
		name, results string
		want          []string // on the page; none: an error
		err           string
	}{
		{"null checker", `{"valid": false, "checkers": {"kv": null, "logs": {"valid": true}}}`,
			[]string{`id="checker-kv"`, "results.json holds null for this checker", `id="checker-logs"`}, ""},
		{"null anomalies and counts", `{"valid": false, "ops": null, "stats": null, "faults": null, "checkers": {"kv": {"valid": false, "counts": null, "anomalies": null, "failing_keys": ["k0"]}}}`,
			[]string{`id="checker-kv"`, "ANOMALY FOUND"}, ""},
		{"null checkers, faults of nulls", `{"valid": true, "checkers": null, "faults": [null, {"f": "partition", "end": null, "traffic": [null]}], "stats": {"timeline": [null], "unavailable": [null]}}`,
			[]string{"VALID", "partition", "never healed"}, ""},
		{"missing everything", `{}`, []string{"UNKNOWN"}, ""},
		{"null verdict", `{"valid": null}`, nil, "validity must be true, false or"},
		{"not an object", `null`, []string{"UNKNOWN"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			record(t, dir, true)
			if err := os.WriteFile(filepath.Join(dir, ResultsFile), []byte(tc.results), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, TestFile), []byte(`{"name": null, "command": null, "server": null, "run": null}`), 0o644); err != nil {
				t.Fatal(err)
			}
			err := WriteReport(dir, time.Second)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to say %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			page, err := os.ReadFile(filepath.Join(dir, ReportFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(page), w) {
					t.Errorf("the page lacks %q", w)
				}
			}
		})
	}
}

// A node-log line longer than the line bound stopped the report's reading
// of that log silently; the lines after it are read now.
func TestNodeLogsAfterAnOverlongLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, NodesDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := "[1] 2026/12/03 09:00:00.000000 [DBG] " + strings.Repeat("x", 2<<20) + "\n" +
		"[1] 2026/12/03 09:00:01.000000 [FTL] JetStream could not start\n"
	if err := os.WriteFile(filepath.Join(dir, NodesDir, "n1", "nats.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := readNodeLogs(dir)["n1"]
	if len(lines) != 2 || !strings.HasSuffix(lines[0].Text, "… (cut)") || len(lines[0].Text) > maxShownLine+20 ||
		!strings.Contains(lines[1].Text, "[FTL]") {
		t.Fatalf("%d lines read", len(lines))
	}
	record(t, dir, false)
	res, err := Check(context.Background(), dir, checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Checkers[checker.CheckerLogs]; res.Valid != checker.Invalid || c == nil || c.Counts["anomaly-fatal"] != 1 {
		t.Fatalf("verdict %s, logs %+v", res.Valid, c)
	}
}

// A node log that is not a regular file (a pipe: read forever, or never)
// is not read.
func TestNodeLogThatIsAPipeIsSkipped(t *testing.T) {
	dir := t.TempDir()
	record(t, dir, false)
	if err := os.MkdirAll(filepath.Join(dir, NodesDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, NodesDir, "n1", "nats.log"), 0o644); err != nil {
		t.Skipf("no fifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Check(context.Background(), dir, checker.Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("checking a folder whose node log is a pipe did not finish")
	}
	if logs := readNodeLogs(dir); len(logs) != 0 {
		t.Fatalf("read %v", logs)
	}
}

// A Jepsen history without operations is refused, as an empty jetsam one
// is: nothing checked is no verdict.
func TestCheckOfAnEmptyHistoryIsRefused(t *testing.T) {
	for _, format := range []string{FormatJetsam, FormatJepsen} {
		path := filepath.Join(t.TempDir(), "h")
		if err := os.WriteFile(path, []byte("\n\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := CheckFormat(context.Background(), path, format, checker.Options{})
		if !errors.Is(err, history.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", format, err)
		}
	}
}
