package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/param"
)

// Link fault packages: they act on every connection of a link without
// cutting it.
const (
	FaultLatency   = "latency"
	FaultBandwidth = "bandwidth"
	FaultReset     = "reset"
)

// LinkSettings are the link packages'.
type LinkSettings struct {
	// Latency and Jitter are the latency package's delay; Bandwidth is
	// the bandwidth package's cap in bytes per second.
	Latency   param.Duration `json:"latency"`
	Jitter    param.Duration `json:"jitter"`
	Bandwidth int64          `json:"bandwidth"`
}

// linkFault is the package f: latency, bandwidth or reset.
type linkFault struct{ f string }

func (l linkFault) Name() string { return l.f }

func (l linkFault) Params() []Param {
	switch l.f {
	case FaultLatency:
		return []Param{
			param.DurationOf("latency", "delay the latency package adds to each byte on a link, both ways", func(s *FaultSettings) *param.Duration { return &s.Latency }),
			param.DurationOf("jitter", "the latency package's delay varies by up to this much either way (bytes stay in order)", func(s *FaultSettings) *param.Duration { return &s.Jitter }),
		}
	case FaultBandwidth:
		return []Param{{Name: "bandwidth", Type: "rate", Usage: "rate cap the bandwidth package puts on each direction of a link, e.g. 64KB/s, 1MB/s",
			Set: func(s *FaultSettings, v string) (err error) {
				s.Bandwidth, err = param.ParseRate("bandwidth", v)
				return err
			},
			Get: func(s *FaultSettings) string { return param.FormatRate(s.Bandwidth) }}}
	}
	return nil
}

func (l linkFault) Validate(s *FaultSettings, _ int) error {
	switch {
	case l.f == FaultLatency && s.Latency < 0:
		return fmt.Errorf("--latency must not be negative, got %s", s.Latency)
	case l.f == FaultLatency && s.Jitter < 0:
		return fmt.Errorf("--jitter must not be negative, got %s", s.Jitter)
	case l.f == FaultBandwidth && (s.Bandwidth <= 0 || s.Bandwidth > 1<<40):
		return fmt.Errorf("--bandwidth must be a positive rate up to 1TB/s, got %d bytes/s", s.Bandwidth)
	}
	return nil
}

func (l linkFault) Fits(_ *FaultSettings, nodes int, _ bool) error { return needNodes(l.f, 2, nodes) }

func (l linkFault) Start(_ context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.link(l.f, rng)
}

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
	links, ok := n.t.(Links)
	if !ok {
		return nil, fmt.Errorf("skipped a %s fault: this cluster's links cannot be shaped", f)
	}
	nodes := n.t.NodeNames()
	if len(nodes) < 2 {
		return nil, fmt.Errorf("skipped a %s fault: it needs two nodes", f)
	}
	delay, jitter := time.Duration(n.o.Latency), time.Duration(n.o.Jitter)
	pairs, shape, targets := linkTargets(nodes, rng)
	fault := &history.Fault{Shape: shape, Nodes: targets, Links: pairs}
	switch f {
	case FaultLatency:
		fault.Params = map[string]string{"delay": delay.String(), "jitter": jitter.String()}
		return n.inject(f, fault,
			func() { links.SetLatency(pairs, delay, jitter) },
			func() { links.SetLatency(pairs, 0, 0) }), nil
	case FaultBandwidth:
		fault.Params = map[string]string{"rate": param.FormatRate(n.o.Bandwidth)}
		return n.inject(f, fault,
			func() { links.SetBandwidth(pairs, n.o.Bandwidth) },
			func() { links.SetBandwidth(pairs, 0) }), nil
	default: // reset: an instant, so it heals as soon as it is done
		fault.Params = map[string]string{}
		heal := n.inject(f, fault, func() {
			fault.Params["connections"] = strconv.Itoa(links.Reset(pairs))
		}, func() {})
		heal()
		return func() {}, nil
	}
}
