// Package jetsam is the programmatic entry to a test run: fill in a Config,
// call Run, read the Outcome. The jetsam command is a thin layer over it.
package jetsam

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/node/disk"
	"github.com/jetsam-dev/jetsam/node/remote"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/workload"
)

// Config is everything that defines a run. It is stored in test.json, and a
// run replayed from it faces the same fault schedule and draws the same ops.
type Config struct {
	Name        string `json:"name"`
	Store       string `json:"store"`
	Nodes       int    `json:"nodes"`
	Replicas    int    `json:"replicas"`
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency"`
	// Readers are read-only clients per node, beside Concurrency, for each
	// workload that reads.
	Readers         int      `json:"readers"`
	Rate            float64  `json:"rate"`
	Keys            int      `json:"keys"`
	OpsPerKey       int      `json:"ops_per_key"`
	ReadMode        string   `json:"read_mode"`
	TimeLimit       Duration `json:"time_limit"`
	OpTimeout       Duration `json:"op_timeout"`
	Nemesis         []string `json:"nemesis"`
	NemesisInterval Duration `json:"nemesis_interval"`
	NemesisOverlap  bool     `json:"nemesis_overlap,omitempty"`
	PartitionShapes []string `json:"partition_shapes"`
	// Targets are what process faults (kill, pause) are aimed at.
	Targets []string `json:"targets"`
	// SyncInterval is every node's JetStream sync interval: "default" (the
	// server's own), "always", or a duration.
	SyncInterval string `json:"sync_interval"`
	// Writeback is the age at which the power-loss disks write dirty data
	// back without a sync, as the kernel's flusher does; 0 never does.
	Writeback Duration `json:"writeback"`
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
	// Hosts, when set, run the nodes on remote hosts over SSH, one node per
	// host ("user@host[:port]"); SSHKey (empty: the SSH agent), KnownHosts
	// (empty: ~/.ssh/known_hosts) and SSHInsecure (no host key check) say
	// how to log in, and RemoteDir is jetsam's folder on each host.
	Hosts       []string `json:"hosts,omitempty"`
	SSHKey      string   `json:"ssh_key,omitempty"`
	KnownHosts  string   `json:"known_hosts,omitempty"`
	SSHInsecure bool     `json:"ssh_insecure,omitempty"`
	RemoteDir   string   `json:"remote_dir,omitempty"`
	// CorruptFiles are the file types the corrupt package damages.
	CorruptFiles []string `json:"corrupt_files"`
	// CutMode is how a cut link treats new connections: hold them
	// unanswered (a dropped SYN) or refuse them.
	CutMode string `json:"cut_mode"`
	// Latency and Jitter are the latency package's delay; Bandwidth is the
	// bandwidth package's cap in bytes per second.
	Latency        Duration `json:"latency"`
	Jitter         Duration `json:"jitter"`
	Bandwidth      int64    `json:"bandwidth"`
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
	return Config{
		Name:            "jetsam",
		Store:           "store",
		Nodes:           3,
		Replicas:        3,
		Workload:        "kv",
		Concurrency:     0, // 2 per node
		Readers:         1,
		Rate:            1000,
		Keys:            8,
		OpsPerKey:       200,
		ReadMode:        workload.ReadLeader,
		TimeLimit:       Duration(60 * time.Second),
		OpTimeout:       Duration(5 * time.Second),
		Nemesis:         []string{nemesis.FaultPartition},
		NemesisInterval: Duration(10 * time.Second),
		CutMode:         CutHold,
		SyncInterval:    SyncDefault,
		Writeback:       Duration(disk.DefaultWriteback),
		Latency:         Duration(100 * time.Millisecond),
		Jitter:          Duration(20 * time.Millisecond),
		Bandwidth:       128 << 10,
		CheckTimeout:    Duration(5 * time.Minute),
		RecoverTimeout:  Duration(60 * time.Second),
	}
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
var ReadModes = []string{workload.ReadLeader, workload.ReadDirect, workload.ReadMixed, workload.ReadNone}

// Normalize fills derived defaults: concurrency 0 is two clients per node,
// "all" faults is every package, "none" is none.
func (c *Config) Normalize() {
	if c.Concurrency == 0 {
		c.Concurrency = 2 * c.Nodes
	}
	var faults []string
	for _, f := range c.Nemesis {
		switch f {
		case "none", "":
		case "all":
			faults = append(faults, nemesis.Packages...)
		default:
			faults = append(faults, f)
		}
	}
	slices.Sort(faults)
	c.Nemesis = slices.Compact(faults)
	if len(c.PartitionShapes) == 0 {
		c.PartitionShapes = nemesis.ShapesFor(c.Nodes)
	}
	if len(c.Targets) == 0 {
		c.Targets = nemesis.TargetsFor(c.Nodes)
	}
	if len(c.CorruptFiles) == 0 {
		c.CorruptFiles = node.FileTypes
	}
	if c.SyncInterval == "" {
		c.SyncInterval = SyncDefault
	}
}

// Validate explains, in one sentence, the first thing wrong with c.
func (c *Config) Validate() error {
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
	case c.Workload == "":
		return fmt.Errorf("--workload names no workload: give one or more of %s", strings.Join(workload.Names, ", "))
	case c.Concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1, got %d", c.Concurrency)
	case c.Readers < 0 || c.Readers > 16:
		return fmt.Errorf("--readers must be between 0 and 16 read-only clients per node, got %d", c.Readers)
	case c.Rate < 0:
		return fmt.Errorf("--rate must not be negative (0 is unlimited), got %g", c.Rate)
	case c.Keys < 1:
		return fmt.Errorf("--keys must be at least 1, got %d", c.Keys)
	case c.OpsPerKey < 0:
		return fmt.Errorf("--ops-per-key must not be negative (0 never retires a key), got %d", c.OpsPerKey)
	case !slices.Contains(ReadModes, c.ReadMode):
		return fmt.Errorf("--read-mode %q is not one of %s", c.ReadMode, strings.Join(ReadModes, ", "))
	case c.TimeLimit <= 0:
		return fmt.Errorf("--time-limit must be positive, got %s", c.TimeLimit)
	case c.OpTimeout <= 0:
		return fmt.Errorf("--op-timeout must be positive, got %s", c.OpTimeout)
	case c.NemesisInterval <= 0:
		return fmt.Errorf("--nemesis-interval must be positive, got %s", c.NemesisInterval)
	case c.CheckTimeout <= 0:
		return fmt.Errorf("--check-timeout must be positive, got %s", c.CheckTimeout)
	case c.RecoverTimeout <= 0:
		return fmt.Errorf("--recover-timeout must be positive, got %s", c.RecoverTimeout)
	case c.BasePort < 0 || c.BasePort > 65535:
		return fmt.Errorf("--base-port must be a TCP port, got %d", c.BasePort)
	}
	seen := map[string]bool{}
	for _, w := range strings.Split(c.Workload, ",") {
		if !slices.Contains(workload.Names, w) {
			return fmt.Errorf("--workload %q is not one of %s (a comma list runs several)", w, strings.Join(workload.Names, ", "))
		}
		if seen[w] {
			return fmt.Errorf("--workload names %s twice", w)
		}
		seen[w] = true
	}
	for _, f := range c.Nemesis {
		if !slices.Contains(nemesis.Packages, f) {
			return fmt.Errorf("--nemesis %q is not a fault package this version has (%s, or none or all)", f, strings.Join(nemesis.Packages, ", "))
		}
		if !slices.Contains(append([]string{nemesis.FaultClients}, nemesis.ProcessPackages...), f) && c.Nodes < 2 {
			return fmt.Errorf("--nemesis %s needs at least 2 nodes, and --nodes is %d", f, c.Nodes)
		}
	}
	for _, s := range c.PartitionShapes {
		if !slices.Contains(nemesis.Shapes, s) {
			return fmt.Errorf("--partition-shapes %q is not one of %s", s, strings.Join(nemesis.Shapes, ", "))
		}
		if need := nemesis.ShapeMinNodes[s]; c.Nodes < need {
			return fmt.Errorf("--partition-shapes %s needs at least %d nodes, and --nodes is %d", s, need, c.Nodes)
		}
	}
	if len(c.Hosts) > 0 {
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
		for _, f := range []string{nemesis.FaultCorrupt, nemesis.FaultMembership} {
			if slices.Contains(c.Nemesis, f) {
				return fmt.Errorf("--nemesis %s works on local nodes only, not with --hosts", f)
			}
		}
	}
	if slices.Contains(c.Nemesis, nemesis.FaultPowerLoss) && len(c.Hosts) == 0 {
		// On remote hosts, each host's agent checks when it mounts.
		if err := disk.Check(); err != nil {
			return err
		}
	}
	for _, t := range c.Targets {
		if !slices.Contains(nemesis.Targets, t) {
			return fmt.Errorf("--targets %q is not one of %s", t, strings.Join(nemesis.Targets, ", "))
		}
		if need := nemesis.TargetMinNodes[t]; c.Nodes < need {
			return fmt.Errorf("--targets %s needs at least %d nodes (a minority must leave a majority), and --nodes is %d", t, need, c.Nodes)
		}
	}
	for _, f := range c.CorruptFiles {
		if !slices.Contains(node.FileTypes, f) {
			return fmt.Errorf("--corrupt-files %q is not a file type: use %s", f, strings.Join(node.FileTypes, ", "))
		}
	}
	if slices.Contains(c.Nemesis, nemesis.FaultCorrupt) && !slices.ContainsFunc(c.Targets, func(t string) bool { return slices.Contains(nemesis.MinorityTargets, t) }) {
		return fmt.Errorf("--nemesis corrupt damages a minority only, and --targets %s names none: add one of %s", strings.Join(c.Targets, ","), strings.Join(nemesis.MinorityTargets, ", "))
	}
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
	if c.RoutePoolSize < -1 {
		return fmt.Errorf("--route-pool-size must be -1 (one route per pair), 0 (the server's default) or more, got %d", c.RoutePoolSize)
	}
	if c.SyncInterval != SyncDefault && c.SyncInterval != SyncAlways {
		if d, err := time.ParseDuration(c.SyncInterval); err != nil || d <= 0 {
			return fmt.Errorf("--sync-interval %q is not default, always, or a positive duration such as 1s", c.SyncInterval)
		}
	}
	switch {
	case c.CutMode != CutHold && c.CutMode != CutRefuse:
		return fmt.Errorf("--cut-mode %q is not hold or refuse", c.CutMode)
	case c.Latency < 0:
		return fmt.Errorf("--latency must not be negative, got %s", c.Latency)
	case c.Jitter < 0:
		return fmt.Errorf("--jitter must not be negative, got %s", c.Jitter)
	case c.Writeback < 0:
		return fmt.Errorf("--writeback must not be negative (0 never writes back), got %s", c.Writeback)
	case c.Bandwidth <= 0:
		return fmt.Errorf("--bandwidth must be positive, got %d bytes/s", c.Bandwidth)
	}
	return nil
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
