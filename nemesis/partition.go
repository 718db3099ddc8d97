package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/retry"
	"github.com/jetsam-dev/jetsam/param"
)

// FaultPartition cuts links in a shape drawn from --partition-shapes.
const FaultPartition = "partition"

// PartitionSettings are the partition package's.
type PartitionSettings struct {
	// PartitionShapes are the shapes to draw from; empty means every shape
	// the cluster is big enough for.
	PartitionShapes []string `json:"partition_shapes"`
}

func (s *PartitionSettings) normalize(nodes int) {
	if len(s.PartitionShapes) == 0 {
		s.PartitionShapes = ShapesFor(nodes)
	}
}

type partitionFault struct{}

func (partitionFault) Name() string { return FaultPartition }

func (partitionFault) Params() []Param {
	return []Param{param.ListOf("partition-shapes", "partition shapes to draw from (default: all the cluster is big enough for): "+
		"one (isolate a random node), minority (a random minority), halves (random halves), ring (every node hears a different majority), "+
		"bridge (two halves joined by one node), leader (isolate the stream leader), meta-leader (isolate the meta leader), "+
		"asymmetric (one node's outbound or inbound bytes cut)", func(s *FaultSettings) *[]string { return &s.PartitionShapes })}
}

func (partitionFault) Validate(s *FaultSettings, nodes int) error {
	for _, sh := range s.PartitionShapes {
		if !slices.Contains(Shapes, sh) {
			return fmt.Errorf("--partition-shapes %q is not one of %s", sh, strings.Join(Shapes, ", "))
		}
		if need := ShapeMinNodes[sh]; nodes < need {
			return fmt.Errorf("--partition-shapes %s needs at least %d nodes, and --nodes is %d", sh, need, nodes)
		}
	}
	return nil
}

func (partitionFault) Fits(_ *FaultSettings, nodes int, _ bool) error {
	return needNodes(FaultPartition, 2, nodes)
}

func (partitionFault) Start(ctx context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.partition(ctx, rng)
}

// Partition shapes.
const (
	ShapeOne        = "one"         // isolate one random node
	ShapeMinority   = "minority"    // isolate a random minority
	ShapeHalves     = "halves"      // split the nodes into two random halves
	ShapeRing       = "ring"        // every node hears a majority, no two the same one
	ShapeBridge     = "bridge"      // two halves joined by one node that hears both
	ShapeLeader     = "leader"      // isolate the stream's current leader
	ShapeMetaLeader = "meta-leader" // isolate the JetStream meta leader
	ShapeAsymmetric = "asymmetric"  // one node's outbound, or inbound, bytes cut
)

// Shapes lists every partition shape.
var Shapes = []string{ShapeOne, ShapeMinority, ShapeHalves, ShapeRing, ShapeBridge, ShapeLeader, ShapeMetaLeader, ShapeAsymmetric}

// ShapeMinNodes is how many nodes each shape needs.
var ShapeMinNodes = map[string]int{
	ShapeOne: 2, ShapeMinority: 3, ShapeHalves: 2, ShapeRing: 3, ShapeBridge: 3,
	ShapeLeader: 2, ShapeMetaLeader: 2, ShapeAsymmetric: 2,
}

// ShapesFor lists the shapes a cluster of n nodes is big enough for.
func ShapesFor(n int) []string { return fitting(Shapes, ShapeMinNodes, n) }

// fitting lists the names whose minimum node count n meets.
func fitting(names []string, minNodes map[string]int, n int) []string {
	var out []string
	for _, s := range names {
		if n >= minNodes[s] {
			out = append(out, s)
		}
	}
	return out
}

// Shape is a partition worked out for a set of nodes.
type Shape struct {
	Groups [][]string
	// Cuts are directed: [a, b] stops the bytes a sends to b.
	Cuts   [][2]string
	Nodes  []string
	Params map[string]string
}

// Plan works out a partition shape over nodes. Every call draws the same
// random numbers whatever the shape, so a seed fixes the schedule;
// leaderOf names the leader for the leader shapes, and is only called for
// them.
func Plan(shape string, nodes []string, rng *rand.Rand, leaderOf func() (string, error)) (Shape, error) {
	n := len(nodes)
	if n < ShapeMinNodes[shape] {
		return Shape{}, fmt.Errorf("partition shape %s needs at least %d nodes, the cluster has %d", shape, ShapeMinNodes[shape], n)
	}
	perm := rng.Perm(n)
	inbound := rng.IntN(2) == 0
	p := make([]string, n)
	for i, j := range perm {
		p[i] = nodes[j]
	}
	isolate := func(side []string) Shape {
		side = slices.Sorted(slices.Values(side))
		var rest []string
		for _, x := range nodes {
			if !slices.Contains(side, x) {
				rest = append(rest, x)
			}
		}
		return Shape{Groups: [][]string{side, rest}, Cuts: between(side, rest), Nodes: side}
	}
	switch shape {
	case ShapeOne:
		return isolate(p[:1]), nil
	case ShapeMinority:
		return isolate(p[:(n-1)/2]), nil
	case ShapeHalves:
		return isolate(p[:n/2]), nil
	case ShapeLeader, ShapeMetaLeader:
		l, err := leaderOf()
		if err != nil {
			return Shape{}, err
		}
		return isolate([]string{l}), nil
	case ShapeRing:
		// Around a random ring, each node hears the window of m (a
		// majority) nodes centred on it and nothing else, as Jepsen's
		// majorities ring: every view is a different majority. With 5
		// nodes the cuts are symmetric; with 3 they can only be one-way.
		m := n/2 + 1
		var cuts [][2]string
		for i := range p {
			heard := map[string]bool{}
			for k := 0; k < m; k++ {
				heard[p[((i-m/2+k)%n+n)%n]] = true
			}
			for _, x := range p {
				if !heard[x] {
					cuts = append(cuts, [2]string{x, p[i]})
				}
			}
		}
		return Shape{Cuts: sortCuts(cuts), Nodes: p}, nil
	case ShapeBridge:
		bridge := p[0]
		a := slices.Sorted(slices.Values(p[1 : 1+(n-1)/2]))
		b := slices.Sorted(slices.Values(p[1+(n-1)/2:]))
		return Shape{Groups: [][]string{a, {bridge}, b}, Cuts: between(a, b), Nodes: []string{bridge}}, nil
	case ShapeAsymmetric:
		x := p[0]
		var cuts [][2]string
		dir := "outbound"
		for _, y := range nodes {
			if y == x {
				continue
			}
			if inbound {
				cuts = append(cuts, [2]string{y, x})
			} else {
				cuts = append(cuts, [2]string{x, y})
			}
		}
		if inbound {
			dir = "inbound"
		}
		return Shape{Cuts: sortCuts(cuts), Nodes: []string{x}, Params: map[string]string{"direction": dir}}, nil
	}
	return Shape{}, fmt.Errorf("unknown partition shape %q", shape)
}

// between cuts every pair across a and b, both ways.
func between(a, b []string) [][2]string {
	var cuts [][2]string
	for _, x := range a {
		for _, y := range b {
			cuts = append(cuts, [2]string{x, y}, [2]string{y, x})
		}
	}
	return sortCuts(cuts)
}

func sortCuts(c [][2]string) [][2]string {
	sort.Slice(c, func(i, j int) bool {
		if c[i][0] != c[j][0] {
			return c[i][0] < c[j][0]
		}
		return c[i][1] < c[j][1]
	})
	return c
}

func (n *Nemesis) partition(ctx context.Context, rng *rand.Rand) (func(), error) {
	nodes := n.t.NodeNames()
	shape := n.o.PartitionShapes[rng.IntN(len(n.o.PartitionShapes))]
	var leaderGroup string
	leaderOf := func() (string, error) {
		if shape == ShapeMetaLeader {
			leaderGroup = "meta"
		} else {
			leaderGroup = "stream " + n.o.Stream
		}
		return n.leader(ctx, shape == ShapeMetaLeader)
	}
	s, err := Plan(shape, nodes, rng, leaderOf)
	if err != nil {
		return nil, fmt.Errorf("skipped a %s partition: %w", shape, err)
	}
	fault := &history.Fault{Shape: shape, Groups: s.Groups, Nodes: s.Nodes, Cuts: s.Cuts, Params: s.Params}
	heal := n.inject(FaultPartition, fault, func() { n.t.Cut(s.Cuts) }, func() { n.t.Uncut(s.Cuts) })
	if leaderGroup == "" {
		return heal, nil
	}
	return n.watchingLeader(ctx, heal, FaultPartition, shape, shape == ShapeMetaLeader, leaderGroup, s.Groups[0][0], s.Groups[1]), nil
}

// watchingLeader watches, while a fault holds, the rest of the cluster
// elect a leader other than old, and returns heal stopping the watch first.
func (n *Nemesis) watchingLeader(ctx context.Context, heal func(), f, shape string, meta bool, group, old string, rest []string) func() {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.watchLeader(wctx, f, shape, meta, group, old, rest)
	}()
	return func() {
		stop()
		<-done
		heal()
	}
}

// watchLeader records when the nodes in majority name a leader other than
// old.
func (n *Nemesis) watchLeader(ctx context.Context, f, shape string, meta bool, group, old string, majority []string) {
	began := time.Now()
	for {
		l, err := n.askLeader(ctx, meta, majority)
		if err == nil && l != "" && l != old {
			after := time.Since(began).Round(time.Millisecond)
			n.record(history.Info, f, &history.Fault{Action: history.FaultObserve, Shape: shape, Nodes: []string{l},
				Params: map[string]string{"group": group, "from": old, "leader": l, "after": after.String()}}, nil)
			n.o.Logf("nemesis: %s leadership moved from %s to %s after %s", group, old, l, after)
			return
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// askLeader asks the cluster once who leads the meta group (meta) or the
// run's stream, as the ask nodes see it (all when nil).
func (n *Nemesis) askLeader(ctx context.Context, meta bool, ask []string) (string, error) {
	l, ok := n.t.(Leaders)
	if !ok {
		return "", errors.New("this cluster cannot be asked who leads")
	}
	if meta {
		return l.MetaLeaderSeenBy(ctx, ask)
	}
	return l.StreamLeaderSeenBy(ctx, n.o.Stream, ask)
}

// leader asks who leads for a few seconds: just after a heal there may be
// none while an election runs.
func (n *Nemesis) leader(ctx context.Context, meta bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := retry.Value(ctx, retry.Every(250*time.Millisecond), func(ctx context.Context) (string, error) {
		l, err := n.askLeader(ctx, meta, nil)
		if err == nil && l == "" {
			err = errors.New("no leader")
		}
		return l, err
	})
	if err != nil {
		return "", fmt.Errorf("no leader known: %w", err)
	}
	return l, nil
}
