package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/jetsam-dev/jetsam/history"
)

// JepsenKVConfig describes a generated Jepsen key-value history (get, put,
// append on string keys, as in Porcupine's test data).
type JepsenKVConfig struct {
	Ops, Keys, Clients int
	// InfoFrac of the writes end indeterminate; half of those took effect.
	InfoFrac float64
	// AppendFrac of the writes are appends, the rest puts.
	AppendFrac float64
	// Stale plants one stale read (see JepsenKV).
	Stale bool
	Seed  uint64
}

// JepsenKVHistory is a generated history: its events in the order a Jepsen
// log lists them, and the planted read, if any.
type JepsenKVHistory struct {
	// Events have Time in nanoseconds, strictly increasing.
	Events []history.Event
	// Planted is the index in Events of the planted read's completion, or
	// -1; PlantedKey is its key.
	Planted    int
	PlantedKey string
}

// jop is one generated operation.
type jop struct {
	client, process int
	f, key, value   string // value: written, or (get) read
	call, ret, at   int64
	typ             history.Type
	happened        bool
	// before is the key's state just before this write took effect, and
	// start the put that began it (nil: the initial empty state).
	before string
	start  *jop
	// done is the index of the completion event.
	done int
}

// tick is a step of the generated clock, in nanoseconds.
const tick = 1000

// JepsenKV generates a linearizable Jepsen key-value history: clients run
// one operation at a time, each taking effect at an instant strictly
// inside its interval; a get sees every write before that instant. Values
// are unique and self-delimiting ("x <client> <n> y"), so a string read
// names the writes it holds. An indeterminate client continues under a new
// process number, as Jepsen's do.
//
// With cfg.Stale, one get in the second half of the history is made to
// return the key's state from before a write that began after that
// state's put had returned, and finished before the get began: no order
// of the operations explains it. Everything else is as without it, so the
// same seed with and without Stale gives the planted and the valid
// history.
func JepsenKV(cfg JepsenKVConfig) *JepsenKVHistory {
	rng := rand.New(rand.NewPCG(cfg.Seed, 2))
	clients := max(cfg.Clients, 1)
	ops := make([]*jop, 0, cfg.Ops)
	clock := make([]int64, clients)
	process := make([]int, clients)
	for c := range process {
		process[c] = c
	}
	for i := 0; i < cfg.Ops; i++ {
		c := i % clients
		o := &jop{client: c, process: process[c], key: strconv.Itoa(rng.IntN(max(cfg.Keys, 1))), typ: history.OK}
		// Times are multiples of the client count plus the client, so no
		// two events share an instant.
		raw := clock[c] + 1 + rng.Int64N(1000)
		span := 2 + rng.Int64N(3000)
		o.call = raw*int64(clients) + int64(c)
		o.ret = (raw+span)*int64(clients) + int64(c)
		o.at = (raw + 1 + rng.Int64N(span-1)) * int64(clients)
		clock[c] = raw + span
		switch {
		case rng.IntN(2) == 0:
			o.f = "get"
		case rng.Float64() < cfg.AppendFrac:
			o.f = "append"
		default:
			o.f = "put"
		}
		if o.f != "get" {
			o.value = fmt.Sprintf("x %d %d y", c, i)
			o.happened = true
			if rng.Float64() < cfg.InfoFrac {
				o.typ, o.happened = history.Info, rng.IntN(2) == 0
				process[c] += clients
			}
		}
		ops = append(ops, o)
	}
	simulate(ops)
	out := &JepsenKVHistory{Events: jepsenEvents(ops), Planted: -1}
	if cfg.Stale {
		out.plantStale(ops)
	}
	return out
}

// simulate applies the operations at their instants: writes change their
// key's state, gets read it.
func simulate(ops []*jop) {
	type state struct {
		value string
		start *jop
	}
	byAt := append([]*jop(nil), ops...)
	sort.SliceStable(byAt, func(i, j int) bool { return byAt[i].at < byAt[j].at })
	states := map[string]*state{}
	for _, o := range byAt {
		s := states[o.key]
		if s == nil {
			s = &state{}
			states[o.key] = s
		}
		switch {
		case o.f == "get":
			o.value = s.value
		case !o.happened:
		case o.f == "put":
			o.before, o.start = s.value, s.start
			s.value, s.start = o.value, o
		default:
			o.before, o.start = s.value, s.start
			s.value += o.value
		}
	}
}

// jepsenEvents lists the invocations and completions in time order.
func jepsenEvents(ops []*jop) []history.Event {
	type ev struct {
		t int64
		e history.Event
		o *jop
	}
	evs := make([]ev, 0, 2*len(ops))
	for _, o := range ops {
		in := history.Event{Type: history.Invoke, Process: history.Process(o.process), F: o.f, Workload: history.WorkloadAppendKV, Key: o.key}
		out := in
		out.Type = o.typ
		if o.f != "get" {
			in.Value = history.Str(o.value)
		}
		out.Value = history.Str(o.value)
		if o.typ == history.Info {
			out.Error = "timeout"
		}
		evs = append(evs, ev{o.call, in, o}, ev{o.ret, out, o})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].t < evs[j].t })
	out := make([]history.Event, len(evs))
	for i, e := range evs {
		e.e.Index, e.e.Time = i, e.t*tick
		out[i] = e.e
		if e.e.Type != history.Invoke {
			e.o.done = i
		}
	}
	return out
}

// plantStale rewrites one get of the second half (by invocation) to the
// state before the latest write w of its key that finished before the get
// began, where w began after the put that started that state returned.
func (h *JepsenKVHistory) plantStale(ops []*jop) {
	byCall := append([]*jop(nil), ops...)
	sort.Slice(byCall, func(i, j int) bool { return byCall[i].call < byCall[j].call })
	writes := map[string][]*jop{}
	for _, o := range ops {
		if o.f != "get" && o.typ == history.OK {
			writes[o.key] = append(writes[o.key], o)
		}
	}
	for _, r := range byCall[len(byCall)/2:] {
		if r.f != "get" {
			continue
		}
		var w *jop
		for _, o := range writes[r.key] {
			if o.ret < r.call && (w == nil || o.ret > w.ret) {
				w = o
			}
		}
		if w == nil || w.before == r.value || (w.start != nil && w.start.ret >= w.call) {
			continue
		}
		h.Events[r.done].Value = history.Str(w.before)
		h.Planted, h.PlantedKey = r.done, r.key
		return
	}
}

// WriteEDN writes events as Jepsen EDN op maps, one per line, as
// Porcupine's test data has them: {:process 9, :type :invoke, :f :put,
// :key "0", :value "x 9 0 y"}. With times, each map has its :time.
func WriteEDN(w io.Writer, events []history.Event, times bool) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, e := range events {
		value := "nil"
		if e.Value != nil && (e.Type != history.Invoke || e.F != "get") {
			value = strconv.Quote(*e.Value)
		}
		fmt.Fprintf(bw, "{:process %d, :type :%s, :f :%s, :key %s, :value %s", e.Process, e.Type, e.F, strconv.Quote(e.Key), value)
		if e.Error != "" {
			fmt.Fprintf(bw, ", :error :%s", e.Error)
		}
		if times {
			fmt.Fprintf(bw, ", :time %d", e.Time)
		}
		if _, err := bw.WriteString("}\n"); err != nil {
			return fmt.Errorf("write edn: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write edn: %w", err)
	}
	return nil
}
