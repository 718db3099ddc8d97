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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/node/remote"
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
	if err == pflag.ErrHelp { // pflag has printed the usage
		return true, nil
	}
	if err != nil {
		return false, errorf("%v: run 'jetsam %s --help' for the flags", err, fs.Name())
	}
	return false, nil
}

// runFlags are the flags that define a run. The same set parses the
// command line of run, a scenario's flags, and each side's flags in
// compare; overlay applies only the flags a parse set, so each layer
// changes only what it names.
type runFlags struct {
	fs    *pflag.FlagSet
	apply map[string]func(*jetsam.Config) error
}

// addRunFlags defines the run flags on fs.
func addRunFlags(fs *pflag.FlagSet) *runFlags {
	d := jetsam.Defaults()
	rf := &runFlags{fs: fs, apply: map[string]func(*jetsam.Config) error{}}
	str := func(name, def, usage string, set func(*jetsam.Config, string)) {
		v := fs.String(name, def, usage)
		rf.apply[name] = func(c *jetsam.Config) error { set(c, *v); return nil }
	}
	integer := func(name string, def int, usage string, set func(*jetsam.Config, int)) {
		v := fs.Int(name, def, usage)
		rf.apply[name] = func(c *jetsam.Config) error { set(c, *v); return nil }
	}
	dur := func(name string, def jetsam.Duration, usage string, set func(*jetsam.Config, jetsam.Duration)) {
		v := fs.Duration(name, time.Duration(def), usage)
		rf.apply[name] = func(c *jetsam.Config) error { set(c, jetsam.Duration(*v)); return nil }
	}
	list := func(name string, def []string, usage string, set func(*jetsam.Config, []string)) {
		v := fs.StringSlice(name, def, usage)
		rf.apply[name] = func(c *jetsam.Config) error { set(c, *v); return nil }
	}
	boolean := func(name, usage string, set func(*jetsam.Config, bool)) {
		v := fs.Bool(name, false, usage)
		rf.apply[name] = func(c *jetsam.Config) error { set(c, *v); return nil }
	}
	integer("nodes", d.Nodes, "number of nats-server nodes", func(c *jetsam.Config, v int) { c.Nodes = v })
	integer("replicas", d.Replicas, "replicas of the KV bucket's stream (at most --nodes)", func(c *jetsam.Config, v int) { c.Replicas = v })
	str("workload", d.Workload, "workloads, comma separated, each with --concurrency clients of its own: kv (a register per key: read, write, compare-and-set, create, delete), log (a stream as a log: conditional and deduplicated appends, reads by sequence), queue (enqueue, and fetch and ack from a durable consumer)", func(c *jetsam.Config, v string) { c.Workload = v })
	concurrency := fs.String("concurrency", "2n", "client count; a number, or Nn for N per node")
	// Applied after --nodes (see overlay).
	rf.apply["concurrency"] = func(c *jetsam.Config) (err error) {
		c.Concurrency, err = parseConcurrency(*concurrency, c.Nodes)
		return err
	}
	integer("readers", d.Readers, "read-only clients per node for each workload that reads (kv, log), beside --concurrency: they keep reading on a node whose writes wait for a quorum, so a cut-off leader's stale answers are seen (0: none)", func(c *jetsam.Config, v int) { c.Readers = v })
	rate := fs.Float64("rate", d.Rate, "operations per second over all clients (0: unlimited)")
	rf.apply["rate"] = func(c *jetsam.Config) error { c.Rate = *rate; return nil }
	integer("keys", d.Keys, "keys in use at once", func(c *jetsam.Config, v int) { c.Keys = v })
	integer("ops-per-key", d.OpsPerKey, "operations after which a key is retired for a fresh one, keeping each key's history quick to check (0: never)", func(c *jetsam.Config, v int) { c.OpsPerKey = v })
	str("read-mode", d.ReadMode, "how reads are served: leader (stream leader's get), direct (any replica), mixed (drawn per read), none (no reads until the final phase)", func(c *jetsam.Config, v string) { c.ReadMode = v })
	dur("time-limit", d.TimeLimit, "length of the main phase (workload under faults)", func(c *jetsam.Config, v jetsam.Duration) { c.TimeLimit = v })
	dur("op-timeout", d.OpTimeout, "per-operation timeout; an operation that times out is indeterminate", func(c *jetsam.Config, v jetsam.Duration) { c.OpTimeout = v })
	list("nemesis", d.Nemesis, "fault packages, comma separated: "+strings.Join(nemesis.Packages, ", ")+"; or none, all", func(c *jetsam.Config, v []string) { c.Nemesis = v })
	dur("nemesis-interval", d.NemesisInterval, "quiet time before each fault, and how long each fault holds", func(c *jetsam.Config, v jetsam.Duration) { c.NemesisInterval = v })
	boolean("nemesis-overlap", "run each fault package on its own schedule, so faults of different packages overlap (default: one fault at a time)", func(c *jetsam.Config, v bool) { c.NemesisOverlap = v })
	list("partition-shapes", nil, "partition shapes to draw from (default: all the cluster is big enough for): "+
		"one (isolate a random node), minority (a random minority), halves (random halves), ring (every node hears a different majority), "+
		"bridge (two halves joined by one node), leader (isolate the stream leader), meta-leader (isolate the meta leader), "+
		"asymmetric (one node's outbound or inbound bytes cut)", func(c *jetsam.Config, v []string) { c.PartitionShapes = v })
	list("targets", nil, "what kill and pause hit, drawn per fault (default: all the cluster is big enough for): "+
		"one (a random node), minority, majority, all, leader (the stream's leader at that moment), meta-leader", func(c *jetsam.Config, v []string) { c.Targets = v })
	str("sync-interval", d.SyncInterval, "every node's JetStream sync interval: default (the server's, 2m), always (fsync every write), or a duration such as 1s", func(c *jetsam.Config, v string) { c.SyncInterval = v })
	dur("writeback", d.Writeback, "with power-loss: data dirty this long is written back without a sync, as Linux's flusher does (0: only fsync makes data durable)", func(c *jetsam.Config, v jetsam.Duration) { c.Writeback = v })
	list("corrupt-files", nil, "file types the corrupt package damages, drawn per fault (default: all): "+
		"blk (message blocks), idx (stream indexes), meta (stream configs), snap (raft snapshots), raft-log, raft-state (term, vote, peers)", func(c *jetsam.Config, v []string) { c.CorruptFiles = v })
	str("route-compression", "", "route compression of every node: "+strings.Join(jetsam.RouteCompressions, ", ")+" (default: the server's)", func(c *jetsam.Config, v string) { c.RouteCompression = v })
	integer("route-pool-size", 0, "routes per node pair: -1 for one (as before route pooling), 0 for the server's default, or a count", func(c *jetsam.Config, v int) { c.RoutePoolSize = v })
	boolean("route-tls", "make every route mutual TLS, with a CA and per-node certificates made for the run (the proxies carry TLS untouched)", func(c *jetsam.Config, v bool) { c.RouteTLS = v })
	str("server-version", "", "run nodes of this released nats-server (e.g. v2.12.1), built once from the Go module proxy and cached (needs the go command)", func(c *jetsam.Config, v string) { c.SetServer(build.Spec{Kind: build.Version, Value: v}) })
	str("server-src", "", "run nodes built from this nats-server source tree, cached by its commit and a hash of uncommitted changes (needs the go command)", func(c *jetsam.Config, v string) { c.SetServer(build.Spec{Kind: build.Src, Value: v}) })
	str("server-bin", "", "run nodes with this nats-server binary (default: the server embedded in jetsam)", func(c *jetsam.Config, v string) { c.SetServer(build.Spec{Kind: build.Bin, Value: v}) })
	hostsFile := fs.String("hosts", "", "run the nodes on remote hosts over SSH: a file with one user@host[:port] per line, one host per node")
	rf.apply["hosts"] = func(c *jetsam.Config) error {
		hs, err := remote.ReadHostsFile(*hostsFile)
		if err != nil {
			return cliError{err.Error()}
		}
		c.Hosts = nil
		for _, h := range hs {
			c.Hosts = append(c.Hosts, h.String())
		}
		if !rf.fs.Changed("nodes") {
			c.Nodes = len(c.Hosts)
		}
		return nil
	}
	host := fs.StringArray("host", nil, "a remote host for one node, user@host[:port]; repeat it, once per node (instead of --hosts)")
	rf.apply["host"] = func(c *jetsam.Config) error {
		c.Hosts = nil
		for _, h := range *host {
			hh, err := remote.ParseHost(h)
			if err != nil {
				return cliError{err.Error()}
			}
			c.Hosts = append(c.Hosts, hh.String())
		}
		if !rf.fs.Changed("nodes") {
			c.Nodes = len(c.Hosts)
		}
		return nil
	}
	str("ssh-key", "", "private key for the hosts (default: the keys of the SSH agent at $SSH_AUTH_SOCK)", func(c *jetsam.Config, v string) { c.SSHKey = v })
	str("known-hosts", "", "known_hosts file the hosts' keys are checked against (default ~/.ssh/known_hosts)", func(c *jetsam.Config, v string) { c.KnownHosts = v })
	boolean("ssh-insecure", "do not check the hosts' keys (for a throwaway lab only)", func(c *jetsam.Config, v bool) { c.SSHInsecure = v })
	str("remote-dir", node.DefaultRemoteDir, "jetsam's folder on each host: its binaries, and each run's node folders until they are brought back", func(c *jetsam.Config, v string) { c.RemoteDir = v })
	str("cut-mode", d.CutMode, "how a cut link treats new connections: hold (unanswered, like a dropped SYN) or refuse (reset at once)", func(c *jetsam.Config, v string) { c.CutMode = v })
	dur("latency", d.Latency, "delay the latency package adds to each byte on a link, both ways", func(c *jetsam.Config, v jetsam.Duration) { c.Latency = v })
	dur("jitter", d.Jitter, "the latency package's delay varies by up to this much either way (bytes stay in order)", func(c *jetsam.Config, v jetsam.Duration) { c.Jitter = v })
	bandwidth := fs.String("bandwidth", nemesis.FormatRate(d.Bandwidth), "rate cap the bandwidth package puts on each direction of a link, e.g. 64KB/s, 1MB/s")
	rf.apply["bandwidth"] = func(c *jetsam.Config) (err error) {
		c.Bandwidth, err = parseRate(*bandwidth)
		return err
	}
	seed := fs.Uint64("seed", 0, "seed for the fault schedule, targets, keys and values (default: random, and recorded)")
	rf.apply["seed"] = func(c *jetsam.Config) error { c.Seed = *seed; return nil }
	str("store", d.Store, "folder that holds every run", func(c *jetsam.Config, v string) { c.Store = v })
	str("name", d.Name, "test name: runs are stored under --store/<name>/", func(c *jetsam.Config, v string) { c.Name = v })
	dur("check-timeout", d.CheckTimeout, "time limit of the linearizability search; past it the verdict is unknown", func(c *jetsam.Config, v jetsam.Duration) { c.CheckTimeout = v })
	dur("recover-timeout", d.RecoverTimeout, "how long to wait for the cluster to recover after the last heal, and for the final reads", func(c *jetsam.Config, v jetsam.Duration) { c.RecoverTimeout = v })
	integer("base-port", 0, "first of 3 consecutive ports per node (client, cluster, monitoring); 0 picks free ports", func(c *jetsam.Config, v int) { c.BasePort = v })
	return rf
}

// overlay applies to cfg every run flag the last parse set, and no other.
func (rf *runFlags) overlay(cfg *jetsam.Config) error {
	var changed []string
	rf.fs.Visit(func(f *pflag.Flag) {
		if rf.apply[f.Name] != nil {
			changed = append(changed, f.Name)
		}
	})
	servers := 0
	for _, f := range []string{"server-version", "server-src", "server-bin"} {
		if rf.fs.Changed(f) {
			servers++
		}
	}
	if servers > 1 {
		return errorf("give at most one of --server-version, --server-src and --server-bin")
	}
	if rf.fs.Changed("hosts") && rf.fs.Changed("host") {
		return errorf("give the hosts either in a --hosts file or with --host, not both")
	}
	// A count per node needs the node count first, which the hosts may
	// give.
	rank := func(f string) int {
		switch f {
		case "hosts", "host":
			return 0
		case "concurrency":
			return 2
		}
		return 1
	}
	slices.SortStableFunc(changed, func(a, b string) int { return rank(a) - rank(b) })
	for _, name := range changed {
		if err := rf.apply[name](cfg); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// overlayArgs parses args (run flags only, such as a scenario's or one
// side's of a comparison) and applies what they set to cfg. what names
// them in errors. Flags in refused may not appear.
func overlayArgs(cfg *jetsam.Config, what string, args []string, refused ...string) error {
	fs := pflag.NewFlagSet(what, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rf := addRunFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errorf("%s: %v", what, err)
	}
	if fs.NArg() > 0 {
		return errorf("%s: %q is not a flag", what, fs.Args())
	}
	for _, r := range refused {
		if fs.Changed(r) {
			return errorf("%s may not set --%s", what, r)
		}
	}
	return rf.overlay(cfg)
}

func cmdRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("run", `Usage: jetsam run [flags]

Starts a local JetStream cluster (one nats-server process per node, every
route through a link proxy), runs the workload under the nemesis for
--time-limit, heals, reads every key once more, stops the cluster and checks
the history. Everything lands in --store/<name>/<time>/.

A scenario (--scenario, listed by 'jetsam scenarios') is a saved set of
these flags; flags given as well override it.

Exit codes: 0 valid, 1 anomaly found, 2 unknown, 3 the test could not run.`, stdout)
	rf := addRunFlags(fs)
	scenario := fs.String("scenario", "", "start from a named scenario's flags (see 'jetsam scenarios')")
	replay := fs.String("replay", "", "run folder whose test.json to replay: same configuration and seed (flags given as well override it)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("run takes no arguments, got %q: run 'jetsam run --help' for the flags", fs.Args())
	}

	cfg := jetsam.Defaults()
	if *replay != "" {
		var ti results.TestInfo
		if err := results.ReadJSON(filepath.Join(*replay, results.TestFile), &ti); err != nil {
			return 0, errorf("cannot replay %s: %v", *replay, err)
		}
		if err := json.Unmarshal(ti.Config, &cfg); err != nil {
			return 0, errorf("cannot replay %s: its test.json has no usable config: %v", *replay, err)
		}
	}
	if *scenario != "" {
		if err := applyScenario(&cfg, *scenario); err != nil {
			return 0, err
		}
	}
	if err := rf.overlay(&cfg); err != nil {
		return 0, err
	}
	if !fs.Changed("seed") && *replay == "" {
		cfg.Seed = randomSeed()
	}
	return runConfig(cfg, stdout, stderr)
}

// runConfig checks cfg, runs it and prints the summary.
func runConfig(cfg jetsam.Config, stdout, stderr io.Writer) (int, error) {
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
	cmd := []string{"jetsam", "run",
		"--nodes", strconv.Itoa(c.Nodes), "--replicas", strconv.Itoa(c.Replicas),
		"--workload", c.Workload, "--concurrency", strconv.Itoa(c.Concurrency), "--readers", strconv.Itoa(c.Readers),
		"--rate", strconv.FormatFloat(c.Rate, 'g', -1, 64), "--keys", strconv.Itoa(c.Keys),
		"--ops-per-key", strconv.Itoa(c.OpsPerKey), "--read-mode", c.ReadMode,
		"--time-limit", c.TimeLimit.String(), "--op-timeout", c.OpTimeout.String(),
		"--nemesis", orNone(c.Nemesis), "--nemesis-interval", c.NemesisInterval.String(),
		"--nemesis-overlap=" + strconv.FormatBool(c.NemesisOverlap),
		"--partition-shapes", strings.Join(c.PartitionShapes, ","), "--targets", strings.Join(c.Targets, ","),
		"--sync-interval", c.SyncInterval, "--writeback", c.Writeback.String(),
		"--corrupt-files", strings.Join(c.CorruptFiles, ","), "--route-compression", c.RouteCompression,
		"--route-pool-size", strconv.Itoa(c.RoutePoolSize), "--route-tls=" + strconv.FormatBool(c.RouteTLS), "--cut-mode", c.CutMode,
		"--latency", c.Latency.String(), "--jitter", c.Jitter.String(), "--bandwidth", nemesis.FormatRate(c.Bandwidth),
		"--seed", strconv.FormatUint(c.Seed, 10), "--name", c.Name, "--store", c.Store,
		"--check-timeout", c.CheckTimeout.String(), "--recover-timeout", c.RecoverTimeout.String(),
	}
	if sp := c.Server(); sp.Kind != build.Embedded {
		cmd = append(cmd, "--server-"+sp.Kind, sp.Value)
	}
	for _, h := range c.Hosts {
		cmd = append(cmd, "--host", h)
	}
	if len(c.Hosts) > 0 {
		cmd = append(cmd, "--remote-dir", c.RemoteDir)
		if c.SSHKey != "" {
			cmd = append(cmd, "--ssh-key", c.SSHKey)
		}
		if c.KnownHosts != "" {
			cmd = append(cmd, "--known-hosts", c.KnownHosts)
		}
		if c.SSHInsecure {
			cmd = append(cmd, "--ssh-insecure")
		}
	}
	return cmd
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
	_, dir, err := results.ResolveHistory(path)
	if err != nil {
		return 0, cliError{err.Error()}
	}
	if *write && dir == "" {
		return 0, errorf("--write needs a run folder, not a bare history file")
	}
	ctx, stop := interruptible(stderr)
	defer stop()
	// The folder, not its history file: the nodes' logs are judged too.
	res, err := results.Recheck(ctx, path, *format, checker.Options{Timeout: *timeout})
	if err != nil {
		return 0, cliError{err.Error()}
	}
	if *write {
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

// checkerOrder names a result's checkers in checker.Names order, then any
// other by name, so a summary reads the same every time.
func checkerOrder(res *checker.Result) []string {
	var out, other []string
	for _, n := range checker.Names {
		if res.Checkers[n] != nil {
			out = append(out, n)
		}
	}
	for n := range res.Checkers {
		if !slices.Contains(checker.Names, n) {
			other = append(other, n)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// printSummary tells a person what the run found, in a few lines.
func printSummary(w io.Writer, dir string, res *checker.Result) {
	verdict := map[checker.Validity]string{
		checker.Valid: "VALID", checker.Invalid: "INVALID: anomalies found", checker.Unknown: "UNKNOWN",
	}[res.Valid]
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	if res.Timeless || res.Stats.Seconds == 0 {
		fmt.Fprintf(w, "ops: ok %d, fail %d, info %d\n", res.Ops.OK, res.Ops.Fail, res.Ops.Info)
	} else {
		fmt.Fprintf(w, "ops: ok %d, fail %d, info %d; %.0f ok/s over %.1fs; latency p50 %.1fms p99 %.1fms\n",
			res.Ops.OK, res.Ops.Fail, res.Ops.Info, res.Stats.OKPerSecond, res.Stats.Seconds, res.Stats.LatencyP50, res.Stats.LatencyP99)
	}
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
	for _, name := range checkerOrder(res) {
		c := res.Checkers[name]
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
