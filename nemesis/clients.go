package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/jetsam-dev/jetsam/history"
)

// FaultClients cuts clients off from their node.
const FaultClients = "clients"

type clientsFault struct{}

func (clientsFault) Name() string                         { return FaultClients }
func (clientsFault) Params() []Param                      { return nil }
func (clientsFault) Validate(*FaultSettings, int) error   { return nil }
func (clientsFault) Fits(*FaultSettings, int, bool) error { return nil }
func (clientsFault) Start(_ context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.clients(rng)
}

// clients cuts clients off from their node: every client of one node, or
// one client.
func (n *Nemesis) clients(rng *rand.Rand) (func(), error) {
	byNode := map[string][]string{}
	for c, node := range n.o.Clients {
		byNode[node] = append(byNode[node], c)
	}
	nodes := make([]string, 0, len(byNode))
	for node := range byNode {
		nodes = append(nodes, node)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("skipped a client partition: no client links")
	}
	slices.Sort(nodes)
	node := nodes[rng.IntN(len(nodes))]
	cs := slices.Sorted(slices.Values(byNode[node]))
	one := rng.IntN(2) == 0
	shape := "node-clients"
	if one {
		cs = cs[rng.IntN(len(cs)):][:1]
		shape = "one-client"
	}
	var cuts [][2]string
	for _, c := range cs {
		cuts = append(cuts, [2]string{c, node}, [2]string{node, c})
	}
	fault := &history.Fault{Shape: shape, Groups: [][]string{cs, {node}}, Nodes: []string{node}, Cuts: sortCuts(cuts)}
	return n.inject(FaultClients, fault, func() { n.t.Cut(cuts) }, func() { n.t.Uncut(cuts) }), nil
}
