package nemesis

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// memberFake is a procFake whose membership can be changed: one stream
// with a replica count.
type memberFake struct {
	*procFake
	replicas int
}

func (f *memberFake) RemovePeer(_ context.Context, node string, _ []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("remove %s", node)
	return []string{"remove " + node + ": ok"}, nil
}

func (f *memberFake) Rejoin(node string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("rejoin %s", node)
	f.down[node] = false
	return node + "-2", nil
}

func (f *memberFake) Replicas(context.Context, string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicas, nil
}

func (f *memberFake) SetReplicas(_ context.Context, _ string, r int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("replicas %d", r)
	f.replicas = r
	return nil
}

// membershipShapes runs membership changes with the given shapes and
// returns the shape of each change, with its from and to for replicas.
func membershipShapes(t *testing.T, nodes, replicas int, shapes []string, seed uint64) []string {
	t.Helper()
	f := &memberFake{procFake: newProcFake(nodes), replicas: replicas}
	interval := 20 * time.Millisecond
	o := testOpts{Faults: []string{FaultMembership}, Interval: interval, Stream: "S", Seed: seed, Targets: []string{TargetOne}}
	var out []string
	for _, e := range runWith(t, f, o, 16*interval, func(o *Options) { o.MembershipShapes = shapes }) {
		if e.F != FaultMembership || e.Type != history.Info || e.Fault == nil || e.Fault.Action != history.FaultStart {
			continue
		}
		s := e.Fault.Shape
		if s == ShapeReplicas {
			s += " " + e.Fault.Params["from"] + "->" + e.Fault.Params["to"]
		}
		out = append(out, s)
	}
	if len(out) < 3 {
		t.Fatalf("%v: only %d changes: %v", shapes, len(out), out)
	}
	if f.replicas != replicas {
		t.Fatalf("%v: replica count %d after the run, want it restored to %d", shapes, f.replicas, replicas)
	}
	return out
}

func TestMembershipShapes(t *testing.T) {
	for seed := range uint64(4) {
		// Both (the default): they alternate.
		both := membershipShapes(t, 3, 1, nil, seed)
		for i := 1; i < len(both); i++ {
			if strings.Fields(both[i])[0] == strings.Fields(both[i-1])[0] {
				t.Fatalf("seed %d, default shapes: two %s in a row: %v", seed, both[i], both)
			}
		}
		// Replicas only, from R1 on 3 nodes: every change is R1 to R3.
		for _, s := range membershipShapes(t, 3, 1, []string{ShapeReplicas}, seed) {
			if s != ShapeReplicas+" 1->3" {
				t.Fatalf("seed %d, --membership-shapes replicas from R1: %v", seed, s)
			}
		}
		for _, s := range membershipShapes(t, 3, 3, []string{ShapeReplace}, seed) {
			if s != ShapeReplace {
				t.Fatalf("seed %d, --membership-shapes replace: %v", seed, s)
			}
		}
	}
}

func TestMembershipShapesSettings(t *testing.T) {
	s := FaultSettings{Nemesis: []string{FaultMembership}, NemesisInterval: 1, LinkSettings: LinkSettings{Bandwidth: 1 << 17}}
	s.Normalize(3)
	if !slices.Equal(s.MembershipShapes, MembershipShapes) {
		t.Fatalf("default shapes %v, want %v", s.MembershipShapes, MembershipShapes)
	}
	if err := s.Validate(3, false); err != nil {
		t.Fatal(err)
	}
	s.MembershipShapes = []string{"grow"}
	if err := s.Validate(3, false); err == nil || !strings.Contains(err.Error(), `--membership-shapes "grow"`) {
		t.Fatalf("a bad shape: %v", err)
	}
	for _, p := range Params() {
		if p.Name == "membership-shapes" {
			var got FaultSettings
			if err := p.Set(&got, "replicas"); err != nil || p.Get(&got) != "replicas" {
				t.Fatalf("flag round trip: %v %q", err, p.Get(&got))
			}
			return
		}
	}
	t.Fatal("no --membership-shapes flag")
}
