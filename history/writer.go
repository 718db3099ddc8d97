package history

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder appends events to a history file as they happen. Each event is
// written with its own write call, so a crash of jetsam loses at most the
// event being written; the operating system keeps the rest.
type Recorder struct {
	start time.Time

	mu    sync.Mutex
	w     io.Writer
	c     io.Closer
	next  int
	buf   []byte
	err   error
	count [4]atomic.Int64 // by Type: invoke, ok, fail, info
}

// Create makes a history file at path and returns a recorder whose clock
// starts now.
func Create(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	r := NewRecorder(f)
	r.c = f
	return r, nil
}

// NewRecorder records to w, with its clock starting now.
func NewRecorder(w io.Writer) *Recorder {
	return &Recorder{start: time.Now(), w: w}
}

// Since returns the history time of t: nanoseconds since the recorder started.
func (r *Recorder) Since(t time.Time) int64 { return int64(t.Sub(r.start)) }

// Now returns the current history time.
func (r *Recorder) Now() int64 { return r.Since(time.Now()) }

// Start is the wall-clock time (with monotonic reading) the history started.
func (r *Recorder) Start() time.Time { return r.start }

// Record stamps e with the next index and the current time, writes it, and
// returns the stamped event. Stamping under the lock keeps index order and
// time order the same.
func (r *Recorder) Record(e Event) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Index = r.next
	e.Time = r.Now()
	r.next++
	r.count[typeSlot(e.Type)].Add(1)
	if r.err != nil {
		return e
	}
	b, err := json.Marshal(e)
	if err != nil {
		r.err = fmt.Errorf("encode history event: %w", err)
		return e
	}
	r.buf = append(append(r.buf[:0], b...), '\n')
	if _, err := r.w.Write(r.buf); err != nil {
		r.err = fmt.Errorf("write history: %w", err)
	}
	return e
}

// Counts returns how many events of each type have been recorded so far.
func (r *Recorder) Counts() (invoke, ok, fail, info int64) {
	return r.count[0].Load(), r.count[1].Load(), r.count[2].Load(), r.count[3].Load()
}

// Err reports the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close closes the underlying file, if the recorder opened one.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		return r.err
	}
	err := r.c.Close()
	r.c = nil
	if r.err != nil {
		return r.err
	}
	return err
}

func typeSlot(t Type) int {
	switch t {
	case OK:
		return 1
	case Fail:
		return 2
	case Info:
		return 3
	}
	return 0
}
