package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// History is a loaded history file.
type History struct {
	Events []Event
	// Truncated is set when the last line was torn (the writer died mid-line)
	// and was dropped.
	Truncated bool
	// Timeless: event times are positions in the file, not clock readings
	// (a Jepsen log, or EDN op maps without :time). They order the events,
	// but durations and rates drawn from them mean nothing.
	Timeless bool
	// Interrupted: reading stopped because its context ended, so the
	// events are only the start of the history.
	Interrupted bool
}

// ErrMalformed is wrapped by every error about a history's content.
var ErrMalformed = errors.New("malformed history")

// Load reads a history file.
func Load(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// Read parses a JSONL history. A last line that does not parse is taken to be
// torn by a crash and dropped; a bad line anywhere else is an error.
func Read(r io.Reader) (*History, error) {
	h := &History{}
	truncated, err := Scan(r, func(e *Event) error {
		h.Events = append(h.Events, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.Truncated = truncated
	return h, nil
}

// Scan decodes a JSONL history one event at a time, without keeping it:
// large histories are checked as they stream from disk. The event passed to
// fn is reused for the next line. It reports whether the last line was torn.
//
// Every event is checked before fn sees it (see checkEvent); a line that
// breaks a rule is an error wherever it is, and only a last line that is
// not complete JSON counts as torn. An error of fn that wraps ErrMalformed
// is returned naming the event's line.
func Scan(r io.Reader, fn func(*Event) error) (truncated bool, err error) {
	return scan(r, MaxLine, fn)
}

func scan(r io.Reader, maxLine int, fn func(*Event) error) (truncated bool, err error) {
	lr := NewLineReader(r, maxLine)
	var pendingErr error
	decoded := 0
	var e Event
	pending := map[Process]invocation{}
	for {
		b, cut, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, fmt.Errorf("read history: %w", err)
		}
		if pendingErr != nil {
			// The bad line was not the last one.
			return false, pendingErr
		}
		line := lr.Line()
		if cut {
			return false, fmt.Errorf("%w: line %d is longer than %s, far longer than any line jetsam writes: this is not a jetsam history",
				ErrMalformed, line, size(maxLine))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		torn, perr := decodeEvent(b, &e)
		if perr == nil {
			perr = paired(pending, &e, line)
		}
		if perr != nil {
			perr = fmt.Errorf("%w: line %d: %v: %s", ErrMalformed, line, perr, notWritten)
			if !torn {
				return false, perr
			}
			pendingErr = perr
			continue
		}
		decoded++
		if err := fn(&e); err != nil {
			if errors.Is(err, ErrMalformed) {
				err = &lineError{line: line, err: err}
			}
			return false, err
		}
	}
	if pendingErr != nil {
		if decoded == 0 {
			return false, pendingErr
		}
		return true, nil
	}
	return false, nil
}

// notWritten is what to do about a line jetsam would not write.
const notWritten = "jetsam never writes such a line: check the history as jetsam wrote it"

// size words a number of bytes.
func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// lineError is a callback's complaint about an event, placed at its line.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string {
	return fmt.Sprintf("%v: line %d: %s", ErrMalformed, e.line, strings.TrimPrefix(e.err.Error(), ErrMalformed.Error()+": "))
}

func (e *lineError) Unwrap() error { return e.err }

// MaxTime bounds event times: a week. The longest run is a day of
// --time-limit plus up to a day of --recover-timeout twice (the wait after
// the last heal and the final reads), so a week is far past any history,
// while it keeps what grows with a history's span bounded (the timeline of
// results.json has a bucket per second: 604,800 at most, about 19 MB).
const MaxTime = int64(7 * 24 * time.Hour)

// Values that JSON cannot leave in an event, to tell a missing field from
// a zero.
const (
	noIndex   = math.MinInt
	noTime    = math.MinInt64
	noProcess = Process(math.MinInt)
)

// decodeEvent decodes and checks one line. torn: the line is not complete
// JSON, as the last line of a history cut short by a crash is not.
func decodeEvent(b []byte, e *Event) (torn bool, err error) {
	*e = Event{Index: noIndex, Time: noTime, Process: noProcess}
	if err := json.Unmarshal(b, e); err != nil {
		var syntax *json.SyntaxError
		return errors.As(err, &syntax), err
	}
	return false, checkEvent(e)
}

// checkEvent checks the fields every event needs: its index, time, type,
// process and f. Workloads and their operations are the checker's to know.
func checkEvent(e *Event) error {
	switch {
	case e.Index == noIndex:
		return errors.New(`missing "index"`)
	case e.Index < 0:
		return fmt.Errorf("index %d is negative", e.Index)
	case e.Time == noTime:
		return errors.New(`missing "time"`)
	case e.Time < 0:
		return fmt.Errorf("time %d is negative (times count nanoseconds from the test's start)", e.Time)
	case e.Time > MaxTime:
		return fmt.Errorf("time %d is more than a week (%d ns) after the test's start", e.Time, MaxTime)
	case !e.Type.Valid():
		return fmt.Errorf("unknown event type %q", e.Type)
	case e.Process == noProcess:
		return errors.New(`missing "process"`)
	case e.F == "":
		return errors.New(`missing "f"`)
	}
	return nil
}

// invocation is a client's operation in flight.
type invocation struct {
	time int64
	line int
}

// paired checks that a client's completion is not earlier than its
// invocation. A client has one operation in flight at a time, so a
// completion belongs to its process's last invocation.
func paired(pending map[Process]invocation, e *Event, line int) error {
	if e.Process < 0 {
		return nil
	}
	if e.Type == Invoke {
		pending[e.Process] = invocation{time: e.Time, line: line}
		return nil
	}
	inv, ok := pending[e.Process]
	if !ok {
		return nil
	}
	delete(pending, e.Process)
	if e.Time < inv.time {
		return fmt.Errorf("process %d's %s completion at time %d is earlier than its invocation at %d (line %d)",
			e.Process, e.Type, e.Time, inv.time, inv.line)
	}
	return nil
}
