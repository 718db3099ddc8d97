package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/node/proxy"
	"github.com/jetsam-dev/jetsam/param"
)

// FaultRaft acts on the Raft messages between nodes, not on the links:
// routes stay up and everything else on them flows.
const FaultRaft = "raft"

// Raft fault kinds: what happens to the target nodes' Raft messages, both
// ways, in the aimed groups.
const (
	RaftIsolate       = "isolate"        // every Raft message dropped
	RaftVoteLoss      = "vote-loss"      // vote requests and replies dropped
	RaftAppendLoss    = "append-loss"    // append entries with entries dropped
	RaftHeartbeatLoss = "heartbeat-loss" // append entries without entries dropped
	RaftDelay         = "delay"          // every Raft message delayed, in order
	RaftDuplicate     = "duplicate"      // every Raft message sent twice
)

// RaftKinds lists the raft fault kinds.
var RaftKinds = []string{RaftIsolate, RaftVoteLoss, RaftAppendLoss, RaftHeartbeatLoss, RaftDelay, RaftDuplicate}

// RaftGroupClasses are the groups a raft fault can aim at.
var RaftGroupClasses = []string{"meta", "workload", "streams", "consumers"}

// RaftEntryTypes name the append entry types a trigger can wait for, by
// their number in server/raft.go (EntryType).
var RaftEntryTypes = map[string]byte{"normal": 0, "peer-state": 2, "add-peer": 3, "remove-peer": 4, "leader-transfer": 5, "snapshot": 6}

// RaftSettings are the raft package's.
type RaftSettings struct {
	// RaftFaults are the kinds drawn from; empty means every kind.
	RaftFaults []string `json:"raft_faults,omitempty"`
	// RaftGroups is the class of groups aimed at.
	RaftGroups string `json:"raft_groups,omitempty"`
	// RaftDelay and RaftJitter are the delay kind's.
	RaftDelay  param.Duration `json:"raft_delay,omitempty"`
	RaftJitter param.Duration `json:"raft_jitter,omitempty"`
	// RaftTrigger, when set, starts each raft fault right after the first
	// append entry of the aimed groups carrying an entry of this type.
	RaftTrigger string `json:"raft_trigger,omitempty"`
	// RaftTriggerWait is how long a raft fault waits for its trigger
	// before it is skipped; zero means one nemesis interval.
	RaftTriggerWait param.Duration `json:"raft_trigger_wait,omitempty"`
}

// Raft is what a cluster needs for raft faults: links that read the route
// protocol.
type Raft interface {
	// SetRaftRule puts rule on the links between each pair, both ways.
	SetRaftRule(pairs [][2]string, rule *proxy.RaftRule)
	// WatchRaft waits for an append entry of groups carrying an entry of
	// the given type to pass a link.
	WatchRaft(ctx context.Context, groups []string, entry byte) (proxy.RaftEvent, error)
	// RaftGroups names the groups of a class.
	RaftGroups(ctx context.Context, class string, streams []string) ([]string, error)
	// RouteCounts counts each node's routes.
	RouteCounts(ctx context.Context) map[string]int
}

type raftFault struct{}

func (raftFault) Name() string { return FaultRaft }

func (raftFault) Params() []Param {
	return []Param{targetsParam,
		param.ListOf("raft-faults", "what the raft package does to the target nodes' Raft messages, both ways, drawn per fault (default: all): "+
			"isolate (all dropped, routes stay up), vote-loss, append-loss (entries), heartbeat-loss, delay (by --raft-delay, in order), duplicate",
			func(s *FaultSettings) *[]string { return &s.RaftFaults }),
		param.StringOf("raft-groups", "Raft groups the raft package aims at: meta, workload (the workloads' streams), streams, consumers",
			func(s *FaultSettings) *string { return &s.RaftGroups }),
		param.DurationOf("raft-delay", "the raft delay kind's delay of each message", func(s *FaultSettings) *param.Duration { return &s.RaftDelay }),
		param.DurationOf("raft-jitter", "the raft delay kind's delay varies by up to this much either way", func(s *FaultSettings) *param.Duration { return &s.RaftJitter }),
		param.StringOf("raft-trigger", "start each raft fault right after the first append entry of the aimed groups carrying an entry of this type: "+
			"add-peer, remove-peer, leader-transfer, snapshot, peer-state, normal (default: at once); with --targets leader or meta-leader, the fault hits the node that sent that append entry",
			func(s *FaultSettings) *string { return &s.RaftTrigger }),
		param.DurationOf("raft-trigger-wait", "how long each raft fault waits for its --raft-trigger before it is skipped (default: one --nemesis-interval)",
			func(s *FaultSettings) *param.Duration { return &s.RaftTriggerWait }),
	}
}

func (s *RaftSettings) normalize() {
	if len(s.RaftFaults) == 0 {
		s.RaftFaults = RaftKinds
	}
	if s.RaftGroups == "" {
		s.RaftGroups = "workload"
	}
}

func (raftFault) Validate(s *FaultSettings, _ int) error {
	for _, k := range s.RaftFaults {
		if !slices.Contains(RaftKinds, k) {
			return fmt.Errorf("--raft-faults %q is not one of %s", k, strings.Join(RaftKinds, ", "))
		}
	}
	if s.RaftGroups != "" && !slices.Contains(RaftGroupClasses, s.RaftGroups) {
		return fmt.Errorf("--raft-groups %q is not one of %s", s.RaftGroups, strings.Join(RaftGroupClasses, ", "))
	}
	if _, ok := RaftEntryTypes[s.RaftTrigger]; s.RaftTrigger != "" && !ok {
		return fmt.Errorf("--raft-trigger %q names no append entry type: use one of add-peer, remove-peer, leader-transfer, snapshot, peer-state, normal", s.RaftTrigger)
	}
	if s.RaftTriggerWait < 0 || s.RaftTriggerWait > param.Duration(10*time.Minute) {
		return fmt.Errorf("--raft-trigger-wait must be between 0 and 10m, got %s", s.RaftTriggerWait)
	}
	if s.RaftDelay < 0 || s.RaftJitter < 0 || s.RaftDelay > param.Duration(time.Minute) {
		return fmt.Errorf("--raft-delay must be between 0 and 1m and --raft-jitter not negative, got %s and %s", s.RaftDelay, s.RaftJitter)
	}
	return nil
}

func (raftFault) Fits(s *FaultSettings, nodes int, remote bool) error {
	if remote && s.RaftTrigger != "" {
		return fmt.Errorf("--raft-trigger works on local nodes only, not with --hosts")
	}
	return needNodes(FaultRaft, 2, nodes)
}

func (raftFault) Start(ctx context.Context, n *Nemesis, rng *rand.Rand) (func(), error) {
	return n.raft(ctx, rng)
}

// raftRule is what a kind does.
func raftRule(kind string, groups []string, s *FaultSettings) *proxy.RaftRule {
	r := &proxy.RaftRule{Groups: groups, Forward: true, Backward: true, Action: proxy.ActDrop}
	switch kind {
	case RaftVoteLoss:
		r.Kinds = []proxy.RaftKind{proxy.KindVote, proxy.KindVoteReply}
	case RaftAppendLoss:
		r.Kinds = []proxy.RaftKind{proxy.KindAppend}
	case RaftHeartbeatLoss:
		r.Kinds = []proxy.RaftKind{proxy.KindHeartbeat}
	case RaftDelay:
		r.Action, r.Delay, r.Jitter = proxy.ActDelay, time.Duration(s.RaftDelay), time.Duration(s.RaftJitter)
	case RaftDuplicate:
		r.Action = proxy.ActDuplicate
	}
	return r
}

// raft draws a kind and targets, waits for the trigger if one is set, and
// puts the kind's rule on every link of the target nodes.
func (n *Nemesis) raft(ctx context.Context, rng *rand.Rand) (func(), error) {
	r, ok := n.t.(Raft)
	if !ok {
		return nil, fmt.Errorf("skipped a raft fault: this cluster's links do not read the route protocol")
	}
	kind := n.o.RaftFaults[rng.IntN(len(n.o.RaftFaults))]
	target := n.o.Targets[rng.IntN(len(n.o.Targets))]
	hit, err := n.pick(ctx, target, rng)
	if err != nil {
		return nil, fmt.Errorf("skipped a raft fault: %w", err)
	}
	groups, err := r.RaftGroups(ctx, n.o.RaftGroups, n.o.Streams)
	if err != nil {
		return nil, fmt.Errorf("skipped a raft fault: %w", err)
	}
	fault := &history.Fault{Shape: kind, Nodes: hit, Links: pairsOf(hit, n.t.NodeNames()), Params: map[string]string{
		"target": target, "groups": strings.Join(groups, ","), "routes-at-start": routeCounts(r.RouteCounts(ctx)),
	}}
	if n.o.RaftTrigger != "" {
		ev, err := n.raftTrigger(ctx, r, groups)
		if err != nil {
			return nil, err
		}
		fault.Params["trigger"] = describeTrigger(ev)
		// Only a leader sends append entries: aimed at a leader, the fault
		// hits the one that sent the trigger's, which may no longer be the
		// one picked before the wait.
		if sender := triggerSender(target, ev, n.t.NodeNames()); sender != "" && (len(hit) != 1 || hit[0] != sender) {
			fault.Params["picked"] = strings.Join(hit, ",")
			hit = []string{sender}
			fault.Nodes, fault.Links = hit, pairsOf(hit, n.t.NodeNames())
		}
	}
	rule := raftRule(kind, groups, &n.o.FaultSettings)
	fault.Params["rule"] = rule.String()
	heal := n.inject(FaultRaft, fault, func() { r.SetRaftRule(fault.Links, rule) }, func() {
		// The routes as the fault ends prove it cut no link.
		fault.Params["routes-at-heal"] = routeCounts(r.RouteCounts(context.Background()))
		r.SetRaftRule(fault.Links, nil)
	})
	if (target != TargetLeader && target != TargetMetaLeader) || len(hit) != 1 {
		return heal, nil
	}
	meta := target == TargetMetaLeader
	group := "stream " + n.o.Stream
	if meta {
		group = "meta"
	}
	rest := slices.DeleteFunc(slices.Clone(n.t.NodeNames()), func(x string) bool { return x == hit[0] })
	return n.watchingLeader(ctx, heal, FaultRaft, kind, meta, group, hit[0], rest), nil
}

// raftTrigger waits, for at most --raft-trigger-wait (an interval unless
// set), for the trigger's entry to pass.
func (n *Nemesis) raftTrigger(ctx context.Context, r Raft, groups []string) (proxy.RaftEvent, error) {
	wait := n.o.NemesisInterval
	if n.o.RaftTriggerWait > 0 {
		wait = n.o.RaftTriggerWait
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(wait))
	defer cancel()
	ev, err := r.WatchRaft(wctx, groups, RaftEntryTypes[n.o.RaftTrigger])
	if err != nil {
		return ev, fmt.Errorf("skipped a raft fault: no append entry carrying %s passed within %s", n.o.RaftTrigger, wait)
	}
	return ev, nil
}

// triggerSender is the node a leader-aimed fault hits after its trigger:
// the sender of the triggering append entry, when it is one of nodes.
func triggerSender(target string, ev proxy.RaftEvent, nodes []string) string {
	if (target != TargetLeader && target != TargetMetaLeader) || (ev.Kind != proxy.KindAppend && ev.Kind != proxy.KindCatchup) || !slices.Contains(nodes, ev.From) {
		return ""
	}
	return ev.From
}

// describeTrigger says what passed.
func describeTrigger(ev proxy.RaftEvent) string {
	types := make([]string, len(ev.Entries))
	for i, t := range ev.Entries {
		types[i] = entryName(t)
	}
	return fmt.Sprintf("%s %s→%s of %s with entries [%s]", ev.Kind, ev.From, ev.To, ev.Group, strings.Join(types, " "))
}

func entryName(t byte) string {
	for name, v := range RaftEntryTypes {
		if v == t {
			return name
		}
	}
	return strconv.Itoa(int(t))
}

// pairsOf pairs every node of hit with every other node.
func pairsOf(hit, nodes []string) [][2]string {
	var out [][2]string
	for _, h := range hit {
		for _, o := range nodes {
			if o != h && !slices.Contains(out, [2]string{o, h}) {
				out = append(out, [2]string{h, o})
			}
		}
	}
	return out
}

// routeCounts writes each node's route count: "n1:2 n2:2 n3:2".
func routeCounts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
