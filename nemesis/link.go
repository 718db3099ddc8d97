package nemesis

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/jetsam-dev/jetsam/history"
)

// linkTargets draws what a link fault acts on: every link of one node, or
// the link between two nodes.
func linkTargets(nodes []string, rng *rand.Rand) (pairs [][2]string, shape string, targets []string) {
	x := nodes[rng.IntN(len(nodes))]
	y := nodes[rng.IntN(len(nodes))]
	if rng.IntN(2) == 0 || x == y {
		for _, o := range nodes {
			if o != x {
				pairs = append(pairs, [2]string{x, o})
			}
		}
		return pairs, "node", []string{x}
	}
	return [][2]string{{x, y}}, "link", []string{x, y}
}

// link injects latency, a bandwidth cap, or a reset of every connection.
func (n *Nemesis) link(f string, rng *rand.Rand) (func(), error) {
	nodes := n.t.Nodes()
	if len(nodes) < 2 {
		return nil, fmt.Errorf("skipped a %s fault: it needs two nodes", f)
	}
	pairs, shape, targets := linkTargets(nodes, rng)
	fault := &history.Fault{Shape: shape, Nodes: targets, Links: pairs}
	switch f {
	case FaultLatency:
		fault.Params = map[string]string{"delay": n.o.Latency.String(), "jitter": n.o.Jitter.String()}
		return n.inject(f, fault,
			func() { n.t.SetLatency(pairs, n.o.Latency, n.o.Jitter) },
			func() { n.t.SetLatency(pairs, 0, 0) }), nil
	case FaultBandwidth:
		fault.Params = map[string]string{"rate": FormatRate(n.o.Bandwidth)}
		return n.inject(f, fault,
			func() { n.t.SetBandwidth(pairs, n.o.Bandwidth) },
			func() { n.t.SetBandwidth(pairs, 0) }), nil
	default: // reset: an instant, so it heals as soon as it is done
		fault.Params = map[string]string{}
		heal := n.inject(f, fault, func() {
			fault.Params["connections"] = strconv.Itoa(n.t.Reset(pairs))
		}, func() {})
		heal()
		return func() {}, nil
	}
}

// FormatRate writes bytes per second for people: "128KB/s".
func FormatRate(bps int64) string {
	switch {
	case bps >= 1<<30 && bps%(1<<30) == 0:
		return fmt.Sprintf("%dGB/s", bps>>30)
	case bps >= 1<<20 && bps%(1<<20) == 0:
		return fmt.Sprintf("%dMB/s", bps>>20)
	case bps >= 1<<10 && bps%(1<<10) == 0:
		return fmt.Sprintf("%dKB/s", bps>>10)
	}
	return fmt.Sprintf("%dB/s", bps)
}
