package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/synth"
)

// TestTimelessHistoriesHaveNoStats: an EDN history without :time has only
// positions for times, so rates and latencies are left out of the result
// (and of results.json), while the same history with :time has them.
func TestTimelessHistoriesHaveNoStats(t *testing.T) {
	g := synth.JepsenKV(synth.JepsenKVConfig{Ops: 2000, Keys: 4, Clients: 8, InfoFrac: 0.05, Seed: 3})
	for _, times := range []bool{false, true} {
		var buf bytes.Buffer
		if err := synth.WriteEDN(&buf, g.Events, times); err != nil {
			t.Fatal(err)
		}
		h, err := history.ReadJepsen(&buf)
		if err != nil {
			t.Fatal(err)
		}
		r := CheckHistory(context.Background(), h, Options{})
		if r.Valid != Valid || r.Timeless == times || r.Ops.OK == 0 {
			t.Fatalf(":time %v: %v, timeless %v, ops %+v", times, r.Valid, r.Timeless, r.Ops)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		hasStats := strings.Contains(string(b), `"stats"`)
		if times != hasStats || !strings.Contains(string(b), `"ops"`) {
			t.Errorf(":time %v: stats in results.json %v, want %v", times, hasStats, times)
		}
		if times && (r.Stats.Seconds <= 0 || r.Stats.OKPerSecond <= 0) {
			t.Errorf("with :time: stats %+v", r.Stats)
		}
		back, err := Load(b)
		if err != nil || back.Ops != r.Ops || back.Timeless != r.Timeless {
			t.Errorf(":time %v: results.json read back as %+v (%v)", times, back, err)
		}
	}
}

// TestInterruptedChecksAreUnknown: a check whose context ended is at best
// unknown, whether it ended while the history was read (nothing checked) or
// after.
func TestInterruptedChecksAreUnknown(t *testing.T) {
	events := synth.KV(5000, 10, 4, 0, 1)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	r, err := CheckReader(context.Background(), bytes.NewReader(buf.Bytes()), Options{})
	if err != nil || r.Valid != Valid || r.Interrupted {
		t.Fatalf("whole check: %v, %v, interrupted %v", err, r.Valid, r.Interrupted)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err = CheckReader(ctx, bytes.NewReader(buf.Bytes()), Options{})
	if err != nil || r.Valid != Unknown || !r.Interrupted || len(r.Checkers) != 0 || r.Ops.OK+r.Ops.Info >= 5000 {
		t.Errorf("check stopped while reading: %v, %v, interrupted %v, %d checkers, ops %+v", err, r.Valid, r.Interrupted, len(r.Checkers), r.Ops)
	}
	if r := CheckHistory(ctx, &history.History{Events: events}, Options{}); r.Valid != Unknown || !r.Interrupted {
		t.Errorf("check with an ended context: %v, interrupted %v", r.Valid, r.Interrupted)
	}
	if r := CheckHistory(ctx, &history.History{Events: events, Interrupted: true}, Options{}); r.Valid != Unknown || len(r.Checkers) != 0 {
		t.Errorf("check of a history whose reading was interrupted: %v, %d checkers", r.Valid, len(r.Checkers))
	}
}
