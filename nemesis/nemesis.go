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

// Options configure a schedule: the settings of a run, and what the run
// knows of its cluster.
type Options struct {
	FaultSettings
	// Clients maps each client link's name to the node it reaches.
	Clients map[string]string
	// Streams are every stream the workloads use (membership removes a
	// node from each).
	Streams []string
	// Stream is the stream whose leader the "leader" shape isolates and
	// the "leader" target hits.
	Stream string
	Seed   uint64
	// Logf reports faults as they happen; nil is silent.
	Logf func(format string, args ...any)
}

// Nemesis runs a fault schedule.
type Nemesis struct {
	t   Network
	rec *history.Recorder
	o   Options

	mu          sync.Mutex
	active      map[string]string // package -> description of the fault in place
	memberships int               // membership changes so far
	memberStart int               // 0: they start with a replacement
}

// New prepares a schedule over a cluster; the faults use whatever other
// capabilities (Links, Leaders, Processes, Disks, Membership) it has. Run
// executes it.
func New(t Network, rec *history.Recorder, o Options) *Nemesis {
	o.FaultSettings.Normalize(len(t.NodeNames()))
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
	if len(n.o.Nemesis) == 0 {
		<-ctx.Done()
		return nil
	}
	if !n.o.NemesisOverlap {
		n.schedule(ctx, n.o.Nemesis, rand.New(rand.NewPCG(n.o.Seed, 0x6e656d65736973)), 0)
		return nil
	}
	var wg sync.WaitGroup
	for i, f := range n.o.Nemesis {
		h := fnv.New64a()
		h.Write([]byte(f))
		rng := rand.New(rand.NewPCG(n.o.Seed, h.Sum64()))
		// Stagger the packages so their faults begin at different times.
		offset := time.Duration(rng.Int64N(int64(n.o.NemesisInterval)))
		if n.o.NemesisInOrder {
			offset = time.Duration(n.o.NemesisInterval) * time.Duration(i) / time.Duration(len(n.o.Nemesis))
		}
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
	interval := time.Duration(n.o.NemesisInterval)
	for k := 0; ; k++ {
		at := start.Add(time.Duration(2*k+1) * interval)
		if hasDeadline && deadline.Sub(at) < interval+2*interval/5 {
			if k == 0 {
				// A run without a single fault would pass for a tested one.
				n.o.Logf("nemesis: no fault of %s fits in the main phase: the first needs %s of quiet, %s of fault and %s of recovery; make --time-limit longer or --nemesis-interval shorter",
					strings.Join(faults, ","), interval+offset, interval, 2*interval/5)
			}
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
		sleepUntil(ctx, at.Add(interval))
		// Heal even when the run is over: no fault outlives the main phase.
		heal()
		if ctx.Err() != nil {
			return
		}
	}
}

// start injects one fault of package f and returns how to heal it.
func (n *Nemesis) start(ctx context.Context, f string, rng *rand.Rand) (heal func(), err error) {
	fault, ok := Lookup(f)
	if !ok {
		return nil, fmt.Errorf("unknown fault package %q", f)
	}
	return fault.Start(ctx, n, rng)
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
