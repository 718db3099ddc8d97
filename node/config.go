package node

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// ClusterName is the name every node's cluster block carries.
const ClusterName = "jetsam"

// DeadAdvertise is the route address every node advertises. Nothing listens
// there, so route gossip cannot make a node dial another around the proxies
// (a healed partial partition would otherwise re-route directly).
const DeadAdvertise = "127.0.0.1:1"

// Accounts: clients that give no credentials land in the JetStream
// account; the system account, which alone may remove a server from the
// meta group, has a user of its own.
const (
	AppAccount     = "JS"
	SystemUser     = "jetsam-sys"
	SystemPassword = "jetsam-sys"
)

// Spec is one node's identity, ports and files.
type Spec struct {
	// Name is the node's name in jetsam (n1, n2, ...); ServerName is the
	// server_name it runs under, the same unless the node rejoined the
	// cluster under a fresh one.
	Name        string
	ServerName  string
	ClientPort  int
	ClusterPort int
	HTTPPort    int
	// Host is the address the node listens on, which its peers' links,
	// the clients' links and jetsam dial: empty for 127.0.0.1, or the
	// address of the remote host it runs on.
	Host string
	// Dir holds the node's config, log and data dir (on its host).
	Dir string
	// Routes are the addresses this node dials to reach its peers: the
	// proxies of its outgoing links.
	Routes []string
	// SyncInterval is JetStream's sync_interval ("always" or a duration);
	// empty leaves the server's default.
	SyncInterval string
	// Compression and PoolSize are the cluster block's route compression
	// mode and route pool size; empty and 0 leave the server's defaults.
	Compression string
	PoolSize    int
	// ServerVersion is the version of the nats-server that runs the node
	// ("2.12.8"); settings older servers lack are written their way.
	ServerVersion string
	// TLS, when set, makes every route mutual TLS with these files.
	TLS *TLSFiles
	// Assertions makes the node write the Antithesis SDK assertions it
	// evaluates to AssertionsPath (a server built with them compiled in).
	Assertions bool
}

// AssertionsEnv is the environment variable naming the file a nats-server
// built with the Antithesis SDK (and without its native library) appends
// its assertion events to, one JSON object a line.
const AssertionsEnv = "ANTITHESIS_SDK_LOCAL_OUTPUT"

// AssertionsFile is the name of that file in the node's folder.
const AssertionsFile = "assertions.jsonl"

// Server is the server_name the node runs under.
func (s Spec) Server() string {
	if s.ServerName != "" {
		return s.ServerName
	}
	return s.Name
}

func (s Spec) ConfigPath() string { return filepath.Join(s.Dir, "nats.conf") }
func (s Spec) LogPath() string    { return filepath.Join(s.Dir, "nats.log") }
func (s Spec) StderrPath() string { return filepath.Join(s.Dir, "stderr.log") }
func (s Spec) DataDir() string    { return filepath.Join(s.Dir, "data") }
func (s Spec) AssertionsPath() string {
	return filepath.Join(s.Dir, AssertionsFile)
}
func (s Spec) ClientAddr() string { return s.addr(s.ClientPort) }
func (s Spec) ClientURL() string  { return "nats://" + s.ClientAddr() }
func (s Spec) ClusterAddr() string {
	return s.addr(s.ClusterPort)
}
func (s Spec) MonitorURL() string { return "http://" + s.addr(s.HTTPPort) }

func (s Spec) addr(port int) string {
	if s.Host == "" {
		return hostPort(port)
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Config renders the node's nats-server configuration.
func (s Spec) Config() string {
	var b strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&b, "server_name: %s\n", q(s.Server()))
	fmt.Fprintf(&b, "listen: %s\n", q(s.ClientAddr()))
	fmt.Fprintf(&b, "http: %s\n", q(s.addr(s.HTTPPort)))
	fmt.Fprintf(&b, "log_file: %s\n", q(s.LogPath()))
	b.WriteString("logtime: true\nlogtime_utc: true\n")
	if !AtLeast(s.ServerVersion, clusterPingsSince) {
		// Servers before the cluster block's own pings use the
		// server-wide ones for routes too.
		b.WriteString("ping_interval: \"1s\"\nping_max: 3\n")
	}
	fmt.Fprintf(&b, "accounts {\n  %s: { jetstream: enabled, users: [{user: \"jetsam\", password: \"jetsam\"}] }\n", AppAccount)
	fmt.Fprintf(&b, "  SYS: { users: [{user: %s, password: %s}] }\n}\n", q(SystemUser), q(SystemPassword))
	b.WriteString("system_account: SYS\nno_auth_user: jetsam\n")
	b.WriteString("jetstream {\n")
	fmt.Fprintf(&b, "  store_dir: %s\n", q(s.DataDir()))
	b.WriteString("  max_memory_store: 256MB\n  max_file_store: 8GB\n")
	if s.SyncInterval != "" {
		fmt.Fprintf(&b, "  sync_interval: %s\n", q(s.SyncInterval))
	}
	b.WriteString("}\n")
	b.WriteString("cluster {\n")
	fmt.Fprintf(&b, "  name: %s\n", q(ClusterName))
	fmt.Fprintf(&b, "  listen: %s\n", q(s.ClusterAddr()))
	fmt.Fprintf(&b, "  advertise: %s\n", q(DeadAdvertise))
	// Clients stay on the node they were given: no other URLs are sent.
	b.WriteString("  no_advertise: true\n")
	// A blocked link is noticed (Stale Connection) within a few seconds.
	if AtLeast(s.ServerVersion, clusterPingsSince) {
		b.WriteString("  ping_interval: \"1s\"\n  ping_max: 3\n")
	}
	if s.TLS != nil {
		// Routes dial the proxies at 127.0.0.1, which the certificates
		// name; the proxies carry the TLS bytes untouched.
		fmt.Fprintf(&b, "  tls {\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n    verify: true\n    timeout: 5\n  }\n",
			q(s.TLS.Cert), q(s.TLS.Key), q(s.TLS.CA))
	}
	if s.Compression != "" {
		fmt.Fprintf(&b, "  compression: %s\n", q(s.Compression))
	}
	if s.PoolSize != 0 {
		fmt.Fprintf(&b, "  pool_size: %d\n", s.PoolSize)
	}
	b.WriteString("  routes: [\n")
	for _, r := range s.Routes {
		fmt.Fprintf(&b, "    %s\n", q("nats-route://"+r))
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}
