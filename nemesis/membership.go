package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/param"
)

// FaultMembership changes the cluster's membership: a node removed from
// every group, wiped, and back under a fresh name; or a stream's replica
// count changed and changed back.
const FaultMembership = "membership"

// MembershipSettings are the membership package's.
type MembershipSettings struct {
	// MembershipShapes are the changes to draw from; empty means both.
	MembershipShapes []string `json:"membership_shapes,omitempty"`
}

func (s *MembershipSettings) normalize() {
	if len(s.MembershipShapes) == 0 {
		s.MembershipShapes = slices.Clone(MembershipShapes)
	}
}

type membershipFault struct{}

func (membershipFault) Name() string { return FaultMembership }

func (membershipFault) Params() []Param {
	return []Param{targetsParam, param.ListOf("membership-shapes", "membership changes to draw from (default: both, in turn): "+
		"replace (a node removed, wiped and back under a fresh name; aimed by --targets), "+
		"replicas (the stream's replica count changed to another of 1, 3, 5 that fits, and back when it heals; from --replicas 1 on 3 nodes, always R1 to R3)",
		func(s *FaultSettings) *[]string { return &s.MembershipShapes })}
}

func (membershipFault) Validate(s *FaultSettings, _ int) error {
	for _, sh := range s.MembershipShapes {
		if !slices.Contains(MembershipShapes, sh) {
			return fmt.Errorf("--membership-shapes %q is not one of %s", sh, strings.Join(MembershipShapes, ", "))
		}
	}
	return nil
}

func (membershipFault) Fits(_ *FaultSettings, nodes int, remote bool) error {
	if remote {
		return fmt.Errorf("--nemesis %s works on local nodes only, not with --hosts", FaultMembership)
	}
	return needNodes(FaultMembership, 2, nodes)
}

func (membershipFault) Start(ctx context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.membership(ctx, rng)
}

// Membership change shapes.
const (
	ShapeReplace  = "replace"  // a node removed, wiped, and back under a fresh name
	ShapeReplicas = "replicas" // a stream's replica count changed, then restored
)

// MembershipShapes lists every membership change shape.
var MembershipShapes = []string{ShapeReplace, ShapeReplicas}

// membership alternates, from a random start, between replacing a node
// (aimed like corrupt, at a minority only) and changing the stream's
// replica count, so any two changes in a row include both; with one
// shape in --membership-shapes, every change is of that shape.
func (n *Nemesis) membership(ctx context.Context, rng *rand.Rand) (func(), error) {
	m, ok := n.t.(Membership)
	p, okp := n.t.(Processes)
	if !ok || !okp {
		return nil, errors.New("skipped a membership fault: this cluster's membership cannot be changed")
	}
	nodes := n.t.NodeNames()
	counts := []int{}
	for _, r := range []int{1, 3, 5} {
		if r <= len(nodes) {
			counts = append(counts, r)
		}
	}
	draw := rng.IntN(2) // drawn every time, so the schedule's draws stay aligned
	n.mu.Lock()
	if n.memberships == 0 {
		n.memberStart = draw
	}
	replace := (n.memberStart+n.memberships)%2 == 0
	n.memberships++
	n.mu.Unlock()
	switch shapes := n.o.MembershipShapes; {
	case len(shapes) == 1 && shapes[0] == ShapeReplace:
		replace = true
	case len(shapes) == 1 && shapes[0] == ShapeReplicas:
		if len(counts) < 2 {
			return nil, fmt.Errorf("skipped a membership fault: --membership-shapes %s needs a second replica count, and %d nodes fit only R1", ShapeReplicas, len(nodes))
		}
		replace = false
	}
	if !replace && len(counts) > 1 {
		return n.replicas(ctx, m, counts, rng)
	}
	targets := slices.DeleteFunc(slices.Clone(n.o.Targets), func(t string) bool { return !slices.Contains(MinorityTargets, t) })
	if len(targets) == 0 || len(nodes) < 3 {
		return nil, errors.New("skipped a membership fault: replacing a node needs 3 nodes and a target that hits a minority only")
	}
	target := targets[rng.IntN(len(targets))]
	hit, err := n.pick(ctx, target, rng)
	if err != nil {
		return nil, fmt.Errorf("skipped a membership fault: %w", err)
	}
	fault := &history.Fault{Shape: ShapeReplace, Nodes: hit, Params: map[string]string{"target": target}}
	step := 0
	note := func(s string) {
		step++
		fault.Params[fmt.Sprintf("step%02d", step)] = s
	}
	return n.inject(FaultMembership, fault, func() {
		for _, x := range hit {
			if err := p.KillNode(x); err != nil {
				note(fmt.Sprintf("kill %s: %v", x, err))
				continue
			}
			note(fmt.Sprintf("kill %s: ok", x))
			steps, err := m.RemovePeer(ctx, x, n.o.Streams)
			for _, s := range steps {
				note(s)
			}
			if err != nil {
				note(fmt.Sprintf("remove %s: %v", x, err))
			}
		}
	}, func() {
		for _, x := range hit {
			name, err := m.Rejoin(x)
			if err != nil {
				note(fmt.Sprintf("rejoin %s: %v", x, err))
				n.o.Logf("nemesis: membership: rejoin %s: %v", x, err)
				continue
			}
			note(fmt.Sprintf("%s rejoined as %s: ok", x, name))
		}
	}), nil
}

// replicas changes the stream's replica count to another of counts, and
// back when it heals.
func (n *Nemesis) replicas(ctx context.Context, m Membership, counts []int, rng *rand.Rand) (func(), error) {
	pick := rng.IntN(len(counts))
	from, err := m.Replicas(ctx, n.o.Stream)
	if err != nil {
		return nil, fmt.Errorf("skipped a membership fault: %w", err)
	}
	counts = slices.DeleteFunc(counts, func(r int) bool { return r == from })
	if len(counts) == 0 {
		return nil, fmt.Errorf("skipped a membership fault: no replica count other than %d fits", from)
	}
	to := counts[pick%len(counts)]
	fault := &history.Fault{Shape: ShapeReplicas, Params: map[string]string{
		"stream": n.o.Stream, "from": strconv.Itoa(from), "to": strconv.Itoa(to),
	}}
	return n.inject(FaultMembership, fault, func() {
		fault.Params["change"] = outcome(m.SetReplicas(ctx, n.o.Stream, to))
	}, func() {
		fault.Params["restore"] = outcome(m.SetReplicas(context.Background(), n.o.Stream, from))
	}), nil
}

func outcome(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}
