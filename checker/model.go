package checker

import (
	"fmt"
	"hash/fnv"
	"html"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
)

// The KV register model. One register per key; the state is the key's value
// and revision (the stream sequence of the message that wrote it). Revisions
// only grow, so the model checks them as well as values.
//
// An indeterminate write leaves the revision unknown but bounded below; the
// next read that sees the value pins it. Indeterminate operations never make a
// history illegal: Porcupine may always linearize them after everything else,
// which is the same as their never having happened.

type kvInput struct {
	f         string
	value     string
	expectRev uint64
}

type kvOutput struct {
	typ     history.Type // ok or info
	present bool         // reads: the key existed
	value   string       // reads: the value seen
	rev     uint64       // the revision read or written
}

type kvState struct {
	// any: nothing is known yet (a window cut from a longer history); the
	// first operation decides the state.
	any     bool
	present bool
	value   string
	rev     uint64
	// exact: rev is the revision. Otherwise the revision is unknown but
	// strictly greater than rev.
	exact bool
}

// least is the smallest revision the state can have.
func (s kvState) least() uint64 {
	if s.exact {
		return s.rev
	}
	return s.rev + 1
}

func kvStep(st, in, out any) []any {
	s := st.(kvState)
	i := in.(kvInput)
	o := out.(kvOutput)
	if s.any {
		return anyStep(s, i, o)
	}
	// A value written at a revision the state allows: above the current
	// one.
	written := func(value string, present bool) []any {
		if o.typ == history.Info {
			return []any{kvState{present: present, value: value, rev: s.least(), exact: false}}
		}
		if o.rev <= s.least() {
			return nil
		}
		return []any{kvState{present: present, value: value, rev: o.rev, exact: true}}
	}
	switch i.f {
	case history.FRead:
		if o.present != s.present || (o.present && o.value != s.value) {
			return nil
		}
		switch {
		case o.rev == 0: // an absent key read without its delete marker
			return []any{s}
		case s.exact && o.rev != s.rev:
			return nil
		case s.exact:
			return []any{s}
		case o.rev <= s.rev:
			return nil
		}
		return []any{kvState{present: s.present, value: s.value, rev: o.rev, exact: true}}

	case history.FWrite:
		return written(i.value, true)

	case history.FDelete:
		return written("", false)

	case history.FCreate:
		// The client library's create is not one step, but each step is a
		// write conditional on the key's last message, so a create that
		// succeeded did so while the key was absent.
		if s.present {
			if o.typ == history.Info {
				return []any{s}
			}
			return nil
		}
		next := written(i.value, true)
		if o.typ == history.Info {
			return append(next, s)
		}
		return next

	case history.FCAS:
		e := i.expectRev
		// canMatch: the current revision may be e. mustMatch: it is e.
		mustMatch := s.exact && s.rev == e
		canMatch := mustMatch || (!s.exact && e > s.rev)
		if o.typ == history.OK {
			if !canMatch || o.rev <= e {
				return nil
			}
			return []any{kvState{present: true, value: i.value, rev: o.rev, exact: true}}
		}
		// Indeterminate: applied if the revision matched, else no effect.
		applied := kvState{present: true, value: i.value, rev: e, exact: false}
		switch {
		case mustMatch:
			return []any{applied}
		case canMatch:
			return []any{s, applied}
		}
		return []any{s}
	}
	return nil
}

// anyStep steps from a state that can be anything: whatever the operation
// needed, it was.
func anyStep(s kvState, i kvInput, o kvOutput) []any {
	known := func(present bool, value string, rev uint64, exact bool) []any {
		return []any{kvState{present: present, value: value, rev: rev, exact: exact}}
	}
	switch {
	case i.f == history.FRead:
		return known(o.present, o.value, o.rev, o.rev > 0)
	case o.typ == history.Info && i.f == history.FCAS:
		return append([]any{s}, known(true, i.value, i.expectRev, false)...)
	case o.typ == history.Info && i.f == history.FDelete:
		return known(false, "", 0, false)
	case o.typ == history.Info:
		return append([]any{s}, known(true, i.value, 0, false)...)
	case i.f == history.FDelete:
		return known(false, "", o.rev, true)
	}
	return known(true, i.value, o.rev, true)
}

func describeKVOp(in, out any) string {
	i := in.(kvInput)
	o := out.(kvOutput)
	res := ""
	switch o.typ {
	case history.Info:
		res = "?"
	default:
		if i.f == history.FRead && !o.present {
			res = "absent"
			if o.rev > 0 {
				res += fmt.Sprintf("@%d", o.rev)
			}
		} else if i.f == history.FRead {
			res = fmt.Sprintf("%s@%d", o.value, o.rev)
		} else {
			res = fmt.Sprintf("@%d", o.rev)
		}
	}
	switch i.f {
	case history.FRead:
		return "read() → " + res
	case history.FDelete:
		return "delete() → " + res
	case history.FCAS:
		return fmt.Sprintf("cas(@%d, %s) → %s", i.expectRev, i.value, res)
	default:
		return fmt.Sprintf("%s(%s) → %s", i.f, i.value, res)
	}
}

func describeKVState(st any) string {
	s := st.(kvState)
	switch {
	case s.any:
		return "unknown"
	case !s.present && s.exact:
		return fmt.Sprintf("absent@%d", s.rev)
	case !s.present:
		return fmt.Sprintf("absent@>%d", s.rev)
	case s.exact:
		return fmt.Sprintf("%s@%d", s.value, s.rev)
	default:
		return fmt.Sprintf("%s@>%d", s.value, s.rev)
	}
}

// The descriptions the models give Porcupine are HTML: its diagram writes
// them into the page (a tooltip's innerHTML), and a value is whatever a
// history holds, so a value must never become markup there.
func describeKVOpHTML(in, out any) string { return html.EscapeString(describeKVOp(in, out)) }

func describeKVStateHTML(st any) string { return html.EscapeString(describeKVState(st)) }

func hashKVState(st any) uint64 {
	s := st.(kvState)
	h := fnv.New64a()
	fmt.Fprintf(h, "%t|%t|%s|%d|%t", s.any, s.present, s.value, s.rev, s.exact)
	return h.Sum64()
}

// KVModel is the Porcupine model of one key of a KV bucket.
var KVModel = (&porcupine.NondeterministicModel{
	Init:              func() []any { return []any{kvState{exact: true}} },
	Step:              kvStep,
	Equal:             func(a, b any) bool { return a.(kvState) == b.(kvState) },
	Hash:              hashKVState,
	DescribeOperation: describeKVOpHTML,
	DescribeState:     describeKVStateHTML,
}).ToModel()

// kvWindowModel is KVModel starting from a state that can be anything, for
// a window cut from a key's history.
var kvWindowModel = func() porcupine.Model {
	m := (&porcupine.NondeterministicModel{
		Init:              func() []any { return []any{kvState{any: true}} },
		Step:              kvStep,
		Equal:             func(a, b any) bool { return a.(kvState) == b.(kvState) },
		Hash:              hashKVState,
		DescribeOperation: describeKVOpHTML,
		DescribeState:     describeKVStateHTML,
	}).ToModel()
	return m
}()

// kvOperations turns one key's operations into Porcupine operations. Reads
// that did not succeed constrain nothing and are left out, as is every
// operation the server refused: it did not happen. A refused compare-and-set
// says nothing about the revision either: the leader also refuses one while
// another on the same key is in flight (10164), and checks against proposals
// not yet applied. end is a time after every completion: open operations
// return then, so they may be linearized after everything else.
func kvOperations(ops []Op, end int64) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for k := range ops {
		op := &ops[k]
		if op.Type == history.Fail || (op.F == history.FRead && op.Type != history.OK) {
			continue
		}
		in := kvInput{f: op.F}
		if op.Value != nil && op.F != history.FRead {
			in.value = *op.Value
		}
		if op.ExpectRev != nil {
			in.expectRev = *op.ExpectRev
		}
		o := kvOutput{typ: op.Type, rev: op.Rev}
		if op.F == history.FRead && op.Value != nil {
			o.present, o.value = true, *op.Value
		}
		ret := op.Return
		if ret == Open {
			ret = end
		}
		out = append(out, porcupine.Operation{
			ClientId: int(op.Process), Input: in, Output: o, Call: op.Call, Return: ret,
			Metadata: op.Index,
		})
	}
	return out
}

// PlainKV returns the KV model partitioned by key and every KV operation
// unpruned, for running plain Porcupine over a whole history (to compare
// with CheckKV, which prunes, explains and decides key by key).
func PlainKV(ops []Op) (porcupine.Model, []porcupine.Operation) {
	var end int64
	for _, op := range ops {
		if op.Return != Open {
			end = max(end, op.Return)
		}
		end = max(end, op.Call)
	}
	keyOf := map[int]string{}
	var kv []Op
	for _, op := range ops {
		if op.Workload == WorkloadKV {
			kv = append(kv, op)
			keyOf[op.Index] = op.Key
		}
	}
	pops := kvOperations(kv, end+1)
	model := KVModel
	model.Partition = func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range history {
			k := keyOf[o.Metadata.(int)]
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	}
	return model, pops
}
