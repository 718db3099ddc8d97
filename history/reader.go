package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
func Scan(r io.Reader, fn func(*Event) error) (truncated bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var pendingErr error
	decoded := 0
	var e Event
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return false, fmt.Errorf("read history: %w", err)
		}
		if pendingErr != nil {
			// The bad line was not the last one.
			return false, pendingErr
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		e = Event{}
		if perr := decodeEvent(b, &e); perr != nil {
			pendingErr = fmt.Errorf("%w: line %d: %v", ErrMalformed, line, perr)
			continue
		}
		decoded++
		if err := fn(&e); err != nil {
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

func decodeEvent(b []byte, e *Event) error {
	if err := json.Unmarshal(b, e); err != nil {
		return err
	}
	if !e.Type.Valid() {
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	if e.F == "" {
		return errors.New(`missing "f"`)
	}
	return nil
}
