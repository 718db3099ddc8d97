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
	br := bufio.NewReaderSize(r, 1<<20)
	h := &History{}
	var pendingErr error
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read history: %w", err)
		}
		if pendingErr != nil {
			// The bad line was not the last one.
			return nil, pendingErr
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var e Event
		if perr := decodeEvent(b, &e); perr != nil {
			pendingErr = fmt.Errorf("%w: line %d: %v", ErrMalformed, line, perr)
			continue
		}
		h.Events = append(h.Events, e)
	}
	if pendingErr != nil {
		if len(h.Events) == 0 {
			return nil, pendingErr
		}
		h.Truncated = true
	}
	return h, nil
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
