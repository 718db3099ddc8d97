// Package node runs a cluster of nats-server processes whose every route
// passes through a link proxy jetsam controls, and answers questions about
// it (is it ready, who leads). It knows nothing of clients or checkers.
package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/node/disk"
	"github.com/jetsam-dev/jetsam/node/proxy"
)

// Options describe a local cluster.
type Options struct {
	Nodes int
	// Dir is where each node's folder (config, log, data) is made.
	Dir string
	// BasePort, when set, gives node i (from 0) the client port BasePort+3i,
	// the cluster port BasePort+3i+1 and the monitoring port BasePort+3i+2.
	// Zero picks free ports.
	BasePort int
	// Command runs a node; the config flag is appended. Usually this
	// binary's own path and "node".
	Command []string
	// ReadyTimeout bounds the wait for the cluster to form.
	ReadyTimeout time.Duration
	// SyncInterval is the nodes' JetStream sync_interval ("always" or a
	// duration); empty leaves the server's default.
	SyncInterval string
	// RouteCompression and RoutePoolSize set every node's route
	// compression mode and pool size (-1: one route per pair, as before
	// pooling); empty and 0 leave the server's defaults.
	RouteCompression string
	RoutePoolSize    int
	// RouteTLS makes every route mutual TLS, with a CA and certificates
	// made for this cluster.
	RouteTLS bool
	// ServerVersion is the version of the server Command runs; config
	// settings older servers lack are written their way.
	ServerVersion string
	// Jetsam runs this binary (the mount guard); empty: Command's program.
	Jetsam []string
	// PowerLoss puts each node's data dir on a volatile disk (a FUSE
	// mount that loses unsynced writes on a power failure). It needs root
	// and /dev/fuse; a guard process unmounts the disks should jetsam die.
	PowerLoss bool
	// Writeback is the age at which the volatile disks write dirty data
	// back (see disk.Mount).
	Writeback time.Duration
	// Hosts, when set, runs the nodes on remote hosts, one per host.
	Hosts *Hosts
	// RouteVia, when set, replaces the link proxies: it returns the address
	// node from dials to reach node to, whose cluster port is target. Only
	// to measure what the proxies cost (direct routes, another proxy); the
	// cluster's Net is then empty and cannot cut anything.
	RouteVia func(from, to, target string) (string, error)
	// FrameRoutes makes every route link read the route protocol from its
	// first byte, for raft faults; route compression is then off.
	FrameRoutes bool
	// Assertions makes every node write the Antithesis SDK assertions it
	// evaluates to its folder's AssertionsFile (local nodes only).
	Assertions bool
}

// Cluster is a running set of nodes and the proxies between them.
type Cluster struct {
	nodes     []*Node
	hosts     []*hostNode // the remote hosts, when the nodes run there
	net       *proxy.Net
	guard     func() error // ends the mount guard; nil without volatile disks
	writeback time.Duration
	// ReadyIn is how long the cluster took from the first process start to
	// ready.
	ReadyIn time.Duration
}

// Names returns node names in order: n1, n2, ...
func Names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

// Start allocates ports, puts a proxy on every directed pair, writes each
// node's config, starts the processes and waits until the cluster is ready.
// On failure nothing it started is left running.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Nodes < 1 {
		return nil, fmt.Errorf("a cluster needs at least 1 node, got %d", o.Nodes)
	}
	if len(o.Command) == 0 {
		return nil, errors.New("no command to run a node")
	}
	if err := CheckSettings(o.ServerVersion, o); err != nil {
		return nil, err
	}
	if o.FrameRoutes {
		if o.RouteTLS || (o.RouteCompression != "" && o.RouteCompression != "off") {
			return nil, errors.New("raft faults read the route protocol, which TLS and route compression hide: drop --route-tls and --route-compression")
		}
		if AtLeast(o.ServerVersion, routePoolingSince) {
			// accept is the default, and resolves to off unless a peer
			// asks for compression: say off, so no peer can.
			o.RouteCompression = "off"
		}
	}
	if o.Assertions && o.Hosts != nil {
		return nil, errors.New("server assertions are written on the node's own machine: they cannot be collected from remote hosts yet")
	}
	if len(o.Jetsam) == 0 {
		o.Jetsam = o.Command[:1]
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	c = &Cluster{net: proxy.NewNet(), writeback: o.Writeback}
	defer func() {
		if err != nil {
			c.Stop(5 * time.Second)
			c = nil
		}
	}()
	if o.Hosts != nil {
		if err := c.startRemote(ctx, o); err != nil {
			return c, err
		}
	} else if err := c.startLocal(o); err != nil {
		return c, err
	}
	began := time.Now()
	for _, n := range c.nodes {
		if err := n.Start(); err != nil {
			return c, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	if err := c.WaitReady(rctx); err != nil {
		if ctx.Err() != nil {
			return c, ctx.Err()
		}
		return c, fmt.Errorf("cluster did not become ready within %s: %w", o.ReadyTimeout, err)
	}
	c.ReadyIn = time.Since(began)
	return c, nil
}

// Reported is what one node says it runs.
type Reported struct {
	Node, Version, GitCommit, Go string
}

// Reported asks every node what server it runs; a node that does not
// answer is left out.
func (c *Cluster) Reported(ctx context.Context) []Reported {
	var out []Reported
	for _, n := range c.nodes {
		v, err := n.Varz(ctx)
		if err != nil {
			continue
		}
		out = append(out, Reported{Node: n.Spec.Name, Version: v.Version, GitCommit: v.GitCommit, Go: v.GoVersion})
	}
	return out
}

// startLocal allocates ports, puts a proxy on every directed pair and
// writes each node's config, for nodes on this machine.
func (c *Cluster) startLocal(o Options) error {
	ports, err := allocatePorts(o.BasePort, 3*o.Nodes)
	if err != nil {
		return err
	}
	names := Names(o.Nodes)
	specs := make([]Spec, o.Nodes)
	for i, name := range names {
		specs[i] = Spec{
			Name: name, ClientPort: ports[3*i], ClusterPort: ports[3*i+1], HTTPPort: ports[3*i+2],
			Dir: filepath.Join(o.Dir, name), SyncInterval: o.SyncInterval,
			Compression: o.RouteCompression, PoolSize: o.RoutePoolSize, ServerVersion: o.ServerVersion,
			Assertions: o.Assertions,
		}
	}
	if o.RouteTLS {
		ca, err := newRouteCA()
		if err != nil {
			return fmt.Errorf("route TLS: %w", err)
		}
		for i := range specs {
			if specs[i].TLS, err = ca.issue(specs[i].Dir, specs[i].Name); err != nil {
				return fmt.Errorf("route TLS for %s: %w", specs[i].Name, err)
			}
		}
	}
	for i := range specs {
		for j := range specs {
			if i == j {
				continue
			}
			if o.RouteVia != nil {
				addr, err := o.RouteVia(specs[i].Name, specs[j].Name, specs[j].ClusterAddr())
				if err != nil {
					return fmt.Errorf("route %s->%s: %w", specs[i].Name, specs[j].Name, err)
				}
				specs[i].Routes = append(specs[i].Routes, addr)
				continue
			}
			l, err := proxy.Listen(specs[i].Name, specs[j].Name, specs[j].ClusterAddr())
			if err != nil {
				return fmt.Errorf("proxy %s->%s: %w", specs[i].Name, specs[j].Name, err)
			}
			if o.FrameRoutes {
				l.Frame()
			}
			c.net.Add(l)
			specs[i].Routes = append(specs[i].Routes, l.Addr())
		}
	}
	for _, s := range specs {
		if err := os.MkdirAll(s.DataDir(), 0o755); err != nil {
			return fmt.Errorf("node dir: %w", err)
		}
		if err := os.WriteFile(s.ConfigPath(), []byte(s.Config()), 0o644); err != nil {
			return fmt.Errorf("node config: %w", err)
		}
		c.nodes = append(c.nodes, &Node{Spec: s, Command: o.Command})
	}
	if o.PowerLoss {
		if err := c.mountDisks(o.Jetsam); err != nil {
			return err
		}
	}
	return nil
}

// Nodes returns the nodes, in name order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Spec.Name == name {
			return n
		}
	}
	return nil
}

// nodeOfServer returns the node running under server name s, or nil.
func (c *Cluster) nodeOfServer(s string) *Node {
	for _, n := range c.nodes {
		if n.Spec.Server() == s {
			return n
		}
	}
	return nil
}

// nameOf turns a server name into its node's name; an unknown server keeps
// its own.
func (c *Cluster) nameOf(server string) string {
	if n := c.nodeOfServer(server); n != nil {
		return n.Spec.Name
	}
	return server
}

// NodeNames returns every node's name.
func (c *Cluster) NodeNames() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Spec.Name
	}
	return out
}

// Net is the cluster's transport: the link proxies.
func (c *Cluster) Net() *proxy.Net { return c.net }

// Partition cuts every link between nodes in different groups.
func (c *Cluster) Partition(groups [][]string) { c.net.Partition(groups) }

// Heal restores every link.
func (c *Cluster) Heal() { c.net.Heal() }

// Stop shuts every node down (killing those that do not stop within grace)
// and closes the proxies. It is safe to call more than once.
func (c *Cluster) Stop(grace time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Stop(grace)
		}()
	}
	wg.Wait()
	errs = append(errs, c.net.Close(), c.unmountDisks())
	if c.hosts != nil {
		errs = append(errs, c.stopRemote(grace))
	}
	return errors.Join(errs...)
}

// Kill ends every node at once.
func (c *Cluster) Kill() {
	for _, n := range c.nodes {
		_ = n.Kill()
	}
	_ = c.net.Close()
	_ = c.unmountDisks()
	for _, hn := range c.hosts {
		if hn != nil {
			_ = c.endAgent(hn)
		}
	}
}

// mountDisks mounts a volatile disk on every node's data dir, backed by
// the node's "disk" folder, under a guard that unmounts them all should
// this process die first.
func (c *Cluster) mountDisks(command []string) error {
	var mounts []string
	for _, n := range c.nodes {
		backing := filepath.Join(n.Spec.Dir, "disk")
		if err := os.MkdirAll(backing, 0o755); err != nil {
			return err
		}
		d, err := disk.Mount(backing, n.Spec.DataDir(), c.writeback)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Spec.Name, err)
		}
		n.disk = d
		mounts = append(mounts, d.Mountpoint)
	}
	stop, err := disk.Guard(command[:1], mounts)
	if err != nil {
		return err
	}
	c.guard = stop
	return nil
}

// unmountDisks writes out what the nodes wrote (their processes are gone,
// as at a clean shutdown), unmounts, and puts each backing folder where the
// data dir was, so a run folder looks the same with or without them.
func (c *Cluster) unmountDisks() error {
	var errs []error
	for _, n := range c.nodes {
		if n.disk == nil {
			continue
		}
		d := n.disk
		n.disk = nil
		if err := d.Unmount(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(d.Mountpoint); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(d.Backing, d.Mountpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.guard != nil {
		_ = c.guard()
		c.guard = nil
	}
	return errors.Join(errs...)
}

// WaitReady waits until every node is up and healthy, JetStream has a meta
// leader that every node agrees on, and the leader sees every peer current.
// It returns the last reason the cluster was not ready when ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var last error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.dead(); err != nil {
			return err
		}
		if last = c.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

// dead reports a node whose process has exited.
func (c *Cluster) dead() error {
	for _, n := range c.nodes {
		if !n.Running() {
			return fmt.Errorf("node %s exited: %s", n.Spec.Name, n.ExitReason())
		}
	}
	return nil
}

func (c *Cluster) ready(ctx context.Context) error {
	return c.Health(ctx).Err()
}

// AddClientLink puts a proxy between a client and a node's client port and
// returns the address the client should dial. The link is named client ->
// node in the cluster's Net, so it can be cut like any other.
func (c *Cluster) AddClientLink(client, node string) (string, error) {
	n := c.Node(node)
	if n == nil {
		return "", fmt.Errorf("no node %q", node)
	}
	l, err := proxy.ListenAllowing(client, node, n.Spec.ClientAddr(), c.hostAddrs()...)
	if err != nil {
		return "", fmt.Errorf("client proxy %s->%s: %w", client, node, err)
	}
	c.net.Add(l)
	return l.Addr(), nil
}

// MetaLeader returns the JetStream meta leader most nodes name.
func (c *Cluster) MetaLeader(ctx context.Context) (string, error) {
	return c.MetaLeaderSeenBy(ctx, nil)
}

// MetaLeaderSeenBy returns the meta leader most of the given nodes name
// (all nodes when none are given).
func (c *Cluster) MetaLeaderSeenBy(ctx context.Context, ask []string) (string, error) {
	return c.vote(ctx, ask, func(j *serverJSInfo) string {
		if j.Meta == nil {
			return ""
		}
		return j.Meta.Leader
	})
}

// StreamLeader returns the leader of a stream (in any account) that most
// reachable nodes name, preferring a node that names itself on a tie.
func (c *Cluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	return c.StreamLeaderSeenBy(ctx, stream, nil)
}

// StreamLeaderSeenBy is StreamLeader asking only the given nodes (all nodes
// when none are given): the majority side of a partition, say.
func (c *Cluster) StreamLeaderSeenBy(ctx context.Context, stream string, ask []string) (string, error) {
	return c.vote(ctx, ask, func(j *serverJSInfo) string {
		for _, acc := range j.AccountDetails {
			for _, s := range acc.Streams {
				if s.Name == stream && s.Cluster != nil {
					return s.Cluster.Leader
				}
			}
		}
		return ""
	})
}

// StreamCurrent reports nil when the stream has a leader every node agrees on,
// is present on every replica, and the leader sees every replica current.
func (c *Cluster) StreamCurrent(ctx context.Context, stream string) error {
	for _, p := range c.Health(ctx, stream).Problems {
		if p.Stream == stream {
			return errors.New(p.What)
		}
	}
	return nil
}

// vote asks every running node (or those named in ask) and returns the
// most named answer.
func (c *Cluster) vote(ctx context.Context, ask []string, pick func(*serverJSInfo) string) (string, error) {
	votes := map[string]int{}
	var errs []error
	for _, n := range c.nodes {
		if !n.Running() || (ask != nil && !slices.Contains(ask, n.Spec.Name)) {
			continue
		}
		j, err := n.Jsz(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l := c.nameOf(pick(j)); l != "" {
			votes[l]++
			if l == n.Spec.Name {
				votes[l]++ // a self-claim breaks ties
			}
		}
	}
	if len(votes) == 0 {
		if len(errs) > 0 {
			return "", fmt.Errorf("no node named a leader: %w", errors.Join(errs...))
		}
		return "", errors.New("no node named a leader")
	}
	return mostVoted(votes), nil
}

// allocatePorts returns n consecutive free loopback ports from base. With base
// 0 it picks a random base below the kernel's ephemeral range, so the ports
// cannot be taken by the outgoing connections of the proxies and clients
// between this check and the nodes binding them.
func allocatePorts(base, n int) ([]int, error) {
	if base > 0 {
		if base+n-1 > 65535 {
			return nil, fmt.Errorf("--base-port %d leaves no room for %d ports", base, n)
		}
		if p, ok := portsFree(base, n); !ok {
			return nil, fmt.Errorf("port %d is in use: choose another --base-port or stop whatever listens there", p)
		}
		return seq(base, n), nil
	}
	for try := 0; try < 50; try++ {
		b := 10000 + rand.IntN(20000-n)
		if _, ok := portsFree(b, n); ok {
			return seq(b, n), nil
		}
	}
	return nil, errors.New("found no free range of loopback ports between 10000 and 30000: set --base-port")
}

// portsFree checks that each port can be bound; it returns the first that
// cannot.
func portsFree(base, n int) (int, bool) {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", hostPort(p))
		if err != nil {
			return p, false
		}
		l.Close()
	}
	return 0, true
}

func seq(base, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = base + i
	}
	return out
}
