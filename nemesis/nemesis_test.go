package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// fakeCluster records what the nemesis did to it.
type fakeCluster struct {
	mu      sync.Mutex
	nodes   []string
	leader  string
	calls   []string
	cut     bool
	noLeads int // StreamLeader fails this many times first
}

func (f *fakeCluster) NodeNames() []string { return f.nodes }

func (f *fakeCluster) Partition(groups [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("partition %v", groups))
	f.cut = true
}

func (f *fakeCluster) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "heal")
	f.cut = false
}

func (f *fakeCluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noLeads > 0 {
		f.noLeads--
		return "", errors.New("election in progress")
	}
	return f.leader, nil
}

func run(t *testing.T, c *fakeCluster, o Options, limit time.Duration) []history.Event {
	t.Helper()
	var buf bytes.Buffer
	rec := history.NewRecorder(&buf)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := New(c, rec, o).Run(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return h.Events
}

func TestScheduleHealsEveryFaultAndEndsQuiet(t *testing.T) {
	c := &fakeCluster{nodes: []string{"n1", "n2", "n3"}, leader: "n2"}
	interval := 40 * time.Millisecond
	events := run(t, c, Options{Faults: []string{FaultPartition}, Interval: interval, Stream: "S", Seed: 1}, 10*interval)
	if c.cut {
		t.Fatal("a partition is still in place after Run returned")
	}
	starts, stops := 0, 0
	var lastStop int64
	for _, e := range events {
		if e.Process != history.Nemesis || e.Type != history.Info {
			continue
		}
		switch e.Fault.Action {
		case history.FaultStart:
			starts++
			if len(e.Fault.Groups) != 2 || len(e.Fault.Nodes) == 0 {
				t.Fatalf("start event without its shape: %+v", e.Fault)
			}
		case history.FaultStop:
			stops++
			lastStop = e.Time
		}
	}
	if starts < 2 || starts != stops {
		t.Fatalf("%d starts, %d stops; want at least 2, all healed", starts, stops)
	}
	// The last heal leaves at least two fifths of an interval before the end.
	if end := int64(10 * interval); end-lastStop < int64(2*interval/5) {
		t.Fatalf("last heal at %s leaves %s of quiet before %s", time.Duration(lastStop), time.Duration(end-lastStop), time.Duration(end))
	}
}

func TestSameSeedSameSchedule(t *testing.T) {
	shapes := func(seed uint64) []string {
		c := &fakeCluster{nodes: []string{"n1", "n2", "n3", "n4", "n5"}, leader: "n4"}
		run(t, c, Options{Faults: []string{FaultPartition}, Interval: 10 * time.Millisecond, Stream: "S", Seed: seed}, 200*time.Millisecond)
		var parts []string
		for _, call := range c.calls {
			if strings.HasPrefix(call, "partition") {
				parts = append(parts, call)
			}
		}
		return parts[:min(len(parts), 5)]
	}
	a, b, other := shapes(9), shapes(9), shapes(10)
	if len(a) < 5 || !slices.Equal(a, b) {
		t.Fatalf("seed 9 gave %v then %v", a, b)
	}
	if slices.Equal(a, other) {
		t.Fatalf("seeds 9 and 10 gave the same schedule %v", a)
	}
}

func TestShapes(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, tc := range []struct {
		shape    string
		isolated int
	}{{ShapeOne, 1}, {ShapeHalves, 2}, {ShapeLeader, 1}} {
		t.Run(tc.shape, func(t *testing.T) {
			c := &fakeCluster{nodes: nodes, leader: "n4", noLeads: 2}
			events := run(t, c, Options{Faults: []string{FaultPartition}, Shapes: []string{tc.shape}, Interval: 20 * time.Millisecond, Stream: "S"}, 800*time.Millisecond)
			found := false
			for _, e := range events {
				if e.Process != history.Nemesis || e.Fault.Action != history.FaultStart || e.Type != history.Info {
					continue
				}
				found = true
				g := e.Fault.Groups
				if e.Fault.Shape != tc.shape || len(g[0]) != tc.isolated || len(g[0])+len(g[1]) != len(nodes) {
					t.Fatalf("shape %s gave groups %v", e.Fault.Shape, g)
				}
				if tc.shape == ShapeLeader && g[0][0] != "n4" {
					t.Fatalf("leader shape isolated %v, want the leader n4", g[0])
				}
			}
			if !found {
				t.Fatal("no fault injected")
			}
		})
	}
}
