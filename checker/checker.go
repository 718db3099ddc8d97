// Package checker decides whether a history is valid. A verdict depends on
// the history alone, so checking a stored history offline always agrees with
// the run that wrote it.
package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// Validity is a verdict: valid, invalid (an anomaly was found) or unknown
// (the search ran out of time, or the history is incomplete).
type Validity int8

const (
	Unknown Validity = iota
	Valid
	Invalid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON writes true, false or "unknown", as results.json promises.
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("validity must be true, false or \"unknown\", got %s", b)
	}
	return nil
}

// Merge combines two verdicts: an anomaly anywhere makes the whole invalid;
// otherwise any unknown makes it unknown.
func Merge(a, b Validity) Validity {
	switch {
	case a == Invalid || b == Invalid:
		return Invalid
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return Valid
}

// Options tune a check.
type Options struct {
	// Timeout bounds the linearizability search; keys not decided in time are
	// unknown. Zero means no limit.
	Timeout time.Duration
	// MaxListed caps how many anomalies of one kind are listed; all are
	// counted. Zero means 100.
	MaxListed int
}

// Result is the composed verdict of every checker.
type Result struct {
	Valid Validity `json:"valid"`
	// Ops counts completions by type; operations that never completed count
	// as info.
	Ops      OpCounts          `json:"ops"`
	Stats    Stats             `json:"stats,omitzero"`
	Faults   []FaultWindow     `json:"faults"`
	Checkers map[string]*Check `json:"checkers"`
	// Links are the link proxies' counters at the end of the history.
	Links []history.LinkStats `json:"links,omitempty"`
	// Truncated: the history's last line was torn and dropped.
	Truncated bool `json:"history_truncated,omitempty"`
	// CheckSeconds is how long the check took.
	CheckSeconds float64 `json:"check_seconds"`
	// Timeless: the history's times are positions, not clock readings, so
	// nothing that needs real times (Stats, FirstOKAfter) is given.
	Timeless bool `json:"timeless,omitempty"`
	// Interrupted: the caller stopped the check (an interrupt) before it
	// ended, so the verdict is at best unknown.
	Interrupted bool `json:"interrupted,omitempty"`
}

// OpCounts counts operations by how they ended.
type OpCounts struct {
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
}

// Check is one checker's verdict.
type Check struct {
	Valid     Validity       `json:"valid"`
	Counts    map[string]int `json:"counts"`
	Anomalies []Anomaly      `json:"anomalies"`
	// Notes say why a verdict is unknown, or what was not listed.
	Notes []string `json:"notes,omitempty"`
	// FailingKeys have no linearization; UnknownKeys were not decided in time.
	FailingKeys []string `json:"failing_keys,omitempty"`
	UnknownKeys []string `json:"unknown_keys,omitempty"`
}

// Anomaly is one thing the history shows went wrong, explained in words.
type Anomaly struct {
	Kind string `json:"kind"`
	Key  string `json:"key,omitempty"`
	// Ops are the history indexes of the invocations involved; the first is
	// the operation that observed the anomaly.
	Ops      []int  `json:"ops"`
	Node     string `json:"node,omitempty"`
	ReadMode string `json:"read_mode,omitempty"`
	Phase    string `json:"phase,omitempty"`
	// Time is when the observing operation was invoked.
	Time int64 `json:"time"`
	// Faults names the faults active while the observing operation ran.
	Faults      []string `json:"faults,omitempty"`
	Explanation string   `json:"explanation"`
	// Cause names what the history shows produced the anomaly, when it
	// shows that (CauseTwoReplies).
	Cause string `json:"cause,omitempty"`
}

// CauseTwoReplies: two servers answered one request, the first with a
// refusal and the second with an acknowledgement. The client library takes
// the first answer, so the client was told a write failed that the stream
// kept. A deposed stream leader that has not yet heard of its successor
// still listens on the stream's subjects, and answers from its stale state.
const CauseTwoReplies = "two-replies"

// twoReplies explains a refused write that took effect at rev when op
// recorded a second reply acknowledging it there; it returns "" otherwise.
func twoReplies(op *Op, rev uint64) string {
	r := op.ackedAt(rev)
	if r == nil {
		return ""
	}
	return fmt.Sprintf("; a second reply to the same request, received %s after the operation began, acknowledged it at %d: two servers answered, and the client took the first",
		duration(r.Time-op.Call), rev)
}

// FaultWindow is one injected fault, from the moment it was in place to the
// moment it was healed, with what clients saw around it.
type FaultWindow struct {
	F      string            `json:"f"`
	Shape  string            `json:"shape,omitempty"`
	Groups [][]string        `json:"groups,omitempty"`
	Nodes  []string          `json:"nodes,omitempty"`
	Cuts   [][2]string       `json:"cuts,omitempty"`
	Links  [][2]string       `json:"links,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	Start  int64             `json:"start"`
	// End is nil when the fault was never healed in the history.
	End *int64 `json:"end"`
	// Notes are what was observed while the fault held, e.g. a leader
	// moving.
	Notes []string `json:"notes,omitempty"`
	// Traffic is what each link carried while the fault held: the counters
	// at the heal minus those at the start.
	Traffic []history.LinkStats `json:"traffic,omitempty"`
	// OKDuring counts operations that succeeded while the fault held;
	// OKAfter those between the heal and the next fault (or the end).
	OKDuring int `json:"ok_during"`
	OKAfter  int `json:"ok_after"`
	// FirstOKAfter is the time from the heal to the first success after it.
	FirstOKAfter *int64 `json:"first_ok_after,omitempty"`
}

// Describe names the fault in a few words, e.g. "partition one [n1] | [n2 n3]".
func (w FaultWindow) Describe() string {
	f := history.Fault{Shape: w.Shape, Groups: w.Groups, Nodes: w.Nodes, Cuts: w.Cuts, Links: w.Links, Params: w.Params}
	return f.Describe(w.F)
}

// CheckHistory runs every checker over h.
func CheckHistory(ctx context.Context, h *history.History, opts Options) *Result {
	began := time.Now()
	if h.Interrupted {
		return interruptedRead(Pair(h.Events), h.Truncated, began)
	}
	var nemesis []history.Event
	for _, e := range h.Events {
		if e.Process == history.Nemesis {
			nemesis = append(nemesis, e)
		}
	}
	res := checkOps(ctx, Pair(h.Events), nemesis, h.Truncated, began, opts)
	if h.Timeless {
		leaveOutTimes(res)
	}
	return stopped(ctx, res)
}

// CheckReader checks a JSONL history as it streams in, keeping operations
// but not events: the way to check histories of millions of operations.
func CheckReader(ctx context.Context, r io.Reader, opts Options) (*Result, error) {
	began := time.Now()
	p := NewPairer()
	var nemesis []history.Event
	n := 0
	truncated, err := history.Scan(r, func(e *history.Event) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return errInterrupted
		}
		if err := checkClientEvent(e); err != nil {
			return err
		}
		if e.Process == history.Nemesis {
			nemesis = append(nemesis, *e)
		} else {
			p.Add(e)
		}
		return nil
	})
	if errors.Is(err, errInterrupted) {
		return interruptedRead(p.Ops(), truncated, began), nil
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: it holds no events: the run recorded nothing, so there is nothing to check", history.ErrMalformed)
	}
	return stopped(ctx, checkOps(ctx, p.Ops(), nemesis, truncated, began, opts)), nil
}

// checkOps runs every checker over a history's operations and its nemesis
// events.
func checkOps(ctx context.Context, ops []Op, nemesis []history.Event, truncated bool, began time.Time, opts Options) *Result {
	if opts.MaxListed == 0 {
		opts.MaxListed = 100
	}
	res := &Result{
		Faults:    Faults(nemesis, ops),
		Links:     lastLinks(nemesis),
		Checkers:  map[string]*Check{},
		Truncated: truncated,
	}
	res.Stats = MainStats(ops)
	countOps(res, ops)
	// Leader reads and direct reads are judged apart (see kvCheck): NATS
	// documents direct get as not read-your-writes, so a stale direct read
	// is expected behaviour, while a stale leader read is a finding.
	res.Valid = Valid
	checkWorkloads(ctx, res, ops, opts)
	if c := CheckRecovery(ops, nemesis, res.Faults, opts); c != nil {
		res.Checkers[CheckerRecovery] = c
		res.Valid = Merge(res.Valid, c.Valid)
	}
	if len(res.Checkers) == 0 {
		res.Valid = Unknown
	}
	res.CheckSeconds = time.Since(began).Seconds()
	return res
}

// KindRefusedButAcknowledged: a write the client was told was refused was
// also acknowledged, by a second reply to the same request. The history
// proves it took effect, whether or not a read ever saw it.
const KindRefusedButAcknowledged = "refused-but-acknowledged"

// refusedButAcknowledged adds to c an anomaly for every failed write of
// workload w that an extra reply acknowledged, unless c already reports that
// operation; it reports whether it added any.
func refusedButAcknowledged(c *Check, ops []Op, w string, faults []FaultWindow) bool {
	reported := map[int]bool{}
	for _, a := range c.Anomalies {
		for _, i := range a.Ops {
			reported[i] = true
		}
	}
	added := false
	for i := range ops {
		op := &ops[i]
		if op.Workload != w || op.Type != history.Fail || len(op.Replies) == 0 || reported[op.Index] {
			continue
		}
		for _, r := range op.Replies {
			if r.Type != history.OK {
				continue
			}
			what := op.F
			if op.Value != nil {
				what += " of " + *op.Value
			}
			if op.Key != "" {
				what += " to " + op.Key
			}
			c.Anomalies = append(c.Anomalies, Anomaly{
				Kind: KindRefusedButAcknowledged, Key: op.Key, Ops: []int{op.Index}, Node: op.Node, Time: op.Call,
				Faults: activeFaults(faults, op.Call, op.Return), Cause: CauseTwoReplies,
				Explanation: fmt.Sprintf("%s by process %d on %s at %s was refused (%s), and a second reply to the same request, received %s after the operation began, acknowledged it at %d: two servers answered, and the client took the first",
					what, op.Process, op.Node, seconds(op.Call), op.Error, duration(r.Time-op.Call), r.Rev),
			})
			if c.Counts == nil {
				c.Counts = map[string]int{}
			}
			c.Counts["anomaly-"+KindRefusedButAcknowledged]++
			c.Valid = Invalid
			added = true
			break
		}
	}
	return added
}

// KVOps picks the KV workload's operations judged together: every write
// with the leader reads (direct false) or with the direct reads (direct
// true).
func KVOps(ops []Op, direct bool) []Op {
	var out []Op
	for _, op := range ops {
		if op.Workload != WorkloadKV {
			continue
		}
		if op.F != history.FRead || (op.ReadMode == history.ReadDirect) == direct {
			out = append(out, op)
		}
	}
	return out
}

// Faults pairs the nemesis's start and stop events into windows, and counts
// what clients achieved during and after each.
func Faults(events []history.Event, ops []Op) []FaultWindow {
	p := faultPairer{open: map[string]int{}, startLinks: map[int][]history.LinkStats{}, healLinks: map[string][]history.LinkStats{}}
	for i := range events {
		p.add(&events[i])
	}
	countAvailability(p.windows, ops)
	return p.windows
}

// faultPairer pairs a history's fault events into windows.
type faultPairer struct {
	windows    []FaultWindow
	open       map[string]int // f -> index of its open window
	startLinks map[int][]history.LinkStats
	healLinks  map[string][]history.LinkStats // f -> counters just before its heal
}

func (p *faultPairer) add(e *history.Event) {
	if e.Process != history.Nemesis || e.Fault == nil {
		return
	}
	if e.Type == history.Invoke {
		if e.Fault.Action == history.FaultStop && e.Links != nil {
			p.healLinks[e.F] = e.Links
		}
		return
	}
	switch e.Fault.Action {
	case history.FaultStart:
		p.open[e.F] = len(p.windows)
		p.startLinks[len(p.windows)] = e.Links
		p.windows = append(p.windows, FaultWindow{
			F: e.F, Shape: e.Fault.Shape, Groups: e.Fault.Groups, Nodes: e.Fault.Nodes,
			Cuts: e.Fault.Cuts, Links: e.Fault.Links, Params: e.Fault.Params, Start: e.Time,
		})
	case history.FaultObserve:
		if i, ok := p.open[e.F]; ok {
			p.windows[i].Notes = append(p.windows[i].Notes, describeObservation(e.Fault))
		}
	case history.FaultStop:
		if i, ok := p.open[e.F]; ok {
			p.close(i, e)
		}
	}
}

// close ends window i at its heal e.
func (p *faultPairer) close(i int, e *history.Event) {
	w := &p.windows[i]
	t := e.Time
	w.End = &t
	// What the fault learned as it healed (steps, routes).
	for k, v := range e.Fault.Params {
		if _, had := w.Params[k]; !had {
			if w.Params == nil {
				w.Params = map[string]string{}
			}
			w.Params[k] = v
		}
	}
	end := e.Links
	if l, ok := p.healLinks[e.F]; ok {
		// Histories since the counters were read before the heal.
		end = l
		delete(p.healLinks, e.F)
	}
	w.Traffic = trafficBetween(p.startLinks[i], end)
	delete(p.open, e.F)
}

// countAvailability counts what clients achieved during and after each
// fault, from the successes' completion times.
func countAvailability(windows []FaultWindow, ops []Op) {
	var okTimes []int64
	for _, op := range ops {
		if op.Type == history.OK {
			okTimes = append(okTimes, op.Return)
		}
	}
	sort.Slice(okTimes, func(i, j int) bool { return okTimes[i] < okTimes[j] })
	count := func(from, to int64) int {
		lo := sort.Search(len(okTimes), func(i int) bool { return okTimes[i] >= from })
		hi := sort.Search(len(okTimes), func(i int) bool { return okTimes[i] >= to })
		return hi - lo
	}
	for i := range windows {
		w := &windows[i]
		if w.End == nil {
			w.OKDuring = count(w.Start, Open)
			continue
		}
		w.OKDuring = count(w.Start, *w.End)
		next := int64(Open)
		for _, o := range windows[i+1:] {
			if o.Start >= *w.End {
				next = o.Start
				break
			}
		}
		w.OKAfter = count(*w.End, next)
		if j := sort.Search(len(okTimes), func(k int) bool { return okTimes[k] >= *w.End }); j < len(okTimes) {
			d := okTimes[j] - *w.End
			w.FirstOKAfter = &d
		}
	}
}

// describeObservation words an observe event.
func describeObservation(f *history.Fault) string {
	p := f.Params
	if p["leader"] != "" {
		return fmt.Sprintf("%s leadership moved from %s to %s %s after the fault began", p["group"], p["from"], p["leader"], p["after"])
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// trafficBetween subtracts two snapshots of link counters, link by link.
func trafficBetween(before, after []history.LinkStats) []history.LinkStats {
	if len(after) == 0 {
		return nil
	}
	prev := map[[2]string]history.LinkStats{}
	for _, l := range before {
		prev[[2]string{l.From, l.To}] = l
	}
	out := make([]history.LinkStats, 0, len(after))
	for _, l := range after {
		p := prev[[2]string{l.From, l.To}]
		out = append(out, history.LinkStats{
			From: l.From, To: l.To,
			BytesForward: l.BytesForward - p.BytesForward, BytesBackward: l.BytesBackward - p.BytesBackward,
			Accepted: l.Accepted - p.Accepted, Resets: l.Resets - p.Resets, Refused: l.Refused - p.Refused,
			Raft: countsBetween(p.Raft, l.Raft),
		})
	}
	return out
}

// countsBetween subtracts two snapshots of counts, keeping what changed.
func countsBetween(before, after map[string]int64) map[string]int64 {
	var out map[string]int64
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[k] = d
		}
	}
	return out
}

// lastLinks returns the counters of the last event that carries them.
func lastLinks(events []history.Event) []history.LinkStats {
	for i := len(events) - 1; i >= 0; i-- {
		if len(events[i].Links) > 0 {
			return events[i].Links
		}
	}
	return nil
}

// activeFaults names the faults that overlapped [from, to].
func activeFaults(windows []FaultWindow, from, to int64) []string {
	var out []string
	for _, w := range windows {
		end := int64(Open)
		if w.End != nil {
			end = *w.End
		}
		if w.Start <= to && from <= end {
			out = append(out, w.Describe())
		}
	}
	return out
}

// Load reads results.json.
func Load(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode results: %w", err)
	}
	return &r, nil
}

// seconds formats a history time for people.
func seconds(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

// ago formats an interval for people, to three significant digits.
func ago(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func duration(ns int64) string { return time.Duration(ns).Round(time.Microsecond).String() }
