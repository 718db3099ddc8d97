package jetsam

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/proxy"
)

// target is what the nemesis acts on: the cluster and its link proxies,
// node links and client links alike.
type target struct {
	c       *node.Cluster
	clients map[string]string // client link name -> node
}

func (t *target) Nodes() []string            { return t.c.NodeNames() }
func (t *target) Clients() map[string]string { return t.clients }

func (t *target) Cut(cuts [][2]string) { t.c.Net().Grudge(cuts) }

func (t *target) Uncut(cuts [][2]string) {
	for _, c := range cuts {
		t.c.Net().Uncut(c[0], c[1])
	}
}

// links returns the links between each pair, both ways.
func (t *target) links(pairs [][2]string) []*proxy.Link {
	var out []*proxy.Link
	for _, p := range pairs {
		for _, l := range []*proxy.Link{t.c.Net().Link(p[0], p[1]), t.c.Net().Link(p[1], p[0])} {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	return out
}

func (t *target) SetLatency(pairs [][2]string, delay, jitter time.Duration) {
	for _, l := range t.links(pairs) {
		l.SetLatency(delay, jitter)
	}
}

func (t *target) SetBandwidth(pairs [][2]string, bps int64) {
	for _, l := range t.links(pairs) {
		l.SetBandwidth(bps)
	}
}

func (t *target) Reset(pairs [][2]string) int {
	n := 0
	for _, l := range t.links(pairs) {
		n += l.Reset()
	}
	return n
}

func (t *target) StreamLeader(ctx context.Context, stream string, ask []string) (string, error) {
	return t.c.StreamLeaderSeenBy(ctx, stream, ask)
}

func (t *target) MetaLeader(ctx context.Context, ask []string) (string, error) {
	return t.c.MetaLeaderSeenBy(ctx, ask)
}

func (t *target) LinkStats() []history.LinkStats {
	links := t.c.Net().Links()
	out := make([]history.LinkStats, len(links))
	for i, l := range links {
		s := l.Stats()
		out[i] = history.LinkStats{
			From: l.From, To: l.To, BytesForward: s.BytesForward, BytesBackward: s.BytesBackward,
			Accepted: s.Accepted, Resets: s.Resets, Refused: s.Refused,
		}
	}
	return out
}

func (t *target) node(name string) (*node.Node, error) {
	if n := t.c.Node(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("no node %q", name)
}

func (t *target) Kill(name string) error {
	n, err := t.node(name)
	if err != nil {
		return err
	}
	return n.Kill()
}

func (t *target) Start(name string) error {
	n, err := t.node(name)
	if err != nil {
		return err
	}
	if n.Running() {
		return nil
	}
	return n.Start()
}

func (t *target) Pause(name string) error {
	n, err := t.node(name)
	if err != nil {
		return err
	}
	return n.Pause()
}

func (t *target) Resume(name string) error {
	n, err := t.node(name)
	if err != nil {
		return err
	}
	return n.Resume()
}

func (t *target) DropUnsynced(name string) (int64, error) {
	n, err := t.node(name)
	if err != nil {
		return 0, err
	}
	return n.DropUnsynced()
}

func (t *target) Corrupt(name string, rng *rand.Rand, types []string) (map[string]string, error) {
	n, err := t.node(name)
	if err != nil {
		return nil, err
	}
	c, err := n.Corrupt(rng, types)
	if err != nil {
		return nil, err
	}
	return c.Params(""), nil
}

func (t *target) RemovePeer(ctx context.Context, name string, streams []string) ([]string, error) {
	steps, err := t.c.RemovePeer(ctx, name, streams)
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Did + ": " + s.Outcome
	}
	return out, err
}

func (t *target) Rejoin(name string) (string, error) { return t.c.Rejoin(name) }

func (t *target) Replicas(ctx context.Context, stream string) (int, error) {
	return t.c.Replicas(ctx, stream)
}

func (t *target) SetReplicas(ctx context.Context, stream string, n int) error {
	return t.c.SetReplicas(ctx, stream, n)
}
