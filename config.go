// Package jetsam is the programmatic entry to a test run: fill in a Config,
// call Run, read the Outcome. The jetsam command is a thin layer over it.
package jetsam

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/node/disk"
	"github.com/jetsam-dev/jetsam/node/remote"
	"github.com/jetsam-dev/jetsam/param"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/workload"
)

// Config is everything that defines a run. It is stored in test.json, and a
// run replayed from it faces the same fault schedule and draws the same ops.
// The workloads' and the nemesis's settings are theirs (embedded), each
// with its flag, so a new workload or fault brings its own.
type Config struct {
	Name     string `json:"name"`
	Store    string `json:"store"`
	Nodes    int    `json:"nodes"`
	Replicas int    `json:"replicas"`
	// Concurrency is each workload's writing clients; 0 is two per node.
	Concurrency int `json:"concurrency"`
	workload.WorkloadSettings
	TimeLimit Duration `json:"time_limit"`
	nemesis.FaultSettings
	// SyncInterval is every node's JetStream sync interval: "default" (the
	// server's own), "always", or a duration.
	SyncInterval string `json:"sync_interval"`
	// RouteCompression is the nodes' route compression mode ("" for the
	// server's default); RoutePoolSize their route pool size (0 for the
	// server's default, -1 for one route per pair).
	RouteCompression string `json:"route_compression,omitempty"`
	RoutePoolSize    int    `json:"route_pool_size,omitempty"`
	// RouteTLS makes every route mutual TLS with certificates made for
	// the run.
	RouteTLS bool `json:"route_tls,omitempty"`
	// The nats-server under test: at most one of a released version built
	// from the Go module proxy, a source tree, or a binary; none is the
	// server embedded in jetsam.
	ServerVersion string `json:"server_version,omitempty"`
	ServerSrc     string `json:"server_src,omitempty"`
	ServerBin     string `json:"server_bin,omitempty"`
	// ServerAssertions builds the server (a version or a source tree) with
	// nats-server's Antithesis SDK assertions compiled in; each node writes
	// them to its folder, and a failed one is an anomaly.
	ServerAssertions bool `json:"server_assertions,omitempty"`
	// Hosts, when set, run the nodes on remote hosts over SSH, one node per
	// host ("user@host[:port]"); SSHKey (empty: the SSH agent), KnownHosts
	// (empty: ~/.ssh/known_hosts) and SSHInsecure (no host key check) say
	// how to log in, and RemoteDir is jetsam's folder on each host.
	Hosts       []string `json:"hosts,omitempty"`
	SSHKey      string   `json:"ssh_key,omitempty"`
	KnownHosts  string   `json:"known_hosts,omitempty"`
	SSHInsecure bool     `json:"ssh_insecure,omitempty"`
	RemoteDir   string   `json:"remote_dir,omitempty"`
	// CutMode is how a cut link treats new connections: hold them
	// unanswered (a dropped SYN) or refuse them.
	CutMode        string   `json:"cut_mode"`
	Seed           uint64   `json:"seed"`
	CheckTimeout   Duration `json:"check_timeout"`
	RecoverTimeout Duration `json:"recover_timeout"`
	BasePort       int      `json:"base_port,omitempty"`
	// NodeCommand runs one node; the config flag is appended. Empty means
	// this binary's own "node" subcommand.
	NodeCommand []string `json:"-"`
}

// Server names the nats-server the run's nodes run.
func (c *Config) Server() build.Spec {
	switch {
	case c.ServerVersion != "":
		return build.Spec{Kind: build.Version, Value: c.ServerVersion}
	case c.ServerSrc != "":
		return build.Spec{Kind: build.Src, Value: c.ServerSrc}
	case c.ServerBin != "":
		return build.Spec{Kind: build.Bin, Value: c.ServerBin}
	}
	return build.Spec{Kind: build.Embedded}
}

// SetServer makes spec the server under test, replacing any other choice.
func (c *Config) SetServer(spec build.Spec) {
	c.ServerVersion, c.ServerSrc, c.ServerBin = "", "", ""
	switch spec.Kind {
	case build.Version:
		c.ServerVersion = spec.Value
	case build.Src:
		c.ServerSrc = spec.Value
	case build.Bin:
		c.ServerBin = spec.Value
	}
}

// Defaults returns the configuration of `jetsam run` with no flags.
func Defaults() Config {
	c := Config{
		Name:           "jetsam",
		Store:          "store",
		Nodes:          3,
		Replicas:       3,
		Concurrency:    0, // 2 per node
		TimeLimit:      Duration(60 * time.Second),
		CutMode:        CutHold,
		SyncInterval:   SyncDefault,
		CheckTimeout:   Duration(5 * time.Minute),
		RecoverTimeout: Duration(60 * time.Second),
	}
	c.Workload, c.Readers, c.Rate, c.ReadMode = workload.NameKV, 1, 1000, workload.ReadLeader
	c.OpTimeout, c.Keys, c.OpsPerKey = Duration(5*time.Second), 8, 200
	c.Nemesis, c.NemesisInterval = []string{nemesis.FaultPartition}, Duration(10*time.Second)
	c.Writeback = Duration(disk.DefaultWriteback)
	c.Latency, c.Jitter, c.Bandwidth = Duration(100*time.Millisecond), Duration(20*time.Millisecond), 128<<10
	return c
}

// RouteCompressions are the route compression modes nats-server accepts.
var RouteCompressions = []string{"off", "accept", "s2_fast", "s2_better", "s2_best", "s2_auto"}

// Sync intervals beside a duration.
const (
	SyncDefault = "default"
	SyncAlways  = "always"
)

// Cut modes.
const (
	CutHold   = "hold"
	CutRefuse = "refuse"
)

// ReadModes lists the accepted --read-mode values.
var ReadModes = workload.ReadModes

// Normalize fills derived defaults: concurrency 0 is two clients per node;
// the nemesis's own (every package for "all", the shapes and targets the
// cluster fits).
func (c *Config) Normalize() {
	if c.Concurrency == 0 {
		c.Concurrency = 2 * c.Nodes
	}
	c.FaultSettings.Normalize(c.Nodes)
	if c.SyncInterval == "" {
		c.SyncInterval = SyncDefault
	}
}

// Validate explains, in one sentence, the first thing wrong with c. Each
// stage judges its own settings.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateCluster, c.WorkloadSettings.Validate, c.validateRun,
		func() error { return c.FaultSettings.Validate(c.Nodes, len(c.Hosts) > 0) },
		c.validateHosts, c.validateServer} {
		if err := check(); err != nil {
			return err
		}
	}
	if nemesis.NeedsVolatileDisks(c.Nemesis) && len(c.Hosts) == 0 {
		// On remote hosts, each host's agent checks when it mounts.
		return disk.Check()
	}
	return nil
}

func (c *Config) validateCluster() error {
	switch {
	case !results.ValidName(c.Name):
		return fmt.Errorf("--name %q may hold only letters, digits, '.', '_' and '-'", c.Name)
	case c.Nodes < 1 || c.Nodes > 9:
		return fmt.Errorf("--nodes must be between 1 and 9, got %d", c.Nodes)
	case c.Replicas < 1:
		return fmt.Errorf("--replicas must be at least 1, got %d", c.Replicas)
	case c.Replicas > c.Nodes:
		return fmt.Errorf("--replicas %d is more than --nodes %d: lower --replicas or add nodes", c.Replicas, c.Nodes)
	case c.Replicas > 5:
		return fmt.Errorf("--replicas must be at most 5 (JetStream's limit), got %d", c.Replicas)
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return fmt.Errorf("--concurrency must be between 1 and 1000 clients per workload, got %d", c.Concurrency)
	case c.BasePort < 0 || c.BasePort > 65535:
		return fmt.Errorf("--base-port must be a TCP port, got %d", c.BasePort)
	case c.CutMode != CutHold && c.CutMode != CutRefuse:
		return fmt.Errorf("--cut-mode %q is not hold or refuse", c.CutMode)
	}
	return nil
}

// maxTime bounds every duration flag: a day is longer than any run.
const maxTime = Duration(24 * time.Hour)

func (c *Config) validateRun() error {
	switch {
	case c.TimeLimit <= 0 || c.TimeLimit > maxTime:
		return fmt.Errorf("--time-limit must be positive and at most 24h, got %s", c.TimeLimit)
	case c.CheckTimeout <= 0 || c.CheckTimeout > maxTime:
		return fmt.Errorf("--check-timeout must be positive and at most 24h, got %s", c.CheckTimeout)
	case c.RecoverTimeout <= 0 || c.RecoverTimeout > maxTime:
		return fmt.Errorf("--recover-timeout must be positive and at most 24h, got %s", c.RecoverTimeout)
	}
	return nil
}

func (c *Config) validateHosts() error {
	if len(c.Hosts) == 0 {
		return nil
	}
	if len(c.Hosts) != c.Nodes {
		return fmt.Errorf("%d hosts for --nodes %d: give one host per node", len(c.Hosts), c.Nodes)
	}
	seen := map[string]bool{}
	for _, h := range c.Hosts {
		hh, err := remote.ParseHost(h)
		if err != nil {
			return err
		}
		if seen[hh.Addr] {
			return fmt.Errorf("host %s is listed twice: each node needs a host of its own", hh.Addr)
		}
		seen[hh.Addr] = true
	}
	return nil
}

func (c *Config) validateServer() error {
	if c.RouteCompression != "" && !slices.Contains(RouteCompressions, c.RouteCompression) {
		return fmt.Errorf("--route-compression %q is not one of %s", c.RouteCompression, strings.Join(RouteCompressions, ", "))
	}
	set := 0
	for _, v := range []string{c.ServerVersion, c.ServerSrc, c.ServerBin} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("give at most one of --server-version, --server-src and --server-bin")
	}
	if c.ServerVersion != "" {
		if _, err := build.ParseSpec(build.Version + ":" + c.ServerVersion); err != nil {
			return err
		}
	}
	if err := c.validateAssertions(); err != nil {
		return err
	}
	if nemesis.NeedsFramedRoutes(c.Nemesis) && (c.RouteTLS || (c.RouteCompression != "" && c.RouteCompression != "off" && c.RouteCompression != "accept")) {
		return fmt.Errorf("--nemesis raft reads the route protocol, which --route-tls and --route-compression hide: drop them (raft faults turn compression off)")
	}
	if c.RoutePoolSize < -1 || c.RoutePoolSize > 64 {
		return fmt.Errorf("--route-pool-size must be -1 (one route per pair), 0 (the server's default) or up to 64, got %d", c.RoutePoolSize)
	}
	if c.SyncInterval != SyncDefault && c.SyncInterval != SyncAlways {
		if d, err := time.ParseDuration(c.SyncInterval); err != nil || d <= 0 {
			return fmt.Errorf("--sync-interval %q is not default, always, or a positive duration such as 1s", c.SyncInterval)
		}
	}
	return nil
}

// validateAssertions: assertions are compiled in by a build of jetsam's own,
// and read from the nodes' folders on this machine.
func (c *Config) validateAssertions() error {
	switch {
	case !c.ServerAssertions:
		return nil
	case c.ServerBin != "":
		return fmt.Errorf("--server-assertions needs a server jetsam builds, not --server-bin: use --server-version or --server-src")
	case c.ServerVersion == "" && c.ServerSrc == "":
		return fmt.Errorf("--server-assertions needs a server jetsam builds, not the embedded one: add --server-version or --server-src")
	case len(c.Hosts) > 0:
		return fmt.Errorf("--server-assertions cannot be used with remote hosts yet: the nodes' assertion files are not collected from them")
	}
	return nil
}

// LeaveOutUntrusted clears what a replayed test.json must not choose for
// whoever replays it: a binary or source tree to run, hosts to log in to
// (and how), and where to write. It returns those settings as the flags
// that would give them again ("--server-bin /x/nats-server").
func (c *Config) LeaveOutUntrusted() []string {
	var left []string
	d := Defaults()
	take := func(flag string, set bool, value string) {
		if set {
			left = append(left, strings.TrimSpace("--"+flag+" "+value))
		}
	}
	take("server-bin", c.ServerBin != "", c.ServerBin)
	take("server-src", c.ServerSrc != "", c.ServerSrc)
	take("host", len(c.Hosts) > 0, strings.Join(c.Hosts, ","))
	take("ssh-key", c.SSHKey != "", c.SSHKey)
	take("known-hosts", c.KnownHosts != "", c.KnownHosts)
	take("ssh-insecure", c.SSHInsecure, "")
	take("remote-dir", c.RemoteDir != "", c.RemoteDir)
	take("store", c.Store != d.Store, c.Store)
	if len(c.Hosts) > 0 {
		c.Nodes = len(c.Hosts) // the schedule's node count stays
	}
	c.ServerBin, c.ServerSrc, c.Hosts, c.SSHKey, c.KnownHosts, c.SSHInsecure, c.RemoteDir = "", "", nil, "", "", false, ""
	c.Store = d.Store
	return left
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration = param.Duration
