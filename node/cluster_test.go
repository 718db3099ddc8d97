package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
)

// The test binary doubles as the node program: started as
// "<test binary> node --config FILE" it runs an embedded server.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "node" && os.Args[2] == "--config" {
		if err := RunEmbedded(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "jetsam node:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: n, Dir: t.TempDir(), Command: []string{os.Args[0], "node"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(10 * time.Second) })
	t.Logf("cluster of %d ready in %s", n, c.ReadyIn)
	return c
}

// proxySockets returns the addresses of the proxies' sockets: where nodes
// dial (listen addresses, by dialing node) and where the proxies dial from
// (upstream local addresses, by dialed node).
func proxySockets(c *Cluster) (listen map[string]map[string]bool, upstream map[string]map[string]bool) {
	listen, upstream = map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, name := range c.NodeNames() {
		listen[name], upstream[name] = map[string]bool{}, map[string]bool{}
	}
	for _, l := range c.Net().Links() {
		listen[l.From][l.Addr()] = true
		for _, ci := range l.Conns() {
			if ci.Upstream != "" {
				upstream[l.To][ci.Upstream] = true
			}
		}
	}
	return listen, upstream
}

// checkNoBypass fails unless every route socket every node reports has a
// proxy at its other end: a proxy this node dials (a listen address of one of
// its outgoing links) or a proxy that dialed it (the upstream socket of one of
// its incoming links). The did_solicit flag cannot tell these apart: the
// server moves it to the surviving connection when it drops a duplicate.
func checkNoBypass(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listen, upstream := proxySockets(c)
	total := 0
	for _, n := range c.Nodes() {
		routes, err := n.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			addr := net.JoinHostPort(r.IP, strconv.Itoa(r.Port))
			if !listen[n.Name()][addr] && !upstream[n.Name()][addr] {
				t.Errorf("%s has a route to %s whose other end %s is not a proxy", n.Name(), r.RemoteName, addr)
			}
			total++
		}
	}
	if total == 0 {
		t.Fatal("no routes at all")
	}
	t.Logf("%d route connections, all through proxies", total)
}

// waitRoutes waits until every node has a route to every other (or, with
// without set, none between the named pair).
func waitRoutes(t *testing.T, c *Cluster, cond func(from, to string, n int) bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var last string
	for {
		ok := true
		last = ""
		for _, n := range c.Nodes() {
			routes, err := n.Routes(ctx)
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			count := map[string]int{}
			for _, r := range routes {
				count[r.RemoteName]++
			}
			for _, peer := range c.NodeNames() {
				if peer != n.Name() && !cond(n.Name(), peer, count[peer]) {
					ok = false
					last += fmt.Sprintf("%s has %d routes to %s; ", n.Name(), count[peer], peer)
				}
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestRoutesNeverBypassProxies(t *testing.T) {
	c := startCluster(t, 3)
	full := func(_, _ string, n int) bool { return n >= 1 }
	waitRoutes(t, c, full, "a full mesh")
	checkNoBypass(t, c)

	// A partial partition: n1 and n2 cut, both still reach n3. Then n2-n3
	// is bounced: when it comes back, n3 gossips n2's address to n1, and n1
	// dials it. Without a dead advertise address that dial goes straight to
	// n2's cluster port, around the proxies.
	isPair := func(from, to, a, b string) bool {
		return (from == a && to == b) || (from == b && to == a)
	}
	c.Net().BlockPair("n1", "n2")
	waitRoutes(t, c, func(from, to string, n int) bool {
		if isPair(from, to, "n1", "n2") {
			return n == 0
		}
		return n >= 1
	}, "n1 and n2 to lose their routes")
	c.Net().BlockPair("n2", "n3")
	waitRoutes(t, c, func(from, to string, n int) bool {
		if isPair(from, to, "n1", "n3") {
			return n >= 1
		}
		return n == 0
	}, "n2 to lose every route")
	c.Net().UnblockPair("n2", "n3")
	waitRoutes(t, c, func(from, to string, n int) bool {
		if isPair(from, to, "n2", "n3") || isPair(from, to, "n1", "n3") {
			return n >= 1
		}
		return true
	}, "n2 and n3 to reconnect")
	time.Sleep(3 * time.Second) // time for gossip-driven dials
	checkNoBypass(t, c)
	c.Heal()
	waitRoutes(t, c, full, "the mesh to heal")
	time.Sleep(3 * time.Second) // let any gossip-driven dial happen
	checkNoBypass(t, c)
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLeadersAreNamed(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.MetaLeader(ctx)
	if err != nil || c.Node(l) == nil {
		t.Fatalf("meta leader %q, %v", l, err)
	}
	if _, err := c.StreamLeader(ctx, "NOPE"); err == nil {
		t.Fatal("a stream that does not exist has a leader")
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	c := startCluster(t, 3)
	var pids []int
	for _, n := range c.Nodes() {
		pids = append(pids, n.Pid())
	}
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("node process %d still exists after Stop", pid)
		}
	}
	for _, l := range c.Net().Links() {
		if conn, err := net.DialTimeout("tcp", l.Addr(), time.Second); err == nil {
			conn.Close()
			t.Errorf("proxy %s still listens after Stop", l.Addr())
		}
	}
}

func TestPortInUseIsAClearError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Options{Nodes: 3, Dir: t.TempDir(), BasePort: port - 1, Command: []string{os.Args[0], "node"}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use", port)) {
		t.Fatalf("err = %v, want one naming port %d", err, port)
	}
}

func TestNodeThatCannotStartIsReported(t *testing.T) {
	testlock.Cluster(t)
	dir := t.TempDir()
	// A config the server rejects: the node exits and Start says why.
	_, err := Start(context.Background(), Options{Nodes: 1, Dir: dir, Command: []string{"/bin/false"}, ReadyTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "node n1 exited") {
		t.Fatalf("err = %v, want the exit of n1 reported", err)
	}
}
