package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jetsam-dev/jetsam/node/proxy"
)

// The agent is jetsam on a remote host, started over SSH for one node: it
// runs the node as a local child and the proxies of the node's outgoing
// links on the host's loopback, and takes requests on its stdin, one JSON
// object a line, answering each on its stdout. When its stdin ends (the
// controller closed the session, or died) it kills the node, closes the
// links, unmounts, and exits: nothing of a run outlives its controller.

type agentRequest struct {
	Op    string      `json:"op"`
	Setup *agentSetup `json:"setup,omitempty"`
	// Signal and the grace of a stop.
	Sig   int           `json:"sig,omitempty"`
	Grace time.Duration `json:"grace,omitempty"`
	// Link is the peer a link op is about (the link runs to it).
	Link      string          `json:"link,omitempty"`
	Fwd, Rev  bool            `json:",omitempty"`
	Delay     time.Duration   `json:"delay,omitempty"`
	Jitter    time.Duration   `json:"jitter,omitempty"`
	Bandwidth int64           `json:"bandwidth,omitempty"`
	Refuse    bool            `json:"refuse,omitempty"`
	Rule      *proxy.RaftRule `json:"rule,omitempty"`
}

type agentSetup struct {
	Spec Spec `json:"spec"`
	// Command runs the node (the config flag is appended); Jetsam runs the
	// agent's own binary (the mount guard).
	Command []string `json:"command"`
	Jetsam  []string `json:"jetsam"`
	// Links are the node's outgoing links: the peer and its cluster
	// address. Allowed are the run's hosts, the only addresses off the
	// loopback a link may reach.
	Links     []agentLink   `json:"links"`
	Allowed   []string      `json:"allowed"`
	PowerLoss bool          `json:"power_loss,omitempty"`
	Writeback time.Duration `json:"writeback,omitempty"`
	// TLS carries the node's route certificate, made by the controller.
	TLS *tlsPEM `json:"tls,omitempty"`
	// Frame makes the links read the route protocol, for raft faults.
	Frame bool `json:"frame,omitempty"`
}

type agentLink struct {
	To     string `json:"to"`
	Target string `json:"target"`
}

type agentReply struct {
	Error   string           `json:"error,omitempty"`
	Running bool             `json:"running,omitempty"`
	Pid     int              `json:"pid,omitempty"`
	N       int64            `json:"n,omitempty"`
	Reason  string           `json:"reason,omitempty"`
	Stats   proxy.Stats      `json:"stats"`
	Raft    map[string]int64 `json:"raft,omitempty"`
	// Routes are the links' addresses on the host, by peer.
	Routes map[string]string `json:"routes,omitempty"`
}

// agentState is what one agent runs: a one-node cluster.
type agentState struct {
	c *Cluster
}

// ServeAgent answers requests from r on w until r ends, then stops
// everything it started.
func ServeAgent(r io.Reader, w io.Writer) error {
	st := &agentState{}
	defer st.teardown(5 * time.Second)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	enc := json.NewEncoder(w)
	for sc.Scan() {
		var req agentRequest
		var rep agentReply
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			rep.Error = fmt.Sprintf("agent: bad request: %v", err)
		} else if err := st.handle(&req, &rep); err != nil {
			rep.Error = err.Error()
		}
		if err := enc.Encode(&rep); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (st *agentState) node() (*Node, error) {
	if st.c == nil || len(st.c.nodes) == 0 {
		return nil, errors.New("agent: no node set up")
	}
	return st.c.nodes[0], nil
}

func (st *agentState) link(to string) (*proxy.Link, error) {
	n, err := st.node()
	if err != nil {
		return nil, err
	}
	l := st.c.net.Link(n.Spec.Name, to)
	if l == nil {
		return nil, fmt.Errorf("agent: no link to %s", to)
	}
	return l, nil
}

func (st *agentState) handle(req *agentRequest, rep *agentReply) error {
	if req.Op == "setup" {
		return st.setup(req.Setup, rep)
	}
	if req.Op == "teardown" {
		return st.teardown(req.Grace)
	}
	n, err := st.node()
	if err != nil {
		return err
	}
	switch req.Op {
	case "start":
		return n.Start()
	case "signal":
		return n.Signal(syscall.Signal(req.Sig))
	case "kill":
		return n.Kill()
	case "stop":
		return n.Stop(req.Grace)
	case "status":
		rep.Running, rep.Pid = n.Running(), n.Pid()
		if !rep.Running {
			rep.Reason = n.ExitReason()
		}
		return nil
	case "drop-unsynced":
		rep.N, err = n.DropUnsynced()
		return err
	}
	l, err := st.link(req.Link)
	if err != nil {
		return err
	}
	switch req.Op {
	case "link-block":
		l.BlockDirection(req.Fwd, req.Rev)
	case "link-latency":
		l.SetLatency(req.Delay, req.Jitter)
	case "link-bandwidth":
		l.SetBandwidth(req.Bandwidth)
	case "link-refuse":
		l.SetRefuse(req.Refuse)
	case "link-reset":
		rep.N = int64(l.Reset())
	case "link-stats":
		rep.Stats = l.Stats()
	case "link-raft-rule":
		l.SetRaftRule(req.Rule)
	case "link-raft-stats":
		rep.Raft = l.RaftStats()
	case "link-close":
		return l.Close()
	default:
		return fmt.Errorf("agent: unknown op %q", req.Op)
	}
	return nil
}

// setup writes the node's folder and config, opens its links and, for
// power loss, mounts its volatile disk.
func (st *agentState) setup(s *agentSetup, rep *agentReply) (err error) {
	if s == nil || st.c != nil {
		return errors.New("agent: set up once, with a setup")
	}
	c := &Cluster{net: proxy.NewNet(), writeback: s.Writeback}
	st.c = c
	spec := s.Spec
	spec.Routes = nil
	rep.Routes = map[string]string{}
	for _, l := range s.Links {
		pl, err := proxy.ListenAllowing(spec.Name, l.To, l.Target, s.Allowed...)
		if err != nil {
			return err
		}
		if s.Frame {
			pl.Frame()
		}
		c.net.Add(pl)
		spec.Routes = append(spec.Routes, pl.Addr())
		rep.Routes[l.To] = pl.Addr()
	}
	if err := os.MkdirAll(spec.DataDir(), 0o755); err != nil {
		return fmt.Errorf("node dir on %s: %w", spec.Host, err)
	}
	if s.TLS != nil {
		if spec.TLS, err = writeTLS(spec.Dir, s.TLS); err != nil {
			return fmt.Errorf("route TLS on %s: %w", spec.Host, err)
		}
	}
	if err := os.WriteFile(spec.ConfigPath(), []byte(spec.Config()), 0o644); err != nil {
		return fmt.Errorf("node config on %s: %w", spec.Host, err)
	}
	c.nodes = []*Node{{Spec: spec, Command: s.Command}}
	if s.PowerLoss {
		if err := c.mountDisks(s.Jetsam); err != nil {
			return fmt.Errorf("on %s: %w", spec.Host, err)
		}
	}
	return nil
}

// teardown stops the node, closes the links and unmounts; safe to repeat.
func (st *agentState) teardown(grace time.Duration) error {
	if st.c == nil {
		return nil
	}
	if grace <= 0 {
		grace = 5 * time.Second
	}
	err := st.c.Stop(grace)
	st.c.nodes = nil
	return err
}

// agentClient is the controller's end of one host's agent.
type agentClient struct {
	host string
	mu   sync.Mutex
	w    io.WriteCloser
	r    *bufio.Reader
	// broken is set once the channel failed; every later call fails at once.
	broken error
}

func newAgentClient(host string, w io.WriteCloser, r io.Reader) *agentClient {
	return &agentClient{host: host, w: w, r: bufio.NewReaderSize(r, 1<<16)}
}

func (a *agentClient) call(req agentRequest) (agentReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var rep agentReply
	if a.broken != nil {
		return rep, a.broken
	}
	b, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	if _, err := a.w.Write(append(b, '\n')); err != nil {
		a.broken = fmt.Errorf("agent on %s: %w", a.host, err)
		return rep, a.broken
	}
	line, err := a.r.ReadBytes('\n')
	if err != nil {
		a.broken = fmt.Errorf("agent on %s is gone: %w", a.host, err)
		return rep, a.broken
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		a.broken = fmt.Errorf("agent on %s answered %q: %w", a.host, truncate(string(line), 200), err)
		return rep, a.broken
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// remoteProcess is a node's process on another host.
type remoteProcess struct{ a *agentClient }

func (p remoteProcess) do(req agentRequest) error { _, err := p.a.call(req); return err }

func (p remoteProcess) Start() error { return p.do(agentRequest{Op: "start"}) }
func (p remoteProcess) Signal(sig syscall.Signal) error {
	return p.do(agentRequest{Op: "signal", Sig: int(sig)})
}
func (p remoteProcess) Kill() error { return p.do(agentRequest{Op: "kill"}) }
func (p remoteProcess) Stop(grace time.Duration) error {
	return p.do(agentRequest{Op: "stop", Grace: grace})
}

func (p remoteProcess) Running() bool {
	rep, err := p.a.call(agentRequest{Op: "status"})
	return err == nil && rep.Running
}

func (p remoteProcess) Pid() int {
	rep, _ := p.a.call(agentRequest{Op: "status"})
	return rep.Pid
}

func (p remoteProcess) ExitReason() string {
	rep, err := p.a.call(agentRequest{Op: "status"})
	if err != nil {
		return err.Error()
	}
	return rep.Reason
}

func (p remoteProcess) DropUnsynced() (int64, error) {
	rep, err := p.a.call(agentRequest{Op: "drop-unsynced"})
	return rep.N, err
}

// remoteLink is a link that runs beside its node on another host.
type remoteLink struct {
	a  *agentClient
	to string
}

func (l remoteLink) do(req agentRequest) (agentReply, error) {
	req.Link = l.to
	return l.a.call(req)
}

func (l remoteLink) Block(fwd, rev bool) error {
	_, err := l.do(agentRequest{Op: "link-block", Fwd: fwd, Rev: rev})
	return err
}

func (l remoteLink) SetLatency(delay, jitter time.Duration) error {
	_, err := l.do(agentRequest{Op: "link-latency", Delay: delay, Jitter: jitter})
	return err
}

func (l remoteLink) SetBandwidth(bps int64) error {
	_, err := l.do(agentRequest{Op: "link-bandwidth", Bandwidth: bps})
	return err
}

func (l remoteLink) SetRefuse(refuse bool) error {
	_, err := l.do(agentRequest{Op: "link-refuse", Refuse: refuse})
	return err
}

func (l remoteLink) Reset() (int, error) {
	rep, err := l.do(agentRequest{Op: "link-reset"})
	return int(rep.N), err
}

func (l remoteLink) Stats() (proxy.Stats, error) {
	rep, err := l.do(agentRequest{Op: "link-stats"})
	return rep.Stats, err
}

func (l remoteLink) SetRaftRule(rule *proxy.RaftRule) error {
	_, err := l.do(agentRequest{Op: "link-raft-rule", Rule: rule})
	return err
}

func (l remoteLink) RaftStats() (map[string]int64, error) {
	rep, err := l.do(agentRequest{Op: "link-raft-stats"})
	return rep.Raft, err
}

func (l remoteLink) Close() error {
	_, err := l.do(agentRequest{Op: "link-close"})
	return err
}

// agentLog is where an agent's stderr goes on the controller.
func agentLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}
