// Package history is the vocabulary every stage of jetsam speaks: one event
// per invocation or completion of an operation, written as one JSON line.
//
// The history file is the contract between running and checking. Fields are
// only ever added, never renamed, so a history written by any version loads.
package history

import (
	"fmt"
	"strconv"
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
// numbered from 0; the nemesis is a process too, written as "nemesis".
type Process int

// Nemesis is the process of fault events.
const Nemesis Process = -1

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.Itoa(int(p))
}

func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

// Operation names (the "f" field).
const (
	FRead  = "read"
	FWrite = "write"
	FCAS   = "cas"
)

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
	ReadMode  string  `json:"read_mode,omitempty"`
	Phase     string  `json:"phase,omitempty"`
	Error     string  `json:"error,omitempty"`

	// Fault describes a nemesis event.
	Fault *Fault `json:"fault,omitempty"`
}

// Fault is what the nemesis did: which fault, in which shape, to whom.
type Fault struct {
	// Action is "start" or "stop".
	Action string `json:"action"`
	// Shape names the variant, e.g. "one", "halves", "leader".
	Shape string `json:"shape,omitempty"`
	// Groups are the sides of a partition: nodes in different groups cannot
	// reach each other.
	Groups [][]string `json:"groups,omitempty"`
	// Nodes are the nodes the fault was aimed at.
	Nodes []string `json:"nodes,omitempty"`
}

// Fault actions.
const (
	FaultStart = "start"
	FaultStop  = "stop"
)

// Str returns a pointer to s, for Event.Value.
func Str(s string) *string { return &s }

// U64 returns a pointer to n, for Event.ExpectRev.
func U64(n uint64) *uint64 { return &n }
