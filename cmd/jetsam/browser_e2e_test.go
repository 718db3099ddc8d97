package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/testenv"
	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/results"
)

// findChromium returns Debian's chromium (or another Chrome on the PATH).
func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on the PATH: install Debian's chromium package (.ci/run does)")
}

// artifactDir is where screenshots go: $JETSAM_ARTIFACTS when set (CI keeps
// it), else a folder of the test's.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("JETSAM_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// page is what a browser saw of one page.
type page struct {
	Text       string
	Faults     int // shaded fault intervals in the plots
	Anomalies  int
	Runs       int // rows of the serve index
	ConsoleErr []string
}

// openPage loads url in headless Chromium, collects console errors and
// uncaught exceptions, reads the page, and saves a full screenshot.
func openPage(t *testing.T, browser context.Context, url, shot string) page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()
	var mu sync.Mutex
	var p page
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				p.ConsoleErr = append(p.ConsoleErr, fmt.Sprintf("console.%s", e.Type))
			}
		case *runtime.EventExceptionThrown:
			p.ConsoleErr = append(p.ConsoleErr, e.ExceptionDetails.Text)
		case *log.EventEntryAdded: // a policy that blocked part of the page
			if e.Entry.Source == log.EntrySourceSecurity {
				p.ConsoleErr = append(p.ConsoleErr, e.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.querySelectorAll('svg g.fault').length, document.querySelectorAll('.anomaly').length, document.querySelectorAll('tr.run').length]`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	p.Text, p.Faults, p.Anomalies, p.Runs = text, counts[0], counts[1], counts[2]
	return p
}

// startBrowser starts headless Chromium for the test; it ends with ctx or
// the test.
func startBrowser(t *testing.T, ctx context.Context, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1300, 1000))
	alloc, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelA)
	browser, cancelB := chromedp.NewContext(alloc)
	t.Cleanup(cancelB)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// startServe starts jetsam serve on a loopback port and returns its URL.
func startServe(t *testing.T, ctx context.Context, store string) string {
	t.Helper()
	serve := exec.CommandContext(ctx, jetsamBin, "serve", "--store", store, "--addr", "127.0.0.1:0")
	out, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGINT)
		_ = serve.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("serve said %q", line)
	}
	return strings.TrimSpace(line[i:])
}

// TestReportsInChromium opens, in real headless Chromium, the report of a
// real valid run with faults, the report of the same run with a planted
// stale read (from its file, and through serve under serve's policy), and
// the serve index over both.
func TestReportsInChromium(t *testing.T) {
	chromium, err := findChromium()
	testenv.Require(t, err)
	testlock.Cluster(t)
	store := t.TempDir()
	// Latency faults only: 100ms on a link delays raft's heartbeats (1s
	// apart) without ending a leadership, so leader reads stay
	// linearizable; the run is valid, and it has fault intervals.
	r := runJetsam(t, 3*time.Minute, "run", "--store", store, "--name", "good", "--time-limit", "20s",
		"--nemesis", "latency", "--nemesis-interval", "4s", "--rate", "300", "--seed", "4")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	good := runDir(t, store)

	// The same run with one read rewritten to an older value.
	bad := filepath.Join(store, "planted", filepath.Base(good))
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", good, bad).CombinedOutput(); err != nil {
		t.Fatalf("copy the run: %v %s", err, out)
	}
	h, err := history.Load(filepath.Join(bad, results.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if !tamper(h) {
		t.Fatal("found no read to rewrite")
	}
	writeHistory(t, filepath.Join(bad, results.HistoryFile), h)
	if c := runJetsam(t, time.Minute, "check", "--write", bad); c.code != 1 {
		t.Fatalf("planted history: exit %d, want 1\n%s", c.code, c.stdout)
	}

	// jetsam serve, as a user starts it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	index := startServe(t, ctx, store)

	browser := startBrowser(t, ctx, chromium)
	shots := artifactDir(t)

	g := openPage(t, browser, "file://"+filepath.Join(good, results.ReportFile), filepath.Join(shots, "report-valid.png"))
	if !strings.Contains(g.Text, "VALID") || g.Faults == 0 || g.Anomalies != 0 || len(g.ConsoleErr) > 0 {
		t.Errorf("valid report: verdict shown %v, %d fault intervals, %d anomalies, console errors %v",
			strings.Contains(g.Text, "VALID"), g.Faults, g.Anomalies, g.ConsoleErr)
	}
	for _, want := range []string{"Timeline", "latency", "Availability", "Replay"} {
		if !strings.Contains(g.Text, want) {
			t.Errorf("valid report lacks %q", want)
		}
	}
	b := openPage(t, browser, "file://"+filepath.Join(bad, results.ReportFile), filepath.Join(shots, "report-anomaly.png"))
	if !strings.Contains(b.Text, "ANOMALY FOUND") || !strings.Contains(b.Text, "stale-read") || b.Anomalies == 0 || b.Faults == 0 || len(b.ConsoleErr) > 0 {
		t.Errorf("failing report: verdict %v, stale read %v, %d anomalies, %d fault intervals, console errors %v",
			strings.Contains(b.Text, "ANOMALY FOUND"), strings.Contains(b.Text, "stale-read"), b.Anomalies, b.Faults, b.ConsoleErr)
	}
	// The same report through serve, under its policy: the same page, and
	// its diagrams drawn.
	served := strings.TrimSuffix(index, "/") + "/runs/planted/" + filepath.Base(bad) + "/" + results.ReportFile
	sb := openPage(t, browser, served, filepath.Join(shots, "report-anomaly-served.png"))
	if sb.Text != b.Text || sb.Faults != b.Faults || sb.Anomalies != b.Anomalies || len(sb.ConsoleErr) > 0 {
		t.Errorf("served report differs from the file: %d/%d fault intervals, %d/%d anomalies, same text %v, console errors %v",
			sb.Faults, b.Faults, sb.Anomalies, b.Anomalies, sb.Text == b.Text, sb.ConsoleErr)
	}
	checkDiagramDrawn(t, openTab(t, browser, "file://"+filepath.Join(bad, results.ReportFile)).diagram(t))
	checkDiagramDrawn(t, openTab(t, browser, served).diagram(t))
	s := openPage(t, browser, index, filepath.Join(shots, "serve-index.png"))
	if s.Runs != 2 || !strings.Contains(s.Text, "invalid") || !strings.Contains(s.Text, "valid") || len(s.ConsoleErr) > 0 {
		t.Errorf("serve index: %d runs, console errors %v\n%s", s.Runs, s.ConsoleErr, s.Text)
	}
	t.Logf("screenshots in %s", shots)
}

// TestProgress: on a terminal the status line redraws in place; to a pipe
// it is a plain line every few seconds. The terminal is a real pseudo-
// terminal, from util-linux's script(1).
func TestProgress(t *testing.T) {
	script, err := exec.LookPath("script")
	testenv.Require(t, err)
	testlock.Cluster(t)
	store := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmdline := fmt.Sprintf("%s run --store %s --time-limit 6s --nemesis none --rate 100", jetsamBin, store)
	out, err := exec.CommandContext(ctx, script, "-q", "-e", "-c", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tty := string(out)
	if !strings.Contains(tty, "\r\x1b[K[main ") || !strings.Contains(tty, "/6s] ok ") || !strings.Contains(tty, "ok/s  fault: none") {
		t.Fatalf("on a terminal, no status line redrawn in place:\n%q", tty)
	}
	piped := runJetsam(t, 3*time.Minute, "run", "--store", store, "--time-limit", "6s", "--nemesis", "none", "--rate", "100")
	if strings.Contains(piped.stderr, "\x1b[") || !strings.Contains(piped.stderr, "\n[main ") || !strings.Contains(piped.stderr, "/6s] ok ") {
		t.Fatalf("to a pipe, want plain status lines every 5s:\n%s", piped.stderr)
	}
}
