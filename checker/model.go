package checker

import (
	"fmt"
	"hash/fnv"

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

func hashKVState(st any) uint64 {
	s := st.(kvState)
	h := fnv.New64a()
	fmt.Fprintf(h, "%t|%s|%d|%t", s.present, s.value, s.rev, s.exact)
	return h.Sum64()
}

// KVModel is the Porcupine model of one key of a KV bucket.
var KVModel = (&porcupine.NondeterministicModel{
	Init:              func() []any { return []any{kvState{exact: true}} },
	Step:              kvStep,
	Equal:             func(a, b any) bool { return a.(kvState) == b.(kvState) },
	Hash:              hashKVState,
	DescribeOperation: describeKVOp,
	DescribeState:     describeKVState,
}).ToModel()

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
