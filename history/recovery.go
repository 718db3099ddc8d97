package history

// Events a run records about itself, beside the faults: both are nemesis
// events (process "nemesis", type info).
const (
	// FRecovery records what jetsam saw of the cluster after the last heal
	// (Event.Recovery). The final phase begins right after it.
	FRecovery = "recovery"
	// FFinalDone marks the end of the final phase: every workload's final
	// reads finished (or gave up). A history without it was cut short in
	// its final phase, or before it.
	FFinalDone = "final-done"
)

// Recovery is what jetsam saw while it waited, after the last heal, for the
// cluster to recover: every node up and healthy with a full mesh of routes
// and one meta leader, and every workload's stream led, present on its
// replicas and current. It is recorded when the wait ends.
type Recovery struct {
	// Recovered: every condition held before Timeout ran out.
	Recovered bool `json:"recovered"`
	// Began is the history time the wait began; Timeout how long it could
	// last (ns). The event's own time is when it ended.
	Began   int64 `json:"began"`
	Timeout int64 `json:"timeout"`
	// Problems are what was missing when the wait ended, each with the
	// history time since which it had been missing without a break.
	Problems []Problem     `json:"problems,omitempty"`
	Nodes    []NodeState   `json:"nodes,omitempty"`
	Streams  []StreamState `json:"streams,omitempty"`
}

// Problem is one condition of recovery that did not hold.
type Problem struct {
	What string `json:"what"`
	// Stream is set when the problem is one stream's.
	Stream string `json:"stream,omitempty"`
	Since  int64  `json:"since"`
}

// NodeState is one node as its monitoring endpoints described it.
type NodeState struct {
	Node string `json:"node"`
	// Server is the node's server name, when it differs from Node (a node
	// replaced under a fresh name).
	Server  string `json:"server,omitempty"`
	Running bool   `json:"running"`
	// Exit says why a node that is not running exited.
	Exit string `json:"exit,omitempty"`
	// Health is the node's /healthz error; empty when healthy.
	Health     string `json:"health,omitempty"`
	Routes     int    `json:"routes"`
	MetaLeader string `json:"meta_leader,omitempty"`
}

// StreamState is one workload's stream as the nodes described it.
type StreamState struct {
	Stream   string `json:"stream"`
	Workload string `json:"workload,omitempty"`
	// Leader is the leader most nodes named; empty when none did.
	Leader string `json:"leader,omitempty"`
	// LeaderSeen is the last history time during the wait at which the
	// stream had a leader; nil when it had none all along.
	LeaderSeen *int64         `json:"leader_seen,omitempty"`
	Replicas   []ReplicaState `json:"replicas,omitempty"`
}

// ReplicaState is one node's copy of a stream.
type ReplicaState struct {
	Node string `json:"node"`
	// Answered: the node's /jsz answered, so Present is known.
	Answered bool   `json:"answered"`
	Present  bool   `json:"present"`
	Leader   string `json:"leader,omitempty"` // the leader this node names
	Messages uint64 `json:"messages,omitempty"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// RaftGroup is the stream's raft group on this node.
	RaftGroup string `json:"raft_group,omitempty"`
	// Current is what the leader says of this replica: nil when the
	// leader did not list it (or there is no leader).
	Current *bool  `json:"current,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
	Error   string `json:"error,omitempty"`
}
