package results

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
)

func TestRunDirAndLatest(t *testing.T) {
	store := t.TempDir()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.UTC)
	a, err := NewRunDir(store, "kv", t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store, "kv", "20261126T100000.123"); a != want {
		t.Fatalf("run dir %s, want %s", a, want)
	}
	b, err := NewRunDir(store, "kv", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := filepath.EvalSymlinks(filepath.Join(store, LatestLink))
	if err != nil || latest != b {
		t.Fatalf("latest -> %s (%v), want %s", latest, err, b)
	}
	if _, err := NewRunDir(store, "../escape", t0); err == nil {
		t.Fatal("a name with a slash was accepted")
	}
	if _, err := NewRunDir(filepath.Join(a, "x", "\x00"), "kv", t0); err == nil {
		t.Fatal("an unusable store was accepted")
	}
}

// record writes a small history: one key, a stale read during a partition
// when stale is set.
func record(t *testing.T, dir string, stale bool) {
	t.Helper()
	rec, err := history.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	op := func(p int, f string, value *string, rev uint64, phase string) {
		in := history.Event{Type: history.Invoke, Process: history.Process(p), F: f, Workload: checker.WorkloadKV, Node: "n1", Key: "k0", Phase: phase}
		out := in
		out.Type, out.Rev = history.OK, rev
		if f == history.FRead && phase == history.PhaseFinal {
			in.ReadMode, out.ReadMode = history.ReadLeader, history.ReadLeader
			out.Value = value
		} else if f == history.FRead {
			in.ReadMode, out.ReadMode = history.ReadDirect, history.ReadDirect
			out.Value = value
		} else {
			in.Value, out.Value = value, value
		}
		rec.Record(in)
		rec.Record(out)
	}
	fault := &history.Fault{Action: history.FaultStart, Shape: "one", Groups: [][]string{{"n1"}, {"n2", "n3"}}, Nodes: []string{"n1"}}
	op(0, history.FWrite, history.Str("a"), 1, "")
	rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: "partition", Fault: fault})
	op(0, history.FWrite, history.Str("b"), 2, "")
	if stale {
		op(1, history.FRead, history.Str("a"), 1, "")
	} else {
		op(1, history.FRead, history.Str("b"), 2, "")
	}
	stop := *fault
	stop.Action = history.FaultStop
	rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: "partition", Fault: &stop})
	op(2, history.FRead, history.Str("b"), 2, history.PhaseFinal)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReportShowsVerdictAnomalyFaultAndDiagram(t *testing.T) {
	for _, stale := range []bool{false, true} {
		dir := t.TempDir()
		record(t, dir, stale)
		res, err := Check(context.Background(), dir, checker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteResults(dir, res); err != nil {
			t.Fatal(err)
		}
		ti := &TestInfo{Name: "kv", Seed: 5, Command: []string{"jetsam", "run", "--seed", "5"}, Started: time.Now()}
		if err := WriteJSON(filepath.Join(dir, TestFile), ti); err != nil {
			t.Fatal(err)
		}
		if err := WriteReport(dir, time.Minute); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, ReportFile))
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		want := []string{"jetsam run --seed 5", "partition one [n1] | [n2 n3]", "history.jsonl"}
		if stale {
			want = append(want, "ANOMALY FOUND", "stale-read", "direct read", "Linearization diagram of key k0", "<iframe")
		} else {
			want = append(want, "VALID")
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("stale=%v: report lacks %q", stale, w)
			}
		}
		if !stale && strings.Contains(page, "<iframe") {
			t.Error("a valid report has a diagram")
		}
		// Self-contained: nothing fetched (the SVG namespace URI is a name).
		for _, ref := range []string{`src="http`, `href="http`, `src=&#34;http`, `href=&#34;http`, "url(http", "@import"} {
			if strings.Contains(page, ref) {
				t.Errorf("the report fetches something: %s", ref)
			}
		}
	}
}

func TestResolveHistory(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := ResolveHistory(dir); err == nil || !strings.Contains(err.Error(), "holds no history.jsonl") {
		t.Fatalf("empty folder: %v", err)
	}
	record(t, dir, false)
	hp, rd, err := ResolveHistory(dir)
	if err != nil || rd != dir || hp != filepath.Join(dir, HistoryFile) {
		t.Fatalf("got %s %s %v", hp, rd, err)
	}
	hp2, rd2, err := ResolveHistory(hp)
	if err != nil || rd2 != "" || hp2 != hp {
		t.Fatalf("file: got %s %s %v", hp2, rd2, err)
	}
}
