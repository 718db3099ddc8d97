package node

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/nats-io/nats-server/v2/server"
)

// Health is the cluster as the nodes' monitoring endpoints describe it, and
// every reason it is not recovered. A problem's words name nodes and
// streams but no changing numbers, so the same problem seen on two polls
// reads the same and can be followed over time.
type Health struct {
	Nodes    []history.NodeState
	Streams  []history.StreamState
	Problems []history.Problem // Since is the caller's to fill in
}

// Err is nil when nothing is missing, else the first problem.
func (h *Health) Err() error {
	if len(h.Problems) == 0 {
		return nil
	}
	return errors.New(h.Problems[0].What)
}

func (h *Health) problem(stream, format string, args ...any) {
	h.Problems = append(h.Problems, history.Problem{What: fmt.Sprintf(format, args...), Stream: stream})
}

// Health asks every node about itself, the meta group and the given
// streams. The cluster is recovered when every node runs and is healthy,
// has a route to every other, all name one meta leader that sees every
// peer current, and each stream has a leader the nodes agree on, is present
// on every replica, and every replica is current.
func (c *Cluster) Health(ctx context.Context, streams ...string) *Health {
	h := &Health{}
	jszs := make([]*server.JSInfo, len(c.nodes))
	for i, n := range c.nodes {
		st, jsz := c.observeNode(ctx, h, n)
		h.Nodes = append(h.Nodes, st)
		jszs[i] = jsz
	}
	c.checkMeta(h, jszs)
	for _, s := range streams {
		h.Streams = append(h.Streams, c.observeStream(h, s, jszs))
	}
	return h
}

// observeNode records one node's process, health, routes and meta leader.
func (c *Cluster) observeNode(ctx context.Context, h *Health, n *Node) (history.NodeState, *server.JSInfo) {
	name := n.Spec.Name
	st := history.NodeState{Node: name, Running: n.Running()}
	if s := n.Spec.Server(); s != name {
		st.Server = s
	}
	if !st.Running {
		st.Exit = n.ExitReason()
		h.problem("", "%s is not running", name)
		return st, nil
	}
	if err := n.Healthz(ctx); err != nil {
		st.Health = err.Error()
		h.problem("", "%s is not healthy", name)
	}
	routes, err := n.Routes(ctx)
	if err != nil {
		h.problem("", "%s does not answer about its routes", name)
	}
	peers := map[string]bool{}
	for _, r := range routes {
		peers[c.nameOf(r.RemoteName)] = true
	}
	st.Routes = len(peers)
	for _, o := range c.nodes {
		if o != n && err == nil && !peers[o.Spec.Name] {
			h.problem("", "%s has no route to %s", name, o.Spec.Name)
		}
	}
	jsz, err := n.Jsz(ctx)
	if err != nil {
		h.problem("", "%s does not answer about JetStream", name)
		return st, nil
	}
	if jsz.Meta != nil {
		st.MetaLeader = c.nameOf(jsz.Meta.Leader)
	}
	if st.MetaLeader == "" {
		h.problem("", "%s knows no meta leader", name)
	}
	return st, jsz
}

// checkMeta wants one meta leader, named by every node that answered, who
// sees every other node as a current peer.
func (c *Cluster) checkMeta(h *Health, jszs []*server.JSInfo) {
	leaders := map[string]bool{}
	for _, st := range h.Nodes {
		if st.MetaLeader != "" {
			leaders[st.MetaLeader] = true
		}
	}
	if len(leaders) != 1 {
		if len(leaders) > 1 {
			h.problem("", "the nodes disagree on the meta leader")
		}
		return
	}
	var leader string
	for l := range leaders {
		leader = l
	}
	i := c.index(leader)
	if i < 0 {
		h.problem("", "meta leader %s is not a node of this cluster", leader)
		return
	}
	jsz := jszs[i]
	if jsz == nil || jsz.Meta == nil || c.nameOf(jsz.Meta.Leader) != leader {
		h.problem("", "meta leader %s does not answer as the leader", leader)
		return
	}
	if len(jsz.Meta.Replicas) != len(c.nodes)-1 {
		h.problem("", "meta leader %s does not see every peer", leader)
	}
	for _, p := range jsz.Meta.Replicas {
		if !p.Current || p.Offline {
			h.problem("", "meta peer %s is not current", c.nameOf(p.Name))
		}
	}
}

// index is the position of the node called name, or -1.
func (c *Cluster) index(name string) int {
	for i, n := range c.nodes {
		if n.Spec.Name == name {
			return i
		}
	}
	return -1
}

// observeStream records every node's copy of a stream and what keeps it
// from being led, complete and current.
func (c *Cluster) observeStream(h *Health, stream string, jszs []*server.JSInfo) history.StreamState {
	st := history.StreamState{Stream: stream}
	votes := map[string]int{}
	details := make([]*server.StreamDetail, len(c.nodes))
	answered, present := 0, 0
	for i, n := range c.nodes {
		r := history.ReplicaState{Node: n.Spec.Name, Answered: jszs[i] != nil}
		if d := findStream(jszs[i], stream); d != nil {
			details[i] = d
			present++
			r.Present, r.Messages, r.FirstSeq, r.LastSeq = true, d.State.Msgs, d.State.FirstSeq, d.State.LastSeq
			r.RaftGroup = d.RaftGroup
			if d.Cluster != nil {
				r.Leader = c.nameOf(d.Cluster.Leader)
				if r.RaftGroup == "" {
					r.RaftGroup = d.Cluster.RaftGroup
				}
			}
			if r.Leader != "" {
				votes[r.Leader]++
				if r.Leader == n.Spec.Name {
					votes[r.Leader]++ // a self-claim breaks ties
				}
			}
		}
		if r.Answered {
			answered++
		}
		st.Replicas = append(st.Replicas, r)
	}
	if present == 0 {
		if answered == len(c.nodes) {
			h.problem(stream, "stream %s exists on no node", stream)
		} else {
			h.problem(stream, "stream %s is on none of the nodes that answered", stream)
		}
		return st
	}
	st.Leader = mostVoted(votes)
	if st.Leader == "" {
		h.problem(stream, "stream %s has no leader", stream)
		return st
	}
	c.checkReplicas(h, &st, details)
	return st
}

// checkReplicas takes the leader's word on which replicas the stream has
// and whether each is current, and wants the stream on each of them.
func (c *Cluster) checkReplicas(h *Health, st *history.StreamState, details []*server.StreamDetail) {
	li := c.index(st.Leader)
	if li < 0 {
		h.problem(st.Stream, "stream %s is led by %s, not a node of this cluster", st.Stream, st.Leader)
		return
	}
	d := details[li]
	if d == nil || d.Cluster == nil || c.nameOf(d.Cluster.Leader) != st.Leader {
		h.problem(st.Stream, "stream %s: %s is named leader but does not lead it", st.Stream, st.Leader)
		return
	}
	for _, p := range d.Cluster.Replicas {
		name := c.nameOf(p.Name)
		i := c.index(name)
		if i < 0 {
			h.problem(st.Stream, "stream %s has replica %s, not a node of this cluster", st.Stream, name)
			continue
		}
		r := &st.Replicas[i]
		cur := p.Current && !p.Offline
		r.Current, r.Lag = &cur, p.Lag
		switch {
		case r.Answered && !r.Present:
			h.problem(st.Stream, "stream %s is missing on its replica %s", st.Stream, name)
		case !cur:
			h.problem(st.Stream, "stream %s replica %s is not current", st.Stream, name)
		}
	}
}

// findStream returns a stream's details in a node's report, in any account.
func findStream(jsz *server.JSInfo, stream string) *server.StreamDetail {
	if jsz == nil {
		return nil
	}
	for _, acc := range jsz.AccountDetails {
		for i := range acc.Streams {
			if acc.Streams[i].Name == stream {
				return &acc.Streams[i]
			}
		}
	}
	return nil
}

// mostVoted returns the most named, the first by name on a tie; "" for no
// votes.
func mostVoted(votes map[string]int) string {
	names := make([]string, 0, len(votes))
	for n := range votes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if votes[names[i]] != votes[names[j]] {
			return votes[names[i]] > votes[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
