package history_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/fuzzseed"
)

// FuzzRead: any bytes are a history or an error about its content, never
// a panic; a history read keeps the rules every checker relies on.
func FuzzRead(f *testing.F) {
	seeds, err := fuzzseed.Histories()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte(`{"index":0,"time":1,"type":"invoke","process":0,"f":"read","workload":"kv"}` + "\n" + `{"index":1,"ti`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := history.Read(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, history.ErrMalformed) {
				t.Fatalf("an error not about content: %v", err)
			}
			return
		}
		invoked := map[history.Process]int64{}
		for _, e := range h.Events {
			if e.Time < 0 || e.Time > history.MaxTime || e.Index < 0 || !e.Type.Valid() || e.F == "" {
				t.Fatalf("event breaks the rules: %+v", e)
			}
			if e.Process < 0 {
				continue
			}
			if e.Type == history.Invoke {
				invoked[e.Process] = e.Time
			} else if at, ok := invoked[e.Process]; ok {
				if e.Time < at {
					t.Fatalf("completion at %d before its invocation at %d", e.Time, at)
				}
				delete(invoked, e.Process)
			}
		}
		n := 0
		if _, err := history.Scan(bytes.NewReader(b), func(*history.Event) error { n++; return nil }); err != nil || n != len(h.Events) {
			t.Fatalf("Scan saw %d events (%v), Read %d", n, err, len(h.Events))
		}
	})
}

// FuzzReadJepsen: any bytes are a Jepsen history or an error about its
// content, never a panic; times keep the file's order and stay in bounds.
func FuzzReadJepsen(f *testing.F) {
	for _, s := range fuzzseed.Jepsen() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := history.ReadJepsen(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, history.ErrMalformed) {
				t.Fatalf("an error not about content: %v", err)
			}
			return
		}
		for i, e := range h.Events {
			if e.Index != i || e.Time < 0 || e.Time > history.MaxTime || (i > 0 && e.Time < h.Events[i-1].Time) || !e.Type.Valid() {
				t.Fatalf("event %d breaks the rules: %+v", i, e)
			}
		}
	})
}
