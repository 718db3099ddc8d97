package results

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
)

// fakeRun writes a run folder with the files serve reads.
func fakeRun(t *testing.T, store, name string, started time.Time, valid checker.Validity, workload string) string {
	t.Helper()
	dir, err := NewRunDir(store, name, started)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"workload": workload, "nemesis": []string{"partition"}})
	ti := TestInfo{Name: name, Started: started, Config: cfg}
	ti.Run.Ended = started.Add(42 * time.Second)
	if err := WriteJSON(filepath.Join(dir, TestFile), ti); err != nil {
		t.Fatal(err)
	}
	res := checker.Result{Valid: valid, Ops: checker.OpCounts{OK: 90, Fail: 5, Info: 5}}
	if err := WriteJSON(filepath.Join(dir, ResultsFile), &res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), []byte("<html>report of "+name+"</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeListsRunsAndServesOnlyTheStore(t *testing.T) {
	store := t.TempDir()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	fakeRun(t, store, "older", t0, checker.Valid, "kv")
	newer := fakeRun(t, store, "newer", t0.Add(time.Hour), checker.Invalid, "<script>alert(1)</script>")
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("not for the browser"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(newer, "escape")); err != nil {
		t.Fatal(err)
	}
	h, err := Server(store)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // a real listener on loopback
	defer srv.Close()

	code, page := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("index: %d", code)
	}
	i, j := strings.Index(page, "newer/"), strings.Index(page, "older/")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("index does not list newer before older:\n%s", page)
	}
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("a workload name from a run was not escaped:\n%s", page)
	}
	if !strings.Contains(page, `class="verdict invalid"`) || !strings.Contains(page, `class="verdict valid"`) {
		t.Fatalf("verdicts not marked:\n%s", page)
	}
	_, only := get(t, srv.URL+"/?verdict=invalid")
	if !strings.Contains(only, "newer/") || strings.Contains(only, "older/") {
		t.Fatalf("filter by invalid:\n%s", only)
	}
	rel, _ := filepath.Rel(store, newer)
	if code, body := get(t, srv.URL+"/runs/"+filepath.ToSlash(rel)+"/report.html"); code != 200 || !strings.Contains(body, "report of newer") {
		t.Fatalf("report: %d %q", code, body)
	}
	for _, p := range []string{"/runs/" + filepath.ToSlash(rel) + "/escape", "/runs/../../../../etc/passwd", "/runs/%2e%2e/%2e%2e/etc/passwd", "/runs/"} {
		if code, body := get(t, srv.URL+p); code == 200 || strings.Contains(body, "not for the browser") || strings.Contains(body, "root:") {
			t.Fatalf("%s served from outside the store: %d %q", p, code, body)
		}
	}
}

// Everything a report shows that came from a history or a node is text,
// never markup: in the anomaly list, the fault table and the plots' labels.
func TestReportEscapesAndPlots(t *testing.T) {
	var hist strings.Builder
	evil := "<script>alert(2)</script>"
	for i := range 50 {
		at := int64(i) * 1e8
		v := evil
		hist.WriteString(`{"index":` + itoa(2*i) + `,"time":` + itoa64(at) + `,"type":"invoke","process":0,"f":"write","workload":"kv","key":"k","value":` + jsonString(v) + "}\n")
		hist.WriteString(`{"index":` + itoa(2*i+1) + `,"time":` + itoa64(at+3e6) + `,"type":"ok","process":0,"f":"write","workload":"kv","key":"k","value":` + jsonString(v) + `,"rev":` + itoa(i+1) + "}\n")
	}
	end := int64(4e9)
	faults := []checker.FaultWindow{{F: "partition", Shape: "one", Nodes: []string{evil}, Start: 1e9, End: &end}}
	res := &checker.Result{Valid: checker.Invalid, Faults: faults, Checkers: map[string]*checker.Check{
		"kv": {Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Kind: "stale-read", Key: evil, Explanation: "read " + evil}}},
	}}
	res.Stats.Timeline = []checker.Bucket{{T: 0, OK: 10}, {T: 1, OK: 3, Fail: 2}, {T: 2, Info: 1}, {T: 3, OK: 9}, {T: 4, OK: 10}}
	res.Stats.Seconds = 5
	res.Stats.Unavailable = []checker.Window{{Start: 2e9, End: 3e9}}
	points, firstFail := sampleTimeline(strings.NewReader(hist.String()), faults)
	if len(points) != 50 {
		t.Fatalf("%d latency points, want 50", len(points))
	}
	page, err := RenderReport(t.TempDir(), nil, res, nil, timelineData{Points: points, FirstFail: firstFail}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	if strings.Contains(s, "<script>alert") {
		t.Fatal("a string from the history reached the page as markup")
	}
	for _, want := range []string{`id="timeline"`, `class="fault"`, `class="outcome-ok"`, `class="unavailable"`, "&lt;script&gt;alert(2)", `id="availability"`, "<circle"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %s", want)
		}
	}
}

func itoa(i int) string     { return itoa64(int64(i)) }
func itoa64(i int64) string { b, _ := json.Marshal(i); return string(b) }
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
