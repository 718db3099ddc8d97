package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/param"
)

// fakeTarget records what the nemesis did to it.
type fakeTarget struct {
	mu      sync.Mutex
	nodes   []string
	clients map[string]string
	leader  string
	// newLeader is what the majority names once asked this many times.
	newLeader string
	asked     int
	calls     []string
	cuts      map[[2]string]int
	latency   map[[2]string]time.Duration
	noLeads   int // StreamLeader fails this many times first
}

func newFake(n int) *fakeTarget {
	f := &fakeTarget{clients: map[string]string{}, cuts: map[[2]string]int{}, latency: map[[2]string]time.Duration{}}
	for i := 1; i <= n; i++ {
		f.nodes = append(f.nodes, fmt.Sprintf("n%d", i))
	}
	for i := 0; i < 2*n; i++ {
		f.clients[fmt.Sprintf("c%d", i)] = f.nodes[i%n]
	}
	f.leader = f.nodes[0]
	return f
}

func (f *fakeTarget) NodeNames() []string { return f.nodes }

func (f *fakeTarget) log(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeTarget) Cut(cuts [][2]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("cut %v", cuts)
	for _, c := range cuts {
		f.cuts[c]++
	}
}

func (f *fakeTarget) Uncut(cuts [][2]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("uncut %v", cuts)
	for _, c := range cuts {
		if f.cuts[c]--; f.cuts[c] == 0 {
			delete(f.cuts, c)
		}
	}
}

func (f *fakeTarget) SetLatency(pairs [][2]string, d, j time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("latency %v %s %s", pairs, d, j)
	for _, p := range pairs {
		if d == 0 {
			delete(f.latency, p)
		} else {
			f.latency[p] = d
		}
	}
}

func (f *fakeTarget) SetBandwidth(pairs [][2]string, bps int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bandwidth %v %d", pairs, bps)
}

func (f *fakeTarget) Reset(pairs [][2]string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("reset %v", pairs)
	return 4 * len(pairs)
}

func (f *fakeTarget) StreamLeaderSeenBy(ctx context.Context, stream string, ask []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noLeads > 0 {
		f.noLeads--
		return "", errors.New("election in progress")
	}
	if ask != nil && f.newLeader != "" {
		if f.asked++; f.asked > 3 {
			return f.newLeader, nil
		}
	}
	return f.leader, nil
}

func (f *fakeTarget) MetaLeaderSeenBy(ctx context.Context, ask []string) (string, error) {
	return f.StreamLeaderSeenBy(ctx, "", ask)
}

func (f *fakeTarget) LinkStats() []history.LinkStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []history.LinkStats{{From: "n1", To: "n2", BytesForward: int64(len(f.calls))}}
}

// testOpts are a schedule's settings in short.
type testOpts struct {
	Faults          []string
	Interval        time.Duration
	Overlap         bool
	Shapes, Targets []string
	Stream          string
	Seed            uint64
	Latency, Jitter time.Duration
	Bandwidth       int64
}

// clientsOf is what a fake cluster's clients reach.
type clientsOf interface{ clientLinks() map[string]string }

func (f *fakeTarget) clientLinks() map[string]string { return f.clients }

func run(t *testing.T, f Network, to testOpts, limit time.Duration) []history.Event {
	t.Helper()
	return runWith(t, f, to, limit, nil)
}

// runWith is run with the options changed by set first.
func runWith(t *testing.T, f Network, to testOpts, limit time.Duration, set func(*Options)) []history.Event {
	t.Helper()
	var buf bytes.Buffer
	rec := history.NewRecorder(&buf)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	o := Options{Stream: to.Stream, Seed: to.Seed, Clients: f.(clientsOf).clientLinks()}
	o.Nemesis, o.NemesisInterval, o.NemesisOverlap = to.Faults, param.Duration(to.Interval), to.Overlap
	o.PartitionShapes, o.Targets = to.Shapes, to.Targets
	o.Latency, o.Jitter, o.Bandwidth = param.Duration(to.Latency), param.Duration(to.Jitter), to.Bandwidth
	if set != nil {
		set(&o)
	}
	if err := New(f, rec, o).Run(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return h.Events
}

// windows pairs start and stop info events per package.
func windows(t *testing.T, events []history.Event) (starts, stops map[string]int, lastStop int64) {
	t.Helper()
	starts, stops = map[string]int{}, map[string]int{}
	for _, e := range events {
		if e.Process != history.Nemesis || e.Type != history.Info {
			continue
		}
		switch e.Fault.Action {
		case history.FaultStart:
			starts[e.F]++
			if len(e.Links) == 0 {
				t.Fatalf("start event without link counters: %+v", e)
			}
		case history.FaultStop:
			stops[e.F]++
			lastStop = e.Time
		}
	}
	return starts, stops, lastStop
}

func TestScheduleHealsEveryFaultAndEndsQuiet(t *testing.T) {
	f := newFake(3)
	interval := 40 * time.Millisecond
	events := run(t, f, testOpts{Faults: []string{FaultPartition}, Interval: interval, Stream: "S", Seed: 1}, 10*interval)
	if len(f.cuts) != 0 {
		t.Fatalf("cuts %v still in place after Run returned", f.cuts)
	}
	starts, stops, lastStop := windows(t, events)
	if starts[FaultPartition] < 2 || starts[FaultPartition] != stops[FaultPartition] {
		t.Fatalf("%v starts, %v stops; want at least 2, all healed", starts, stops)
	}
	if end := int64(10 * interval); end-lastStop < int64(2*interval/5) {
		t.Fatalf("last heal at %s leaves %s of quiet before %s", time.Duration(lastStop), time.Duration(end-lastStop), time.Duration(end))
	}
}

func TestSameSeedSameSchedule(t *testing.T) {
	schedule := func(seed uint64) []string {
		f := newFake(5)
		run(t, f, testOpts{Faults: []string{FaultPartition, FaultLatency, FaultClients}, Interval: 10 * time.Millisecond,
			Stream: "S", Seed: seed, Latency: time.Millisecond}, 200*time.Millisecond)
		return f.calls[:min(len(f.calls), 6)]
	}
	a, b, other := schedule(9), schedule(9), schedule(10)
	if len(a) < 6 || !slices.Equal(a, b) {
		t.Fatalf("seed 9 gave\n%v\nthen\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Fatalf("seeds 9 and 10 gave the same schedule %v", a)
	}
}

// TestInOrderStartsPackagesAsListed: with --nemesis-in-order the packages'
// first faults start in the listed order, each a share of an interval after
// the one before (the seed alone would start them in any order), and the
// first is still in place when the last starts.
func TestInOrderStartsPackagesAsListed(t *testing.T) {
	interval := 60 * time.Millisecond
	for _, order := range [][]string{{FaultClients, FaultLatency, FaultPartition}, {FaultPartition, FaultLatency, FaultClients}} {
		events := runWith(t, newFake(3), testOpts{Faults: order, Interval: interval, Overlap: true, Stream: "S", Seed: 3,
			Latency: time.Millisecond}, 4*interval, func(o *Options) { o.NemesisInOrder = true })
		var got []string
		first := map[string]int64{}
		for _, e := range events {
			if e.Process == history.Nemesis && e.Type == history.Info && e.Fault.Action == history.FaultStart && first[e.F] == 0 {
				first[e.F] = e.Time
				got = append(got, e.F)
			}
		}
		if !slices.Equal(got, order) {
			t.Fatalf("first faults started in the order %v, want %v", got, order)
		}
		if span := first[order[2]] - first[order[0]]; span < int64(interval/2) || span >= int64(interval) {
			t.Fatalf("the last package started %s after the first, want two thirds of %s", time.Duration(span), interval)
		}
	}
}

// hears returns, for each node, the nodes whose bytes reach it.
func hears(nodes []string, cuts [][2]string) map[string][]string {
	cut := map[[2]string]bool{}
	for _, c := range cuts {
		cut[c] = true
	}
	out := map[string][]string{}
	for _, to := range nodes {
		for _, from := range nodes {
			if !cut[[2]string{from, to}] {
				out[to] = append(out[to], from)
			}
		}
	}
	return out
}

func TestShapesKeepTheirPromises(t *testing.T) {
	for _, n := range []int{3, 5} {
		nodes := newFake(n).nodes
		for _, shape := range Shapes {
			for seed := uint64(0); seed < 20; seed++ {
				rng := rand.New(rand.NewPCG(seed, 1))
				s, err := Plan(shape, nodes, rng, func() (string, error) { return "n2", nil })
				if err != nil {
					t.Fatal(err)
				}
				h := hears(nodes, s.Cuts)
				symmetric := true
				for _, c := range s.Cuts {
					if !slices.Contains(s.Cuts, [2]string{c[1], c[0]}) {
						symmetric = false
					}
				}
				where := fmt.Sprintf("%s on %d nodes, seed %d: %+v", shape, n, seed, s)
				switch shape {
				case ShapeOne, ShapeMinority, ShapeHalves, ShapeLeader, ShapeMetaLeader:
					side, rest := s.Groups[0], s.Groups[1]
					if len(side)+len(rest) != n || !symmetric || len(s.Cuts) != 2*len(side)*len(rest) {
						t.Fatalf("%s: not a clean split", where)
					}
					want := map[string]int{ShapeOne: 1, ShapeMinority: (n - 1) / 2, ShapeHalves: n / 2, ShapeLeader: 1, ShapeMetaLeader: 1}[shape]
					if len(side) != want {
						t.Fatalf("%s: isolated %d nodes, want %d", where, len(side), want)
					}
					if (shape == ShapeLeader || shape == ShapeMetaLeader) && side[0] != "n2" {
						t.Fatalf("%s: isolated %v, not the leader", where, side)
					}
				case ShapeRing:
					views := map[string]bool{}
					for _, x := range nodes {
						v := slices.Sorted(slices.Values(h[x]))
						if len(v) <= n/2 || !slices.Contains(v, x) {
							t.Fatalf("%s: %s hears %v, not a majority with itself", where, x, v)
						}
						views[strings.Join(v, ",")] = true
					}
					if len(views) != n {
						t.Fatalf("%s: views not all different: %v", where, h)
					}
					if n == 5 && !symmetric {
						t.Fatalf("%s: a 5-node ring can be symmetric", where)
					}
				case ShapeBridge:
					b := s.Groups[1][0]
					if len(h[b]) != n || !symmetric {
						t.Fatalf("%s: the bridge %s hears %v", where, b, h[b])
					}
					for _, x := range nodes {
						if x != b && !slices.Contains(h[x], b) {
							t.Fatalf("%s: %s does not hear the bridge", where, x)
						}
						if x != b && len(h[x]) == n {
							t.Fatalf("%s: %s hears everyone", where, x)
						}
					}
				case ShapeAsymmetric:
					x := s.Nodes[0]
					if len(s.Cuts) != n-1 {
						t.Fatalf("%s: %d cuts", where, len(s.Cuts))
					}
					for _, c := range s.Cuts {
						out := s.Params["direction"] == "outbound"
						if (out && c[0] != x) || (!out && c[1] != x) {
							t.Fatalf("%s: cut %v is not %s of %s", where, c, s.Params["direction"], x)
						}
					}
				}
			}
		}
	}
	if _, err := Plan(ShapeRing, []string{"n1", "n2"}, rand.New(rand.NewPCG(1, 1)), nil); err == nil {
		t.Fatal("a ring of two nodes was planned")
	}
	if got := ShapesFor(2); slices.Contains(got, ShapeRing) || !slices.Contains(got, ShapeOne) {
		t.Fatalf("shapes for 2 nodes: %v", got)
	}
}

func TestLeaderShapeWaitsForALeaderAndWatchesItMove(t *testing.T) {
	f := newFake(5)
	f.leader, f.newLeader, f.noLeads = "n4", "n2", 2
	events := run(t, f, testOpts{Faults: []string{FaultPartition}, Shapes: []string{ShapeLeader}, Interval: 300 * time.Millisecond, Stream: "S"}, 1500*time.Millisecond)
	var isolated, moved []string
	for _, e := range events {
		if e.Process != history.Nemesis || e.Type != history.Info {
			continue
		}
		switch e.Fault.Action {
		case history.FaultStart:
			isolated = append(isolated, e.Fault.Groups[0]...)
		case history.FaultObserve:
			moved = append(moved, e.Fault.Params["leader"])
			if e.Fault.Params["from"] != "n4" || e.Fault.Params["after"] == "" {
				t.Fatalf("observation %+v", e.Fault.Params)
			}
		}
	}
	if len(isolated) == 0 || isolated[0] != "n4" || len(moved) == 0 || moved[0] != "n2" {
		t.Fatalf("isolated %v, leader moved to %v; want n4, then n2", isolated, moved)
	}
}

func TestClientPartitionCutsOnlyClientLinks(t *testing.T) {
	f := newFake(3)
	events := run(t, f, testOpts{Faults: []string{FaultClients}, Interval: 30 * time.Millisecond, Seed: 4}, 300*time.Millisecond)
	starts, stops, _ := windows(t, events)
	if starts[FaultClients] == 0 || starts[FaultClients] != stops[FaultClients] {
		t.Fatalf("starts %v stops %v", starts, stops)
	}
	for _, e := range events {
		if e.Fault == nil || e.Fault.Action != history.FaultStart {
			continue
		}
		node := e.Fault.Nodes[0]
		for _, c := range e.Fault.Cuts {
			client := c[0]
			if client == node {
				client = c[1]
			}
			if f.clients[client] != node {
				t.Fatalf("cut %v is not between %s and one of its clients", c, node)
			}
		}
	}
	if len(f.cuts) != 0 {
		t.Fatalf("cuts left: %v", f.cuts)
	}
}

func TestLinkFaults(t *testing.T) {
	f := newFake(3)
	events := run(t, f, testOpts{Faults: []string{FaultLatency, FaultBandwidth, FaultReset}, Interval: 20 * time.Millisecond,
		Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Bandwidth: 128 << 10, Seed: 2}, 600*time.Millisecond)
	starts, stops, _ := windows(t, events)
	for _, p := range []string{FaultLatency, FaultBandwidth, FaultReset} {
		if starts[p] == 0 || starts[p] != stops[p] {
			t.Fatalf("%s: %d starts, %d stops", p, starts[p], stops[p])
		}
	}
	if len(f.latency) != 0 {
		t.Fatalf("latency left on %v", f.latency)
	}
	for _, e := range events {
		if e.F == FaultReset && e.Type == history.Info && e.Fault.Action == history.FaultStart && e.Fault.Params["connections"] == "" {
			t.Fatalf("reset without a count: %+v", e.Fault)
		}
		if e.F == FaultBandwidth && e.Fault.Params["rate"] != "128KB/s" {
			t.Fatalf("bandwidth params %v", e.Fault.Params)
		}
	}
}

func TestOverlapRunsPackagesTogether(t *testing.T) {
	f := newFake(3)
	interval := 30 * time.Millisecond
	events := run(t, f, testOpts{Faults: []string{FaultPartition, FaultLatency}, Overlap: true, Interval: interval,
		Latency: time.Millisecond, Seed: 3}, 20*interval)
	open := map[string]bool{}
	overlapped := false
	for _, e := range events {
		if e.Process != history.Nemesis || e.Type != history.Info {
			continue
		}
		switch e.Fault.Action {
		case history.FaultStart:
			if open[e.F] {
				t.Fatalf("two %s faults at once", e.F)
			}
			open[e.F] = true
			if len(open) > 1 {
				overlapped = true
			}
		case history.FaultStop:
			delete(open, e.F)
		}
	}
	if !overlapped || len(open) != 0 || len(f.cuts) != 0 || len(f.latency) != 0 {
		t.Fatalf("overlapped %v, left open %v, cuts %v, latency %v", overlapped, open, f.cuts, f.latency)
	}
}
