package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jetsam-dev/jetsam/node/proxy"
	"github.com/nats-io/nats-server/v2/server"
)

// Raft group classes a raft fault aims at.
const (
	GroupsMeta      = "meta"      // the JetStream meta group
	GroupsWorkload  = "workload"  // the workloads' streams' groups
	GroupsStreams   = "streams"   // every stream's group
	GroupsConsumers = "consumers" // every consumer's group
)

// GroupClasses lists the classes.
var GroupClasses = []string{GroupsMeta, GroupsWorkload, GroupsStreams, GroupsConsumers}

// metaGroup is the meta group's name (server/jetstream_cluster.go).
const metaGroup = "_meta_"

// SetRaftRule puts rule on the links between each pair, both ways; nil
// lifts it.
func (c *Cluster) SetRaftRule(pairs [][2]string, rule *proxy.RaftRule) {
	for _, l := range c.pairLinks(pairs) {
		l.SetRaftRule(rule)
	}
}

// WatchRaft arms a watch on every route link and waits until an append
// entry of one of groups (any, when empty) carrying an entry of type entry
// has passed one of them, or ctx ends. Every link is disarmed after.
func (c *Cluster) WatchRaft(ctx context.Context, groups []string, entry byte) (proxy.RaftEvent, error) {
	links := c.routeLinks()
	if len(links) == 0 {
		return proxy.RaftEvent{}, errors.New("no route link reads the route protocol")
	}
	fired := make(chan proxy.RaftEvent, len(links))
	w := &proxy.RaftWatch{Groups: groups, Entry: entry, Fired: fired}
	for _, l := range links {
		l.WatchRaft(w)
	}
	defer func() {
		for _, l := range links {
			l.WatchRaft(nil)
		}
	}()
	select {
	case ev := <-fired:
		return ev, nil
	case <-ctx.Done():
		return proxy.RaftEvent{}, ctx.Err()
	}
}

// routeLinks are the framed links between nodes.
func (c *Cluster) routeLinks() []*proxy.Link {
	var out []*proxy.Link
	names := c.NodeNames()
	for _, l := range c.net.Links() {
		if slices.Contains(names, l.From) && slices.Contains(names, l.To) && l.Framed() {
			out = append(out, l)
		}
	}
	return out
}

// RaftGroups names the Raft groups of a class, as the first node that
// answers reports them: the meta group, the given streams' groups, every
// stream's, or every consumer's.
func (c *Cluster) RaftGroups(ctx context.Context, class string, streams []string) ([]string, error) {
	if class == GroupsMeta {
		return []string{metaGroup}, nil
	}
	var errs []error
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		var jsz server.JSInfo
		if err := getJSON(ctx, n.Spec.MonitorURL()+"/jsz?accounts=true&streams=true&consumers=true&raft=true", &jsz); err != nil {
			errs = append(errs, err)
			continue
		}
		if groups := groupsOf(&jsz, class, streams); len(groups) > 0 {
			return groups, nil
		}
	}
	return nil, fmt.Errorf("no node named a raft group of class %s: %w", class, errors.Join(errs...))
}

func groupsOf(jsz *server.JSInfo, class string, streams []string) []string {
	var out []string
	for _, acc := range jsz.AccountDetails {
		for _, s := range acc.Streams {
			switch class {
			case GroupsWorkload, GroupsStreams:
				if s.RaftGroup != "" && (class == GroupsStreams || slices.Contains(streams, s.Name)) {
					out = append(out, s.RaftGroup)
				}
			case GroupsConsumers:
				for _, g := range s.ConsumerRaftGroups {
					out = append(out, g.RaftGroup)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RouteCounts counts each running node's routes, by the peers they reach:
// a raft fault leaves them all up.
func (c *Cluster) RouteCounts(ctx context.Context) map[string]int {
	out := map[string]int{}
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		routes, err := n.Routes(ctx)
		if err != nil {
			continue
		}
		peers := map[string]bool{}
		for _, r := range routes {
			peers[r.RemoteName] = true
		}
		out[n.Spec.Name] = len(peers)
	}
	return out
}
