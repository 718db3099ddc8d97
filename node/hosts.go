package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/node/proxy"
	"github.com/jetsam-dev/jetsam/node/remote"
)

// Hosts runs a cluster's nodes on remote hosts, one node per host, each
// driven by a jetsam agent over an SSH session. The link proxies of a
// node's outgoing routes run beside it on its host's loopback, so a cut
// stops bytes where a real network would.
type Hosts struct {
	// Clients are the hosts, connected; node i runs on host i.
	Clients []*remote.Client
	// Dir is the folder on every host for jetsam's binaries and runs:
	// absolute, or below the SSH user's home on the host ("~/...", or
	// relative). See remote.Client.PrepareDir for the checks it must pass.
	Dir string
	// Jetsam is this binary, copied to each host; Server, when set, the
	// nats-server binary to run instead of jetsam's embedded one.
	Jetsam, Server string
	// Log hears about the copies.
	Log func(format string, args ...any)
}

// DefaultRemoteDir is the folder on each host unless told otherwise: in
// the SSH user's home, where no other user can plant or swap files, unlike
// a fixed name in a world-writable folder such as /tmp.
const DefaultRemoteDir = "~/.cache/jetsam"

// DefaultRemoteBasePort is a remote node's client port; cluster and
// monitoring ports follow. Each node has a host of its own.
const DefaultRemoteBasePort = 14222

// hostNode is what the controller holds of one host.
type hostNode struct {
	client  *remote.Client
	session *remote.Session
	agent   *agentClient
	log     *os.File
	runDir  string // the node's folder on the host
	dir     string // jetsam's folder on the host, checked, without links
	bin     string // jetsam's binary on the host
	command []string
}

// hostAddrs are the remote hosts' addresses, resolved once when dialled:
// the only addresses off the loopback a link may dial.
func (c *Cluster) hostAddrs() []string {
	var out []string
	for _, h := range c.hosts {
		out = append(out, h.client.IP())
	}
	return out
}

// startRemote is Start for nodes on remote hosts.
func (c *Cluster) startRemote(ctx context.Context, o Options) error {
	h := o.Hosts
	if len(h.Clients) != o.Nodes {
		return fmt.Errorf("%d hosts for %d nodes: give one host per node", len(h.Clients), o.Nodes)
	}
	if h.Dir == "" {
		h.Dir = DefaultRemoteDir
	}
	if h.Log == nil {
		h.Log = func(string, ...any) {}
	}
	base := o.BasePort
	if base == 0 {
		base = DefaultRemoteBasePort
	}
	jetsamBin, err := binName("jetsam", h.Jetsam)
	if err != nil {
		return err
	}
	var serverBin string
	if h.Server != "" {
		if serverBin, err = binName("nats-server", h.Server); err != nil {
			return err
		}
	}
	// Each run's folders on the hosts are its own.
	runID := fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102T150405.000"), os.Getpid())
	c.hosts = make([]*hostNode, o.Nodes)
	// One host after another: hosts may share a filesystem (the test
	// lab's do), and a copy already there is skipped.
	for i, cl := range h.Clients {
		if c.hosts[i], err = prepareHost(ctx, h, cl, jetsamBin, serverBin); err != nil {
			return err
		}
	}
	// Errors below name the first host that failed, in list order.
	names := Names(o.Nodes)
	specs := make([]Spec, o.Nodes)
	for i, name := range names {
		specs[i] = Spec{
			Name: name, Host: h.Clients[i].IP(), ClientPort: base, ClusterPort: base + 1, HTTPPort: base + 2,
			Dir: path.Join(c.hosts[i].dir, "runs", runID, name), SyncInterval: o.SyncInterval,
			Compression: o.RouteCompression, PoolSize: o.RoutePoolSize, ServerVersion: o.ServerVersion,
		}
	}
	var ca *routeCA
	if o.RouteTLS {
		if ca, err = newRouteCA(); err != nil {
			return fmt.Errorf("route TLS: %w", err)
		}
	}
	for i := range c.hosts {
		if err := c.startAgent(o, i, specs, ca); err != nil {
			return err
		}
	}
	return nil
}

// startAgent starts host i's agent and sets up its node and the links of
// the node's outgoing routes; specs are every node's.
func (c *Cluster) startAgent(o Options, i int, specs []Spec, ca *routeCA) error {
	hn, name := c.hosts[i], specs[i].Name
	local := filepath.Join(o.Dir, name)
	var err error
	if hn.log, err = agentLog(local); err != nil {
		return err
	}
	sess, err := hn.client.Start(remote.ShellQuote(hn.bin) + " agent")
	if err != nil {
		return err
	}
	hn.session, hn.runDir = sess, specs[i].Dir
	hn.agent = newAgentClient(hn.client.Host().String(), sess.Stdin, sess.Stdout)
	setup := &agentSetup{Spec: specs[i], Command: hn.command, Jetsam: []string{hn.bin},
		Allowed: c.hostAddrs(), PowerLoss: o.PowerLoss, Writeback: o.Writeback, Frame: o.FrameRoutes}
	if ca != nil {
		files, err := ca.issue(local, name)
		if err != nil {
			return err
		}
		if setup.TLS, err = readTLS(files); err != nil {
			return err
		}
	}
	for j := range specs {
		if j != i {
			setup.Links = append(setup.Links, agentLink{To: specs[j].Name, Target: specs[j].ClusterAddr()})
		}
	}
	rep, err := hn.agent.call(agentRequest{Op: "setup", Setup: setup})
	if err != nil {
		return fmt.Errorf("host %s: %w", hn.client.Host(), err)
	}
	spec := specs[i]
	for _, l := range setup.Links {
		addr := rep.Routes[l.To]
		spec.Routes = append(spec.Routes, addr)
		rl := proxy.NewRemote(name, l.To, addr, remoteLink{a: hn.agent, to: l.To})
		if setup.Frame {
			rl.Frame()
		}
		c.net.Add(rl)
	}
	c.nodes = append(c.nodes, &Node{Spec: spec, Command: hn.command, remote: remoteProcess{a: hn.agent}, local: local})
	return nil
}

// prepareHost checks a host's platform and jetsam's folder there (see
// remote.Client.PrepareDir), and copies the binaries into it, checking a
// copy already there against its checksum.
func prepareHost(ctx context.Context, h *Hosts, cl *remote.Client, jetsamBin, serverBin string) (*hostNode, error) {
	goos, goarch, err := cl.Platform(ctx)
	if err != nil {
		return nil, err
	}
	if err := remote.CheckPlatform(cl.Host(), goos, goarch); err != nil {
		return nil, err
	}
	hn := &hostNode{client: cl}
	if hn.dir, err = cl.PrepareDir(ctx, h.Dir); err != nil {
		return nil, err
	}
	hn.bin = path.Join(hn.dir, "bin", jetsamBin)
	copied, err := cl.Upload(ctx, h.Jetsam, hn.bin, 0o755)
	if err != nil {
		return nil, err
	}
	if copied {
		h.Log("jetsam: copied jetsam to %s:%s", cl.Host(), hn.bin)
	}
	hn.command = []string{hn.bin, "node"}
	if serverBin != "" {
		hn.command = []string{path.Join(hn.dir, "bin", serverBin)}
		if _, err := cl.Upload(ctx, h.Server, hn.command[0], 0o755); err != nil {
			return nil, err
		}
	}
	return hn, nil
}

// stopRemote stops every remote node, brings its folder back, removes it
// from the host, and ends the agents.
func (c *Cluster) stopRemote(grace time.Duration) error {
	errs := make([]error, len(c.hosts))
	var wg sync.WaitGroup
	for i, hn := range c.hosts {
		if hn == nil || hn.agent == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := hn.agent.call(agentRequest{Op: "teardown", Grace: grace})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if i < len(c.nodes) {
				if ferr := hn.client.FetchDir(ctx, hn.runDir, c.nodes[i].Dir()); ferr != nil {
					err = errors.Join(err, ferr)
				}
			}
			if _, rerr := hn.client.Run(ctx, "rm -rf -- "+remote.ShellQuote(hn.runDir)); rerr != nil {
				err = errors.Join(err, rerr)
			}
			errs[i] = errors.Join(err, c.endAgent(hn))
			hn.agent = nil
		}()
	}
	wg.Wait()
	// The run's folder once every node's is gone: after them all, since
	// hosts may share a filesystem.
	for _, hn := range c.hosts {
		if hn != nil && hn.runDir != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = hn.client.Run(ctx, "rmdir -- "+remote.ShellQuote(path.Dir(hn.runDir))+" 2>/dev/null; true")
			cancel()
			hn.runDir = ""
		}
	}
	return errors.Join(errs...)
}

// endAgent closes an agent's stdin, which makes it stop all it runs and
// exit, and closes the session.
func (c *Cluster) endAgent(hn *hostNode) error {
	if hn.session == nil {
		return nil
	}
	_ = hn.session.Stdin.Close()
	done := make(chan struct{})
	go func() { _ = hn.session.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
	err := hn.session.Close()
	hn.session = nil
	if hn.log != nil {
		hn.log.Close()
	}
	return err
}

// binName names a binary on the hosts by its checksum, so a changed build
// never runs under an old one's name and an unchanged one is not copied.
func binName(prefix, local string) (string, error) {
	f, err := os.Open(local)
	if err != nil {
		return "", fmt.Errorf("cannot read %s to copy it to the hosts: %w", local, err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	return prefix + "-" + hex.EncodeToString(sum.Sum(nil))[:16], nil
}

type tlsPEM struct{ CA, Cert, Key string }

func readTLS(f *TLSFiles) (*tlsPEM, error) {
	var out tlsPEM
	for _, p := range []struct {
		dst  *string
		path string
	}{{&out.CA, f.CA}, {&out.Cert, f.Cert}, {&out.Key, f.Key}} {
		b, err := os.ReadFile(p.path)
		if err != nil {
			return nil, err
		}
		*p.dst = string(b)
	}
	return &out, nil
}

// writeTLS puts the PEM files a controller sent into dir/tls.
func writeTLS(dir string, p *tlsPEM) (*TLSFiles, error) {
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	f := &TLSFiles{CA: filepath.Join(tlsDir, "ca.pem"), Cert: filepath.Join(tlsDir, "route.pem"), Key: filepath.Join(tlsDir, "route-key.pem")}
	for path, body := range map[string]string{f.CA: p.CA, f.Cert: p.Cert, f.Key: p.Key} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// LocalPlatform is what remote hosts must run: this binary's OS and
// architecture.
var LocalPlatform = runtime.GOOS + "/" + runtime.GOARCH
