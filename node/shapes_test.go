package node_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// These tests apply every partition shape to a real cluster and check the
// connectivity it promises by what the servers report (their routes) and
// by probing through the proxies.

func start(t *testing.T, n int) *node.Cluster {
	t.Helper()
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := node.Start(ctx, node.Options{Nodes: n, Dir: t.TempDir(), Command: []string{os.Args[0], "node"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(10 * time.Second) })
	return c
}

// connected says whether a and b can hold a route: bytes must flow both
// ways.
func connected(cuts [][2]string, a, b string) bool {
	return !slices.Contains(cuts, [2]string{a, b}) && !slices.Contains(cuts, [2]string{b, a})
}

// routesMatch waits until, for every pair, the servers report a route
// exactly when the pair is connected.
func routesMatch(t *testing.T, c *node.Cluster, cuts [][2]string, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var last string
	for {
		last = ""
		for _, n := range c.Nodes() {
			routes, err := n.Routes(ctx)
			if err != nil {
				last = err.Error()
				break
			}
			count := map[string]int{}
			for _, r := range routes {
				count[r.RemoteName]++
			}
			for _, peer := range c.NodeNames() {
				if peer == n.Name() {
					continue
				}
				if want := connected(cuts, n.Name(), peer); want != (count[peer] > 0) {
					last += fmt.Sprintf("%s has %d routes to %s, want connected=%v; ", n.Name(), count[peer], peer, want)
				}
			}
		}
		if last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probe dials b's cluster port through the a->b proxy and reports whether
// the server's greeting (INFO) comes back.
func probe(t *testing.T, c *node.Cluster, a, b string) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.Net().Link(a, b).Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.HasPrefix(line, "INFO")
}

func createStream(t *testing.T, c *node.Cluster) {
	t.Helper()
	nc, err := nats.Connect(c.Nodes()[0].Spec.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.CreateStream(actx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Replicas: 3})
		acancel()
		if err == nil {
			break
		}
		t.Logf("create stream, attempt %d: %v", attempt, err)
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	for ctx.Err() == nil {
		if c.StreamCurrent(ctx, "S") == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("stream never became current")
}

func TestEveryShapeOnRealClusters(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			c := start(t, size)
			createStream(t, c)
			for i, shape := range nemesis.Shapes {
				t.Run(shape, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					ask := func() (string, error) { return c.StreamLeader(ctx, "S") }
					if shape == nemesis.ShapeMetaLeader {
						ask = func() (string, error) { return c.MetaLeader(ctx) }
					}
					// Right after the previous shape heals an election can
					// be under way: ask until someone leads, as the nemesis
					// does.
					leaderOf := func() (string, error) {
						for {
							l, err := ask()
							if err == nil || ctx.Err() != nil {
								return l, err
							}
							time.Sleep(100 * time.Millisecond)
						}
					}
					s, err := nemesis.Plan(shape, c.NodeNames(), rand.New(rand.NewPCG(uint64(i), 7)), leaderOf)
					if err != nil {
						t.Fatal(err)
					}
					began := time.Now()
					c.Net().Grudge(s.Cuts)
					routesMatch(t, c, s.Cuts, "routes under "+shape)
					for _, l := range c.Net().Links() {
						if want, got := connected(s.Cuts, l.From, l.To), probe(t, c, l.From, l.To); want != got {
							t.Errorf("probe %s->%s answered %v, want %v", l.From, l.To, got, want)
						}
					}
					if shape == nemesis.ShapeLeader {
						old := s.Groups[0][0]
						for ctx.Err() == nil {
							if l, err := c.StreamLeaderSeenBy(ctx, "S", s.Groups[1]); err == nil && l != old && l != "" {
								t.Logf("stream leadership moved from %s to %s %s after the cut", old, l, time.Since(began).Round(time.Millisecond))
								break
							}
							time.Sleep(100 * time.Millisecond)
						}
						if ctx.Err() != nil {
							t.Fatalf("leadership never left the isolated %s", old)
						}
					}
					c.Net().Heal()
					routesMatch(t, c, nil, "routes after healing "+shape)
					if err := c.WaitReady(ctx); err != nil {
						t.Fatalf("cluster not ready after healing %s: %v", shape, err)
					}
				})
			}
		})
	}
}

// TestAsymmetricCutIsOneWay: with n1's outbound bytes cut, nothing n1 sends
// arrives anywhere while what the others send n1 still does.
func TestAsymmetricCutIsOneWay(t *testing.T) {
	c := start(t, 3)
	var cuts [][2]string
	for _, o := range []string{"n2", "n3"} {
		cuts = append(cuts, [2]string{"n1", o})
	}
	c.Net().Grudge(cuts)
	time.Sleep(200 * time.Millisecond) // let writes under way finish
	out, in := bytesOf(c, "n1")
	time.Sleep(1500 * time.Millisecond) // less than the 3s before a route is declared stale
	out2, in2 := bytesOf(c, "n1")
	if out2 != out || in2 <= in {
		t.Fatalf("in 1.5s n1 sent %d bytes (want 0) and received %d (want some)", out2-out, in2-in)
	}
	t.Logf("n1 received %d bytes and sent none", in2-in)
	c.Net().Heal()
	routesMatch(t, c, nil, "routes after healing")
}

// bytesOf sums what node x's links delivered from x (out) and to x (in).
func bytesOf(c *node.Cluster, x string) (out, in int64) {
	for _, l := range c.Net().Links() {
		s := l.Stats()
		switch {
		case l.From == x:
			out, in = out+s.BytesForward, in+s.BytesBackward
		case l.To == x:
			out, in = out+s.BytesBackward, in+s.BytesForward
		}
	}
	return out, in
}
