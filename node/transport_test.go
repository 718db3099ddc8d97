package node

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
)

// The route settings reach the servers, as they report them: one route
// per pair without pooling, and the compression asked for, all through
// the link proxies.
func TestRouteSettings(t *testing.T) {
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 3, Dir: t.TempDir(), Command: []string{os.Args[0], "node"},
		RouteCompression: "s2_fast", RoutePoolSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	for _, n := range c.Nodes() {
		routes, err := n.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		perPeer := map[string]int{}
		for _, r := range routes {
			perPeer[r.RemoteName]++
			if r.Compression != "s2_fast" {
				t.Errorf("%s's route to %s compresses with %q, want s2_fast", n.Name(), r.RemoteName, r.Compression)
			}
		}
		if len(perPeer) != 2 {
			t.Fatalf("%s has routes to %v", n.Name(), perPeer)
		}
		for peer, k := range perPeer {
			if k != 1 {
				t.Errorf("%s has %d routes to %s with pool size -1, want 1", n.Name(), k, peer)
			}
		}
	}
}
