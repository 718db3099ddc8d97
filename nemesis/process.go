package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

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
func TargetsFor(n int) []string { return fitting(Targets, TargetMinNodes, n) }

// Processes is what the process faults act on, beside the network.
type Processes interface {
	// Kill ends a node's process at once (SIGKILL); Start runs it again on
	// the same data.
	Kill(node string) error
	Start(node string) error
	// Pause stops a node's process (SIGSTOP); Resume continues it.
	Pause(node string) error
	Resume(node string) error
	// DropUnsynced throws away what a dead node wrote but did not sync,
	// and returns how many bytes that was.
	DropUnsynced(node string) (int64, error)
	// Corrupt damages one file of the given types of a dead node, and
	// says exactly what it changed.
	Corrupt(node string, rng *rand.Rand, types []string) (map[string]string, error)
}

// MinorityTargets are the targets that never hit a majority: corrupt draws
// only from these, so a majority always keeps intact data.
var MinorityTargets = []string{TargetOne, TargetMinority, TargetLeader, TargetMetaLeader}

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
	targets := n.o.Targets
	if f == FaultCorrupt {
		targets = slices.DeleteFunc(slices.Clone(targets), func(t string) bool { return !slices.Contains(MinorityTargets, t) })
		if len(targets) == 0 {
			return nil, fmt.Errorf("skipped a %s fault: no target hits a minority only", f)
		}
	}
	target := targets[rng.IntN(len(targets))]
	hit, err := n.pick(ctx, target, rng)
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
		if f == FaultCorrupt {
			fault.Params = map[string]string{}
			for _, x := range hit {
				c, err := p.Corrupt(x, rng, n.o.CorruptFiles)
				errs = append(errs, err)
				for k, v := range c {
					fault.Params[x+"."+k] = v
				}
			}
			return
		}
		if f != FaultPowerLoss {
			return
		}
		// Every node is down before any loses its data: with target
		// "all" this is one coordinated power failure.
		fault.Params = map[string]string{}
		for _, x := range hit {
			lost, err := p.DropUnsynced(x)
			errs = append(errs, err)
			fault.Params["lost-bytes-"+x] = strconv.FormatInt(lost, 10)
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

// pick draws the nodes a target hits, asking (and asking again, for a few
// seconds, while an election is under way) who leads.
func (n *Nemesis) pick(ctx context.Context, target string, rng *rand.Rand) ([]string, error) {
	return PickTargets(target, n.t.Nodes(), rng,
		func() (string, error) {
			return retry(ctx, func(c context.Context) (string, error) { return n.t.StreamLeader(c, n.o.Stream, nil) })
		},
		func() (string, error) {
			return retry(ctx, func(c context.Context) (string, error) { return n.t.MetaLeader(c, nil) })
		})
}
