package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// procFake is a fakeTarget whose processes can be killed and paused.
type procFake struct {
	*fakeTarget
	down, paused map[string]bool
}

func newProcFake(n int) *procFake {
	return &procFake{fakeTarget: newFake(n), down: map[string]bool{}, paused: map[string]bool{}}
}

func (f *procFake) set(m map[string]bool, node string, v bool, what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("%s %s", what, node)
	m[node] = v
	return nil
}

func (f *procFake) KillNode(n string) error   { return f.set(f.down, n, true, "kill") }
func (f *procFake) StartNode(n string) error  { return f.set(f.down, n, false, "start") }
func (f *procFake) PauseNode(n string) error  { return f.set(f.paused, n, true, "pause") }
func (f *procFake) ResumeNode(n string) error { return f.set(f.paused, n, false, "resume") }
func (f *procFake) Corrupt(n string, rng *rand.Rand, types []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down[n] {
		return nil, fmt.Errorf("%s corrupted while running", n)
	}
	f.log("corrupt %s", n)
	return map[string]string{"file": "x.blk"}, nil
}

func (f *procFake) DropUnsynced(n string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down[n] {
		return 0, fmt.Errorf("%s dropped its data while running", n)
	}
	f.log("drop %s", n)
	return 42, nil
}

func TestPickTargets(t *testing.T) {
	leader := func() (string, error) { return "n4", nil }
	meta := func() (string, error) { return "n2", nil }
	for _, tc := range []struct {
		target string
		nodes  int
		want   int
	}{
		{TargetOne, 5, 1}, {TargetMinority, 5, 2}, {TargetMinority, 3, 1}, {TargetMajority, 5, 3},
		{TargetMajority, 3, 2}, {TargetAll, 5, 5}, {TargetLeader, 5, 1}, {TargetMetaLeader, 5, 1},
	} {
		nodes := newFake(tc.nodes).nodes
		for seed := range uint64(20) {
			got, err := PickTargets(tc.target, nodes, rand.New(rand.NewPCG(seed, 1)), leader, meta)
			if err != nil || len(got) != tc.want {
				t.Fatalf("%s of %d nodes: %v %v, want %d nodes", tc.target, tc.nodes, got, err, tc.want)
			}
			if tc.target == TargetLeader && got[0] != "n4" || tc.target == TargetMetaLeader && got[0] != "n2" {
				t.Fatalf("%s hit %v", tc.target, got)
			}
		}
	}
	if _, err := PickTargets(TargetMinority, []string{"n1", "n2"}, rand.New(rand.NewPCG(1, 1)), leader, meta); err == nil {
		t.Fatal("a minority of 2 nodes was picked")
	}
	noLeader := func() (string, error) { return "", errors.New("no leader") }
	if _, err := PickTargets(TargetLeader, []string{"n1", "n2", "n3"}, rand.New(rand.NewPCG(1, 1)), noLeader, meta); err == nil {
		t.Fatal("the leader target hit a node while no leader was known")
	}
}

// Every kill is followed by a restart and every pause by a resume of the
// same nodes, and the history names the nodes hit.
func TestProcessFaultsHeal(t *testing.T) {
	f := newProcFake(3)
	interval := 30 * time.Millisecond
	var buf []string
	o := testOpts{Faults: []string{FaultKill, FaultPause}, Interval: interval, Stream: "S", Seed: 4,
		Targets: []string{TargetOne, TargetMajority, TargetLeader}}
	evs := run(t, f, o, 14*interval)
	for node, down := range f.down {
		if down {
			t.Errorf("%s still down after Run returned", node)
		}
	}
	for node, p := range f.paused {
		if p {
			t.Errorf("%s still paused after Run returned", node)
		}
	}
	starts, stops, _ := windows(t, evs)
	if starts[FaultKill]+starts[FaultPause] < 3 || starts[FaultKill] != stops[FaultKill] || starts[FaultPause] != stops[FaultPause] {
		t.Fatalf("starts %v stops %v", starts, stops)
	}
	for _, e := range evs {
		if e.Fault != nil && (e.F == FaultKill || e.F == FaultPause) {
			if len(e.Fault.Nodes) == 0 || !slices.Contains(o.Targets, e.Fault.Shape) {
				t.Fatalf("fault event %+v names no nodes or target", e.Fault)
			}
			buf = append(buf, e.Fault.Describe(e.F))
		}
	}
	t.Log(buf)
}
