package nemesis

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/node/proxy"
	"github.com/jetsam-dev/jetsam/param"
)

// fakeRaft is a cluster whose links read Raft: its append entries carrying
// the trigger's entry pass after a while, sent by another node than the
// leader the nemesis asks for.
type fakeRaft struct {
	*fakeTarget
	after  time.Duration // when the trigger's entry passes
	sender string
	rules  [][][2]string // the pairs of every rule set
}

func (f *fakeRaft) SetRaftRule(pairs [][2]string, rule *proxy.RaftRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rule != nil {
		f.rules = append(f.rules, pairs)
	}
}

func (f *fakeRaft) WatchRaft(ctx context.Context, groups []string, entry byte) (proxy.RaftEvent, error) {
	select {
	case <-time.After(f.after):
		return proxy.RaftEvent{From: f.sender, To: "n2", Group: groups[0], Kind: proxy.KindAppend, Entries: []byte{entry}}, nil
	case <-ctx.Done():
		return proxy.RaftEvent{}, ctx.Err()
	}
}

func (f *fakeRaft) RaftGroups(context.Context, string, []string) ([]string, error) {
	return []string{"S-group"}, nil
}

func (f *fakeRaft) RouteCounts(context.Context) map[string]int { return map[string]int{"n1": 2} }

func raftRun(t *testing.T, f *fakeRaft, wait time.Duration) []*history.Fault {
	t.Helper()
	var buf bytes.Buffer
	rec := history.NewRecorder(&buf)
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	o := Options{Stream: "S", Seed: 1, Clients: f.clients}
	o.Nemesis, o.NemesisInterval = []string{FaultRaft}, param.Duration(200*time.Millisecond)
	o.Targets, o.RaftFaults, o.RaftTrigger, o.RaftTriggerWait = []string{TargetLeader}, []string{RaftIsolate}, "add-peer", param.Duration(wait)
	if err := New(f, rec, o).Run(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var starts []*history.Fault
	for _, e := range h.Events {
		if e.Process == history.Nemesis && e.Fault != nil && e.Fault.Action == history.FaultStart {
			starts = append(starts, e.Fault)
		}
	}
	return starts
}

func TestRaftTriggerAimsAtTheSenderAndWaitsAsLongAsTold(t *testing.T) {
	// The entry passes 300ms after the fault starts waiting: past one
	// interval (200ms), so without a longer wait every fault is skipped.
	f := &fakeRaft{fakeTarget: newFake(3), after: 300 * time.Millisecond, sender: "n3"}
	if starts := raftRun(t, f, 0); len(starts) != 0 {
		t.Fatalf("a trigger later than the interval started %d faults: %+v", len(starts), starts[0])
	}
	f = &fakeRaft{fakeTarget: newFake(3), after: 300 * time.Millisecond, sender: "n3"}
	starts := raftRun(t, f, 400*time.Millisecond)
	if len(starts) == 0 {
		t.Fatal("a trigger within --raft-trigger-wait started no fault")
	}
	// The leader asked before the wait is n1; the entry came from n3.
	if got := starts[0].Nodes; len(got) != 1 || got[0] != "n3" {
		t.Fatalf("the fault names %v, not the trigger's sender n3", got)
	}
	if len(f.rules) == 0 {
		t.Fatal("no raft rule was set")
	}
	for _, p := range f.rules[0] {
		if p[0] != "n3" && p[1] != "n3" {
			t.Fatalf("the rule hit %v, not the trigger's sender n3: %v", p, f.rules[0])
		}
	}
	if starts[0].Params["picked"] != "n1" {
		t.Fatalf("the fault does not say which leader was picked before the wait: %v", starts[0].Params)
	}
}

func TestRaftTriggerWaitIsBounded(t *testing.T) {
	for _, w := range []time.Duration{-time.Second, 11 * time.Minute} {
		s := &FaultSettings{RaftSettings: RaftSettings{RaftTriggerWait: param.Duration(w)}}
		if err := (raftFault{}).Validate(s, 3); err == nil {
			t.Fatalf("--raft-trigger-wait %s accepted", w)
		}
	}
}
