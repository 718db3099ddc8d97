package results

import (
	"context"
	"encoding/json"
	"io"
	"net"
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

// serveStore serves store on a loopback listener, checking Host against
// the listener's address as jetsam serve does.
func serveStore(t *testing.T, store string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	h, err := Server(store, srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
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
	srv := serveStore(t, store)

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

// writeFiles writes files (relative path: content) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const ecKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIG1hZGUtdXA=\n-----END EC PRIVATE KEY-----\n"

// hostileRun is a run folder as a route-TLS run leaves it, plus files a
// hostile store may hold: HTML under names serve must not send as HTML,
// keys next to the logs, links to keys.
func hostileRun(t *testing.T, store string) string {
	t.Helper()
	dir := fakeRun(t, store, "tls", time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), checker.Invalid, "kv")
	page := "<html><script>alert(document.domain)</script></html>"
	writeFiles(t, dir, map[string]string{
		HistoryFile:                  "{}\n",
		"nodes/n1/nats.conf":         "cluster { tls { key_file: tls/route-key.pem } }\n",
		"nodes/n1/nats.log":          page,
		"nodes/n1/stderr":            page, // no extension
		"nodes/n1/ca.pem":            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"nodes/n1/copied-key.pem":    ecKey,
		"nodes/n1/node.key":          "not even a PEM",
		"nodes/n1/tls/route-key.pem": ecKey,
		"nodes/n1/tls/route.pem":     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"nodes/n1/data/jetstream/JS/streams/KV_k/meta.inf": "{}",
		"notes.html": page,
	})
	if err := os.Symlink(filepath.Join("tls", "route-key.pem"), filepath.Join(dir, "nodes", "n1", "linked.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "n2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "n1", "tls", "route-key.pem"), filepath.Join(dir, "nodes", "n2", "nats.log")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Serve sends a run's pages as HTML and only the files a report lists, as
// text; never a private key, also through a link; and every response,
// refusals too, forbids sniffing and carries a policy.
func TestServeSendsOnlyWhatReportsLink(t *testing.T) {
	store := t.TempDir()
	dir := hostileRun(t, store)
	cmp := filepath.Join(store, "cmp", "20261126T110000.000")
	writeFiles(t, cmp, map[string]string{CompareHTML: "<html>comparison</html>", CompareJSON: "{}"})
	srv := serveStore(t, store)
	rel, _ := filepath.Rel(store, dir)
	run := srv.URL + "/runs/" + filepath.ToSlash(rel) + "/"

	if listed := strings.Join(listFiles(dir), " "); strings.Contains(listed, "key") || !strings.Contains(listed, "nodes/n1/ca.pem") {
		t.Errorf("a report lists %s", listed)
	}
	cases := []struct {
		url, ctype string
		code       int
	}{
		{srv.URL + "/", htmlType, 200},
		{run + ReportFile, htmlType, 200},
		{srv.URL + "/runs/cmp/20261126T110000.000/" + CompareHTML, htmlType, 200},
		{run + TestFile, textType, 200},
		{run + ResultsFile, textType, 200},
		{run + HistoryFile, textType, 200},
		{run + "nodes/n1/nats.conf", textType, 200},
		{run + "nodes/n1/nats.log", textType, 200},
		{run + "nodes/n1/stderr", textType, 200},
		{run + "nodes/n1/ca.pem", textType, 200},
		{run + "nodes/n1/tls/route-key.pem", "", 404},
		{run + "nodes/n1/tls/route.pem", "", 404},
		{run + "nodes/n1/copied-key.pem", "", 404},
		{run + "nodes/n1/node.key", "", 404},
		{run + "nodes/n1/linked.log", "", 404},
		{run + "nodes/n2/nats.log", "", 404},
		{run + "nodes/n1/data/jetstream/JS/streams/KV_k/meta.inf", "", 404},
		{run + "notes.html", "", 404},
		{run + "nodes/n1", "", 404},
		{run + "nodes%2Fn1%2Ftls%2Froute-key.pem", "", 404},
		{srv.URL + "/runs/cmp/20261126T110000.000/" + CompareJSON, "", 404},
		{srv.URL + "/runs/latest/" + ReportFile, "", 404},
	}
	for _, c := range cases {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != c.code || (c.ctype != "" && h.Get("Content-Type") != c.ctype) {
			t.Errorf("%s: %d %s, want %d %s", c.url, resp.StatusCode, h.Get("Content-Type"), c.code, c.ctype)
		}
		if strings.Contains(string(body), "PRIVATE KEY") || strings.Contains(string(body), "not even a PEM") {
			t.Errorf("%s sent a private key", c.url)
		}
		csp := h.Get("Content-Security-Policy")
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
			t.Errorf("%s: nosniff %q, policy %q", c.url, h.Get("X-Content-Type-Options"), csp)
		}
		if scripts := strings.Contains(csp, "script-src"); scripts != (c.code == 200 && strings.HasSuffix(c.url, ReportFile)) || (scripts && !strings.HasSuffix(csp, "sandbox allow-scripts")) {
			t.Errorf("%s: policy %q: only a report may run scripts, and only sandboxed", c.url, csp)
		}
	}
}

// A page of another site that rebinds its name to this machine sends its
// own name as Host: refused. The served address and loopback names with
// its port are answered.
func TestServeRefusesOtherHosts(t *testing.T) {
	store := t.TempDir()
	fakeRun(t, store, "kv", time.Now(), checker.Valid, "kv")
	srv := serveStore(t, store)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for host, want := range map[string]int{
		srv.Listener.Addr().String():         200,
		"localhost:" + port:                  200,
		"LocalHost:" + port:                  200,
		"[::1]:" + port:                      200,
		"127.0.0.1:" + port:                  200,
		"attacker.example:" + port:           421,
		"attacker.example":                   421,
		"localhost":                          421, // port 80
		"127.0.0.1:1" + port:                 421,
		"127.0.0.1.attacker.example:" + port: 421,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want != 200 && strings.Contains(string(body), "jetsam runs")) {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("Host %q: no nosniff or policy", host)
		}
	}

	// On every interface, the machine's own names and addresses are its
	// own; other names are not.
	hosts, err := allowedHosts([]string{":8080"})
	if err != nil {
		t.Fatal(err)
	}
	name, _ := os.Hostname()
	for h, want := range map[string]bool{"127.0.0.1:8080": true, hostKey(name + ":8080"): true, "attacker.example:8080": false, "127.0.0.1:8081": false} {
		if hosts[h] != want {
			t.Errorf("on :8080, Host %s answered: %v", h, hosts[h])
		}
	}
	if _, err := Server(store); err == nil {
		t.Error("a server without its address: no error")
	}
}

// A report's diagrams are in frames that may run their scripts but, lacking
// allow-same-origin, can reach neither the report nor the store.
func TestReportDiagramIsSandboxed(t *testing.T) {
	dir := t.TempDir()
	v, w := "<b>a</b>", "b"
	var hist strings.Builder
	for i, e := range []string{
		`"type":"invoke","process":0,"f":"write","value":` + jsonString(v),
		`"type":"ok","process":0,"f":"write","value":` + jsonString(v) + `,"rev":1`,
		`"type":"invoke","process":0,"f":"write","value":` + jsonString(w),
		`"type":"ok","process":0,"f":"write","value":` + jsonString(w) + `,"rev":2`,
		`"type":"invoke","process":1,"f":"read","read_mode":"leader"`,
		`"type":"ok","process":1,"f":"read","read_mode":"leader","value":` + jsonString(v) + `,"rev":1`,
	} {
		hist.WriteString(`{"index":` + itoa(i) + `,"time":` + itoa((i+1)*1e6) + `,"workload":"kv","key":"k",` + e + "}\n")
	}
	writeFiles(t, dir, map[string]string{HistoryFile: hist.String()})
	res, err := Check(context.Background(), dir, checker.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	page := string(b)
	frames := strings.Count(page, "<iframe")
	if frames == 0 || strings.Count(page, `<iframe sandbox="allow-scripts" `) != frames || strings.Contains(page, "allow-same-origin") {
		t.Fatalf("%d diagrams, %d sandboxed without allow-same-origin", frames, strings.Count(page, `<iframe sandbox="allow-scripts" `))
	}
}
