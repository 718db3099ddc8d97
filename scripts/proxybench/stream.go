package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsam-dev/jetsam/node"
)

const streamName = "BENCH"

// runResult is what one cluster run measured, over the measured window.
type runResult struct {
	rate   float64 // acked msgs/s
	failed int64   // publishes the stream refused
	// busy is the machine's busy fraction; selfCores the cores this
	// process (clients and proxies) used; cpuPerMsg the CPU time of the
	// nodes and this process per acked message.
	busy, selfCores float64
	cpuPerMsg       time.Duration
}

// throughputBench runs one cluster per variant in turn, runs times, and
// returns each variant's results in run order. Clusters never overlap: on a
// small machine two would compete for the same cores.
func throughputBench(ctx context.Context, c config) (map[string][]runResult, error) {
	res := map[string][]runResult{}
	for r := 1; r <= c.runs; r++ {
		for _, v := range variants {
			rr, err := clusterRun(ctx, c, v, filepath.Join(c.dir, fmt.Sprintf("run%d-%s", r, v)))
			if err != nil {
				return nil, fmt.Errorf("run %d, %s: %w", r, v, err)
			}
			log.Printf("throughput: run %d/%d %-9s %.0f acked msgs/s; machine %.0f%% busy, this process %.2f cores, %.1f µs CPU per msg",
				r, c.runs, v, rr.rate, 100*rr.busy, rr.selfCores, float64(rr.cpuPerMsg)/1e3)
			res[v] = append(res[v], rr)
		}
	}
	return res, nil
}

// clusterRun starts a 3-node cluster whose routes go the variant's way,
// publishes to an R3 stream on it. Everything it starts is stopped, and the
// nodes' data removed, before it returns.
func clusterRun(ctx context.Context, c config, variant, dir string) (runResult, error) {
	defer os.RemoveAll(dir)
	opts, tx := clusterOptions(c, variant, dir)
	if tx != nil {
		defer tx.close() // runs after the cluster's Stop: defers are LIFO
	}
	cl, err := node.Start(ctx, opts)
	if err != nil {
		return runResult{}, err
	}
	defer cl.Stop(5 * time.Second)
	log.Printf("throughput: %s cluster ready in %s", variant, cl.ReadyIn.Round(time.Millisecond))

	conns, err := connectClients(cl, c.conns)
	if err != nil {
		return runResult{}, err
	}
	defer closeConns(conns)
	if err := createStream(ctx, cl, conns[0]); err != nil {
		return runResult{}, err
	}
	if err := probe(ctx, conns); err != nil {
		return runResult{}, err
	}
	logMarks := logSizes(cl)

	pub := newPublishers(ctx)
	defer pub.stop()
	defer pub.wg.Wait() // before the connections close: defers are LIFO
	if err := pub.start(ctx, c, conns); err != nil {
		return runResult{}, err
	}
	w, err := pub.measure(ctx, c, cl)
	if err != nil {
		return runResult{}, err
	}
	if strings.HasPrefix(variant, "jetsam") {
		// Shows the routes did cross the links, and how much they carry.
		logLinkBytes(cl)
	}
	// A node may refuse publishes for a moment (a 503, no responders, while
	// it knows no interest in the subject): they are reported, not fatal.
	n := pub.failed.Load()
	if n > 0 {
		log.Printf("throughput: %s: %d publishes failed, first: %v", variant, n, pub.firstError())
		logNodeEvents(cl, logMarks)
	}
	return w.result(pub.acked.Load(), n), nil
}

// clusterOptions are the options of a 3-node cluster in dir whose routes go
// the variant's way. For toxiproxy it also returns the proxies' maker, for
// the caller to close once the cluster has stopped; otherwise nil.
func clusterOptions(c config, variant, dir string) (node.Options, *toxi) {
	opts := node.Options{Nodes: 3, Dir: dir, Command: []string{c.jetsam, "node"}}
	var tx *toxi
	switch variant {
	case "direct":
		opts.RouteVia = func(_, _, target string) (string, error) { return target, nil }
	case "toxiproxy":
		tx = newToxi()
		opts.RouteVia = func(from, to, target string) (string, error) {
			return tx.listen(from+"->"+to, target)
		}
	case "jetsam":
		// RouteVia nil: node.Start puts its own proxy.Link on every route.
	case "jetsam-framed":
		opts.FrameRoutes = true
	}
	return opts, tx
}

// connectClients opens n client connections, spread over the cluster's
// nodes in turn. On an error it closes those it opened.
func connectClients(cl *node.Cluster, n int) ([]*nats.Conn, error) {
	var conns []*nats.Conn
	nodes := cl.Nodes()
	for i := range n {
		nc, err := nats.Connect(nodes[i%len(nodes)].Spec.ClientURL(), nats.Name(fmt.Sprintf("proxybench-%d", i)))
		if err != nil {
			closeConns(conns)
			return nil, fmt.Errorf("connect: %w", err)
		}
		conns = append(conns, nc)
	}
	return conns, nil
}

func closeConns(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

// publishers publish on every connection as fast as their windows allow,
// and count the acks and the publishes the stream refused.
type publishers struct {
	// ctx ends publishing when done; stop cancels it.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	// Acks are counted only while measuring is set, so the rate covers
	// exactly the measured window whatever was in flight at its edges.
	acked, failed atomic.Int64
	measuring     atomic.Bool

	errMu    sync.Mutex
	firstErr error
}

func newPublishers(ctx context.Context) *publishers {
	p := &publishers{}
	p.ctx, p.stop = context.WithCancel(ctx)
	return p
}

// fail counts a refused publish and keeps the first error.
func (p *publishers) fail(err error) {
	p.failed.Add(1)
	p.errMu.Lock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	p.errMu.Unlock()
}

func (p *publishers) firstError() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.firstErr
}

// start runs a publisher on each connection, to a subject of its own, with
// at most c.window publishes unacknowledged. ctx is the run's: an
// interrupt, not the end of publishing.
func (p *publishers) start(ctx context.Context, c config, conns []*nats.Conn) error {
	payload := make([]byte, c.payload)
	for i, nc := range conns {
		js, err := jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(c.window),
			jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
				if p.measuring.Load() {
					p.acked.Add(1)
				}
			}),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
				p.fail(err)
			}))
		if err != nil {
			return err
		}
		p.wg.Add(1)
		go p.publish(ctx, js, fmt.Sprintf("bench.%d", i), payload)
	}
	return nil
}

// publish publishes payload to subj until publishing ends or a publish
// fails, which ends it for every publisher.
func (p *publishers) publish(ctx context.Context, js jetstream.JetStream, subj string, payload []byte) {
	defer p.wg.Done()
	for p.ctx.Err() == nil {
		// A full window blocks here until an ack frees a slot.
		if _, err := js.PublishAsync(subj, payload, jetstream.WithStallWait(10*time.Second)); err != nil {
			p.fail(err)
			p.stop()
			return
		}
	}
	// Let the window drain so the next cluster starts on a quiet machine.
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
}

// window is the measured stretch of publishing: its length and the CPU
// used up to its start and to its end.
type window struct {
	elapsed    time.Duration
	cpu0, cpu1 cpuSample
}

// measure lets the publishers warm up for c.warmup, counts their acks for
// c.duration, then stops them and waits until they have drained. It fails
// if publishing ended early.
func (p *publishers) measure(ctx context.Context, c config, cl *node.Cluster) (window, error) {
	if !sleep(p.ctx, c.warmup) {
		return window{}, publishErr(ctx, p.firstError())
	}
	p.measuring.Store(true)
	start, cpu0 := time.Now(), sampleCPU(cl)
	ok := sleep(p.ctx, c.duration)
	p.measuring.Store(false)
	elapsed, cpu1 := time.Since(start), sampleCPU(cl)
	p.stop()
	p.wg.Wait()
	if !ok {
		return window{}, publishErr(ctx, p.firstError())
	}
	return window{elapsed: elapsed, cpu0: cpu0, cpu1: cpu1}, nil
}

// result is the run's measurements given the acks and failed publishes
// counted.
func (w window) result(acks, failed int64) runResult {
	return runResult{
		rate:      float64(acks) / w.elapsed.Seconds(),
		failed:    failed,
		busy:      float64(w.cpu1.busy-w.cpu0.busy) / float64(w.cpu1.total-w.cpu0.total),
		selfCores: float64(w.cpu1.self-w.cpu0.self) / float64(w.elapsed),
		cpuPerMsg: (w.cpu1.nodes - w.cpu0.nodes + w.cpu1.self - w.cpu0.self) / time.Duration(max(acks, 1)),
	}
}

// logLinkBytes logs the bytes the cluster's link proxies carried, both
// ways, over the whole run.
func logLinkBytes(cl *node.Cluster) {
	var bytes int64
	for _, l := range cl.Net().Links() {
		st := l.Stats()
		bytes += st.BytesForward + st.BytesBackward
	}
	log.Printf("throughput: jetsam links carried %.0f MB over the whole run", float64(bytes)/1e6)
}

// streamLeader is where every run puts the stream's leader. Where it lands
// decides how many of the publishes cross a route (the connections are
// spread over the nodes), which would otherwise change from run to run.
const streamLeader = "n1"

// createStream makes the R3 file stream, moves its leader to streamLeader
// and waits until every replica is current, so the measurement includes no
// election.
func createStream(ctx context.Context, cl *node.Cluster, nc *nats.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     streamName,
		Subjects: []string{"bench.>"},
		Replicas: 3,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	stepdown := fmt.Sprintf(`{"placement":{"preferred":%q}}`, streamLeader)
	for {
		err := cl.StreamCurrent(ctx, streamName)
		if err == nil {
			var leader string
			if leader, err = cl.StreamLeader(ctx, streamName); err == nil {
				if leader == streamLeader {
					return nil
				}
				// Errors show as a leader that has not moved; retried.
				_, _ = nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+streamName, []byte(stepdown))
				err = fmt.Errorf("leader is %s, not %s", leader, streamLeader)
			}
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("stream not ready: %w", err)
		}
	}
}

// sleep waits for d and reports whether ctx was still live at the end.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// publishErr says why publishing ended early: an interrupt or a failed
// publish.
func publishErr(ctx context.Context, first error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if first != nil {
		return fmt.Errorf("publish: %w", first)
	}
	return errors.New("publishing stopped early")
}

// cpuSample is CPU time used so far: by this process (clients and
// proxies), by the nodes, and by the whole machine (busy and total).
type cpuSample struct {
	self, nodes, busy, total time.Duration
}

// clockTick is the unit of /proc CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func sampleCPU(cl *node.Cluster) cpuSample {
	s := cpuSample{self: procCPU(os.Getpid())}
	for _, n := range cl.Nodes() {
		s.nodes += procCPU(n.Pid())
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu user nice system idle iowait irq softirq steal ...
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			s.total += time.Duration(v) * clockTick
			if i != 4 && i != 5 { // idle, iowait
				s.busy += time.Duration(v) * clockTick
			}
		}
	}
	return s
}

// procCPU is the user and system time of a process, 0 if unknown.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick
}

// probe publishes once through every connection, retrying, so that
// publishing starts only once every node knows where the stream's leader
// listens: interest crosses the routes a little after the stream is
// current, and until then a node answers "no responders".
func probe(ctx context.Context, conns []*nats.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, nc := range conns {
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		for {
			_, err := js.Publish(ctx, fmt.Sprintf("bench.%d", i), nil)
			if err == nil {
				break
			}
			if !sleep(ctx, 100*time.Millisecond) {
				return fmt.Errorf("probe publish on connection %d: %w", i, err)
			}
		}
	}
	return nil
}

// logSizes notes how long each node's log is, so that logNodeEvents shows
// only what came after.
func logSizes(cl *node.Cluster) map[string]int64 {
	out := map[string]int64{}
	for _, n := range cl.Nodes() {
		if fi, err := os.Stat(n.Spec.LogPath()); err == nil {
			out[n.Spec.Name] = fi.Size()
		}
	}
	return out
}

// logNodeEvents prints the node log lines since the marks that may explain
// refused publishes: warnings, errors, leaders moving.
func logNodeEvents(cl *node.Cluster, marks map[string]int64) {
	for _, n := range cl.Nodes() {
		b, err := os.ReadFile(n.Spec.LogPath())
		if err != nil || int64(len(b)) < marks[n.Spec.Name] {
			continue
		}
		shown := 0
		for _, line := range strings.Split(string(b[marks[n.Spec.Name]:]), "\n") {
			if shown < 10 && (strings.Contains(line, "[WRN]") || strings.Contains(line, "[ERR]") ||
				strings.Contains(line, "leader")) {
				log.Printf("  %s: %s", n.Spec.Name, line)
				shown++
			}
		}
	}
}
