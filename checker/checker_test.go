package checker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/synth"

	"github.com/jetsam-dev/jetsam/history"
)

func TestMainStats(t *testing.T) {
	ms := int64(1e6)
	ops := []Op{
		{Workload: "kv", F: "write", Type: history.OK, Call: 0, Return: 2 * ms},
		{Workload: "kv", F: "write", Type: history.Info, Call: 3 * ms, Return: Open},
		{Workload: "kv", F: "read", Type: history.Fail, Call: 5 * ms, Return: 1500 * ms},
		// 2.5 s with no success while operations ran
		{Workload: "kv", F: "read", Type: history.OK, Call: 2500 * ms, Return: 2504 * ms},
		{Workload: "kv", F: "read", Type: history.OK, Call: 2505 * ms, Return: 2600 * ms, Phase: history.PhaseFinal},
	}
	st := MainStats(ops)
	if w := st.ByOp["kv write"]; w == nil || w.OK != 1 || w.Info != 1 || w.P50 != 2 {
		t.Fatalf("kv write stats %+v", w)
	}
	if r := st.ByOp["kv read"]; r == nil || r.OK != 1 || r.Fail != 1 {
		t.Fatalf("kv read stats %+v (the final read must not count)", r)
	}
	if len(st.Unavailable) != 1 || st.Unavailable[0].Start != 2*ms || st.Unavailable[0].End != 2504*ms {
		t.Fatalf("unavailable %+v, want one window from 2ms to 2504ms", st.Unavailable)
	}
	if len(st.Timeline) != 3 || st.Timeline[0].OK != 1 || st.Timeline[1].Fail != 1 || st.Timeline[2].OK != 1 {
		t.Fatalf("timeline %+v", st.Timeline)
	}
}

func TestScanLogs(t *testing.T) {
	clean := "[1] 2026/11/26 10:00:00.000000 [INF] Server is ready\n[1] 2026/11/26 10:00:01.000000 [ERR] 127.0.0.1:1 - rid:5 - Error trying to connect to route\n"
	c := ScanLogs([]NodeLog{{Node: "n1", File: "nats.log", R: strings.NewReader(clean)}}, Options{MaxListed: 10})
	if c.Valid != Valid || len(c.Anomalies) != 0 {
		t.Fatalf("a clean log: %+v", c)
	}
	bad := clean + "[1] 2026/11/26 10:00:02.000000 [WRN] Detected bad stream state, resetting '$G > S'\n" +
		"[1] 2026/11/26 10:00:03.000000 [WRN] Resetting stream cluster state for '$G > S'\n"
	stderr := "panic: runtime error: index out of range\n\ngoroutine 7 [running]:\n"
	c = ScanLogs([]NodeLog{{Node: "n2", File: "nats.log", R: strings.NewReader(bad)}, {Node: "n2", File: "stderr.log", R: strings.NewReader(stderr)}}, Options{MaxListed: 10})
	if c.Valid != Invalid || c.Counts["anomaly-corruption"] != 1 || c.Counts["anomaly-panic"] != 2 || c.Counts["lines-state-reset"] != 1 {
		t.Fatalf("counts %v", c.Counts)
	}
	if c.Anomalies[0].Node != "n2" || !strings.Contains(c.Anomalies[0].Explanation, "nats.log line 3") {
		t.Fatalf("anomaly %+v", c.Anomalies[0])
	}
}

func TestDiagramOfAHotKeyIsAWindow(t *testing.T) {
	events := synth.KV(20_000, 2, 8, 0.05, 3)
	at := synth.PlantStaleRead(events)
	if at < 0 {
		t.Fatal("nothing to plant")
	}
	r := CheckHistory(context.Background(), &history.History{Events: events}, Options{Timeout: time.Minute})
	c := r.Checkers[WorkloadKV]
	if r.Valid != Invalid || len(c.FailingKeys) != 1 {
		t.Fatalf("verdict %s, failing keys %v", r.Valid, c.FailingKeys)
	}
	var buf bytes.Buffer
	began := time.Now()
	if err := VisualizeKV(&buf, Pair(events), c.FailingKeys[0], c.Anomalies[0].Time, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// About 10,000 operations on the key; the page shows DiagramOps.
	if buf.Len() > 400<<10 || !strings.Contains(buf.String(), "<html") {
		t.Fatalf("diagram of %d bytes", buf.Len())
	}
	t.Logf("diagram %d KB in %s", buf.Len()>>10, time.Since(began).Round(time.Millisecond))
}
