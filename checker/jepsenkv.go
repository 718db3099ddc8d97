package checker

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
)

// The direct analysis of one key of a Jepsen key-value history: get, put
// and append on strings, with no revisions. A key's state is the value of
// its last put ("" before any), followed by the values of the appends
// since, each write at most once. So a string a get returned can be matched
// against the key's writes: when exactly one sequence of writes makes it,
// those writes, and only they, made the state the get saw, in every
// linearization. Everything below rests on that one fact, and draws
// nothing (proves nothing, prunes nothing) from a string that can be made
// in more than one way.

// jkvBudget bounds the bytes one key's analysis may look at while matching
// strings against values, so a hostile history cannot make it slow. Past
// it, strings not yet matched count as matching several ways, which proves
// and prunes nothing.
const jkvBudget = 1 << 26

// jkvLongest is the longest string matched: the matching needs memory in
// proportion to it, and a longer one proves and prunes nothing.
const jkvLongest = 1 << 22

// jkvMatch is how a string read can be made from a key's writes.
type jkvMatch struct {
	// ways is 0 (no way: no linearization), 1, or 2 for several or not
	// worked out.
	ways int
	// With one way: start is the put that began the state (an index into
	// the key's operations), or -1 for the initial empty state; chain are
	// the appends since, in order.
	start int
	chain []int
}

// writes lists the one way's writes, its start first.
func (m jkvMatch) writes() []int {
	if m.start < 0 {
		return m.chain
	}
	return append([]int{m.start}, m.chain...)
}

// jkvKey is one key under analysis.
type jkvKey struct {
	key  string
	orig []*Op // the history's operations, for descriptions
	ops  []Op  // their copies, which pruning changes
	drop []bool
	// puts and appends map each value to the writes of it that did not
	// fail; the lengths are the distinct lengths of those values.
	puts, appends       map[string][]int
	putLens, appendLens []int
	hasAppends          bool
	emptyAppend         bool
	failed              map[string]int // value -> a failed put of it
	work                int
	match               []jkvMatch  // per operation: an ok get's match
	ambiguous           []string    // distinct strings read that match several ways
	seenBy              map[int]int // write -> the first get to return whose one way holds it
	// ways, from and via are matchString's buffers, per position of s.
	ways      []uint8
	from, via []int32
}

func newJKVKey(key string, ops []*Op) *jkvKey {
	k := &jkvKey{key: key, orig: ops, ops: make([]Op, len(ops)), drop: make([]bool, len(ops)),
		puts: map[string][]int{}, appends: map[string][]int{}, failed: map[string]int{},
		match: make([]jkvMatch, len(ops)), seenBy: map[int]int{}}
	for i, op := range ops {
		k.ops[i] = *op
		if op.F != jepsenPut && op.F != jepsenAppend {
			continue
		}
		v := jepsenDeref(op.Value)
		switch {
		case op.Type == history.Fail:
			// It did not happen: it makes no state.
			if op.F == jepsenPut {
				k.failed[v] = i
			}
		case op.F == jepsenPut:
			k.puts[v] = append(k.puts[v], i)
		default:
			k.appends[v] = append(k.appends[v], i)
			k.hasAppends = true
			k.emptyAppend = k.emptyAppend || v == ""
		}
	}
	k.putLens, k.appendLens = lengths(k.puts), lengths(k.appends)
	return k
}

func lengths(m map[string][]int) []int {
	seen := map[int]bool{}
	var out []int
	for v := range m {
		if !seen[len(v)] {
			seen[len(v)] = true
			out = append(out, len(v))
		}
	}
	sort.Ints(out)
	return out
}

// okGet reports whether operation i is a get that returned.
func (k *jkvKey) okGet(i int) bool {
	return k.ops[i].F == jepsenGet && k.ops[i].Type == history.OK
}

// matchAll matches every string read, once per distinct string.
func (k *jkvKey) matchAll() {
	matches := map[string]jkvMatch{}
	for i := range k.ops {
		if !k.okGet(i) {
			continue
		}
		s := jepsenDeref(k.ops[i].Value)
		m, ok := matches[s]
		if !ok {
			m = k.matchString(s)
			matches[s] = m
			if m.ways > 1 {
				k.ambiguous = append(k.ambiguous, s)
			}
		}
		k.match[i] = m
	}
}

// matchString counts, up to two, the ways s is a put's value (or "")
// followed by appended values, by dynamic programming over the positions
// of s, and names the writes of the one way when there is one.
func (k *jkvKey) matchString(s string) jkvMatch {
	n := len(s)
	if k.work += n; k.emptyAppend || k.work > jkvBudget || n > jkvLongest {
		// An append of "" fits anywhere, any number of times.
		return jkvMatch{ways: 2}
	}
	k.ways, k.from, k.via = zeroed(k.ways, n+1), zeroed(k.from, n+1), zeroed(k.via, n+1)
	// add counts weight more ways to reach pos, the last from prev (-1:
	// the start) by write w; with one way in all, the last is the way.
	add := func(pos, weight, prev, w int) {
		k.ways[pos] = uint8(min(2, int(k.ways[pos])+weight))
		k.from[pos], k.via[pos] = int32(prev), int32(w)
	}
	add(0, 1, -1, -1)
	for _, l := range k.putLens {
		if l > n {
			break
		}
		if ws := k.puts[s[:l]]; len(ws) > 0 {
			add(l, len(ws), -1, ws[0])
		}
	}
	for i := 0; i < n; i++ {
		if k.ways[i] == 0 {
			continue
		}
		for _, l := range k.appendLens {
			if i+l > n {
				break
			}
			if k.work += l; k.work > jkvBudget {
				return jkvMatch{ways: 2}
			}
			if ws := k.appends[s[i:i+l]]; len(ws) > 0 {
				add(i+l, int(k.ways[i])*len(ws), i, ws[0])
			}
		}
	}
	if k.ways[n] != 1 {
		return jkvMatch{ways: int(k.ways[n])}
	}
	m := jkvMatch{ways: 1, start: -1}
	for pos := n; ; pos = int(k.from[pos]) {
		if k.from[pos] < 0 {
			m.start = int(k.via[pos])
			break
		}
		m.chain = append(m.chain, int(k.via[pos]))
	}
	slices.Reverse(m.chain)
	if repeats(m.chain) {
		// The one way uses some write twice: there is no way.
		return jkvMatch{}
	}
	return m
}

func repeats(ws []int) bool {
	seen := make(map[int]bool, len(ws))
	for _, w := range ws {
		if seen[w] {
			return true
		}
		seen[w] = true
	}
	return false
}

// zeroed returns buf resized to n and cleared.
func zeroed[T uint8 | int32](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// analyseAppendKV is the key-value spec's analysis of one key: it proves
// what it can directly, and otherwise prunes the operations the search
// gets without changing the key's verdict.
func analyseAppendKV(spec jepsenSpec, key string, ops []*Op, end int64) keyAnalysis {
	k := newJKVKey(key, ops)
	k.matchAll()
	// Proofs in words only where a state is one put's value: on keys with
	// appends the search decides, and names the operation it cannot place.
	proofs := !k.hasAppends
	if proofs {
		if a := k.impossible(); len(a) > 0 {
			return keyAnalysis{anomalies: a, proved: true}
		}
	}
	k.prune()
	if proofs {
		if a := k.stale(); len(a) > 0 {
			return keyAnalysis{anomalies: a, proved: true}
		}
	}
	var out []porcupine.Operation
	for i := range k.ops {
		if !k.drop[i] {
			if o, ok := jepsenOperation(spec, &k.ops[i], k.orig[i], end); ok {
				out = append(out, o)
			}
		}
	}
	return keyAnalysis{ops: out}
}

// where words a get, for explanations.
func (k *jkvKey) where(i int) string {
	op := k.orig[i]
	return fmt.Sprintf("get of key %s by process %d (op %d) returned %s", strconv.Quote(k.key), op.Process, op.Index, jepsenClip(strconv.Quote(jepsenDeref(op.Value))))
}

// impossible finds, on a key without appends, the gets no linearization
// explains on their own: a value no put that did not fail wrote, or one
// written only by a put invoked after the get returned.
func (k *jkvKey) impossible() []Anomaly {
	var out []Anomaly
	for i := range k.ops {
		if !k.okGet(i) {
			continue
		}
		r, m := k.orig[i], k.match[i]
		a := Anomaly{Key: k.key, Ops: []int{r.Index}, Time: r.Call}
		switch {
		case m.ways == 0:
			a.Kind = KindUnexpectedValue
			a.Explanation = fmt.Sprintf("%s, a value no operation wrote", k.where(i))
			if w, ok := k.failed[jepsenDeref(r.Value)]; ok {
				a.Kind, a.Ops = KindFailedWriteSeen, append(a.Ops, k.orig[w].Index)
				a.Explanation = fmt.Sprintf("%s, written only by op %d, which failed", k.where(i), k.orig[w].Index)
			}
		case m.ways == 1 && m.start >= 0 && k.ops[m.start].Call > r.Return:
			w := k.orig[m.start]
			a.Kind, a.Ops = KindFutureRead, append(a.Ops, w.Index)
			a.Explanation = fmt.Sprintf("%s, written only by op %d (%s), invoked after the get had returned", k.where(i), w.Index, describeJepsenOp(w))
		default:
			continue
		}
		out = append(out, a)
	}
	return out
}

// prune changes the operations the search gets, never the key's verdict.
// A write in some get's one way happened before that get returned, in
// every linearization: it becomes acknowledged (if it was indeterminate),
// ending no later than the first such get returned. An indeterminate write
// no get can have seen is dropped: it can always be linearized after
// everything else, and wherever a linearization puts it, the states it
// changes, up to the next put, are read by no get, so the same order
// without it still holds.
func (k *jkvKey) prune() {
	for i := range k.ops {
		if !k.okGet(i) || k.match[i].ways != 1 {
			continue
		}
		for _, w := range k.match[i].writes() {
			if r, ok := k.seenBy[w]; !ok || k.ops[i].Return < k.ops[r].Return {
				k.seenBy[w] = i
			}
		}
	}
	for w, r := range k.seenBy {
		op := &k.ops[w]
		op.Return = max(op.Call, min(op.Return, k.ops[r].Return))
		op.Type = history.OK
	}
	for i := range k.ops {
		op := &k.ops[i]
		if op.Type == history.Info && (op.F == jepsenPut || op.F == jepsenAppend) && !k.maySee(jepsenDeref(op.Value)) {
			k.drop[i] = true
		}
	}
}

// maySee reports whether a get whose string matches several ways can have
// seen value v: on a key without appends it returned exactly v; with
// appends it contains v. (A get with one way saw exactly its writes; one
// with no way has no linearization with or without the write.) Past the
// budget it answers yes, which keeps the write.
func (k *jkvKey) maySee(v string) bool {
	for _, s := range k.ambiguous {
		if k.work += len(s); k.work > jkvBudget {
			return true
		}
		if (!k.hasAppends && s == v) || (k.hasAppends && strings.Contains(s, v)) {
			return true
		}
	}
	return false
}

// stale finds, on a key without appends, the gets that missed a write
// certainly between the put they saw and themselves: a get's one way is
// put p (or the initial state), and another put w was invoked after p had
// returned (or been seen) and returned (or was seen) before the get was
// invoked. Every linearization then puts w after p and before the get,
// which would see w's value or a later one.
func (k *jkvKey) stale() []Anomaly {
	var done, gets []int // puts that happened (after pruning), by Return; gets with one way, by Call
	for i := range k.ops {
		switch {
		case k.okGet(i) && k.match[i].ways == 1:
			gets = append(gets, i)
		case k.ops[i].F == jepsenPut && k.ops[i].Type == history.OK:
			done = append(done, i)
		}
	}
	sort.Slice(done, func(a, b int) bool { return k.ops[done[a]].Return < k.ops[done[b]].Return })
	sort.Slice(gets, func(a, b int) bool { return k.ops[gets[a]].Call < k.ops[gets[b]].Call })
	// latest are the two latest invoked of the puts done so far, latest
	// first: one of them may be the get's own put.
	var latest []int
	var out []Anomaly
	j := 0
	for _, g := range gets {
		for ; j < len(done) && k.ops[done[j]].Return < k.ops[g].Call; j++ {
			latest = latestTwo(k.ops, latest, done[j])
		}
		p := k.match[g].start
		for _, w := range latest {
			if w == p {
				continue
			}
			if p < 0 || k.ops[p].Return < k.ops[w].Call {
				out = append(out, k.staleAnomaly(g, w))
			}
			break
		}
	}
	return out
}

// latestTwo adds w to the two latest invoked, latest first.
func latestTwo(ops []Op, latest []int, w int) []int {
	at := sort.Search(len(latest), func(i int) bool { return ops[latest[i]].Call < ops[w].Call })
	latest = slices.Insert(latest, at, w)
	return latest[:min(len(latest), 2)]
}

// finished says how write i is known to have happened by its pruned
// Return: "returned", or "been seen by op N" when a get saw it earlier.
func (k *jkvKey) finished(i int) string {
	if r, ok := k.seenBy[i]; ok && k.ops[r].Return < k.orig[i].Return {
		return fmt.Sprintf("been seen by op %d", k.orig[r].Index)
	}
	return "returned"
}

func (k *jkvKey) staleAnomaly(g, w int) Anomaly {
	r, p := k.orig[g], k.match[g].start
	a := Anomaly{Kind: KindStaleRead, Key: k.key, Ops: []int{r.Index, k.orig[w].Index}, Time: r.Call}
	saw, after := "the key's initial state", ""
	if p >= 0 {
		a.Ops = append(a.Ops, k.orig[p].Index)
		saw = fmt.Sprintf("written only by op %d (%s)", k.orig[p].Index, describeJepsenOp(k.orig[p]))
		after = fmt.Sprintf(", invoked after op %d had %s,", k.orig[p].Index, k.finished(p))
	}
	a.Explanation = fmt.Sprintf("%s, %s; but op %d (%s)%s had %s before the get was invoked, so every order puts its put between that value and the get",
		k.where(g), saw, k.orig[w].Index, describeJepsenOp(k.orig[w]), after, k.finished(w))
	return a
}
