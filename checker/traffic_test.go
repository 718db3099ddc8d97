package checker

import (
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

// A fault's traffic ends at the counters read just before its heal (on
// the stop's invocation), not at those read after it, which include bytes
// of the healed link; a history with counters only after the heal still
// gives its traffic.
func TestFaultTrafficEndsBeforeTheHeal(t *testing.T) {
	links := func(fwd int64) []history.LinkStats {
		return []history.LinkStats{{From: "n1", To: "n2", BytesForward: fwd}}
	}
	start := &history.Fault{Action: history.FaultStart, Cuts: [][2]string{{"n1", "n2"}}}
	stop := &history.Fault{Action: history.FaultStop, Cuts: start.Cuts}
	ev := func(typ history.Type, tm int64, f *history.Fault, l []history.LinkStats) history.Event {
		return history.Event{Type: typ, Time: tm, Process: history.Nemesis, F: "partition", Fault: f, Links: l}
	}
	both := []history.Event{
		ev(history.Invoke, 1, start, nil), ev(history.Info, 2, start, links(100)),
		ev(history.Invoke, 3, stop, links(100)), ev(history.Info, 4, stop, links(900)),
	}
	w := Faults(both, nil)
	if len(w) != 1 || len(w[0].Traffic) != 1 || w[0].Traffic[0].BytesForward != 0 {
		t.Fatalf("traffic %+v, want 0 bytes forward while cut", w)
	}
	old := []history.Event{
		ev(history.Invoke, 1, start, nil), ev(history.Info, 2, start, links(100)),
		ev(history.Invoke, 3, stop, nil), ev(history.Info, 4, stop, links(150)),
	}
	if w := Faults(old, nil); len(w) != 1 || w[0].Traffic[0].BytesForward != 50 {
		t.Fatalf("traffic of an older history %+v, want 50 bytes forward", w)
	}
}
