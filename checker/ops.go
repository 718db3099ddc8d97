package checker

import (
	"math"

	"github.com/jetsam-dev/jetsam/history"
)

// Op is one client operation: an invocation and how it ended.
type Op struct {
	// Index is the history index of the invocation; Completion that of the
	// completion, or -1 when the operation never completed.
	Index      int
	Completion int
	Process    history.Process
	F          string
	Workload   string
	Node       string
	Key        string
	ReadMode   string
	Phase      string
	// Type is how the operation ended; an operation that never completed is
	// Info.
	Type history.Type
	// Value is the value written (write, cas) or read (ok read; nil when the
	// key was absent).
	Value     *string
	Rev       uint64
	ExpectRev *uint64
	Expect    *string
	// Values are what a dequeue received; Log is what a read-all read.
	Values []string
	Log    []history.LogEntry
	Error  string
	// Call and Return are history times; Return is math.MaxInt64 for an
	// operation that never completed.
	Call, Return int64
}

// Open is the Return of an operation that never returned.
const Open = math.MaxInt64

// Pair turns client events into operations, in invocation order. A process
// has one operation in flight at a time, so a completion belongs to the
// process's pending invocation. Invocations that never completed become Info
// operations that stay open to the end of time.
func Pair(events []history.Event) []Op {
	var ops []Op
	pending := map[history.Process]int{} // process -> index into ops
	for i := range events {
		e := &events[i]
		if e.Process == history.Nemesis {
			continue
		}
		if e.Type == history.Invoke {
			if j, ok := pending[e.Process]; ok {
				// A new invocation before the old one completed: the old one
				// is indeterminate.
				ops[j].Type = history.Info
			}
			pending[e.Process] = len(ops)
			ops = append(ops, Op{
				Index: e.Index, Completion: -1, Process: e.Process, F: e.F,
				Workload: e.Workload, Node: e.Node, Key: e.Key, ReadMode: e.ReadMode,
				Phase: e.Phase, Type: history.Info, Value: e.Value, ExpectRev: e.ExpectRev, Expect: e.Expect,
				Call: e.Time, Return: Open,
			})
			continue
		}
		j, ok := pending[e.Process]
		if !ok {
			continue // a completion without an invocation carries no information
		}
		delete(pending, e.Process)
		op := &ops[j]
		op.Completion = e.Index
		op.Type = e.Type
		op.Error = e.Error
		if e.ReadMode != "" {
			op.ReadMode = e.ReadMode
		}
		if e.Type == history.Info {
			continue // stays open: it may take effect at any later time
		}
		op.Return = e.Time
		op.Rev = e.Rev
		op.Values, op.Log = e.Values, e.Log
		if op.F == history.FRead || op.F == "get" {
			op.Value = e.Value
		}
	}
	return ops
}
