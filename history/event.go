// Package history is the vocabulary every stage of jetsam speaks: one event
// per invocation or completion of an operation, written as one JSON line.
//
// The history file is the contract between running and checking. Fields are
// only ever added, never renamed, so a history written by any version loads.
package history

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Type says whether an event starts an operation or how it ended.
type Type string

const (
	Invoke Type = "invoke"
	// OK: the operation took effect and its result is known.
	OK Type = "ok"
	// Fail: the response proves the operation did not take effect.
	Fail Type = "fail"
	// Info: indeterminate; the operation may or may not have taken effect.
	Info Type = "info"
)

// Valid reports whether t is one of the four types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies the logical client that issued an event. Clients are
// numbered from 0; the nemesis is a process too, written as "nemesis", and
// so is the observer, written as "observer", which records what clients
// received beyond their operations' outcomes.
type Process int

const (
	// Nemesis is the process of fault events.
	Nemesis Process = -1
	// Observer is the process of extra replies (see FReply).
	Observer Process = -2
)

func (p Process) String() string {
	switch p {
	case Nemesis:
		return "nemesis"
	case Observer:
		return "observer"
	}
	return strconv.Itoa(int(p))
}

func (p Process) MarshalJSON() ([]byte, error) {
	if p < 0 {
		return []byte(`"` + p.String() + `"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

func (p *Process) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"nemesis"`:
		*p = Nemesis
		return nil
	case `"observer"`:
		*p = Observer
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer, \"nemesis\" or \"observer\", got %s", b)
	}
	*p = Process(n)
	return nil
}

// Workloads of jetsam's own runs (the "workload" field); imported Jepsen
// histories have theirs (jepsen.go).
const (
	WorkloadKV    = "kv"    // a register per key of a KV bucket
	WorkloadLog   = "log"   // a stream as an append-only log
	WorkloadQueue = "queue" // a work queue with a durable consumer
)

// Operation names (the "f" field).
const (
	FRead   = "read"
	FWrite  = "write"
	FCAS    = "cas"
	FCreate = "create" // write only if the key is absent
	FDelete = "delete"
	// The stream log.
	FAppend  = "append"   // append a value; with expect_rev, only after that sequence
	FReadAll = "read-all" // the whole stream, as one replica or the leader holds it
	// The queue.
	FEnqueue = "enqueue"
	FDequeue = "dequeue"
	// FReply is an observer event: a reply to an operation's request
	// beyond the one that decided its outcome, as when two servers both
	// answer one publish. Of is the operation's invocation; Type is ok
	// (an acknowledgement, Rev its sequence) or fail (Error).
	FReply = "reply"
)

// DuplicateAck is the error of an ok append that the stream acknowledged
// as a duplicate of an earlier message with the same message ID: its rev
// is the sequence the server gave for that earlier message.
const DuplicateAck = "acknowledged as a duplicate"

// Read modes: how a read was served.
const (
	ReadLeader = "leader" // the stream leader's message get
	ReadDirect = "direct" // direct get, answered by any replica
)

// Phases of a run that an operation can belong to.
const (
	PhaseMain  = "" // the workload phase, while the nemesis runs
	PhaseFinal = "final"
)

// Event is one line of the history.
type Event struct {
	// Index is the event's position in the history, from 0.
	Index int `json:"index"`
	// Time is nanoseconds since the test started, on a monotonic clock.
	Time    int64   `json:"time"`
	Type    Type    `json:"type"`
	Process Process `json:"process"`
	F       string  `json:"f"`

	// Client operations.
	Workload string `json:"workload,omitempty"`
	Node     string `json:"node,omitempty"` // the node the client talks to
	Key      string `json:"key,omitempty"`
	// Value is the value written (on invoke and completion of write and cas)
	// or read (on an ok read; absent when the key did not exist).
	Value *string `json:"value,omitempty"`
	// Rev is the revision (stream sequence) a write produced or a read saw.
	Rev uint64 `json:"rev,omitempty"`
	// ExpectRev is the revision a compare-and-set requires.
	ExpectRev *uint64 `json:"expect_rev,omitempty"`
	// Expect is the value a compare-and-set requires (imported Jepsen
	// registers, which have no revisions).
	Expect   *string `json:"expect,omitempty"`
	ReadMode string  `json:"read_mode,omitempty"`
	Phase    string  `json:"phase,omitempty"`
	Error    string  `json:"error,omitempty"`

	// Values are what a dequeue received, in order.
	Values []string `json:"values,omitempty"`
	// Acked are the values among Values whose acknowledgement the server
	// confirmed (a double ack answered): each is gone from the queue.
	Acked []string `json:"acked,omitempty"`
	// Deliveries are, for each of Values in order, the stream sequence
	// and delivery count the server sent with it.
	Deliveries []Delivery `json:"deliveries,omitempty"`
	// Log is a whole stream as one read saw it (read-all).
	Log []LogEntry `json:"log,omitempty"`

	// Fault describes a nemesis event.
	Fault *Fault `json:"fault,omitempty"`
	// Links are the link proxies' counters when the event was recorded.
	Links []LinkStats `json:"links,omitempty"`

	// Of is the index of the invocation an observer event is about.
	Of *int `json:"of,omitempty"`
	// RetryOf is, on a client's invocation that re-sends an earlier
	// operation's request (the same message ID and value, after that one
	// ended indeterminate), the index of the first attempt's invocation.
	// The retry is an operation of its own.
	RetryOf *int `json:"retry_of,omitempty"`

	// Recovery is what an FRecovery event saw.
	Recovery *Recovery `json:"recovery,omitempty"`
}

// Delivery is how a consumer delivered a message: its stream sequence and
// the count of its deliveries so far, this one included.
type Delivery struct {
	Seq   uint64 `json:"s"`
	Count uint64 `json:"n"`
}

// LogEntry is one message of a stream: its sequence and value.
type LogEntry struct {
	Seq   uint64 `json:"s"`
	Value string `json:"v"`
}

// LinkStats are one link proxy's counters since the cluster started. A link
// carries the connections From dialed to To; forward bytes went from From
// to To.
type LinkStats struct {
	From          string `json:"from"`
	To            string `json:"to"`
	BytesForward  int64  `json:"bytes_fwd"`
	BytesBackward int64  `json:"bytes_rev"`
	Accepted      int64  `json:"conns"`
	Resets        int64  `json:"resets,omitempty"`
	Refused       int64  `json:"refused,omitempty"`
	// Raft counts the Raft messages a framed link carried, by "action
	// kind": "seen append", "dropped heartbeat", ...
	Raft map[string]int64 `json:"raft,omitempty"`
}

// Fault is what the nemesis did: which fault, in which shape, to whom.
type Fault struct {
	// Action is "start", "stop", or "observe" for something seen while the
	// fault held (a leader moving).
	Action string `json:"action"`
	// Shape names the variant, e.g. "one", "halves", "leader".
	Shape string `json:"shape,omitempty"`
	// Groups are the sides of a partition: nodes in different groups cannot
	// reach each other.
	Groups [][]string `json:"groups,omitempty"`
	// Nodes are the nodes the fault was aimed at.
	Nodes []string `json:"nodes,omitempty"`
	// Cuts are the directed cuts of a partition: [a, b] means bytes a sends
	// no longer reach b.
	Cuts [][2]string `json:"cuts,omitempty"`
	// Links are the node pairs a link fault acts on (both directions).
	Links [][2]string `json:"links,omitempty"`
	// Params are the fault's settings and observations, e.g.
	// {"delay": "100ms"} or {"leader": "n2", "after": "4.61s"}.
	Params map[string]string `json:"params,omitempty"`
}

// Describe names a fault of package f in a few words, e.g.
// "partition one [n1] | [n2 n3]" or "latency n1-n2 delay=100ms".
func (f *Fault) Describe(name string) string {
	var b strings.Builder
	b.WriteString(name)
	if f.Shape != "" {
		b.WriteString(" " + f.Shape)
	}
	group := func(g []string) string { return "[" + strings.Join(g, " ") + "]" }
	switch {
	case f.Shape == "bridge" && len(f.Groups) == 3:
		fmt.Fprintf(&b, " %s ~ %s ~ %s", group(f.Groups[0]), strings.Join(f.Groups[1], " "), group(f.Groups[2]))
	case len(f.Groups) > 0:
		parts := make([]string, len(f.Groups))
		for i, g := range f.Groups {
			parts[i] = group(g)
		}
		b.WriteString(" " + strings.Join(parts, " | "))
	case f.Params["direction"] != "" && len(f.Nodes) > 0:
		fmt.Fprintf(&b, " %s %s", strings.Join(f.Nodes, " "), f.Params["direction"])
	case len(f.Cuts) > 0:
		for _, c := range f.Cuts {
			fmt.Fprintf(&b, " %s↛%s", c[0], c[1])
		}
	case len(f.Links) > 0:
		for _, l := range f.Links {
			fmt.Fprintf(&b, " %s-%s", l[0], l[1])
		}
	case len(f.Nodes) > 0:
		b.WriteString(" " + group(f.Nodes))
	}
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		if k != "direction" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, f.Params[k])
	}
	return b.String()
}

// Fault actions.
const (
	FaultStart   = "start"
	FaultStop    = "stop"
	FaultObserve = "observe"
)

// Str returns a pointer to s, for Event.Value.
func Str(s string) *string { return &s }

// U64 returns a pointer to n, for Event.ExpectRev.
func U64(n uint64) *uint64 { return &n }
