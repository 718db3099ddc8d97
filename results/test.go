package results

import (
	"encoding/json"
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
	Started  time.Time       `json:"started"`
	// Run is filled in as the run goes.
	Run RunInfo `json:"run"`
}

// Versions of the software under test and of jetsam.
type Versions struct {
	Jetsam     string `json:"jetsam"`
	NatsServer string `json:"nats_server"`
	Go         string `json:"go"`
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
