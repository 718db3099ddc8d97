package checker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/fuzzseed"
)

// fuzzOpts bound a fuzzed check's search, so that every input is decided
// (or left unknown) within seconds.
var fuzzOpts = checker.Options{Timeout: time.Second}

// FuzzCheckReader checks any bytes end to end, as `jetsam check` does a
// history file: a verdict or an error about the content, never a panic,
// and the diagrams of the failing keys drawn as a report draws them.
func FuzzCheckReader(f *testing.F) {
	seeds, err := fuzzseed.Histories()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := checker.CheckReader(context.Background(), bytes.NewReader(b), fuzzOpts)
		if err != nil {
			if !errors.Is(err, history.ErrMalformed) {
				t.Fatalf("an error not about content: %v", err)
			}
			return
		}
		h, err := history.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("checked, yet not readable: %v", err)
		}
		judged(t, res, h)
	})
}

// FuzzCheckJepsen checks any bytes as a Jepsen history, as `jetsam check
// --format jepsen` does.
func FuzzCheckJepsen(f *testing.F) {
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
		judged(t, checker.CheckHistory(context.Background(), h, fuzzOpts), h)
	})
}

// judged fails unless res is a whole verdict on h, and draws the
// diagrams of its failing keys.
func judged(t *testing.T, res *checker.Result, h *history.History) {
	t.Helper()
	if res.Valid != checker.Valid && res.Valid != checker.Invalid && res.Valid != checker.Unknown {
		t.Fatalf("verdict %d", res.Valid)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	ops := checker.Pair(h.Events)
	for _, name := range []string{checker.WorkloadKV, checker.WorkloadKVDirect} {
		c := res.Checkers[name]
		if c == nil {
			continue
		}
		for i, key := range c.FailingKeys {
			if i == 2 {
				break
			}
			if err := checker.VisualizeKV(io.Discard, checker.KVOps(ops, name == checker.WorkloadKVDirect), key, 0, time.Second); err != nil {
				t.Logf("diagram of %q: %v", key, err)
			}
		}
	}
}
