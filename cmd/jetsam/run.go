package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/spf13/pflag"
)

// newFlagSet makes a command's flags; --help prints synopsis and flags to
// out.
func newFlagSet(name, synopsis string, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by realMain, in one sentence
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(out, "%s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
	}
	return fs
}

// parse parses flags; --help prints usage and stops with exit 0.
func parse(fs *pflag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if err == pflag.ErrHelp {
		fs.Usage()
		return true, nil
	}
	if err != nil {
		return false, errorf("%v: run 'jetsam %s --help' for the flags", err, fs.Name())
	}
	return false, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) (int, error) {
	d := jetsam.Defaults()
	fs := newFlagSet("run", `Usage: jetsam run [flags]

Starts a local JetStream cluster (one nats-server process per node, every
route through a link proxy), runs the workload under the nemesis for
--time-limit, heals, reads every key once more, stops the cluster and checks
the history. Everything lands in --store/<name>/<time>/.

Exit codes: 0 valid, 1 anomaly found, 2 unknown, 3 the test could not run.`, stdout)
	nodes := fs.Int("nodes", d.Nodes, "number of nats-server nodes")
	replicas := fs.Int("replicas", d.Replicas, "replicas of the KV bucket's stream (at most --nodes)")
	workload := fs.String("workload", d.Workload, "workloads, comma separated, each with --concurrency clients of its own: kv (a register per key: read, write, compare-and-set, create, delete), log (a stream as a log: conditional and deduplicated appends, reads by sequence), queue (enqueue, and fetch and ack from a durable consumer)")
	concurrency := fs.String("concurrency", "2n", "client count; a number, or Nn for N per node")
	rate := fs.Float64("rate", d.Rate, "operations per second over all clients (0: unlimited)")
	keys := fs.Int("keys", d.Keys, "keys in use at once")
	opsPerKey := fs.Int("ops-per-key", d.OpsPerKey, "operations after which a key is retired for a fresh one, keeping each key's history quick to check (0: never)")
	readMode := fs.String("read-mode", d.ReadMode, "how reads are served: leader (stream leader's get), direct (any replica), mixed (drawn per read), none (no reads until the final phase)")
	timeLimit := fs.Duration("time-limit", time.Duration(d.TimeLimit), "length of the main phase (workload under faults)")
	opTimeout := fs.Duration("op-timeout", time.Duration(d.OpTimeout), "per-operation timeout; an operation that times out is indeterminate")
	nem := fs.StringSlice("nemesis", d.Nemesis, "fault packages, comma separated: "+strings.Join(nemesis.Packages, ", ")+"; or none, all")
	interval := fs.Duration("nemesis-interval", time.Duration(d.NemesisInterval), "quiet time before each fault, and how long each fault holds")
	overlap := fs.Bool("nemesis-overlap", false, "run each fault package on its own schedule, so faults of different packages overlap (default: one fault at a time)")
	shapes := fs.StringSlice("partition-shapes", nil, "partition shapes to draw from (default: all the cluster is big enough for): "+
		"one (isolate a random node), minority (a random minority), halves (random halves), ring (every node hears a different majority), "+
		"bridge (two halves joined by one node), leader (isolate the stream leader), meta-leader (isolate the meta leader), "+
		"asymmetric (one node's outbound or inbound bytes cut)")
	targets := fs.StringSlice("targets", nil, "what kill and pause hit, drawn per fault (default: all the cluster is big enough for): "+
		"one (a random node), minority, majority, all, leader (the stream's leader at that moment), meta-leader")
	syncInterval := fs.String("sync-interval", d.SyncInterval, "every node's JetStream sync interval: default (the server's, 2m), always (fsync every write), or a duration such as 1s")
	writeback := fs.Duration("writeback", time.Duration(d.Writeback), "with power-loss: data dirty this long is written back without a sync, as Linux's flusher does (0: only fsync makes data durable)")
	corruptFiles := fs.StringSlice("corrupt-files", nil, "file types the corrupt package damages, drawn per fault (default: all): "+
		"blk (message blocks), idx (stream indexes), meta (stream configs), snap (raft snapshots), raft-log, raft-state (term, vote, peers)")
	routeCompression := fs.String("route-compression", "", "route compression of every node: "+strings.Join(jetsam.RouteCompressions, ", ")+" (default: the server's)")
	routePoolSize := fs.Int("route-pool-size", 0, "routes per node pair: -1 for one (as before route pooling), 0 for the server's default, or a count")
	cutMode := fs.String("cut-mode", d.CutMode, "how a cut link treats new connections: hold (unanswered, like a dropped SYN) or refuse (reset at once)")
	latency := fs.Duration("latency", time.Duration(d.Latency), "delay the latency package adds to each byte on a link, both ways")
	jitter := fs.Duration("jitter", time.Duration(d.Jitter), "the latency package's delay varies by up to this much either way (bytes stay in order)")
	bandwidth := fs.String("bandwidth", nemesis.FormatRate(d.Bandwidth), "rate cap the bandwidth package puts on each direction of a link, e.g. 64KB/s, 1MB/s")
	seed := fs.Uint64("seed", 0, "seed for the fault schedule, targets, keys and values (default: random, and recorded)")
	store := fs.String("store", d.Store, "folder that holds every run")
	name := fs.String("name", d.Name, "test name: runs are stored under --store/<name>/")
	checkTimeout := fs.Duration("check-timeout", time.Duration(d.CheckTimeout), "time limit of the linearizability search; past it the verdict is unknown")
	recoverTimeout := fs.Duration("recover-timeout", time.Duration(d.RecoverTimeout), "how long to wait for the cluster to recover after the last heal, and for the final reads")
	basePort := fs.Int("base-port", 0, "first of 3 consecutive ports per node (client, cluster, monitoring); 0 picks free ports")
	replay := fs.String("replay", "", "run folder whose test.json to replay: same configuration and seed (flags given as well override it)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("run takes no arguments, got %q: run 'jetsam run --help' for the flags", fs.Args())
	}

	cfg := d
	if *replay != "" {
		var ti results.TestInfo
		if err := results.ReadJSON(filepath.Join(*replay, results.TestFile), &ti); err != nil {
			return 0, errorf("cannot replay %s: %v", *replay, err)
		}
		if err := json.Unmarshal(ti.Config, &cfg); err != nil {
			return 0, errorf("cannot replay %s: its test.json has no usable config: %v", *replay, err)
		}
	}
	set := func(flag string, apply func()) {
		if *replay == "" || fs.Changed(flag) {
			apply()
		}
	}
	set("nodes", func() { cfg.Nodes = *nodes })
	set("replicas", func() { cfg.Replicas = *replicas })
	set("workload", func() { cfg.Workload = *workload })
	set("rate", func() { cfg.Rate = *rate })
	set("keys", func() { cfg.Keys = *keys })
	set("ops-per-key", func() { cfg.OpsPerKey = *opsPerKey })
	set("read-mode", func() { cfg.ReadMode = *readMode })
	set("time-limit", func() { cfg.TimeLimit = jetsam.Duration(*timeLimit) })
	set("op-timeout", func() { cfg.OpTimeout = jetsam.Duration(*opTimeout) })
	set("nemesis", func() { cfg.Nemesis = *nem })
	set("nemesis-interval", func() { cfg.NemesisInterval = jetsam.Duration(*interval) })
	set("partition-shapes", func() { cfg.PartitionShapes = *shapes })
	set("nemesis-overlap", func() { cfg.NemesisOverlap = *overlap })
	set("targets", func() { cfg.Targets = *targets })
	set("sync-interval", func() { cfg.SyncInterval = *syncInterval })
	set("writeback", func() { cfg.Writeback = jetsam.Duration(*writeback) })
	set("corrupt-files", func() { cfg.CorruptFiles = *corruptFiles })
	set("route-compression", func() { cfg.RouteCompression = *routeCompression })
	set("route-pool-size", func() { cfg.RoutePoolSize = *routePoolSize })
	set("cut-mode", func() { cfg.CutMode = *cutMode })
	set("latency", func() { cfg.Latency = jetsam.Duration(*latency) })
	set("jitter", func() { cfg.Jitter = jetsam.Duration(*jitter) })
	set("store", func() { cfg.Store = *store })
	set("name", func() { cfg.Name = *name })
	set("check-timeout", func() { cfg.CheckTimeout = jetsam.Duration(*checkTimeout) })
	set("recover-timeout", func() { cfg.RecoverTimeout = jetsam.Duration(*recoverTimeout) })
	set("base-port", func() { cfg.BasePort = *basePort })
	var err error
	set("concurrency", func() { cfg.Concurrency, err = parseConcurrency(*concurrency, cfg.Nodes) })
	if err != nil {
		return 0, err
	}
	set("bandwidth", func() { cfg.Bandwidth, err = parseRate(*bandwidth) })
	if err != nil {
		return 0, err
	}
	switch {
	case fs.Changed("seed"):
		cfg.Seed = *seed
	case *replay == "":
		cfg.Seed = randomSeed()
	}
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return 0, cliError{err.Error()}
	}

	ctx, stop := interruptible(stderr)
	defer stop()
	out, err := jetsam.Run(ctx, cfg, jetsam.RunOptions{
		Status: stderr, Log: stderr, StatusIsTerminal: isTerminal(os.Stderr),
		Command: replayCommand(cfg),
	})
	if err != nil {
		return 0, setupError(err)
	}
	printSummary(stdout, out.Dir, out.Result)
	return out.ExitCode(), nil
}

// parseConcurrency accepts "6" or "2n" (two per node).
func parseConcurrency(s string, nodes int) (int, error) {
	per, isPer := strings.CutSuffix(s, "n")
	n, err := strconv.Atoi(per)
	if err != nil || n < 1 {
		return 0, errorf("--concurrency %q must be a positive number, or Nn for N clients per node", s)
	}
	if isPer {
		n *= nodes
	}
	return n, nil
}

// parseRate reads a rate in bytes per second: "65536", "64KB", "1MB/s".
func parseRate(s string) (int64, error) {
	num := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 {
		return 0, errorf("--bandwidth %q must be a positive rate in bytes per second, like 64KB/s or 1MB/s", s)
	}
	return int64(n * float64(mult)), nil
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1 // fits any JSON reader's integers
}

// replayCommand is the command line that repeats cfg exactly.
func replayCommand(c jetsam.Config) []string {
	return []string{"jetsam", "run",
		"--nodes", strconv.Itoa(c.Nodes), "--replicas", strconv.Itoa(c.Replicas),
		"--workload", c.Workload, "--concurrency", strconv.Itoa(c.Concurrency),
		"--rate", strconv.FormatFloat(c.Rate, 'g', -1, 64), "--keys", strconv.Itoa(c.Keys),
		"--ops-per-key", strconv.Itoa(c.OpsPerKey), "--read-mode", c.ReadMode,
		"--time-limit", c.TimeLimit.String(), "--op-timeout", c.OpTimeout.String(),
		"--nemesis", orNone(c.Nemesis), "--nemesis-interval", c.NemesisInterval.String(),
		"--nemesis-overlap=" + strconv.FormatBool(c.NemesisOverlap),
		"--partition-shapes", strings.Join(c.PartitionShapes, ","), "--targets", strings.Join(c.Targets, ","),
		"--sync-interval", c.SyncInterval, "--writeback", c.Writeback.String(),
		"--corrupt-files", strings.Join(c.CorruptFiles, ","), "--route-compression", c.RouteCompression,
		"--route-pool-size", strconv.Itoa(c.RoutePoolSize), "--cut-mode", c.CutMode,
		"--latency", c.Latency.String(), "--jitter", c.Jitter.String(), "--bandwidth", nemesis.FormatRate(c.Bandwidth),
		"--seed", strconv.FormatUint(c.Seed, 10), "--name", c.Name, "--store", c.Store,
		"--check-timeout", c.CheckTimeout.String(), "--recover-timeout", c.RecoverTimeout.String(),
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

func cmdCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("check", `Usage: jetsam check [flags] PATH

Checks a stored history again, offline: PATH is a run folder (or store/latest)
or a history file. Prints the verdict; the exit code is the verdict's:
0 valid, 1 anomaly found, 2 unknown, 3 PATH is not a readable history.`, stdout)
	timeout := fs.Duration("check-timeout", time.Duration(jetsam.Defaults().CheckTimeout), "time limit of the linearizability search; past it the verdict is unknown")
	write := fs.Bool("write", false, "also (re)write results.json and report.html in the run folder")
	format := fs.String("format", results.FormatJetsam, "history format: jetsam (history.jsonl), or jepsen (Jepsen's log lines or EDN op maps, for register read/write/cas and key-value get/put/append histories)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() != 1 {
		return 0, errorf("check needs one run folder or history file: jetsam check store/latest")
	}
	path := fs.Arg(0)
	hp, dir, err := results.ResolveHistory(path)
	if err != nil {
		return 0, cliError{err.Error()}
	}
	ctx, stop := interruptible(stderr)
	defer stop()
	res, err := results.CheckFormat(ctx, hp, *format, checker.Options{Timeout: *timeout})
	if err != nil {
		return 0, cliError{err.Error()}
	}
	if dir != "" {
		// A run stopped before its final phase stays unknown on re-check.
		var ti results.TestInfo
		if results.ReadJSON(filepath.Join(dir, results.TestFile), &ti) == nil && (ti.Run.Interrupted || ti.Run.Error != "") {
			res.Valid = checker.Merge(res.Valid, checker.Unknown)
		}
	}
	if *write {
		if dir == "" {
			return 0, errorf("--write needs a run folder, not a bare history file")
		}
		if err := results.WriteResults(dir, res); err != nil {
			return 0, err
		}
		if err := results.WriteReport(dir, *timeout); err != nil {
			return 0, err
		}
	}
	printSummary(stdout, dir, res)
	return exitFor(res.Valid), nil
}

func exitFor(v checker.Validity) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitAnomaly
	}
	return exitUnknown
}

func cmdReport(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("report", `Usage: jetsam report DIR

Rebuilds DIR/report.html from the run folder's test.json, results.json and
history.jsonl.`, stdout)
	timeout := fs.Duration("diagram-timeout", time.Minute, "time limit for computing each linearization diagram")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() != 1 {
		return 0, errorf("report needs one run folder: jetsam report store/latest")
	}
	dir := fs.Arg(0)
	if err := results.WriteReport(dir, *timeout); err != nil {
		return 0, cliError{fmt.Sprintf("cannot build the report of %s: %v", dir, err)}
	}
	fmt.Fprintln(stdout, filepath.Join(dir, results.ReportFile))
	return exitValid, nil
}

func cmdNode(args []string, stderr io.Writer) (int, error) {
	fs := newFlagSet("node", `Usage: jetsam node --config FILE

Runs one nats-server (embedded in this binary) from a config file until
SIGTERM or SIGINT. 'jetsam run' starts one per node.`, stderr)
	config := fs.String("config", "", "nats-server config file")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if *config == "" {
		return 0, errorf("node needs --config FILE")
	}
	if err := node.RunEmbedded(*config); err != nil {
		return 0, cliError{"node: " + err.Error()}
	}
	return exitValid, nil
}

func versions() string {
	return fmt.Sprintf("nats-server %s (embedded)\n%s", node.ServerVersion, runtime.Version())
}

// printSummary tells a person what the run found, in a few lines.
func printSummary(w io.Writer, dir string, res *checker.Result) {
	verdict := map[checker.Validity]string{
		checker.Valid: "VALID", checker.Invalid: "INVALID: anomalies found", checker.Unknown: "UNKNOWN",
	}[res.Valid]
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	fmt.Fprintf(w, "ops: ok %d, fail %d, info %d; %.0f ok/s over %.1fs; latency p50 %.1fms p99 %.1fms\n",
		res.Ops.OK, res.Ops.Fail, res.Ops.Info, res.Stats.OKPerSecond, res.Stats.Seconds, res.Stats.LatencyP50, res.Stats.LatencyP99)
	for _, f := range res.Faults {
		after := "no ok op after the heal"
		if f.FirstOKAfter != nil {
			after = fmt.Sprintf("first ok %.2fs after the heal, %d ok after", float64(*f.FirstOKAfter)/1e9, f.OKAfter)
		}
		fmt.Fprintf(w, "fault: %s at %.1fs: %d ok during; %s\n", f.Describe(), float64(f.Start)/1e9, f.OKDuring, after)
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	for name, c := range res.Checkers {
		fmt.Fprintf(w, "checker %s: %s\n", name, c.Valid)
		for _, n := range c.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for i, a := range c.Anomalies {
			if i == 5 {
				fmt.Fprintf(w, "  ... %d more listed in results.json\n", len(c.Anomalies)-5)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Explanation)
		}
	}
	fmt.Fprintf(w, "check took %.2fs\n", res.CheckSeconds)
	if dir != "" {
		fmt.Fprintf(w, "report: %s\n", filepath.Join(dir, results.ReportFile))
	}
}
