package checker

import (
	"math"
	"sort"

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
	// Acked are the received values whose acknowledgement the server
	// confirmed.
	Acked []string
	// Deliveries are each received value's stream sequence and delivery
	// count, when the history has them for every value.
	Deliveries []history.Delivery
	Log        []history.LogEntry
	Error      string
	// Call and Return are history times; Return is math.MaxInt64 for an
	// operation that never completed.
	Call, Return int64
	// Replies are the replies beyond the one that decided the outcome.
	Replies []Reply
}

// Reply is one more answer to an operation's request: an acknowledgement
// (Type ok, Rev its sequence) or a refusal (Type fail, Error).
type Reply struct {
	Time  int64
	Type  history.Type
	Rev   uint64
	Error string
}

// ackedAt returns the extra reply that acknowledged op at sequence rev.
func (op *Op) ackedAt(rev uint64) *Reply {
	for i := range op.Replies {
		if r := &op.Replies[i]; r.Type == history.OK && r.Rev == rev {
			return r
		}
	}
	return nil
}

// Open is the Return of an operation that never returned.
const Open = math.MaxInt64

// Pair turns client events into operations, in invocation order. A process
// has one operation in flight at a time, so a completion belongs to the
// process's pending invocation. Invocations that never completed become Info
// operations that stay open to the end of time.
func Pair(events []history.Event) []Op {
	p := NewPairer()
	for i := range events {
		p.Add(&events[i])
	}
	return p.Ops()
}

// Pairer pairs events into operations as they stream in.
type Pairer struct {
	ops     []Op
	pending map[history.Process]int // process -> index into ops
	strs    map[string]string       // one copy of each repeated name
}

// NewPairer returns an empty pairer.
func NewPairer() *Pairer {
	return &Pairer{pending: map[history.Process]int{}, strs: map[string]string{}}
}

// intern returns one shared copy of a short string that repeats on every
// operation (names of operations, nodes, modes), so a million operations do
// not hold a million copies.
func (p *Pairer) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := p.strs[s]; ok {
		return v
	}
	p.strs[s] = s
	return s
}

// Add takes the next event; nemesis events are ignored, and an observer's
// extra reply joins the operation it answers.
func (p *Pairer) Add(e *history.Event) {
	if e.Process == history.Observer {
		p.addReply(e)
		return
	}
	if e.Process == history.Nemesis {
		return
	}
	if e.Type == history.Invoke {
		if j, ok := p.pending[e.Process]; ok {
			// A new invocation before the old one completed: the old one
			// is indeterminate.
			p.ops[j].Type = history.Info
		}
		p.pending[e.Process] = len(p.ops)
		p.ops = append(p.ops, Op{
			Index: e.Index, Completion: -1, Process: e.Process, F: p.intern(e.F),
			Workload: p.intern(e.Workload), Node: p.intern(e.Node), Key: p.intern(e.Key), ReadMode: p.intern(e.ReadMode),
			Phase: p.intern(e.Phase), Type: history.Info, Value: e.Value, ExpectRev: e.ExpectRev, Expect: e.Expect,
			Call: e.Time, Return: Open,
		})
		return
	}
	j, ok := p.pending[e.Process]
	if !ok {
		return // a completion without an invocation carries no information
	}
	delete(p.pending, e.Process)
	op := &p.ops[j]
	op.Completion = e.Index
	op.Type = e.Type
	op.Error = e.Error
	if e.ReadMode != "" {
		op.ReadMode = p.intern(e.ReadMode)
	}
	if e.Type == history.Info {
		return // stays open: it may take effect at any later time
	}
	op.Return = e.Time
	op.Rev = e.Rev
	op.Values, op.Acked, op.Log = e.Values, e.Acked, e.Log
	if len(e.Deliveries) == len(e.Values) {
		op.Deliveries = e.Deliveries
	}
	if op.F == history.FRead || op.F == "get" {
		op.Value = e.Value
	}
}

// addReply attaches an extra reply to its operation. Operations are kept in
// invocation order, so the operation is found by its invocation index.
func (p *Pairer) addReply(e *history.Event) {
	if e.F != history.FReply || e.Of == nil {
		return
	}
	j := sort.Search(len(p.ops), func(i int) bool { return p.ops[i].Index >= *e.Of })
	if j == len(p.ops) || p.ops[j].Index != *e.Of {
		return
	}
	p.ops[j].Replies = append(p.ops[j].Replies, Reply{Time: e.Time, Type: e.Type, Rev: e.Rev, Error: p.intern(e.Error)})
}

// Ops returns the operations paired so far, in invocation order.
func (p *Pairer) Ops() []Op { return p.ops }
