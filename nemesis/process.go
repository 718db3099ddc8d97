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

// Process fault packages, aimed by --targets.
const (
	FaultKill  = "kill"  // SIGKILL, and a restart when it heals
	FaultPause = "pause" // SIGSTOP, and SIGCONT when it heals
	// FaultPowerLoss kills nodes and throws away what they wrote but had
	// not synced, then restarts them when it heals.
	FaultPowerLoss = "power-loss"
	// FaultCorrupt kills nodes, damages one file of each, and restarts
	// them when it heals.
	FaultCorrupt = "corrupt"
)

// CorruptFiles are the file types corrupt damages (node.FileTypes names
// where each is).
var CorruptFiles = []string{"blk", "idx", "meta", "snap", "raft-log", "raft-state"}

// ProcessSettings are the process packages'.
type ProcessSettings struct {
	// Targets are what process faults (and membership's replacements) are
	// aimed at; empty means every target the cluster is big enough for.
	Targets []string `json:"targets"`
	// CorruptFiles are the file types the corrupt package damages.
	CorruptFiles []string `json:"corrupt_files"`
	// Writeback is the age at which the power-loss disks write dirty data
	// back without a sync, as the kernel's flusher does; 0 never does.
	Writeback param.Duration `json:"writeback"`
}

func (s *ProcessSettings) normalize(nodes int) {
	if len(s.Targets) == 0 {
		s.Targets = TargetsFor(nodes)
	}
	if len(s.CorruptFiles) == 0 {
		s.CorruptFiles = CorruptFiles
	}
}

var targetsParam = param.ListOf("targets", "what kill and pause hit, drawn per fault (default: all the cluster is big enough for): "+
	"one (a random node), minority, majority, all, leader (the stream's leader at that moment), meta-leader", func(s *FaultSettings) *[]string { return &s.Targets })

// processFault is the package f: kill, pause, power-loss or corrupt.
type processFault struct{ f string }

func (p processFault) Name() string { return p.f }

func (p processFault) Params() []Param {
	switch p.f {
	case FaultPowerLoss:
		return []Param{targetsParam, param.DurationOf("writeback", "with power-loss: data dirty this long is written back without a sync, as Linux's flusher does (0: only fsync makes data durable)",
			func(s *FaultSettings) *param.Duration { return &s.Writeback })}
	case FaultCorrupt:
		return []Param{targetsParam, param.ListOf("corrupt-files", "file types the corrupt package damages, drawn per fault (default: all): "+
			"blk (message blocks), idx (stream indexes), meta (stream configs), snap (raft snapshots), raft-log, raft-state (term, vote, peers)",
			func(s *FaultSettings) *[]string { return &s.CorruptFiles })}
	}
	return []Param{targetsParam}
}

func (p processFault) Validate(s *FaultSettings, nodes int) error {
	switch p.f {
	case FaultKill:
		for _, t := range s.Targets {
			if !slices.Contains(Targets, t) {
				return fmt.Errorf("--targets %q is not one of %s", t, strings.Join(Targets, ", "))
			}
			if need := TargetMinNodes[t]; nodes < need {
				return fmt.Errorf("--targets %s needs at least %d nodes (a minority must leave a majority), and --nodes is %d", t, need, nodes)
			}
		}
	case FaultCorrupt:
		for _, f := range s.CorruptFiles {
			if !slices.Contains(CorruptFiles, f) {
				return fmt.Errorf("--corrupt-files %q is not a file type: use %s", f, strings.Join(CorruptFiles, ", "))
			}
		}
	case FaultPowerLoss:
		if s.Writeback < 0 {
			return fmt.Errorf("--writeback must not be negative (0 never writes back), got %s", s.Writeback)
		}
	}
	return nil
}

func (p processFault) Fits(s *FaultSettings, _ int, remote bool) error {
	if p.f != FaultCorrupt {
		return nil
	}
	if remote {
		return fmt.Errorf("--nemesis %s works on local nodes only, not with --hosts", p.f)
	}
	if !slices.ContainsFunc(s.Targets, func(t string) bool { return slices.Contains(MinorityTargets, t) }) {
		return fmt.Errorf("--nemesis corrupt damages a minority only, and --targets %s names none: add one of %s", strings.Join(s.Targets, ","), strings.Join(MinorityTargets, ", "))
	}
	return nil
}

func (p processFault) Start(ctx context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.process(ctx, p.f, rng)
}

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
	d, _ := n.t.(Disks)
	if d == nil && (f == FaultCorrupt || f == FaultPowerLoss) {
		return nil, fmt.Errorf("skipped a %s fault: this cluster's disks cannot be damaged", f)
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
	do, undo := p.KillNode, p.StartNode
	if f == FaultPause {
		do, undo = p.PauseNode, p.ResumeNode
	}
	var errs []error
	heal := n.inject(f, fault, func() {
		for _, x := range hit {
			errs = append(errs, do(x))
		}
		if f == FaultCorrupt {
			fault.Params = map[string]string{}
			for _, x := range hit {
				c, err := d.Corrupt(x, rng, n.o.CorruptFiles)
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
			lost, err := d.DropUnsynced(x)
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
	return PickTargets(target, n.t.NodeNames(), rng,
		func() (string, error) { return n.leader(ctx, false) },
		func() (string, error) { return n.leader(ctx, true) })
}
