package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Importing Jepsen histories. jetsam's checkers are proven on histories with
// known verdicts, and the public ones are Jepsen's: the text logs of the etcd
// register tests and EDN op maps of key-value tests. ReadJepsen turns either
// into jetsam events so the same Pair and checkers run on them.

// Workloads of imported Jepsen histories.
const (
	// WorkloadRegister is a single register: read, write, and cas [old new]
	// on integer values (kept as decimal strings).
	WorkloadRegister = "register"
	// WorkloadAppendKV is a key-value map of strings: get, put, append.
	WorkloadAppendKV = "append-kv"
)

// jepsenNemesisF is the f of every imported nemesis event. Jepsen names the
// start and the stop of a fault with different fs; one shared f lets Faults
// pair them into a window (the Jepsen f is kept in Fault.Params["f"]).
const jepsenNemesisF = "nemesis"

// ReadJepsen reads a Jepsen history: either the text log Jepsen writes while
// running ("INFO  jepsen.util - 3	:invoke	:write	4"), or EDN op maps one per
// line ({:process 0, :type :invoke, :f :put, :key "0", :value "x"}). The
// format is taken from the first non-blank line: a map means EDN.
//
// Jepsen logs carry no usable times, so an event's Time is its index and
// the history is Timeless: the log is written in real-time order, so line
// order is a valid clock. EDN op maps that all carry a :time (nanoseconds,
// never decreasing) keep it as their Time.
func ReadJepsen(r io.Reader) (*History, error) {
	return ReadJepsenContext(context.Background(), r)
}

// ReadJepsenContext is ReadJepsen that stops once ctx ends, returning what
// it read so far, marked Interrupted.
func ReadJepsenContext(ctx context.Context, r io.Reader) (*History, error) {
	lines, err := readLines(ctx, r)
	if err != nil {
		return nil, err
	}
	h := &History{Interrupted: ctx.Err() != nil}
	first := -1
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			first = i
			break
		}
	}
	if first < 0 {
		return h, nil // an empty history: nothing happened, which is not malformed
	}
	p := jepsenParser{h: h}
	edn := strings.HasPrefix(strings.TrimSpace(lines[first]), "{") ||
		strings.HasPrefix(strings.TrimSpace(lines[first]), "#")
	for i, l := range lines {
		if i%4096 == 0 && ctx.Err() != nil {
			h.Interrupted = true
			break
		}
		var err error
		if edn {
			err = p.ednLine(l)
		} else {
			err = p.textLine(l)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
		}
	}
	if len(h.Events) == 0 && !h.Interrupted {
		// A text file none of whose lines is an operation is not a Jepsen
		// history: saying so beats checking nothing and calling it valid.
		return nil, fmt.Errorf("%w: line %d: no Jepsen operations in the file", ErrMalformed, first+1)
	}
	p.setTimes()
	return h, nil
}

// readLines reads every line, until ctx ends.
func readLines(ctx context.Context, r io.Reader) ([]string, error) {
	return readLinesMax(ctx, r, MaxLine)
}

func readLinesMax(ctx context.Context, r io.Reader, maxLine int) ([]string, error) {
	lr := NewLineReader(r, maxLine)
	var lines []string
	for {
		if len(lines)%4096 == 0 && ctx.Err() != nil {
			return lines, nil
		}
		b, cut, err := lr.Next()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read jepsen history: %w", err)
		}
		if cut {
			return nil, fmt.Errorf("%w: line %d is longer than %s: this is not a Jepsen history", ErrMalformed, lr.Line(), size(maxLine))
		}
		lines = append(lines, string(b))
	}
}

// maxJepsenTime bounds the :time taken as a clock, as jetsam's own times
// are bounded.
const maxJepsenTime = MaxTime

// setTimes gives every event its time: its :time when every event had
// one and they never decrease, else its index, and then the history is
// Timeless. Either way the times keep the file's order.
func (p *jepsenParser) setTimes() {
	real := len(p.times) == len(p.h.Events) && len(p.times) > 0
	for i := 1; real && i < len(p.times); i++ {
		real = p.times[i] >= p.times[i-1]
	}
	for i := range p.h.Events {
		if real {
			p.h.Events[i].Time = p.times[i]
		} else {
			p.h.Events[i].Time = int64(i)
		}
	}
	p.h.Timeless = !real
}

// jepsenOp is one operation line before it becomes an event.
type jepsenOp struct {
	process string // a non-negative integer or ":nemesis"
	typ     string // keyword name without the colon
	f       string
	key     *ednValue
	value   *ednValue
	err     string
	time    *int64 // :time, in nanoseconds
}

type jepsenParser struct {
	h *History
	// nemesisPending: the nemesis has an operation in flight. Jepsen logs
	// the nemesis's invocations as :info too, so alternation decides which
	// line invokes and which completes.
	nemesisPending bool
	// times are the events' :time values, while every event has had one.
	times []int64
}

// textLine parses one line of a Jepsen log. Only jepsen.util lines that
// start with a process are operations; the rest of the log (other loggers,
// stack traces) is skipped.
func (p *jepsenParser) textLine(line string) error {
	const marker = "jepsen.util - "
	i := strings.Index(line, marker)
	if i < 0 {
		return nil
	}
	rest := strings.TrimSpace(line[i+len(marker):])
	proc, rest := nextField(rest)
	if !isProcessToken(proc) {
		return nil // a log message, not an operation
	}
	typ, rest := nextField(rest)
	if !strings.HasPrefix(typ, ":") {
		return nil
	}
	f, rest := nextField(rest)
	if f == "" {
		return fmt.Errorf("operation without f: %q", line)
	}
	op := jepsenOp{process: proc, typ: strings.TrimPrefix(typ, ":"), f: strings.TrimPrefix(f, ":")}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		d := ednDecoder{s: rest}
		v, err := d.value()
		if err != nil {
			return fmt.Errorf("value of %q: %v", line, err)
		}
		op.value = &v
		// Jepsen appends the error, if any, after a tab.
		op.err = strings.TrimSpace(d.s[d.i:])
	}
	return p.add(op)
}

// ednLine parses one op map.
func (p *jepsenParser) ednLine(line string) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	d := ednDecoder{s: line}
	v, err := d.value()
	if err != nil {
		return err
	}
	d.skipSpace()
	if d.i < len(d.s) {
		return fmt.Errorf("text after the op map: %q", d.s[d.i:])
	}
	if v.kind != ednMap {
		return fmt.Errorf("not an op map: %q", line)
	}
	var op jepsenOp
	for k := 0; k+1 < len(v.items); k += 2 {
		key, val := v.items[k], v.items[k+1]
		if key.kind != ednKeyword {
			return fmt.Errorf("map key %s is not a keyword", key)
		}
		switch key.s {
		case "process":
			op.process = val.String()
			if val.kind == ednKeyword {
				op.process = ":" + val.s
			}
		case "type":
			if val.kind != ednKeyword {
				return fmt.Errorf(":type %s is not a keyword", val)
			}
			op.typ = val.s
		case "f":
			if val.kind != ednKeyword && val.kind != ednString {
				return fmt.Errorf(":f %s is not a keyword", val)
			}
			op.f = val.s
		case "key":
			op.key = &val
		case "value":
			op.value = &val
		case "error":
			op.err = val.plain()
		case "time":
			t, err := strconv.ParseInt(val.s, 10, 64)
			if val.kind != ednInt || err != nil {
				return fmt.Errorf(":time %s is not an integer", val)
			}
			op.time = &t
		}
	}
	switch {
	case op.process == "":
		return errors.New("op map without :process")
	case op.typ == "":
		return errors.New("op map without :type")
	case op.f == "":
		return errors.New("op map without :f")
	}
	return p.add(op)
}

// add turns an operation into an event.
func (p *jepsenParser) add(op jepsenOp) error {
	typ := Type(op.typ)
	if !typ.Valid() {
		return fmt.Errorf("unknown type :%s", op.typ)
	}
	e := Event{Index: len(p.h.Events), Type: typ, Error: op.err}
	if op.time != nil && *op.time >= 0 && *op.time <= maxJepsenTime && len(p.times) == len(p.h.Events) {
		p.times = append(p.times, *op.time)
	}
	if op.process == ":nemesis" {
		p.addNemesis(&e, op)
		return nil
	}
	n, err := strconv.Atoi(op.process)
	if err != nil || n < 0 {
		return fmt.Errorf("process %s is neither a non-negative integer nor :nemesis", op.process)
	}
	e.Process = Process(n)
	e.F = op.f
	switch op.f {
	case FRead, FWrite, FCAS:
		e.Workload = WorkloadRegister
	case "get", "put", "append":
		e.Workload = WorkloadAppendKV
	default:
		return fmt.Errorf("unsupported operation :%s (only register read/write/cas and key-value get/put/append)", op.f)
	}
	if op.key != nil && op.key.kind != ednNil {
		k, ok := op.key.scalar()
		if !ok {
			return fmt.Errorf("key %s is not a string or integer", op.key)
		}
		e.Key = k
	}
	if err := setJepsenValue(&e, op.value); err != nil {
		return err
	}
	p.h.Events = append(p.h.Events, e)
	return nil
}

// setJepsenValue fills Value (and Expect, for cas) from the op's value.
func setJepsenValue(e *Event, v *ednValue) error {
	if v == nil || v.kind == ednNil {
		if e.Type == Invoke && (e.F == FWrite || e.F == "put" || e.F == "append" || e.F == FCAS) {
			return fmt.Errorf("%s without a value", e.F)
		}
		return nil
	}
	if v.kind == ednKeyword && e.Type != Invoke {
		// A completion's keyword is why it failed or is unknown
		// (:timed-out), not a value.
		if e.Error == "" {
			e.Error = v.s
		} else {
			e.Error = v.s + ": " + e.Error
		}
		return nil
	}
	if e.F == FCAS {
		if v.kind != ednVector || len(v.items) != 2 {
			return fmt.Errorf("cas value %s is not [old new]", v)
		}
		if v.items[0].kind != ednNil {
			old, ok := v.items[0].scalar()
			if !ok {
				return fmt.Errorf("cas old value %s is not a string or integer", v.items[0])
			}
			e.Expect = &old
		}
		nv, ok := v.items[1].scalar()
		if !ok {
			return fmt.Errorf("cas new value %s is not a string or integer", v.items[1])
		}
		e.Value = &nv
		return nil
	}
	if e.Type == Invoke && (e.F == FRead || e.F == "get") {
		return nil // a read's invocation carries no value
	}
	s, ok := v.scalar()
	if !ok {
		return fmt.Errorf("value %s is not a string or integer", v)
	}
	e.Value = &s
	return nil
}

// addNemesis records a nemesis line as a fault event: start and stop open and
// close a window; anything else is an observation.
func (p *jepsenParser) addNemesis(e *Event, op jepsenOp) {
	e.Process = Nemesis
	e.F = jepsenNemesisF
	if e.Type == Invoke || !p.nemesisPending {
		e.Type = Invoke
		p.nemesisPending = true
		p.h.Events = append(p.h.Events, *e)
		return
	}
	p.nemesisPending = false
	action := FaultObserve
	switch op.f {
	case "start":
		action = FaultStart
	case "stop":
		action = FaultStop
	}
	params := map[string]string{"f": op.f}
	if op.value != nil && op.value.kind != ednNil {
		params["value"] = op.value.plain()
	}
	e.Fault = &Fault{Action: action, Params: params}
	p.h.Events = append(p.h.Events, *e)
}

// isProcessToken: a Jepsen process is an integer or :nemesis. Negative
// integers count, so that add reports them instead of skipping the line.
func isProcessToken(s string) bool {
	if s == ":nemesis" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// nextField splits off the first whitespace-separated field.
func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// A minimal EDN reader: enough for Jepsen op maps and the values in its
// logs (nil, booleans, integers, strings, keywords, vectors, lists, maps,
// tagged literals).

type ednKind int

const (
	ednNil ednKind = iota
	ednBool
	ednInt
	ednString
	ednKeyword
	ednSymbol // any other bare token, e.g. a float
	ednVector
	ednMap
)

type ednValue struct {
	kind ednKind
	// s is the text of a scalar: a string's contents, a keyword without its
	// colon, an integer's digits.
	s string
	// items are a vector's elements, or a map's keys and values alternating.
	items []ednValue
}

// scalar returns a string or integer value as a string.
func (v ednValue) scalar() (string, bool) {
	switch v.kind {
	case ednString, ednInt:
		return v.s, true
	}
	return "", false
}

// plain is a string's or keyword's text, or anything else as EDN.
func (v ednValue) plain() string {
	if v.kind == ednString || v.kind == ednKeyword {
		return v.s
	}
	return v.String()
}

// String writes v back as EDN, for messages and fault parameters.
func (v ednValue) String() string {
	switch v.kind {
	case ednNil:
		return "nil"
	case ednString:
		return strconv.Quote(v.s)
	case ednKeyword:
		return ":" + v.s
	case ednVector, ednMap:
		parts := make([]string, len(v.items))
		for i, it := range v.items {
			parts[i] = it.String()
		}
		if v.kind == ednMap {
			return "{" + strings.Join(parts, " ") + "}"
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return v.s
}

type ednDecoder struct {
	s     string
	i     int
	depth int
}

// maxEDNDepth bounds how deeply forms nest (a tag counts as a level): far
// beyond Jepsen's op maps, and well within the stack, which a line of
// millions of "[" would otherwise exhaust (a fatal error, not a panic).
const maxEDNDepth = 100

func (d *ednDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r', ',':
			d.i++
		default:
			return
		}
	}
}

// value reads one EDN form.
func (d *ednDecoder) value() (ednValue, error) {
	if d.depth++; d.depth > maxEDNDepth {
		return ednValue{}, fmt.Errorf("forms nested more than %d deep", maxEDNDepth)
	}
	defer func() { d.depth-- }()
	d.skipSpace()
	if d.i >= len(d.s) {
		return ednValue{}, errors.New("unexpected end of line")
	}
	switch c := d.s[d.i]; c {
	case '"':
		return d.str()
	case '[', '(':
		d.i++
		items, err := d.seq(map[byte]byte{'[': ']', '(': ')'}[c])
		return ednValue{kind: ednVector, items: items}, err
	case '{':
		d.i++
		items, err := d.seq('}')
		if err == nil && len(items)%2 != 0 {
			err = errors.New("map with an odd number of forms")
		}
		return ednValue{kind: ednMap, items: items}, err
	case '#':
		// A tagged literal (#jepsen.history.Op{...}): the tag does not
		// change what the form says.
		d.i++
		if d.i < len(d.s) && d.s[d.i] == '{' {
			return ednValue{}, errors.New("sets are not supported")
		}
		tag := d.token()
		if tag == "" {
			return ednValue{}, errors.New("empty tag")
		}
		return d.value()
	case ']', ')', '}':
		return ednValue{}, fmt.Errorf("unexpected %q", c)
	}
	tok := d.token()
	switch {
	case tok == "nil":
		return ednValue{kind: ednNil}, nil
	case tok == "true" || tok == "false":
		return ednValue{kind: ednBool, s: tok}, nil
	case strings.HasPrefix(tok, ":") && len(tok) > 1:
		return ednValue{kind: ednKeyword, s: tok[1:]}, nil
	}
	if n, err := strconv.ParseInt(strings.TrimSuffix(tok, "N"), 10, 64); err == nil {
		// Normalized, so that 04 and 4 are the same written value.
		return ednValue{kind: ednInt, s: strconv.FormatInt(n, 10)}, nil
	}
	if tok == "" || strings.ContainsAny(tok, "\"\\") {
		return ednValue{}, fmt.Errorf("unexpected %q", d.s[d.i:min(len(d.s), d.i+1)])
	}
	return ednValue{kind: ednSymbol, s: tok}, nil
}

// token reads a bare token up to a delimiter.
func (d *ednDecoder) token() string {
	start := d.i
	for d.i < len(d.s) && !strings.ContainsRune(" \t\r\n,[](){}\"", rune(d.s[d.i])) {
		d.i++
	}
	return d.s[start:d.i]
}

func (d *ednDecoder) seq(end byte) ([]ednValue, error) {
	var items []ednValue
	for {
		d.skipSpace()
		if d.i >= len(d.s) {
			return nil, fmt.Errorf("missing %q", end)
		}
		if d.s[d.i] == end {
			d.i++
			return items, nil
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
}

func (d *ednDecoder) str() (ednValue, error) {
	var b strings.Builder
	for d.i++; d.i < len(d.s); d.i++ {
		c := d.s[d.i]
		switch c {
		case '"':
			d.i++
			return ednValue{kind: ednString, s: b.String()}, nil
		case '\\':
			d.i++
			if d.i >= len(d.s) {
				return ednValue{}, errors.New("unterminated string")
			}
			switch e := d.s[d.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\':
				b.WriteByte(e)
			default:
				return ednValue{}, fmt.Errorf("unsupported escape \\%c", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return ednValue{}, errors.New("unterminated string")
}
