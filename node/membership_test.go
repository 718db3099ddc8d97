package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A node removed from a stream's group and the meta group, wiped, and
// started under a fresh name is a full member again; a stream's replica
// count goes down and back up.
func TestMembershipChanges(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, err := c.admin("n1", false) // n1 is killed below
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cfg := map[string]any{"name": "S", "subjects": []string{"s"}, "num_replicas": 3, "storage": "file"}
	if err := request(ctx, nc, "$JS.API.STREAM.CREATE.S", cfg, nil); err != nil {
		t.Fatal(err)
	}

	if err := c.SetReplicas(ctx, "S", 1); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Replicas(ctx, "S"); err != nil || r != 1 {
		t.Fatalf("replicas %d %v after scaling to 1", r, err)
	}
	if err := c.SetReplicas(ctx, "S", 3); err != nil {
		t.Fatal(err)
	}

	if err := c.Node("n1").Kill(); err != nil {
		t.Fatal(err)
	}
	steps, err := c.RemovePeer(ctx, "n1", []string{"S"})
	if err != nil {
		t.Fatal(err)
	}
	// With three nodes no other can take n1's place in the stream's
	// group, and NATS refuses the stream step (peer remap failed): that
	// outcome is recorded. Leaving the meta group and the wipe must work.
	for _, s := range steps {
		t.Log(s)
		if !strings.HasSuffix(s, ": ok") && !strings.Contains(s, "from stream") {
			t.Errorf("step failed: %s", s)
		}
	}
	name, err := c.Rejoin("n1")
	if err != nil || name != "n1-2" {
		t.Fatalf("rejoined as %q: %v", name, err)
	}
	began := time.Now()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("cluster not ready after the rejoin: %v", err)
	}
	t.Logf("ready %s after n1 rejoined as %s", time.Since(began), name)
	// The stream takes a replica on the new member.
	var info struct {
		Cluster struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Name string `json:"name"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := request(ctx, nc, "$JS.API.STREAM.INFO.S", nil, &info); err != nil {
			t.Fatal(err)
		}
		peers := []string{info.Cluster.Leader}
		for _, r := range info.Cluster.Replicas {
			peers = append(peers, r.Name)
		}
		if strings.Contains(strings.Join(peers, ","), "n1-2") {
			t.Logf("stream S peers: %v", peers)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream S peers %v after 60s: the new member never took a replica", peers)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
