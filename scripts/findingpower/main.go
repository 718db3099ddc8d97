// Command findingpower measures how reliably jetsam finds stale leader reads
// (or anything else) over several runs and seeds: it runs `jetsam run` once
// per seed, one run at a time, and prints a Markdown table with, per run,
// the verdict, each leader isolation, the reads the clients on the
// isolated node completed while it held, and the stale reads found.
//
//	go run ./scripts/findingpower -jetsam BIN [-runs 5] [-seed 1] [-- RUN FLAGS]
//
// The run flags default to the leader-isolation runs of BENCHMARKS.md:
// --nemesis partition --partition-shapes leader --nemesis-interval 15s
// --time-limit 60s. Give "-- --nemesis none" for fault-free runs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/results"
)

var defaultFlags = []string{"--nemesis", "partition", "--partition-shapes", "leader", "--nemesis-interval", "15s", "--time-limit", "60s"}

func main() {
	bin := flag.String("jetsam", "", "jetsam binary to measure (required)")
	runs := flag.Int("runs", 5, "runs, one per seed")
	seed := flag.Uint64("seed", 1, "seed of the first run; run i uses seed+i")
	store := flag.String("store", "", "store for the runs (default: a temporary folder, removed at the end)")
	flag.Parse()
	if *bin == "" || *runs < 1 {
		fmt.Fprintln(os.Stderr, "findingpower: give -jetsam BIN and -runs of at least 1")
		os.Exit(3)
	}
	runFlags := flag.Args()
	if len(runFlags) == 0 {
		runFlags = defaultFlags
	}
	if *store == "" {
		tmp, err := os.MkdirTemp("", "findingpower")
		if err != nil {
			fmt.Fprintln(os.Stderr, "findingpower:", err)
			os.Exit(3)
		}
		defer os.RemoveAll(tmp)
		*store = tmp
	}
	fmt.Printf("runs of `jetsam run %s`\n\n", strings.Join(runFlags, " "))
	fmt.Println("| seed | exit | verdict | leader isolations | reads ok on the isolated node during each | stale leader reads | per isolation | other anomalies |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	found := 0
	for i := range *runs {
		s := *seed + uint64(i)
		m, err := measure(*bin, *store, s, runFlags)
		if err != nil {
			fmt.Fprintf(os.Stderr, "findingpower: seed %d: %v\n", s, err)
			os.Exit(3)
		}
		if m.stale > 0 {
			found++
		}
		per := "-"
		if len(m.windows) > 0 {
			per = strconv.FormatFloat(float64(m.stale)/float64(len(m.windows)), 'f', 1, 64)
		}
		fmt.Printf("| %d | %d | %s | %d | %s | %d | %s | %s |\n", s, m.exit, m.verdict, len(m.windows), ints(m.readsDuring), m.stale, per, m.other)
	}
	fmt.Printf("\nstale leader reads found in %d of %d runs (%s)\n", found, *runs, time.Now().UTC().Format("2006-01-02"))
}

type measurement struct {
	exit        int
	verdict     string
	windows     []checker.FaultWindow
	readsDuring []int
	stale       int
	other       string
}

// measure runs one seed and reads what it found from the run folder.
func measure(bin, store string, seed uint64, runFlags []string) (*measurement, error) {
	name := "seed-" + strconv.FormatUint(seed, 10)
	args := append([]string{"run", "--store", store, "--name", name, "--seed", strconv.FormatUint(seed, 10)}, runFlags...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	m := &measurement{}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, err
		}
		m.exit = ee.ExitCode()
	}
	if m.exit == 3 {
		return nil, fmt.Errorf("jetsam could not run (exit 3)")
	}
	dirs, _ := filepath.Glob(filepath.Join(store, name, "*"))
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no run folder under %s", filepath.Join(store, name))
	}
	dir := dirs[len(dirs)-1]
	var res checker.Result
	if err := results.ReadJSON(filepath.Join(dir, results.ResultsFile), &res); err != nil {
		return nil, err
	}
	m.verdict = res.Valid.String()
	for _, w := range res.Faults {
		if w.Shape == "leader" && w.End != nil {
			m.windows = append(m.windows, w)
		}
	}
	var others []string
	for _, name := range checker.Names {
		c := res.Checkers[name]
		if c == nil {
			continue
		}
		for k, n := range c.Counts {
			kind, ok := strings.CutPrefix(k, "anomaly-")
			if !ok || strings.HasSuffix(kind, "-leader") || strings.HasSuffix(kind, "-direct") {
				continue
			}
			if name == checker.WorkloadKV && kind == checker.KindStaleRead {
				m.stale = n
				continue
			}
			others = append(others, fmt.Sprintf("%s %s %d", name, kind, n))
		}
	}
	slices.Sort(others)
	m.other = strings.Join(others, ", ")
	reads, err := readsOnIsolated(filepath.Join(dir, results.HistoryFile), m.windows)
	m.readsDuring = reads
	return m, err
}

// readsOnIsolated counts, per window, the successful reads of clients on
// the isolated nodes invoked while it held.
func readsOnIsolated(path string, ws []checker.FaultWindow) ([]int, error) {
	out := make([]int, len(ws))
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := checker.NewPairer()
	if _, err := history.Scan(f, func(e *history.Event) error {
		if e.Process != history.Nemesis {
			p.Add(e)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, op := range p.Ops() {
		for i, w := range ws {
			if op.F == history.FRead && op.Type == history.OK && slices.Contains(w.Nodes, op.Node) && op.Call >= w.Start && op.Call <= *w.End {
				out[i]++
			}
		}
	}
	return out, nil
}

func ints(v []int) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), "[]")
}
