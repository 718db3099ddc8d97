// Package synth generates KV register histories with known verdicts, for
// checker tests and benchmarks.
package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/jetsam-dev/jetsam/history"
)

// KV generates a linearizable KV history: clients run one operation at
// a time, each taking effect at a random instant inside its interval; a
// fraction of writes end indeterminate (half of those took effect). Every
// key gets a final read.
//
// The output for a seed is fixed: the steps below draw from rng in this
// order, so reordering or adding draws changes every generated history.
func KV(ops, keys, clients int, infoFrac float64, seed uint64) []history.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	all := scheduleKV(rng, ops, keys, clients)
	state := takeEffect(rng, all, infoFrac)
	out := kvEvents(all, clients, keys)
	return appendFinalReads(out, state, keys)
}

// kvOp is one generated client operation: its interval, the instant it
// takes effect, and what it saw or did there.
type kvOp struct {
	client            int
	f, key            string
	value             string
	expect            uint64
	call, ret, at     int64
	typ               history.Type
	rev               uint64
	present, happened bool
}

// register is a key's state as the operations that took effect left it.
type register struct {
	value   string
	rev     uint64
	deleted bool
}

// scheduleKV draws ops operations, client i%clients running the i-th, each
// one's interval starting after its client's previous one returned.
func scheduleKV(rng *rand.Rand, ops, keys, clients int) []*kvOp {
	all := make([]*kvOp, 0, ops)
	clock := make([]int64, clients)
	for i := 0; i < ops; i++ {
		c := i % clients
		o := &kvOp{client: c, key: fmt.Sprintf("k%d", rng.IntN(keys)),
			f: []string{history.FRead, history.FRead, history.FWrite, history.FWrite, history.FCAS, history.FCAS, history.FCreate, history.FDelete}[rng.IntN(8)]}
		o.call = clock[c] + rng.Int64N(1e6)
		o.ret = o.call + 1e5 + rng.Int64N(3e6)
		o.at = o.call + rng.Int64N(o.ret-o.call)
		o.value = fmt.Sprintf("%d-%d", c, i)
		clock[c] = o.ret
		all = append(all, o)
	}
	return all
}

// takeEffect runs the operations in the order of their instants, deciding
// each one's outcome against the registers, and returns the registers at
// the end. Revisions count every write that took effect, as a stream's
// sequence does.
func takeEffect(rng *rand.Rand, all []*kvOp, infoFrac float64) map[string]*register {
	state := map[string]*register{}
	var seq uint64
	byAt := append([]*kvOp(nil), all...)
	sort.Slice(byAt, func(i, j int) bool { return byAt[i].at < byAt[j].at })
	for _, o := range byAt {
		if o.decide(rng, state[o.key], infoFrac) {
			seq++
			state[o.key] = &register{value: o.value, rev: seq, deleted: o.f == history.FDelete}
			o.rev = seq
		}
	}
	return state
}

// decide sets the outcome of o against r, the key's register (nil if never
// written), and reports whether o is a write that took effect.
func (o *kvOp) decide(rng *rand.Rand, r *register, infoFrac float64) bool {
	cur := uint64(0)
	if r != nil {
		cur = r.rev
	}
	o.expect = cur
	if o.f == history.FCAS && rng.IntN(4) == 0 {
		o.expect = cur + 1 // a stale expectation: refused
	}
	switch {
	case o.f == history.FRead:
		o.typ = history.OK
		if r != nil {
			// A leader read sees the delete marker's revision too; a
			// direct read of an absent key does not.
			o.present, o.value, o.rev = !r.deleted, r.value, r.rev
			if r.deleted && rng.IntN(2) == 0 {
				o.rev = 0
			}
		}
	case o.f == history.FCAS && o.expect != cur:
		o.typ = history.Fail
	case o.f == history.FCreate && r != nil && !r.deleted:
		o.typ = history.Fail
	default:
		o.typ, o.happened = history.OK, true
		if rng.Float64() < infoFrac {
			o.typ = history.Info
			o.happened = rng.IntN(2) == 0
		}
		return o.happened
	}
	return false
}

// kvEvents records every operation as an invocation at its call and a
// completion at its return, indexed in time order. A client whose
// operation ended indeterminate carries on as a new process, as a real
// client's does.
func kvEvents(all []*kvOp, clients, keys int) []history.Event {
	type ev struct {
		t int64
		e history.Event
	}
	var evs []ev
	process := make([]int, clients)
	for c := range process {
		process[c] = c
	}
	sort.Slice(all, func(i, j int) bool { return all[i].call < all[j].call })
	for _, o := range all {
		in, out := o.events(history.Process(process[o.client]))
		evs = append(evs, ev{o.call, in}, ev{o.ret, out})
		if o.typ == history.Info {
			process[o.client] += clients
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t < evs[j].t })
	// Room for the final reads appendFinalReads adds.
	out := make([]history.Event, 0, len(evs)+2*keys)
	for i, e := range evs {
		e.e.Index, e.e.Time = i, e.t
		out = append(out, e.e)
	}
	return out
}

// events are o's invocation and completion by process p, without index or
// time.
func (o *kvOp) events(p history.Process) (in, out history.Event) {
	in = history.Event{Type: history.Invoke, Process: p, F: o.f, Workload: "kv", Node: "n1", Key: o.key}
	out = in
	out.Type = o.typ
	if o.f == history.FRead {
		in.ReadMode, out.ReadMode = history.ReadLeader, history.ReadLeader
		out.Rev = o.rev
		if o.present {
			out.Value = history.Str(o.value)
		}
	} else if o.f == history.FDelete {
		if o.typ == history.OK {
			out.Rev = o.rev
		}
	} else {
		in.Value, out.Value = history.Str(o.value), history.Str(o.value)
		if o.typ == history.OK {
			out.Rev = o.rev
		}
		if o.f == history.FCAS {
			in.ExpectRev, out.ExpectRev = history.U64(o.expect), history.U64(o.expect)
		}
	}
	return in, out
}

// appendFinalReads adds, after the last event, a final leader read of every
// key by one process of its own, each seeing the key's last register.
func appendFinalReads(out []history.Event, state map[string]*register, keys int) []history.Event {
	var end int64
	if len(out) > 0 {
		end = out[len(out)-1].Time
	}
	p := history.Process(1 << 20)
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("k%d", k)
		end++
		out = append(out, history.Event{Index: len(out), Time: end, Type: history.Invoke, Process: p, F: history.FRead, Workload: "kv", Node: "n1", Key: key, ReadMode: history.ReadLeader, Phase: history.PhaseFinal})
		fin := out[len(out)-1]
		fin.Index, fin.Type = len(out), history.OK
		end++
		fin.Time = end
		if r := state[key]; r != nil {
			fin.Rev = r.rev
			if !r.deleted {
				fin.Value = history.Str(r.value)
			}
		}
		out = append(out, fin)
	}
	return out
}

// PlantStaleRead makes one read in the second half of the history, that saw
// a key's newer value, return the value before it: a stale read. It returns
// the index of the rewritten completion, or -1.
func PlantStaleRead(events []history.Event) int {
	prev := map[string]history.Event{}
	for i := range events {
		e := &events[i]
		if e.F != history.FRead || e.Type != history.OK || e.Value == nil || e.Phase == history.PhaseFinal {
			continue
		}
		if p, ok := prev[e.Key]; ok && p.Rev < e.Rev && i > len(events)/2 {
			e.Value, e.Rev = p.Value, p.Rev
			return i
		}
		prev[e.Key] = *e
	}
	return -1
}
