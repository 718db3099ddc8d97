package jetsam

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/node/remote"
	"github.com/jetsam-dev/jetsam/param"
	"github.com/jetsam-dev/jetsam/workload"
)

// Param is a run flag: one setting of a Config.
type Param = param.Param[Config]

// Params are every run flag, in the order --help lists them: the
// cluster's, the workloads' (each workload's own among them), the
// nemesis's (each fault package's own among them), the server's, the
// hosts', the run's. The command line, scenarios, the sides of a
// comparison and the replay command are all made from this table.
func Params() []Param {
	out := []Param{
		param.IntOf("nodes", "number of nats-server nodes", func(c *Config) *int { return &c.Nodes }),
		param.IntOf("replicas", "replicas of the workloads' streams (at most --nodes)", func(c *Config) *int { return &c.Replicas }),
		concurrencyParam,
	}
	for _, p := range workload.Params() {
		out = append(out, param.Map(p, func(c *Config) *workload.WorkloadSettings { return &c.WorkloadSettings }))
	}
	out = append(out, param.DurationOf("time-limit", "length of the main phase (workload under faults)", func(c *Config) *Duration { return &c.TimeLimit }))
	for _, p := range nemesis.Params() {
		out = append(out, param.Map(p, func(c *Config) *nemesis.FaultSettings { return &c.FaultSettings }))
	}
	out = append(out, serverParams()...)
	out = append(out, hostParams()...)
	return append(out, runParams()...)
}

// concurrencyParam takes "6" or "2n" (two per node): after the node count.
var concurrencyParam = Param{Name: "concurrency", Order: 1,
	Usage: "writing clients of each workload; a number, or Nn for N per node",
	Set: func(c *Config, v string) error {
		per, isPer := strings.CutSuffix(v, "n")
		n, err := strconv.Atoi(per)
		if err != nil || n < 1 {
			return fmt.Errorf("--concurrency %q must be a positive number, or Nn for N clients per node", v)
		}
		if isPer {
			n *= c.Nodes
		}
		c.Concurrency = n
		return nil
	},
	Get: func(c *Config) string {
		if c.Concurrency == 0 {
			return "2n"
		}
		return strconv.Itoa(c.Concurrency)
	},
}

func serverParams() []Param {
	server := func(name, kind, usage string, get func(*Config) *string) Param {
		return Param{Name: name, Usage: usage,
			Set: func(c *Config, v string) error { c.SetServer(build.Spec{Kind: kind, Value: v}); return nil },
			Get: func(c *Config) string { return *get(c) }}
	}
	return []Param{
		param.StringOf("sync-interval", "every node's JetStream sync interval: default (the server's, 2m), always (fsync every write), or a duration such as 1s", func(c *Config) *string { return &c.SyncInterval }),
		param.StringOf("route-compression", "route compression of every node: "+strings.Join(RouteCompressions, ", ")+" (default: the server's)", func(c *Config) *string { return &c.RouteCompression }),
		param.IntOf("route-pool-size", "routes per node pair: -1 for one (as before route pooling), 0 for the server's default, or a count", func(c *Config) *int { return &c.RoutePoolSize }),
		param.BoolOf("route-tls", "make every route mutual TLS, with a CA and per-node certificates made for the run (the proxies carry TLS untouched)", func(c *Config) *bool { return &c.RouteTLS }),
		server("server-version", build.Version, "run nodes of this released nats-server (e.g. v2.12.1), built once from the Go module proxy and cached (needs the go command)", func(c *Config) *string { return &c.ServerVersion }),
		server("server-src", build.Src, "run nodes built from this nats-server source tree, cached by its commit and a hash of uncommitted changes (needs the go command)", func(c *Config) *string { return &c.ServerSrc }),
		server("server-bin", build.Bin, "run nodes with this nats-server binary (default: the server embedded in jetsam)", func(c *Config) *string { return &c.ServerBin }),
		param.BoolOf("server-assertions", "build the server (--server-version or --server-src) with nats-server's Antithesis SDK assertions (tag "+build.AssertionsTag+", cached apart); a failed assertion makes the run invalid", func(c *Config) *bool { return &c.ServerAssertions }),
	}
}

// hostParams come first among a command line's flags: the hosts give the
// node count, which --nodes may still override.
func hostParams() []Param {
	setHosts := func(c *Config, hs []remote.Host) {
		c.Hosts = nil
		for _, h := range hs {
			c.Hosts = append(c.Hosts, h.String())
		}
		c.Nodes = len(c.Hosts)
	}
	ifHosts := func(get func(*Config) string) func(*Config) string {
		return func(c *Config) string {
			if len(c.Hosts) == 0 {
				return ""
			}
			return get(c)
		}
	}
	return []Param{
		{Name: "hosts", Order: -1, Usage: "run the nodes on remote hosts over SSH: a file with one user@host[:port] per line, one host per node",
			Set: func(c *Config, v string) error {
				hs, err := remote.ReadHostsFile(v)
				setHosts(c, hs)
				return err
			},
			Get: func(*Config) string { return "" }}, // replayed as --host
		{Name: "host", Order: -1, Repeat: true, Usage: "a remote host for one node, user@host[:port]; repeat it, once per node (instead of --hosts)",
			Set: func(c *Config, v string) error {
				var hs []remote.Host
				for _, s := range param.ParseList(v) {
					h, err := remote.ParseHost(s)
					if err != nil {
						return err
					}
					hs = append(hs, h)
				}
				setHosts(c, hs)
				return nil
			},
			Get: func(c *Config) string { return strings.Join(c.Hosts, ",") }},
		withGet(param.StringOf("ssh-key", "private key for the hosts (default: the keys of the SSH agent at $SSH_AUTH_SOCK)", func(c *Config) *string { return &c.SSHKey }), ifHosts),
		withGet(param.StringOf("known-hosts", "known_hosts file the hosts' keys are checked against (default ~/.ssh/known_hosts)", func(c *Config) *string { return &c.KnownHosts }), ifHosts),
		withGet(param.BoolOf("ssh-insecure", "do not check the hosts' keys (for a throwaway lab only)", func(c *Config) *bool { return &c.SSHInsecure }), ifHosts),
		withGet(param.StringOf("remote-dir", "jetsam's folder on each host, for its binaries and each run's node folders (default ~/.cache/jetsam, ~ being the SSH user's home there); it and its parents must be the SSH user's or root's and writable by no one else", func(c *Config) *string { return &c.RemoteDir }), ifHosts),
	}
}

func runParams() []Param {
	return []Param{
		param.StringOf("cut-mode", "how a cut link treats new connections: hold (unanswered, like a dropped SYN) or refuse (reset at once)", func(c *Config) *string { return &c.CutMode }),
		{Name: "seed", Type: "uint", Usage: "seed for the fault schedule, targets, keys and values (default: random, and recorded)",
			Set: func(c *Config, v string) (err error) {
				if c.Seed, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
					return fmt.Errorf("--seed %q is not a whole number from 0 to 18446744073709551615", v)
				}
				return nil
			},
			Get: func(c *Config) string { return strconv.FormatUint(c.Seed, 10) }},
		param.StringOf("store", "folder that holds every run", func(c *Config) *string { return &c.Store }),
		param.StringOf("name", "test name: runs are stored under --store/<name>/", func(c *Config) *string { return &c.Name }),
		param.DurationOf("check-timeout", "time limit of the linearizability search; past it the verdict is unknown", func(c *Config) *Duration { return &c.CheckTimeout }),
		param.DurationOf("recover-timeout", "how long to wait for the cluster to recover after the last heal (past it, no-recovery), and for the final reads", func(c *Config) *Duration { return &c.RecoverTimeout }),
		withGet(param.IntOf("base-port", "first of 3 consecutive ports per node (client, cluster, monitoring); 0 picks free ports", func(c *Config) *int { return &c.BasePort }),
			func(get func(*Config) string) func(*Config) string {
				return func(c *Config) string { return omitZero(c.BasePort) }
			}),
	}
}

// ReplayArgs is the command line (after "jetsam run") that repeats c
// exactly: every flag whose value the table can print.
func ReplayArgs(c Config) []string {
	var out []string
	for _, p := range Params() {
		v := p.Get(&c)
		switch {
		case v == "":
		case p.Type == "bool":
			out = append(out, "--"+p.Name+"="+v)
		default:
			out = append(out, "--"+p.Name, v)
		}
	}
	return out
}

func withGet(p Param, wrap func(func(*Config) string) func(*Config) string) Param {
	p.Get = wrap(p.Get)
	return p
}

func omitZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
