// Package nemesis decides what to break and when: a seeded schedule of
// faults, aimed at targets read from the live cluster, each recorded in the
// history as it starts and stops.
package nemesis

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// Target is what the nemesis acts on: the cluster's nodes, the clients'
// links to them, and the link proxies between all of them.
type Target interface {
	Nodes() []string
	// Clients maps each client link's name to the node it reaches.
	Clients() map[string]string
	// Cut adds directed cuts: [a, b] stops the bytes a sends to b.
	Cut(cuts [][2]string)
	// Uncut removes exactly the given cuts.
	Uncut(cuts [][2]string)
	// SetLatency, SetBandwidth and Reset act on every connection between
	// each pair of nodes, in both directions. Zero removes a setting.
	SetLatency(pairs [][2]string, delay, jitter time.Duration)
	SetBandwidth(pairs [][2]string, bytesPerSecond int64)
	Reset(pairs [][2]string) int
	// StreamLeader and MetaLeader name the leader as the asked nodes see it
	// (all nodes when none are given).
	StreamLeader(ctx context.Context, stream string, ask []string) (string, error)
	MetaLeader(ctx context.Context, ask []string) (string, error)
	// LinkStats are every link proxy's counters.
	LinkStats() []history.LinkStats
}

// Fault packages.
const (
	FaultPartition = "partition"
	FaultLatency   = "latency"
	FaultBandwidth = "bandwidth"
	FaultReset     = "reset"
	FaultClients   = "clients"
	FaultKill      = "kill"  // SIGKILL, and a restart when it heals
	FaultPause     = "pause" // SIGSTOP, and SIGCONT when it heals
	// FaultPowerLoss kills nodes and throws away what they wrote but had
	// not synced, then restarts them when it heals.
	FaultPowerLoss = "power-loss"
	// FaultCorrupt kills nodes, damages one file of each, and restarts
	// them when it heals.
	FaultCorrupt = "corrupt"
	// FaultMembership changes the cluster's membership: a node removed
	// from every group, wiped, and back under a fresh name; or a stream's
	// replica count changed and changed back.
	FaultMembership = "membership"
)

// Packages lists the fault packages this version can inject.
var Packages = []string{FaultPartition, FaultLatency, FaultBandwidth, FaultReset, FaultClients, FaultKill, FaultPause, FaultPowerLoss, FaultCorrupt, FaultMembership}

// ProcessPackages are the packages aimed by Targets.
var ProcessPackages = []string{FaultKill, FaultPause, FaultPowerLoss, FaultCorrupt}

// Options configure a schedule.
type Options struct {
	// Faults are the packages to draw from; empty means no faults.
	Faults []string
	// Interval is both the quiet time before each fault and how long each
	// fault holds.
	Interval time.Duration
	// Overlap runs every package on its own schedule, so faults of
	// different packages can be in place at once. Otherwise one fault at a
	// time, its package drawn from Faults.
	Overlap bool
	// Shapes are the partition shapes to draw from; empty means every shape
	// the cluster is big enough for.
	Shapes []string
	// Targets are the process targets to draw from; empty means every
	// target the cluster is big enough for.
	Targets []string
	// CorruptFiles are the file types the corrupt package damages.
	CorruptFiles []string
	// Streams are every stream the workloads use (membership removes a
	// node from each).
	Streams []string
	// Stream is the stream whose leader the "leader" shape isolates and
	// the "leader" target hits.
	Stream string
	// Latency and Jitter set the latency package's delay; Bandwidth its
	// rate cap in bytes per second.
	Latency, Jitter time.Duration
	Bandwidth       int64
	Seed            uint64
	// Logf reports faults as they happen; nil is silent.
	Logf func(format string, args ...any)
}

// Nemesis runs a fault schedule.
type Nemesis struct {
	t   Target
	rec *history.Recorder
	o   Options

	mu          sync.Mutex
	active      map[string]string // package -> description of the fault in place
	memberships int               // membership changes so far
	memberStart int               // 0: they start with a replacement
}

// New prepares a schedule; Run executes it.
func New(t Target, rec *history.Recorder, o Options) *Nemesis {
	if len(o.Shapes) == 0 {
		o.Shapes = ShapesFor(len(t.Nodes()))
	}
	if len(o.Targets) == 0 {
		o.Targets = TargetsFor(len(t.Nodes()))
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return &Nemesis{t: t, rec: rec, o: o, active: map[string]string{}}
}

// Active describes the faults in place now, or "" when there are none.
func (n *Nemesis) Active() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	descs := make([]string, 0, len(n.active))
	for _, d := range n.active {
		descs = append(descs, d)
	}
	slices.Sort(descs)
	return strings.Join(descs, "; ")
}

// Run injects faults until ctx ends, then heals whatever is in place; every
// fault is healed when Run returns.
func (n *Nemesis) Run(ctx context.Context) error {
	if len(n.o.Faults) == 0 {
		<-ctx.Done()
		return nil
	}
	if !n.o.Overlap {
		n.schedule(ctx, n.o.Faults, rand.New(rand.NewPCG(n.o.Seed, 0x6e656d65736973)), 0)
		return nil
	}
	var wg sync.WaitGroup
	for _, f := range n.o.Faults {
		h := fnv.New64a()
		h.Write([]byte(f))
		rng := rand.New(rand.NewPCG(n.o.Seed, h.Sum64()))
		// Stagger the packages so their faults begin at different times.
		offset := time.Duration(rng.Int64N(int64(n.o.Interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.schedule(ctx, []string{f}, rng, offset)
		}()
	}
	wg.Wait()
	return nil
}

// schedule alternates quiet and faulty intervals. Faults start at planned
// instants (offset plus odd multiples of the interval), so slow steps do not
// make the schedule drift. When ctx has a deadline, no fault starts unless
// two fifths of an interval of quiet can follow its heal, so the clients'
// recovery after every fault is in the history.
func (n *Nemesis) schedule(ctx context.Context, faults []string, rng *rand.Rand, offset time.Duration) {
	deadline, hasDeadline := ctx.Deadline()
	start := time.Now().Add(offset)
	for k := 0; ; k++ {
		at := start.Add(time.Duration(2*k+1) * n.o.Interval)
		if hasDeadline && deadline.Sub(at) < n.o.Interval+2*n.o.Interval/5 {
			<-ctx.Done()
			return
		}
		if !sleepUntil(ctx, at) {
			return
		}
		f := faults[rng.IntN(len(faults))]
		heal, err := n.start(ctx, f, rng)
		if err != nil {
			n.o.Logf("nemesis: %v", err)
			continue
		}
		sleepUntil(ctx, at.Add(n.o.Interval))
		// Heal even when the run is over: no fault outlives the main phase.
		heal()
		if ctx.Err() != nil {
			return
		}
	}
}

// start injects one fault of package f and returns how to heal it.
func (n *Nemesis) start(ctx context.Context, f string, rng *rand.Rand) (heal func(), err error) {
	switch f {
	case FaultPartition:
		return n.partition(ctx, rng)
	case FaultClients:
		return n.clients(rng)
	case FaultLatency, FaultBandwidth, FaultReset:
		return n.link(f, rng)
	case FaultKill, FaultPause, FaultPowerLoss, FaultCorrupt:
		return n.process(ctx, f, rng)
	case FaultMembership:
		return n.membership(ctx, rng)
	}
	return nil, fmt.Errorf("unknown fault package %q", f)
}

// inject records a fault's start around apply, and returns a heal that
// records its stop around undo.
func (n *Nemesis) inject(f string, fault *history.Fault, apply, undo func()) func() {
	fault.Action = history.FaultStart
	desc := fault.Describe(f)
	n.record(history.Invoke, f, fault, nil)
	apply()
	n.record(history.Info, f, fault, n.t.LinkStats())
	n.mu.Lock()
	n.active[f] = desc
	n.mu.Unlock()
	n.o.Logf("nemesis: %s", desc)
	return func() {
		stop := *fault
		stop.Action = history.FaultStop
		// The counters before the heal close the fault's traffic: read
		// after it, they would count bytes of the healed link (with
		// remote links, each read is a round trip).
		n.record(history.Invoke, f, &stop, n.t.LinkStats())
		undo()
		n.record(history.Info, f, &stop, n.t.LinkStats())
		n.mu.Lock()
		delete(n.active, f)
		n.mu.Unlock()
		n.o.Logf("nemesis: healed %s", desc)
	}
}

func (n *Nemesis) record(t history.Type, f string, fault *history.Fault, links []history.LinkStats) {
	n.rec.Record(history.Event{Type: t, Process: history.Nemesis, F: f, Fault: fault, Links: links})
}

// sleepUntil waits until t or until ctx ends; it reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleep(ctx, time.Until(t))
}

// sleep waits for d or until ctx ends; it reports whether d passed.
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
