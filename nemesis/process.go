package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/jetsam-dev/jetsam/history"
)

// Process targets: which nodes a kill, pause or power loss hits.
const (
	TargetOne        = "one"
	TargetMinority   = "minority"
	TargetMajority   = "majority"
	TargetAll        = "all"
	TargetLeader     = "leader"      // the stream's leader when the fault starts
	TargetMetaLeader = "meta-leader" // the JetStream meta leader
)

// Targets lists every process target.
var Targets = []string{TargetOne, TargetMinority, TargetMajority, TargetAll, TargetLeader, TargetMetaLeader}

// TargetMinNodes is how many nodes each target needs: a minority is at
// least one node that still leaves a majority behind.
var TargetMinNodes = map[string]int{
	TargetOne: 1, TargetMinority: 3, TargetMajority: 1, TargetAll: 1, TargetLeader: 1, TargetMetaLeader: 1,
}

// TargetsFor lists the targets a cluster of n nodes is big enough for.
func TargetsFor(n int) []string {
	var out []string
	for _, t := range Targets {
		if n >= TargetMinNodes[t] {
			out = append(out, t)
		}
	}
	return out
}

// Processes is what the process faults act on, beside the network.
type Processes interface {
	// Kill ends a node's process at once (SIGKILL); Start runs it again on
	// the same data.
	Kill(node string) error
	Start(node string) error
	// Pause stops a node's process (SIGSTOP); Resume continues it.
	Pause(node string) error
	Resume(node string) error
}

// PickTargets chooses the nodes a process fault hits. Every call draws the
// same random numbers whatever the target, so a seed fixes the schedule;
// leaderOf and metaLeaderOf are only called for their targets.
func PickTargets(target string, nodes []string, rng *rand.Rand, leaderOf, metaLeaderOf func() (string, error)) ([]string, error) {
	n := len(nodes)
	if n < TargetMinNodes[target] {
		return nil, fmt.Errorf("target %s needs at least %d nodes, the cluster has %d", target, TargetMinNodes[target], n)
	}
	perm := rng.Perm(n)
	p := make([]string, n)
	for i, j := range perm {
		p[i] = nodes[j]
	}
	var out []string
	switch target {
	case TargetOne:
		out = p[:1]
	case TargetMinority:
		out = p[:(n-1)/2]
	case TargetMajority:
		out = p[:n/2+1]
	case TargetAll:
		out = p
	case TargetLeader, TargetMetaLeader:
		ask := leaderOf
		if target == TargetMetaLeader {
			ask = metaLeaderOf
		}
		l, err := ask()
		if err != nil {
			return nil, fmt.Errorf("find the %s: %w", target, err)
		}
		out = []string{l}
	default:
		return nil, fmt.Errorf("unknown target %q", target)
	}
	return slices.Sorted(slices.Values(out)), nil
}

// process kills (then restarts) or pauses (then resumes) the nodes of a
// target drawn from the configured ones.
func (n *Nemesis) process(ctx context.Context, f string, rng *rand.Rand) (func(), error) {
	p, ok := n.t.(Processes)
	if !ok {
		return nil, fmt.Errorf("skipped a %s fault: this cluster's processes cannot be controlled", f)
	}
	target := n.o.Targets[rng.IntN(len(n.o.Targets))]
	hit, err := PickTargets(target, n.t.Nodes(), rng,
		func() (string, error) { return n.t.StreamLeader(ctx, n.o.Stream, nil) },
		func() (string, error) { return n.t.MetaLeader(ctx, nil) })
	if err != nil {
		return nil, fmt.Errorf("skipped a %s fault: %w", f, err)
	}
	fault := &history.Fault{Shape: target, Nodes: hit}
	do, undo := p.Kill, p.Start
	if f == FaultPause {
		do, undo = p.Pause, p.Resume
	}
	var errs []error
	heal := n.inject(f, fault, func() {
		for _, x := range hit {
			errs = append(errs, do(x))
		}
	}, func() {
		for _, x := range hit {
			if err := undo(x); err != nil {
				n.o.Logf("nemesis: %s: %v", f, err)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		n.o.Logf("nemesis: %s: %v", f, err)
	}
	return heal, nil
}
