// Package nemesis decides what to break and when: a seeded schedule of
// faults, aimed at targets read from the live cluster, each recorded in the
// history as it starts and stops.
package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// Cluster is what the nemesis needs of the system under test.
type Cluster interface {
	NodeNames() []string
	// Partition cuts every link between nodes in different groups.
	Partition(groups [][]string)
	// Heal restores every link.
	Heal()
	// StreamLeader names the current leader of a stream.
	StreamLeader(ctx context.Context, stream string) (string, error)
}

// Fault packages.
const (
	FaultPartition = "partition"
)

// Packages lists the fault packages this version can inject.
var Packages = []string{FaultPartition}

// Partition shapes.
const (
	ShapeOne    = "one"    // isolate one random node
	ShapeHalves = "halves" // split the nodes into two random halves
	ShapeLeader = "leader" // isolate the stream's current leader
)

// Shapes lists every partition shape.
var Shapes = []string{ShapeOne, ShapeHalves, ShapeLeader}

// Options configure a schedule.
type Options struct {
	// Faults are the packages to draw from; empty means no faults.
	Faults []string
	// Interval is both the quiet time before each fault and how long each
	// fault holds.
	Interval time.Duration
	// Shapes are the partition shapes to draw from; empty means all.
	Shapes []string
	// Stream is the stream whose leader the "leader" shape isolates.
	Stream string
	Seed   uint64
	// Logf reports faults as they happen; nil is silent.
	Logf func(format string, args ...any)
}

// Nemesis runs a fault schedule.
type Nemesis struct {
	c      Cluster
	rec    *history.Recorder
	o      Options
	rng    *rand.Rand
	active atomic.Pointer[string]
}

// New prepares a schedule; Run executes it.
func New(c Cluster, rec *history.Recorder, o Options) *Nemesis {
	if len(o.Shapes) == 0 {
		o.Shapes = Shapes
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return &Nemesis{c: c, rec: rec, o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6e656d65736973))}
}

// Active describes the fault in place now, or "" when there is none.
func (n *Nemesis) Active() string {
	if p := n.active.Load(); p != nil {
		return *p
	}
	return ""
}

// Run alternates quiet and faulty intervals until ctx ends, then heals
// whatever is in place. Every fault is healed when Run returns. Faults start
// at planned instants (odd multiples of the interval from the start), so
// slow steps do not make the schedule drift. When ctx has a deadline, no
// fault starts unless two fifths of an interval of quiet can follow its
// heal, so the clients' recovery after every fault is in the history.
func (n *Nemesis) Run(ctx context.Context) error {
	if len(n.o.Faults) == 0 {
		<-ctx.Done()
		return nil
	}
	deadline, hasDeadline := ctx.Deadline()
	start := time.Now()
	for k := 0; ; k++ {
		at := start.Add(time.Duration(2*k+1) * n.o.Interval)
		if hasDeadline && deadline.Sub(at) < n.o.Interval+2*n.o.Interval/5 {
			<-ctx.Done()
			return nil
		}
		if !sleepUntil(ctx, at) {
			return nil
		}
		f := n.o.Faults[n.rng.IntN(len(n.o.Faults))]
		heal, err := n.start(ctx, f)
		if err != nil {
			n.o.Logf("nemesis: %v", err)
			continue
		}
		sleepUntil(ctx, at.Add(n.o.Interval))
		// Heal even when the run is over: no fault outlives the main phase.
		heal()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// start injects one fault of package f and returns how to heal it.
func (n *Nemesis) start(ctx context.Context, f string) (heal func(), err error) {
	switch f {
	case FaultPartition:
		return n.partition(ctx)
	}
	return nil, fmt.Errorf("unknown fault package %q", f)
}

func (n *Nemesis) partition(ctx context.Context) (func(), error) {
	nodes := n.c.NodeNames()
	shape := n.o.Shapes[n.rng.IntN(len(n.o.Shapes))]
	// Draw every random choice before asking the cluster anything, so the
	// schedule stays the same for a seed whatever the cluster answers.
	perm := n.rng.Perm(len(nodes))
	var isolated []string
	switch shape {
	case ShapeOne:
		isolated = []string{nodes[perm[0]]}
	case ShapeHalves:
		for _, i := range perm[:len(nodes)/2] {
			isolated = append(isolated, nodes[i])
		}
	case ShapeLeader:
		leader, err := n.streamLeader(ctx)
		if err != nil {
			return nil, fmt.Errorf("skipped a leader partition: no leader of %s known: %w", n.o.Stream, err)
		}
		isolated = []string{leader}
	default:
		return nil, fmt.Errorf("unknown partition shape %q", shape)
	}
	slices.Sort(isolated)
	var rest []string
	for _, name := range nodes {
		if !slices.Contains(isolated, name) {
			rest = append(rest, name)
		}
	}
	groups := [][]string{isolated, rest}
	fault := &history.Fault{Action: history.FaultStart, Shape: shape, Groups: groups, Nodes: isolated}
	desc := fmt.Sprintf("partition %s %v | %v", shape, isolated, rest)

	n.record(history.Invoke, FaultPartition, fault)
	n.c.Partition(groups)
	n.record(history.Info, FaultPartition, fault)
	n.active.Store(&desc)
	n.o.Logf("nemesis: %s", desc)

	return func() {
		stop := &history.Fault{Action: history.FaultStop, Shape: shape, Groups: groups, Nodes: isolated}
		n.record(history.Invoke, FaultPartition, stop)
		n.c.Heal()
		n.record(history.Info, FaultPartition, stop)
		n.active.Store(nil)
		n.o.Logf("nemesis: healed %s", desc)
	}, nil
}

// streamLeader asks for the stream's leader, retrying for a few seconds: just
// after a heal there may be none while an election runs.
func (n *Nemesis) streamLeader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		leader, err := n.c.StreamLeader(ctx, n.o.Stream)
		if err == nil {
			return leader, nil
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return "", err
		}
	}
}

func (n *Nemesis) record(t history.Type, f string, fault *history.Fault) {
	n.rec.Record(history.Event{Type: t, Process: history.Nemesis, F: f, Fault: fault})
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
