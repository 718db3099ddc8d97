// Command reportbench measures the report of a large run: its size, and how
// long headless Chromium takes to load it, against a baseline page loaded
// by the same browser in the same run.
//
//	go run ./scripts/reportbench [-ops 100000] [-keys 1000] [-runs 5]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/synth"
	"github.com/jetsam-dev/jetsam/results"
)

func main() {
	ops := flag.Int("ops", 100000, "operations in the generated history")
	keys := flag.Int("keys", 1000, "keys")
	runs := flag.Int("runs", 5, "page loads of each page; the median is reported")
	flag.Parse()
	if err := run(*ops, *keys, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "reportbench:", err)
		os.Exit(1)
	}
}

func run(ops, keys, runs int) error {
	dir, err := os.MkdirTemp("", "reportbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeHistory(dir, ops, keys); err != nil {
		return err
	}
	res, write, err := checkAndReport(dir)
	if err != nil {
		return err
	}
	report := filepath.Join(dir, results.ReportFile)
	st, err := os.Stat(report)
	if err != nil {
		return err
	}
	baseline := filepath.Join(dir, "baseline.html")
	if err := os.WriteFile(baseline, []byte("<!DOCTYPE html><html><body><p>baseline</p></body></html>"), 0o644); err != nil {
		return err
	}
	loads, err := medianLoads(runs, baseline, report)
	if err != nil {
		return err
	}
	base, rep := loads[0], loads[1]
	fmt.Printf("| history | verdict | report size | written in | load in Chromium (median of %d) | baseline page load | ratio |\n|---|---|---|---|---|---|---|\n", runs)
	fmt.Printf("| %d ops, %d keys, one stale read | %s | %.2f MB | %.2f s | %.2f s | %.3f s | %.1fx |\n",
		ops, keys, res.Valid, float64(st.Size())/1e6, write.Seconds(), rep.Seconds(), base.Seconds(), rep.Seconds()/base.Seconds())
	return nil
}

// writeHistory writes a generated history of ops operations on keys keys
// into the run folder dir.
func writeHistory(dir string, ops, keys int) error {
	// A failing run, so the report holds an anomaly and its diagram too.
	events := synth.KV(ops, keys, 32, 0.05, 7)
	synth.PlantStaleRead(events)
	f, err := os.Create(filepath.Join(dir, results.HistoryFile))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return f.Close()
}

// checkAndReport checks the run folder dir and writes its results and its
// report, as a run does; it returns the verdict and how long the report
// alone took to write.
func checkAndReport(dir string) (*checker.Result, time.Duration, error) {
	res, err := results.Check(context.Background(), dir, checker.Options{Timeout: time.Minute})
	if err != nil {
		return nil, 0, err
	}
	if err := results.WriteResults(dir, res); err != nil {
		return nil, 0, err
	}
	began := time.Now()
	if err := results.WriteReport(dir, time.Minute); err != nil {
		return nil, 0, err
	}
	return res, time.Since(began), nil
}

// medianLoads starts headless Chromium and returns, for each page in turn,
// the median time of runs loads of it, each in a fresh tab of the same
// browser.
func medianLoads(runs int, pages ...string) ([]time.Duration, error) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		return nil, fmt.Errorf("needs Debian's chromium: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancelB := chromedp.NewContext(alloc)
	defer cancelB()
	if err := chromedp.Do(browser); err != nil {
		return nil, err
	}
	var medians []time.Duration
	for _, path := range pages {
		d, err := medianLoad(browser, path, runs)
		if err != nil {
			return nil, err
		}
		medians = append(medians, d)
	}
	return medians, nil
}

// medianLoad is the median time browser takes to load the file at path,
// over runs loads.
func medianLoad(browser context.Context, path string, runs int) (time.Duration, error) {
	var ds []time.Duration
	for range runs {
		ctx, cancel := chromedp.NewContext(browser)
		t := time.Now()
		err := chromedp.Do(ctx, chromedp.Navigate("file://"+path))
		ds = append(ds, time.Since(t))
		cancel()
		if err != nil {
			return 0, err
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}
