package node

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/node/proxy"
)

// What the nemesis does to a cluster, by node name: the cluster is the
// nemesis's network, links, leaders, processes, disks and membership.

// Cut adds directed cuts: [a, b] stops the bytes a sends to b.
func (c *Cluster) Cut(cuts [][2]string) { c.net.Grudge(cuts) }

// Uncut removes exactly the given cuts.
func (c *Cluster) Uncut(cuts [][2]string) {
	for _, cut := range cuts {
		c.net.Uncut(cut[0], cut[1])
	}
}

// LinkStats are every link proxy's counters.
func (c *Cluster) LinkStats() []history.LinkStats {
	links := c.net.Links()
	out := make([]history.LinkStats, len(links))
	for i, l := range links {
		s := l.Stats()
		out[i] = history.LinkStats{
			From: l.From, To: l.To, BytesForward: s.BytesForward, BytesBackward: s.BytesBackward,
			Accepted: s.Accepted, Resets: s.Resets, Refused: s.Refused, Raft: l.RaftStats(),
		}
		if len(out[i].Raft) == 0 {
			out[i].Raft = nil
		}
	}
	return out
}

// pairLinks returns the links between each pair, both ways.
func (c *Cluster) pairLinks(pairs [][2]string) []*proxy.Link {
	var out []*proxy.Link
	for _, p := range pairs {
		for _, l := range []*proxy.Link{c.net.Link(p[0], p[1]), c.net.Link(p[1], p[0])} {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	return out
}

// SetLatency delays every byte between each pair, both ways; zero removes it.
func (c *Cluster) SetLatency(pairs [][2]string, delay, jitter time.Duration) {
	for _, l := range c.pairLinks(pairs) {
		l.SetLatency(delay, jitter)
	}
}

// SetBandwidth caps each direction between each pair; zero removes it.
func (c *Cluster) SetBandwidth(pairs [][2]string, bps int64) {
	for _, l := range c.pairLinks(pairs) {
		l.SetBandwidth(bps)
	}
}

// Reset resets every connection between each pair, and says how many.
func (c *Cluster) Reset(pairs [][2]string) int {
	n := 0
	for _, l := range c.pairLinks(pairs) {
		n += l.Reset()
	}
	return n
}

// byName returns the node called name.
func (c *Cluster) byName(name string) (*Node, error) {
	if n := c.Node(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("no node %q", name)
}

// KillNode ends a node's process at once (SIGKILL).
func (c *Cluster) KillNode(name string) error {
	n, err := c.byName(name)
	if err != nil {
		return err
	}
	return n.Kill()
}

// StartNode runs a node again on its data, unless it runs.
func (c *Cluster) StartNode(name string) error {
	n, err := c.byName(name)
	if err != nil || n.Running() {
		return err
	}
	return n.Start()
}

// PauseNode stops a node's process (SIGSTOP).
func (c *Cluster) PauseNode(name string) error {
	n, err := c.byName(name)
	if err != nil {
		return err
	}
	return n.Pause()
}

// ResumeNode continues a paused node (SIGCONT).
func (c *Cluster) ResumeNode(name string) error {
	n, err := c.byName(name)
	if err != nil {
		return err
	}
	return n.Resume()
}

// DropUnsynced throws away what a dead node wrote but did not sync.
func (c *Cluster) DropUnsynced(name string) (int64, error) {
	n, err := c.byName(name)
	if err != nil {
		return 0, err
	}
	return n.DropUnsynced()
}

// Corrupt damages one file of the given types of a dead node, and says
// exactly what it changed.
func (c *Cluster) Corrupt(name string, rng *rand.Rand, types []string) (map[string]string, error) {
	n, err := c.byName(name)
	if err != nil {
		return nil, err
	}
	k, err := n.Corrupt(rng, types)
	if err != nil {
		return nil, err
	}
	return k.Params(""), nil
}
