package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jetsam-dev/jetsam/internal/testenv"
	"github.com/jetsam-dev/jetsam/results"
)

// hostileValue is a KV value that runs a script wherever it becomes markup.
const hostileValue = `<img src=x onerror="document.title='pwned'">`

// hostileRun writes a run folder whose key k holds hostileValue and has a
// stale read of it, so the report draws k's diagram, and a node whose
// route TLS key lies where a route-TLS run writes it.
func hostileRun(t *testing.T, store string) string {
	t.Helper()
	dir := filepath.Join(store, "hostile", "20261203T090000.000")
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "n1", "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(hostileValue)
	var h strings.Builder
	for i, e := range []string{
		`"type":"invoke","process":0,"f":"write","value":` + string(v),
		`"type":"ok","process":0,"f":"write","value":` + string(v) + `,"rev":1`,
		`"type":"invoke","process":0,"f":"write","value":"b"`,
		`"type":"ok","process":0,"f":"write","value":"b","rev":2`,
		`"type":"invoke","process":1,"f":"read","read_mode":"leader"`,
		`"type":"ok","process":1,"f":"read","read_mode":"leader","value":` + string(v) + `,"rev":1`,
		`"type":"invoke","process":1,"f":"read","read_mode":"leader","phase":"final"`,
		`"type":"ok","process":1,"f":"read","read_mode":"leader","phase":"final","value":"b","rev":2`,
	} {
		fmt.Fprintf(&h, `{"index":%d,"time":%d,"workload":"kv","key":"k","node":"n1",%s}`+"\n", i, (i+1)*1e6, e)
	}
	files := map[string]string{
		results.HistoryFile:           h.String(),
		"nodes/n1/nats.log":           "[1] 2026/12/03 09:00:00.000000 [INF] Starting nats-server\n",
		"nodes/n1/tls/route-key.pem":  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIG1hZGUtdXA=\n-----END EC PRIVATE KEY-----\n",
		"nodes/n1/tls/route-cert.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	}
	for rel, content := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := runJetsam(t, time.Minute, "check", "--write", dir); r.code != 1 {
		t.Fatalf("check --write: exit %d, want 1 (the stale read)\n%s%s", r.code, r.stdout, r.stderr)
	}
	return dir
}

// tab is one page open in Chromium, and what its documents reported.
type tab struct {
	ctx    context.Context
	mu     sync.Mutex
	frames map[string]runtime.ExecutionContextID // a frame's latest main-world context
	errors []string                              // exceptions, console errors, policy violations
}

func (tb *tab) listen(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExecutionContextCreated:
		var aux struct {
			IsDefault bool   `json:"isDefault"`
			FrameID   string `json:"frameId"`
		}
		if json.Unmarshal(e.Context.AuxData, &aux) == nil && aux.IsDefault {
			tb.frames[aux.FrameID] = e.Context.ID
		}
	case *runtime.EventExceptionThrown:
		tb.errors = append(tb.errors, "exception: "+e.ExceptionDetails.Text)
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			tb.errors = append(tb.errors, "console.error")
		}
	case *log.EventEntryAdded:
		if e.Entry.Source == log.EntrySourceSecurity {
			tb.errors = append(tb.errors, "security: "+e.Entry.Text)
		}
	}
}

func (tb *tab) seen() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errors...)
}

// openTab loads url in a tab of its own, closed when the test ends.
func openTab(t *testing.T, browser context.Context, url string) *tab {
	t.Helper()
	tb := &tab{frames: map[string]runtime.ExecutionContextID{}}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	tb.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return tb
}

// evalString evaluates a script that returns a string, in the context id
// of the tab's target (0: its main document), awaiting a promise.
func evalString(ctx context.Context, id runtime.ExecutionContextID, script string) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise, func(p *runtime.EvaluateParams) {
		p.ContextID = id
	}))
}

// diagram finds the document of the report's diagram, once Porcupine has
// drawn it, and returns a way to evaluate scripts in it. Chromium runs a
// sandboxed frame of a file:// page in a process of its own (a target to
// attach to), and any other frame in the page's (a context of the page).
func (tb *tab) diagram(t *testing.T) func(string) (string, error) {
	t.Helper()
	const drawn = `String(document.querySelectorAll('rect.target-rect').length)`
	page := chromedp.FromContext(tb.ctx).Target.TargetID
	attached := map[string]context.Context{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		infos, _ := chromedp.Targets(tb.ctx)
		for _, info := range infos {
			if info.Type == "iframe" && info.ParentID == page && attached[string(info.TargetID)] == nil {
				fctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithListener(tb.listen))
				t.Cleanup(cancel)
				attached[string(info.TargetID)] = fctx
			}
		}
		for _, fctx := range attached {
			if n, err := evalString(fctx, 0, drawn); err == nil && n != "0" {
				return func(s string) (string, error) { return evalString(fctx, 0, s) }
			}
		}
		tb.mu.Lock()
		var ids []runtime.ExecutionContextID
		for frame, id := range tb.frames {
			if frame != string(page) {
				ids = append(ids, id)
			}
		}
		tb.mu.Unlock()
		for _, id := range ids {
			if n, err := evalString(tb.ctx, id, drawn); err == nil && n != "0" {
				return func(s string) (string, error) { return evalString(tb.ctx, id, s) }
			}
		}
	}
	t.Fatalf("no diagram drawn within 20s; the page reported %v", tb.seen())
	return nil
}

// hoverEveryOperation dispatches, on each operation of the diagram, the
// events Porcupine's tooltip listens to, and collects what the tooltip
// showed; then it gives any image that failed to load time to fire.
const hoverEveryOperation = `(async () => {
	const out = {texts: [], elements: 0, ops: 0};
	for (const r of document.querySelectorAll('rect.target-rect')) {
		const b = r.getBoundingClientRect();
		for (const type of ['mouseover', 'mousemove']) {
			r.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: b.x + 1, clientY: b.y + 1}));
		}
		const tip = document.querySelector('.tooltip');
		out.texts.push(tip.textContent);
		out.elements += tip.querySelectorAll('img, script, svg, iframe, [onerror]').length;
		out.ops++;
		r.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
	}
	await new Promise(done => setTimeout(done, 500));
	out.title = document.title;
	return JSON.stringify(out);
})()`

// escapeProbe is what a script inside the diagram's document can reach:
// the report page, and (when store names a URL) a file of the store.
const escapeProbe = `(async (store) => {
	const out = {origin: String(self.origin)};
	try { parent.document.title = 'reached by the diagram'; out.report = 'reached the report'; } catch (e) { out.report = e.name; }
	if (store) {
		try { const r = await fetch(store); out.store = 'read ' + (await r.text()).length + ' bytes'; } catch (e) { out.store = e.name; }
	}
	return JSON.stringify(out);
})(%q)`

// TestHostileReportInChromium opens, in real Chromium, the report of a run
// whose KV value is a script, from its file and through jetsam serve.
// Hovering every operation of the diagram shows the value as text and runs
// nothing (the models' descriptions are escaped); a script that does run in
// the diagram reaches neither the report nor the store (the frame is
// sandboxed, and serve's policy forbids fetches). Served under its policy,
// the report still renders whole: diagram drawn, no policy violation, a
// raw file one click away.
func TestHostileReportInChromium(t *testing.T) {
	chromium, err := findChromium()
	testenv.Require(t, err)
	store := t.TempDir()
	dir := hostileRun(t, store)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	served := startServe(t, ctx, store)
	browser := startBrowser(t, ctx, chromium)
	run := served + "runs/hostile/" + filepath.Base(dir) + "/"
	checkServeRefuses(t, run)
	for _, c := range []struct{ name, url, store string }{
		{"file", "file://" + filepath.Join(dir, results.ReportFile), ""},
		{"served", served, run + results.HistoryFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := openTab(t, browser, c.url)
			if c.store != "" { // from the index, as a user goes
				followLink(t, tb, `a[href$="/report.html"]`, "/"+results.ReportFile)
			}
			checkRendered(t, tb)
			frame := tb.diagram(t)
			checkHoverRunsNothing(t, tb, frame)
			checkSandboxed(t, tb, frame, c.store)
			if c.store != "" {
				checkRawFileLink(t, tb)
			}
		})
	}
}

// checkServeRefuses: the real serve sends no private key, and answers no
// request addressed to another host.
func checkServeRefuses(t *testing.T, run string) {
	t.Helper()
	status := func(url, host string) int {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(run+"nodes/n1/tls/route-key.pem", ""); code != http.StatusNotFound {
		t.Errorf("the route TLS key: %d, want 404", code)
	}
	if code := status(run+results.ReportFile, "attacker.example"); code != http.StatusMisdirectedRequest {
		t.Errorf("Host attacker.example: %d, want 421", code)
	}
}

// checkRendered: the report's sections are there, the value is shown as
// text, and nothing was blocked or thrown while it loaded.
func checkRendered(t *testing.T, tb *tab) {
	t.Helper()
	text, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ANOMALY FOUND", "stale-read", "returned " + hostileValue, "Linearization diagram of key k", "history.jsonl", "nodes/n1/nats.log"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not show %q", want)
		}
	}
	if strings.Contains(text, "route-key") {
		t.Error("the report links a private key")
	}
	checkDiagramDrawn(t, tb.diagram(t))
	if errs := tb.seen(); len(errs) > 0 {
		t.Errorf("while the report loaded: %v", errs)
	}
}

// checkDiagramDrawn: Porcupine drew the diagram with every operation's box
// as wide as its label (it measures labels as it draws, which gives 0 in a
// frame not yet laid out).
func checkDiagramDrawn(t *testing.T, frame func(string) (string, error)) {
	t.Helper()
	const fit = `(() => {
		const boxes = Array.from(document.querySelectorAll('rect.history-rect'));
		const narrow = boxes.filter(r => r.getBBox().width + 1 < r.nextElementSibling.getBBox().width);
		return boxes.length + ' boxes, ' + narrow.length + ' narrower than their label';
	})()`
	got, err := frame(fit)
	if err != nil || !strings.HasSuffix(got, " boxes, 0 narrower than their label") || strings.HasPrefix(got, "0 ") {
		t.Errorf("diagram: %s %v", got, err)
	}
}

// checkHoverRunsNothing: every tooltip shows the value as text, and no
// document's title changed.
func checkHoverRunsNothing(t *testing.T, tb *tab, frame func(string) (string, error)) {
	t.Helper()
	raw, err := frame(hoverEveryOperation)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Texts         []string
		Elements, Ops int
		Title         string
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	shown := 0
	for _, s := range got.Texts {
		if strings.Contains(s, hostileValue) {
			shown++
		}
	}
	top, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.title`))
	t.Logf("hovered %d operations: %d tooltips show the value as text, %d elements made of it; diagram titled %q, report %q", got.Ops, shown, got.Elements, got.Title, top)
	if got.Ops == 0 || shown == 0 {
		t.Errorf("no tooltip shows %s as text: %q", hostileValue, got.Texts)
	}
	if got.Elements > 0 || got.Title == "pwned" || top == "pwned" {
		t.Errorf("the value ran as markup: %d elements in tooltips, diagram titled %q, report %q", got.Elements, got.Title, top)
	}
	if errs := tb.seen(); len(errs) > 0 {
		t.Errorf("while hovering: %v", errs)
	}
}

// checkSandboxed: a script in the diagram has an opaque origin, cannot
// touch the report, and cannot read the store.
func checkSandboxed(t *testing.T, tb *tab, frame func(string) (string, error), store string) {
	t.Helper()
	raw, err := frame(fmt.Sprintf(escapeProbe, store))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Origin, Report, Store string }
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	top, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.title`))
	t.Logf("a script in the diagram: origin %q, report: %s, store: %q; report titled %q", got.Origin, got.Report, got.Store, top)
	if got.Origin != "null" || got.Report != "SecurityError" || top == "reached by the diagram" {
		t.Errorf("the diagram's frame is not sandboxed: origin %q, report access %q", got.Origin, got.Report)
	}
	if store != "" && strings.HasPrefix(got.Store, "read") {
		t.Errorf("a script in the diagram read %s: %s", store, got.Store)
	}
}

// followLink clicks the first link that matches css, as a user does, and
// waits until the tab shows a page whose address ends in suffix.
func followLink(t *testing.T, tb *tab, css, suffix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		t.Fatalf("click %s: %v", css, err)
	}
	for ctx.Err() == nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState + ' ' + location.href`))
		if strings.HasPrefix(state, "complete ") && strings.HasSuffix(state, suffix) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("a click on %s did not open %s", css, suffix)
}

// checkRawFileLink: under the report's policy, a click on a raw file opens
// it, as text.
func checkRawFileLink(t *testing.T, tb *tab) {
	t.Helper()
	followLink(t, tb, `a[href="history.jsonl"]`, "/"+results.HistoryFile)
	text, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.contentType + ' ' + document.body.innerText`))
	if !strings.HasPrefix(text, "text/plain ") || !strings.Contains(text, `"workload":"kv","key":"k"`) {
		t.Errorf("the raw history opened as %.80q", text)
	}
}
