package sshlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
)

func TestLab(t *testing.T) {
	l := Start(t, 3)
	if got := len(l.Hosts()); got != 3 {
		t.Fatalf("%d hosts, want 3", got)
	}
	for i, h := range l.Hosts() {
		want := fmt.Sprintf("root@10.250.%d.%d:22", l.s, 11+i)
		if h != want || l.HostAddr(i) != fmt.Sprintf("10.250.%d.%d", l.s, 11+i) {
			t.Errorf("host %d is %s (%s), want %s", i, h, l.HostAddr(i), want)
		}
	}
	if fi, err := os.Stat(l.KeyFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v, %v", l.KeyFile(), fi, err)
	}

	// Each host has its address and lo, and no default route.
	for i := range l.hosts {
		out, err := l.Exec(i, "ip", "-4", "addr")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "inet "+l.HostAddr(i)+"/24") || !strings.Contains(string(out), "inet 127.0.0.1/8") {
			t.Errorf("host %d: ip -4 addr shows\n%s", i, out)
		}
		if out, err := l.Exec(i, "ip", "route", "show", "default"); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("host %d has a default route: %q %v", i, out, err)
		}
	}
	// Hosts reach each other over the bridge.
	if _, err := l.Exec(0, "bash", "-c", "exec 3<>/dev/tcp/"+l.HostAddr(2)+"/22; head -c 7 <&3"); err != nil {
		t.Errorf("host 0 cannot reach host 2's sshd: %v", err)
	}
	if _, err := l.Exec(0, "bash", "-c", "exec 3<>/dev/tcp/"+l.ControllerAddr()+"/1"); err == nil {
		t.Errorf("nothing listens on the controller's port 1, yet host 0 connected")
	}

	// OpenSSH's own client accepts the key and the known_hosts file.
	if ssh, err := exec.LookPath("ssh"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ssh, "-F", "/dev/null", "-i", l.KeyFile(),
			"-o", "UserKnownHostsFile="+l.KnownHosts(), "-o", "StrictHostKeyChecking=yes",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
			"root@"+l.HostAddr(1), "ip -4 -o addr show dev eth0; echo shlvl=$SHLVL; echo home=~").CombinedOutput()
		if err != nil || !strings.Contains(string(out), l.HostAddr(1)+"/24") {
			t.Errorf("ssh to host 1: %v: %s", err, out)
		}
		// The session's shell is nested, so it skipped ~/.bashrc.
		if !strings.Contains(string(out), "shlvl=2") {
			t.Errorf("ssh to host 1: SHLVL is not 2: %s", out)
		}
		// ~ is the host's own home, in the lab's folder.
		if !strings.Contains(string(out), "home="+l.Home(1)+"\n") || l.Home(1) == l.Home(0) || !strings.HasPrefix(l.Home(1), l.Dir()) {
			t.Errorf("ssh to host 1: ~ is not %s: %s", l.Home(1), out)
		}
		if fi, err := os.Stat(l.Home(1)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("host 1's home %s: %v, %v", l.Home(1), fi, err)
		}
	}

	pids, err := l.Pids(0)
	if err != nil || len(pids) == 0 || !contains(pids, l.SSHDPid(0)) {
		t.Errorf("pids in host 0: %v %v, want sshd %d among them", pids, err, l.SSHDPid(0))
	}
	// A process left running inside a host is killed by Close.
	stray := exec.Command("ip", "netns", "exec", l.Namespace(1), "sleep", "300")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan struct{})
	go func() { _ = stray.Wait(); close(strayDone) }()

	sshds := []int{}
	for i := range l.hosts {
		sshds = append(sshds, l.SSHDPid(i))
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start))
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Errorf("a process in host 1 survived Close")
	}
	for _, p := range sshds {
		if err := syscall.Kill(p, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("sshd %d still exists after Close (%v)", p, err)
		}
	}
	out, err := run("netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], fmt.Sprintf("jsl%d", l.s)) {
			t.Errorf("namespace %s left after Close", f[0])
		}
	}
	if _, err := net.InterfaceByName(l.rootLink()); err == nil {
		t.Errorf("root-side veth %s left after Close", l.rootLink())
	}
}

// Two labs at once get different subnets, and both work.
func TestTwoLabs(t *testing.T) {
	a := Start(t, 1)
	b := Start(t, 1)
	if a.s == b.s {
		t.Fatalf("both labs claimed 10.250.%d.0/24", a.s)
	}
	for _, l := range []*Lab{a, b} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(l.HostAddr(0), "22"), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// A crashed run's namespaces and veth are removed by the next lab of the
// same S.
func TestLeftovers(t *testing.T) {
	testenv.Require(t, Check())
	l := &Lab{dir: t.TempDir()}
	if err := l.claim(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Flock(int(l.lock.Fd()), syscall.LOCK_UN)
		l.lock.Close()
	}()
	left := []string{l.switchNS(), l.hostNS(0), l.hostNS(6)}
	for _, ns := range left {
		if _, err := run("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run("link", "add", l.rootLink(), "type", "veth", "peer", "name", "ctl", "netns", l.switchNS()); err != nil {
		t.Fatal(err)
	}
	stray := exec.Command("ip", "netns", "exec", l.hostNS(6), "sleep", "300")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = stray.Wait(); close(done) }()

	if err := l.cleanLeftovers(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left", ns)
		}
	}
	if _, err := net.InterfaceByName(l.rootLink()); err == nil {
		t.Errorf("veth %s left", l.rootLink())
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("the leftover namespace's process survived")
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
