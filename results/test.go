package results

import (
	"encoding/json"
	"strings"
	"time"
)

// TestInfo is test.json: everything needed to understand and replay a run.
type TestInfo struct {
	Name string `json:"name"`
	Seed uint64 `json:"seed"`
	// Command is the command line that replays the run exactly.
	Command []string `json:"command"`
	// Config is the full configuration, as the run package defines it.
	Config   json.RawMessage `json:"config"`
	Versions Versions        `json:"versions"`
	// Server is the nats-server under test and its route settings.
	Server  *ServerInfo `json:"server,omitempty"`
	Started time.Time   `json:"started"`
	// Run is filled in as the run goes.
	Run RunInfo `json:"run"`
}

// Versions of the software under test and of jetsam.
type Versions struct {
	Jetsam string `json:"jetsam"`
	// NatsServer is the version the nodes reported running (before they
	// report it, the version jetsam expects).
	NatsServer string `json:"nats_server"`
	Go         string `json:"go"`
}

// ServerInfo says which nats-server ran: what was asked for, the build
// jetsam prepared, and what every node reported about itself once the
// cluster formed.
type ServerInfo struct {
	// Spec is embedded, version:vX.Y.Z, src:PATH or bin:PATH.
	Spec string `json:"spec"`
	// Identity names the exact build (a version, a commit plus a hash of
	// uncommitted changes, a binary's checksum).
	Identity     string  `json:"identity"`
	Binary       string  `json:"binary,omitempty"`
	Cached       bool    `json:"cached,omitempty"`
	BuildSeconds float64 `json:"build_seconds"`
	// Reported is each node's own account of itself (its /varz).
	Reported []ReportedServer `json:"reported,omitempty"`
	// Route settings: compression mode and pool size ("" and 0: the
	// server's defaults) and whether routes are mutual TLS.
	RouteCompression string `json:"route_compression,omitempty"`
	RoutePoolSize    int    `json:"route_pool_size,omitempty"`
	RouteTLS         bool   `json:"route_tls,omitempty"`
}

// ReportedServer is what one node said it runs.
type ReportedServer struct {
	Node      string `json:"node"`
	Version   string `json:"version"`
	GitCommit string `json:"git_commit,omitempty"`
	Go        string `json:"go,omitempty"`
}

// Summary is one line naming what really ran: "v2.12.8 (go1.24.1)",
// per distinct build, with the nodes that reported it.
func (s *ServerInfo) Summary() string {
	if s == nil {
		return ""
	}
	if len(s.Reported) == 0 {
		return s.Identity + " (not reported by the nodes)"
	}
	var order []string
	nodes := map[string][]string{}
	for _, r := range s.Reported {
		k := "v" + r.Version
		if r.GitCommit != "" {
			k += " commit " + r.GitCommit
		}
		if r.Go != "" {
			k += " (" + r.Go + ")"
		}
		if nodes[k] == nil {
			order = append(order, k)
		}
		nodes[k] = append(nodes[k], r.Node)
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, "reported by "+strings.Join(nodes[k], ", ")+": "+k)
	}
	return strings.Join(parts, "; ")
}

// RunInfo is what happened to the run as a whole.
type RunInfo struct {
	// ReadySeconds is how long the cluster took to form.
	ReadySeconds float64 `json:"cluster_ready_seconds,omitempty"`
	// Nodes are the nodes' names and ports.
	Nodes []NodeInfo `json:"nodes,omitempty"`
	// Phase is the last phase reached: setup, main, recover, final, check,
	// done.
	Phase string `json:"phase"`
	// HistoryStarted is the wall-clock time of the history's time 0, which
	// puts node log lines and history events on one clock.
	HistoryStarted time.Time `json:"history_started,omitzero"`
	Ended          time.Time `json:"ended,omitzero"`
	Interrupted    bool      `json:"interrupted,omitempty"`
	// Error says why the run could not complete.
	Error string `json:"error,omitempty"`
	// RecoverSeconds is how long the cluster took to recover after the last
	// heal.
	RecoverSeconds float64 `json:"recover_seconds,omitempty"`
}

// NodeInfo identifies a node of the run.
type NodeInfo struct {
	Name        string `json:"name"`
	ClientPort  int    `json:"client_port"`
	ClusterPort int    `json:"cluster_port"`
	HTTPPort    int    `json:"http_port"`
}
