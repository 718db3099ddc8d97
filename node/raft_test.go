package node

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/node/proxy"
	"github.com/nats-io/nats.go"
)

// startFramed starts a cluster whose route links read the route protocol.
func startFramed(t *testing.T, n int) *Cluster {
	t.Helper()
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: n, Dir: t.TempDir(), Command: []string{os.Args[0], "node"}, FrameRoutes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(10 * time.Second) })
	return c
}

// raftCounts adds up the Raft counts of the links between each pair.
func raftCounts(c *Cluster, pairs [][2]string) map[string]int64 {
	out := map[string]int64{}
	for _, l := range c.pairLinks(pairs) {
		for k, v := range l.RaftStats() {
			out[k] += v
		}
	}
	return out
}

// publish keeps appending to subject s until ctx ends.
func publish(ctx context.Context, t *testing.T, c *Cluster) {
	nc, err := nats.Connect(c.Nodes()[2].Spec.ClientURL(), nats.UserInfo("", ""))
	if err != nil {
		t.Error(err)
		return
	}
	defer nc.Close()
	for ctx.Err() == nil {
		_, _ = nc.Request("s", []byte("x"), time.Second)
		time.Sleep(20 * time.Millisecond)
	}
}

// Each raft rule on the links of a real stream's leader: the messages it
// names are dropped, delayed or duplicated, counted per link, while every
// route stays up; and a watch fires on the add-peer entry a replica
// increase sends.
func TestRaftRulesOnARealCluster(t *testing.T) {
	c := startFramed(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, err := c.admin("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cfg := map[string]any{"name": "S", "subjects": []string{"s"}, "num_replicas": 3, "storage": "file"}
	if err := request(ctx, nc, "$JS.API.STREAM.CREATE.S", cfg, nil); err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go publish(pctx, t, c)
	groups, err := c.RaftGroups(ctx, GroupsWorkload, []string{"S"})
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups %v, %v", groups, err)
	}
	leader, err := c.StreamLeader(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for _, o := range c.NodeNames() {
		if o != leader {
			pairs = append(pairs, [2]string{leader, o})
		}
	}
	cases := []struct {
		rule proxy.RaftRule
		want string // a count that must grow
	}{
		{proxy.RaftRule{Kinds: []proxy.RaftKind{proxy.KindHeartbeat}, Action: proxy.ActDrop}, "dropped heartbeat"},
		{proxy.RaftRule{Kinds: []proxy.RaftKind{proxy.KindAppend}, Action: proxy.ActDrop}, "dropped append"},
		{proxy.RaftRule{Action: proxy.ActDelay, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, "delayed append"},
		{proxy.RaftRule{Action: proxy.ActDuplicate}, "duplicated append"},
		{proxy.RaftRule{Kinds: []proxy.RaftKind{proxy.KindVote, proxy.KindVoteReply}, Action: proxy.ActDrop}, "dropped vote"},
	}
	for _, tc := range cases {
		rule := tc.rule
		rule.Groups, rule.Forward, rule.Backward = groups, true, true
		before := raftCounts(c, pairs)
		c.SetRaftRule(pairs, &rule)
		if tc.want == "dropped vote" {
			// An election, so that there are votes to lose.
			_ = request(ctx, nc, "$JS.API.STREAM.LEADER.STEPDOWN.S", nil, nil)
		}
		time.Sleep(3 * time.Second)
		c.SetRaftRule(pairs, nil)
		after := raftCounts(c, pairs)
		t.Logf("%s: %d (%v)", rule.String(), after[tc.want]-before[tc.want], after)
		if after[tc.want] <= before[tc.want] {
			t.Errorf("%s: %q did not grow: %v", rule.String(), tc.want, after)
		}
		for n, routes := range c.RouteCounts(ctx) {
			if routes != 2 {
				t.Errorf("%s: %s has routes to %d peers, want 2 (a raft rule cuts no route)", rule.String(), n, routes)
			}
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("not ready after the rules: %v", err)
	}

	// A stream scaled up from one replica gets an add-peer entry.
	cfg = map[string]any{"name": "T", "subjects": []string{"t"}, "num_replicas": 1, "storage": "file"}
	if err := request(ctx, nc, "$JS.API.STREAM.CREATE.T", cfg, nil); err != nil {
		t.Fatal(err)
	}
	fired := make(chan proxy.RaftEvent, 1)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	go func() {
		ev, err := c.WatchRaft(wctx, nil, 3)
		if err == nil {
			fired <- ev
		}
		close(fired)
	}()
	time.Sleep(200 * time.Millisecond)
	if err := c.SetReplicas(ctx, "T", 3); err != nil {
		t.Fatal(err)
	}
	ev, ok := <-fired
	if !ok || !slices.Contains(ev.Entries, 3) {
		t.Fatalf("no append entry with an add-peer entry passed: %+v %v", ev, ok)
	}
	t.Logf("add-peer: %s %s->%s of %s with entries %v", ev.Kind, ev.From, ev.To, ev.Group, ev.Entries)
}
