package jetsam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/retry"
	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/node/remote"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/workload"
)

// ErrSetup wraps every error that kept a run from starting: exit code 3.
var ErrSetup = errors.New("the test could not run")

// Sentence is what err says went wrong, without ErrSetup's words when it
// wraps it.
func Sentence(err error) string {
	if errors.Is(err, ErrSetup) {
		return strings.TrimPrefix(err.Error(), ErrSetup.Error()+": ")
	}
	return err.Error()
}

// Outcome is what a run produced.
type Outcome struct {
	// Dir is the run folder under the store.
	Dir    string
	Result *checker.Result
	Test   *results.TestInfo
	// Interrupted: the run was stopped before its final phase.
	Interrupted bool
}

// ExitCode maps the outcome to jetsam's exit codes: 0 valid, 1 anomaly,
// 2 unknown.
func (o *Outcome) ExitCode() int {
	switch o.Result.Valid {
	case checker.Valid:
		return 0
	case checker.Invalid:
		return 1
	}
	return 2
}

// RunOptions are how a run talks to the person watching it.
type RunOptions struct {
	// Status receives the progress line; Log receives one line per event
	// worth knowing (cluster ready, faults). Either may be nil.
	Status io.Writer
	Log    io.Writer
	// StatusIsTerminal redraws the status line in place.
	StatusIsTerminal bool
	// Command is the command line that replays this run.
	Command []string
	// Folder, when set, is told the run folder as soon as it exists, so a
	// caller that must quit before Run returns can still name it.
	Folder func(dir string)

	// beforeRecover, in this package's tests, acts on the cluster after
	// the last heal, before the wait for recovery: to break it for good.
	beforeRecover func(*node.Cluster)
}

// Bucket is the KV bucket the register workload uses.
const Bucket = "jetsam"

// Run performs one test: start the cluster, run the workload under the
// nemesis, heal, recover, read finally, stop the cluster, check and store.
// When ctx ends early the run stops its clients and nodes and still checks
// and stores the history it has. Errors wrapping ErrSetup mean nothing was
// tested.
func Run(ctx context.Context, cfg Config, ro RunOptions) (out *Outcome, err error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if len(cfg.NodeCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("%w: find this binary to run nodes: %w", ErrSetup, err)
		}
		cfg.NodeCommand = []string{exe, "node"}
	}
	logf := func(format string, args ...any) {
		if ro.Log == nil {
			return
		}
		if ro.StatusIsTerminal {
			// Clear the status line being redrawn in place; the next tick
			// draws it again below this line.
			format = "\r\033[K" + format
		}
		fmt.Fprintf(ro.Log, format+"\n", args...)
	}
	started := time.Now()
	previous, _ := os.Readlink(filepath.Join(cfg.Store, results.LatestLink))
	dir, err := results.NewRunDir(cfg.Store, cfg.Name, started)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r := &runner{cfg: cfg, ro: ro, dir: dir, logf: logf, stopStatus: func() {}, previousLatest: previous}
	setup := "setup"
	r.current.Store(&setup)
	cfgJSON, _ := json.Marshal(cfg)
	r.test = &results.TestInfo{
		Name: cfg.Name, Seed: cfg.Seed, Command: ro.Command, Config: cfgJSON,
		Versions: results.Versions{Jetsam: Version(), NatsServer: node.ServerVersion, Go: runtime.Version()},
		Started:  started.UTC(),
		Run:      results.RunInfo{Phase: "setup"},
	}
	if err := r.saveTest(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	logf("jetsam: run folder %s", dir)
	if ro.Folder != nil {
		ro.Folder(dir)
	}

	defer func() {
		if p := recover(); p != nil {
			r.teardown()
			stack := filepath.Join(dir, "panic.txt")
			_ = os.WriteFile(stack, fmt.Appendf(nil, "%v\n\n%s", p, debug.Stack()), 0o644)
			err = fmt.Errorf("internal error (a bug in jetsam: %v); the stack is in %s", p, stack)
		}
	}()
	return r.run(ctx)
}

type runner struct {
	cfg  Config
	ro   RunOptions
	dir  string
	logf func(string, ...any)
	test *results.TestInfo

	cluster *node.Cluster
	clients []*remote.Client // the SSH connections to remote hosts
	// clientLinks maps each client's link to the node it reaches.
	clientLinks map[string]string
	workloads   []workload.Workload
	kinds       []workload.Kind // the workloads', in the same order
	rec         *history.Recorder
	stopOnce    sync.Once
	// stopStatus ends the progress line.
	stopStatus func()
	// previousLatest is where store/latest pointed before this run.
	previousLatest string
	// current is the phase shown on the status line.
	current atomic.Pointer[string]
}

func (r *runner) saveTest() error {
	return results.WriteJSON(filepath.Join(r.dir, results.TestFile), r.test)
}

func (r *runner) phase(p string) {
	r.test.Run.Phase = p
	r.current.Store(&p)
	_ = r.saveTest()
}

func (r *runner) run(ctx context.Context) (*Outcome, error) {
	defer r.teardown()
	if err := r.setup(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted during setup: %w", err)
		}
		// Nothing was tested: no folder is left, and latest is as it was.
		r.teardown()
		if derr := results.DiscardRunDir(r.cfg.Store, r.dir, r.previousLatest); derr != nil {
			r.logf("jetsam: %v", derr)
		}
		return &Outcome{Test: r.test}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	runErr := r.mainPhase(ctx)
	interrupted := ctx.Err() != nil
	if !interrupted && runErr == nil {
		r.recoverAndRead(ctx)
		interrupted = ctx.Err() != nil
	}
	// The links' counters at the end, for the results.
	r.rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: "links", Links: r.cluster.LinkStats()})
	if runErr != nil {
		r.test.Run.Error = runErr.Error()
	}
	r.test.Run.Interrupted = interrupted
	if interrupted {
		r.logf("jetsam: interrupted; stopping the cluster and checking the history so far")
	}
	return r.checkAndStore()
}

// setup prepares the server, starts the cluster, sets up the workloads and
// opens the history. Nothing has been tested if it fails.
func (r *runner) setup(ctx context.Context) error {
	if err := r.startCluster(ctx); err != nil {
		return err
	}
	if err := r.setupWorkloads(ctx); err != nil {
		return fmt.Errorf("could not set up the workload: %w", err)
	}
	rec, err := history.Create(filepath.Join(r.dir, results.HistoryFile))
	if err != nil {
		return err
	}
	r.rec = rec
	r.test.Run.HistoryStarted = rec.Start().UTC()
	return nil
}

// startCluster builds or finds the server under test and starts the nodes.
func (r *runner) startCluster(ctx context.Context) error {
	cfg := r.cfg
	srv, err := build.Prepare(ctx, cfg.Server(), build.Options{Self: cfg.NodeCommand, EmbeddedVersion: node.ServerVersion, Log: r.logf, Assertions: cfg.ServerAssertions})
	if err != nil {
		return err
	}
	r.test.Server = &results.ServerInfo{
		Spec: srv.Spec.String(), Identity: srv.Identity, Binary: srv.Binary, Cached: srv.Cached, BuildSeconds: srv.BuildSeconds,
		RouteCompression: cfg.RouteCompression, RoutePoolSize: cfg.RoutePoolSize, RouteTLS: cfg.RouteTLS,
	}
	r.test.Versions.NatsServer = srv.Version
	_ = r.saveTest()
	var hosts *node.Hosts
	if len(cfg.Hosts) > 0 {
		if hosts, err = r.connectHosts(ctx, srv); err != nil {
			return err
		}
	}
	r.logf("jetsam: starting %d nodes (nats-server %s)", cfg.Nodes, srv.Identity)
	cluster, err := node.Start(ctx, node.Options{Hosts: hosts,
		Nodes: cfg.Nodes, Dir: filepath.Join(r.dir, results.NodesDir), BasePort: cfg.BasePort,
		Command: srv.Command, Jetsam: cfg.NodeCommand[:1], ServerVersion: srv.Version, SyncInterval: syncInterval(cfg.SyncInterval),
		PowerLoss: nemesis.NeedsVolatileDisks(cfg.Nemesis), FrameRoutes: nemesis.NeedsFramedRoutes(cfg.Nemesis), Writeback: time.Duration(cfg.Writeback),
		RouteCompression: cfg.RouteCompression, RoutePoolSize: cfg.RoutePoolSize, RouteTLS: cfg.RouteTLS, Assertions: srv.Assertions,
	})
	if err != nil {
		return fmt.Errorf("could not start the cluster: %w", err)
	}
	r.cluster = cluster
	r.test.Run.ReadySeconds = cluster.ReadyIn.Seconds()
	r.recordReported(ctx, srv)
	r.logf("jetsam: cluster of %d nodes ready in %.2fs", cfg.Nodes, cluster.ReadyIn.Seconds())
	return nil
}

// recordReported puts what the nodes say they run, and their ports, into
// test.json.
func (r *runner) recordReported(ctx context.Context, srv *build.Server) {
	for _, rep := range r.cluster.Reported(ctx) {
		if srv.Spec.Kind == build.Embedded {
			// The embedded server takes its commit from jetsam's own build
			// info: it would name jetsam's commit, not a nats-server one.
			rep.GitCommit = ""
		}
		r.test.Server.Reported = append(r.test.Server.Reported, results.ReportedServer{Node: rep.Node, Version: rep.Version, GitCommit: rep.GitCommit, Go: rep.Go})
		r.test.Versions.NatsServer = rep.Version
	}
	r.logf("jetsam: nats-server %s", r.test.Server.Summary())
	for _, n := range r.cluster.Nodes() {
		s := n.Spec
		r.test.Run.Nodes = append(r.test.Run.Nodes, results.NodeInfo{Name: s.Name, ClientPort: s.ClientPort, ClusterPort: s.ClusterPort, HTTPPort: s.HTTPPort})
	}
}

// setupWorkloads gives every client a link of its own to its node, makes
// the workloads and creates their streams.
func (r *runner) setupWorkloads(ctx context.Context) error {
	cfg, cluster := r.cfg, r.cluster
	// Each client reaches its node through a proxy of its own, so it can be
	// cut off without touching the routes.
	r.clientLinks = map[string]string{}
	cluster.Net().SetRefuse(cfg.CutMode == CutRefuse)
	kinds := cfg.Kinds()
	counts, total := make([]int, len(kinds)), 0
	for i, k := range kinds {
		counts[i] = cfg.Concurrency + r.readers(k)
		total += counts[i]
	}
	first := 0
	for i, k := range kinds {
		o := workload.Options{
			Replicas: cfg.Replicas, Rate: cfg.Rate / float64(len(kinds)), Seed: cfg.Seed,
			FirstProcess: first, Stride: total, Isolate: r.isolate, WorkloadSettings: cfg.WorkloadSettings,
		}
		for c := 0; c < counts[i]; c++ {
			nodeName := cluster.Nodes()[c%cfg.Nodes].Spec.Name
			linkName := fmt.Sprintf("c%d", first+c)
			addr, err := cluster.AddClientLink(linkName, nodeName)
			if err != nil {
				return err
			}
			r.clientLinks[linkName] = nodeName
			o.Clients = append(o.Clients, workload.Endpoint{Node: nodeName, URL: "nats://" + addr, ReadOnly: c >= cfg.Concurrency})
		}
		first += counts[i]
		r.workloads = append(r.workloads, k.New(o))
		r.kinds = append(r.kinds, k)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, w := range r.workloads {
		if err := w.Setup(sctx); err != nil {
			return fmt.Errorf("%s: %w", w.Name(), err)
		}
		if err := retry.Do(sctx, retry.Every(250*time.Millisecond), func(ctx context.Context) error { return cluster.StreamCurrent(ctx, w.Stream()) }); err != nil {
			return err
		}
	}
	return nil
}

// readers is how many read-only clients a workload gets: a count per node
// for a workload that reads while faults are active.
func (r *runner) readers(k workload.Kind) int {
	if r.cfg.ReadMode == workload.ReadNone || !k.Reads {
		return 0
	}
	return r.cfg.Readers * r.cfg.Nodes
}

// mainPhase runs the clients and the nemesis until the time limit.
func (r *runner) mainPhase(ctx context.Context) error {
	cfg := r.cfg
	r.phase("main")
	nem := nemesis.New(r.cluster, r.rec, nemesis.Options{FaultSettings: cfg.FaultSettings,
		Clients: r.clientLinks, Streams: streamsOf(r.workloads), Stream: r.workloads[0].Stream(), Seed: cfg.Seed, Logf: r.logf})
	mctx, mcancel := context.WithTimeout(ctx, time.Duration(cfg.TimeLimit))
	defer mcancel()
	r.stopStatus = r.status(ctx, nem)
	var wg sync.WaitGroup
	var runErr error
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		runErr = errors.Join(runErr, err)
		errMu.Unlock()
		mcancel()
	}
	wg.Add(1 + len(r.workloads))
	go func() {
		defer wg.Done()
		defer catch(fail)
		_ = nem.Run(mctx)
	}()
	for _, w := range r.workloads {
		go func() {
			defer wg.Done()
			defer catch(fail)
			if err := w.Run(mctx, r.rec); err != nil {
				fail(fmt.Errorf("%s: %w", w.Name(), err))
			}
		}()
	}
	wg.Wait()
	return runErr
}

// recoverAndRead waits for the cluster to recover after the last heal,
// recording what it saw, then runs every workload's final reads. The final
// reads go ahead even when the cluster did not recover: what they can
// still read is part of the finding.
func (r *runner) recoverAndRead(ctx context.Context) {
	r.phase("recover")
	if r.ro.beforeRecover != nil {
		r.ro.beforeRecover(r.cluster)
	}
	recovered := r.awaitRecovery(ctx)
	if ctx.Err() != nil {
		return
	}
	r.phase("final")
	limit := time.Duration(r.cfg.RecoverTimeout)
	if !recovered {
		// Reads of a cluster that did not recover mostly fail: a short try
		// shows what can still be read.
		limit = min(limit, unrecoveredFinalLimit)
	}
	// The log reads each replica alone, cutting nodes off in turn: it
	// goes last.
	for _, w := range r.sortedForFinal() {
		fctx, fcancel := context.WithTimeout(ctx, limit)
		if err := w.Final(fctx, r.rec); err != nil {
			r.logf("jetsam: final reads of %s incomplete: %v", w.Name(), err)
		}
		fcancel()
	}
	if ctx.Err() == nil {
		r.rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: history.FFinalDone})
	}
}

// unrecoveredFinalLimit bounds each workload's final reads when the cluster
// did not recover.
const unrecoveredFinalLimit = 15 * time.Second

// checkAndStore stops the cluster, checks the history, and writes the
// results and the report. An incomplete run, as test.json records it, is
// at best unknown.
func (r *runner) checkAndStore() (*Outcome, error) {
	r.stopStatus()
	// Stop everything before checking, so a slow check holds no processes.
	r.teardown()
	if err := r.rec.Close(); err != nil {
		r.test.Run.Error = err.Error()
	}
	r.phase("check")
	// One way to judge a run folder, so that `jetsam check DIR` agrees.
	res, err := results.Check(context.Background(), r.dir, checker.Options{Timeout: time.Duration(r.cfg.CheckTimeout)})
	if err != nil {
		r.test.Run.Error = err.Error()
		r.test.Run.Ended = time.Now().UTC()
		_ = r.saveTest()
		return &Outcome{Dir: r.dir, Test: r.test}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := results.WriteResults(r.dir, res); err != nil {
		return nil, err
	}
	r.test.Run.Ended = time.Now().UTC()
	r.phase("done")
	if err := results.WriteReport(r.dir, time.Duration(r.cfg.CheckTimeout)); err != nil {
		r.logf("jetsam: report: %v", err)
	}
	if res.Valid == checker.Valid {
		// A valid run's data dirs hold nothing anyone needs; logs stay.
		for _, n := range r.cluster.Nodes() {
			_ = os.RemoveAll(filepath.Join(n.Dir(), "data"))
		}
	}
	return &Outcome{Dir: r.dir, Result: res, Test: r.test, Interrupted: r.test.Run.Interrupted}, nil
}

// connectHosts logs in to every host the nodes run on.
func (r *runner) connectHosts(ctx context.Context, srv *build.Server) (*node.Hosts, error) {
	var hs []remote.Host
	for _, h := range r.cfg.Hosts {
		hh, err := remote.ParseHost(h)
		if err != nil {
			return nil, err
		}
		hs = append(hs, hh)
	}
	if r.cfg.SSHInsecure {
		r.logf("jetsam: %s", remote.InsecureWarning)
	}
	r.logf("jetsam: connecting to %d hosts over SSH", len(hs))
	clients, err := remote.DialAll(ctx, hs, remote.Auth{KeyFile: r.cfg.SSHKey, KnownHosts: r.cfg.KnownHosts, Insecure: r.cfg.SSHInsecure})
	if err != nil {
		return nil, err
	}
	r.clients = clients
	for _, cl := range clients {
		if cl.Host().Addr != cl.IP() {
			r.logf("jetsam: host %s is %s for this run", cl.Host(), cl.IP())
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	h := &node.Hosts{Clients: clients, Dir: r.cfg.RemoteDir, Jetsam: self, Log: r.logf}
	if srv.Spec.Kind != build.Embedded {
		h.Server = srv.Binary
	}
	return h, nil
}

// teardown disconnects clients and stops every node; safe to call twice.
func (r *runner) teardown() {
	r.stopOnce.Do(func() {
		for _, w := range r.workloads {
			w.Close()
		}
		if r.cluster != nil {
			r.cluster.Heal()
			if err := r.cluster.Stop(10 * time.Second); err != nil {
				r.logf("jetsam: stopping the cluster: %v", err)
			}
		}
		for _, c := range r.clients {
			_ = c.Close()
		}
	})
}

// status prints the progress line until the returned function is called.
func (r *runner) status(ctx context.Context, nem *nemesis.Nemesis) (stop func()) {
	if r.ro.Status == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	limit := time.Duration(r.cfg.TimeLimit)
	go func() {
		defer close(finished)
		every := 5 * time.Second
		if r.ro.StatusIsTerminal {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		var lastOK int64
		last := time.Now()
		for {
			select {
			case <-done:
				if r.ro.StatusIsTerminal {
					fmt.Fprint(r.ro.Status, "\n")
				}
				return
			case now := <-t.C:
				_, ok, fail, info := r.rec.Counts()
				rate := float64(ok-lastOK) / now.Sub(last).Seconds()
				lastOK, last = ok, now
				fault := nem.Active()
				if fault == "" {
					fault = "none"
				}
				elapsed := time.Duration(r.rec.Now()).Truncate(time.Second)
				line := fmt.Sprintf("[%s %s/%s] ok %d  fail %d  info %d  %.0f ok/s  fault: %s",
					*r.current.Load(), elapsed, limit, ok, fail, info, rate, fault)
				if r.ro.StatusIsTerminal {
					fmt.Fprint(r.ro.Status, "\r\033[K"+line)
				} else {
					fmt.Fprintln(r.ro.Status, line)
				}
			}
		}
	}()
	return func() {
		select {
		case <-done:
		default:
			close(done)
		}
		<-finished
	}
}

// recovered is nil once the cluster is ready and every workload's stream
// is current.
func (r *runner) recovered(ctx context.Context) error {
	return r.cluster.Health(ctx, streamsOf(r.workloads)...).Err()
}

// isolate cuts a node off from every other node until it has no route
// left, for a final read of its own replica, and returns how to undo it.
// Both steps are nemesis events in the history.
func (r *runner) isolate(name string) (undo func()) {
	var cuts [][2]string
	var rest []string
	for _, o := range r.cluster.NodeNames() {
		if o != name {
			cuts = append(cuts, [2]string{name, o}, [2]string{o, name})
			rest = append(rest, o)
		}
	}
	fault := &history.Fault{Action: history.FaultStart, Shape: "final-read", Groups: [][]string{{name}, rest}, Nodes: []string{name}, Cuts: cuts}
	r.rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: "isolate", Fault: fault, Links: r.cluster.LinkStats()})
	r.cluster.Net().Grudge(cuts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := r.cluster.Node(name)
	_ = retry.Do(ctx, retry.Every(250*time.Millisecond), func(ctx context.Context) error {
		routes, err := n.Routes(ctx)
		if err == nil && len(routes) > 0 {
			err = fmt.Errorf("%s still has %d routes", name, len(routes))
		}
		return err
	})
	return func() {
		for _, c := range cuts {
			r.cluster.Net().Uncut(c[0], c[1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = retry.Do(ctx, retry.Every(250*time.Millisecond), r.recovered)
		stop := *fault
		stop.Action = history.FaultStop
		r.rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: "isolate", Fault: &stop, Links: r.cluster.LinkStats()})
	}
}

// sortedForFinal orders the workloads' final phases: those that cut nodes
// off (the log's) last.
func (r *runner) sortedForFinal() []workload.Workload {
	var first, last []workload.Workload
	for i, w := range r.workloads {
		if r.kinds[i].FinalLast {
			last = append(last, w)
		} else {
			first = append(first, w)
		}
	}
	return append(first, last...)
}

// catch turns a panic of a run goroutine into an error, so the run still
// stops its nodes and stores what it has.
func catch(fail func(error)) {
	if p := recover(); p != nil {
		fail(fmt.Errorf("internal error (a bug in jetsam): %v\n%s", p, debug.Stack()))
	}
}

// Version is this build's version: the module version, or the VCS revision.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v = s.Value[:12]
		}
		if s.Key == "vcs.modified" {
			if m, _ := strconv.ParseBool(s.Value); m {
				v += "+dirty"
			}
		}
	}
	return v
}

// syncInterval is the node config's value: "" leaves the server's default.
func syncInterval(s string) string {
	if s == SyncDefault {
		return ""
	}
	return s
}

func streamsOf(ws []workload.Workload) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Stream()
	}
	return out
}
