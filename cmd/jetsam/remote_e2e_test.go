package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/sshlab"
	"github.com/jetsam-dev/jetsam/internal/testlock"
)

// labArgs writes the lab's hosts file and returns the run flags that reach
// its hosts.
func labArgs(t *testing.T, lab *sshlab.Lab) []string {
	t.Helper()
	hosts := filepath.Join(t.TempDir(), "hosts")
	body := "# the lab's hosts, one node each\n" + strings.Join(lab.Hosts(), "\n") + "\n"
	if err := os.WriteFile(hosts, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--hosts", hosts, "--ssh-key", lab.KeyFile(), "--known-hosts", lab.KnownHosts(), "--remote-dir", filepath.Join(lab.Dir(), "remote")}
}

// hostProcesses lists what still runs on each host besides its sshd.
func hostProcesses(t *testing.T, lab *sshlab.Lab) map[int][]int {
	t.Helper()
	left := map[int][]int{}
	for i := range lab.Hosts() {
		pids, err := lab.Pids(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pids {
			if p != lab.SSHDPid(i) {
				left[i] = append(left[i], p)
			}
		}
	}
	return left
}

// TestRemoteHostsPartition runs a cluster on three hosts (network
// namespaces, each with a real sshd), reached over SSH, with partitions
// between them and pauses and power failures on them, overlapping. The
// history is valid, cut links carried nothing in their cut direction,
// every node's config and log came back, and nothing is left on the hosts.
func TestRemoteHostsPartition(t *testing.T) {
	lab := sshlab.Start(t, 3)
	testlock.Cluster(t)
	store := t.TempDir()
	args := append([]string{"run", "--store", store, "--time-limit", "30s", "--nemesis", "partition,pause,power-loss",
		"--nemesis-overlap", "--nemesis-interval", "5s", "--targets", "one,minority", "--read-mode", "none",
		"--sync-interval", "always", "--writeback", "1s", "--rate", "300", "--seed", "5"}, labArgs(t, lab)...)
	r := runJetsam(t, 4*time.Minute, args...)
	dir := runDir(t, store)
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
		t.Fatalf("exit %d, no results\nstderr:\n%s", r.code, r.stderr)
	}
	res := loadResults(t, dir)
	validOrProven(t, r, res)
	kinds := map[string]int{}
	for _, f := range res.Faults {
		kinds[f.F]++
	}
	for _, k := range []string{"partition", "pause", "power-loss"} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in the run: %v", k, kinds)
		}
	}
	lastHeal := int64(0)
	for _, f := range res.Faults {
		if f.End != nil && *f.End > lastHeal {
			lastHeal = *f.End
		}
	}
	okAfter := 0
	for _, f := range res.Faults {
		if f.End != nil && *f.End == lastHeal {
			okAfter = f.OKAfter
		}
		// [a, b] cut: no byte from a to b, on a's link to b (forward) nor
		// on b's link to a (backward).
		for _, c := range f.Cuts {
			for _, tr := range f.Traffic {
				if (tr.From == c[0] && tr.To == c[1] && tr.BytesForward > 0) || (tr.From == c[1] && tr.To == c[0] && tr.BytesBackward > 0) {
					t.Errorf("%s: link %s->%s carried bytes %s->%s while cut: %+v", f.Describe(), tr.From, tr.To, c[0], c[1], tr)
				}
			}
		}
	}
	if okAfter == 0 {
		t.Errorf("no ok operation after the last heal")
	}
	ti := readTest(t, dir)
	for i, rep := range ti.Server.Reported {
		if rep.Version == "" {
			t.Errorf("node %d reported no version", i)
		}
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		for _, f := range []string{"nats.conf", "nats.log"} {
			if _, err := os.Stat(filepath.Join(dir, "nodes", n, f)); err != nil {
				t.Errorf("%s's %s did not come back: %v", n, f, err)
			}
		}
		conf, _ := os.ReadFile(filepath.Join(dir, "nodes", n, "nats.conf"))
		if !strings.Contains(string(conf), "10.250.") {
			t.Errorf("%s's config does not listen on its host's address:\n%s", n, conf)
		}
	}
	if left := hostProcesses(t, lab); len(left) > 0 {
		t.Errorf("processes left on the hosts: %v", left)
	}
	for i := range lab.Hosts() {
		out, _ := lab.Exec(i, "sh", "-c", "ls "+filepath.Join(lab.Dir(), "remote", "runs")+" 2>/dev/null")
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("host %d still has run folders: %s", i, out)
		}
	}
	t.Logf("ops %+v, faults %v, %.0f ok/s", res.Ops, kinds, res.Stats.OKPerSecond)
}

// TestRemoteRunKilledHalfWay kills the controller (SIGKILL, no chance to
// clean up) once the run is under way: the agents see their SSH sessions
// end and stop every node, so no process is left on any host.
func TestRemoteRunKilledHalfWay(t *testing.T) {
	lab := sshlab.Start(t, 3)
	testlock.Cluster(t)
	store := t.TempDir()
	s := startJetsam(t, append([]string{"run", "--store", store, "--time-limit", "60s", "--nemesis", "partition",
		"--nemesis-interval", "3s", "--read-mode", "none", "--rate", "200"}, labArgs(t, lab)...)...)
	s.waitHistory(t, store, func(b []byte) bool { return strings.Count(string(b), `"type":"ok"`) >= 100 })
	if len(hostProcesses(t, lab)) != 3 {
		t.Fatalf("want a node running on every host before the kill: %v", hostProcesses(t, lab))
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done // startJetsam's own Wait reaps it
	if !waitUntil(30*time.Second, func() bool { return len(hostProcesses(t, lab)) == 0 }) {
		t.Fatalf("30s after the controller died, still running on the hosts: %v", hostProcesses(t, lab))
	}
	// What was recorded is still checkable.
	c := runJetsam(t, time.Minute, "check", runDir(t, store))
	if c.code == exitCannot {
		t.Fatalf("the history of a killed run does not check: %s", c.stderr)
	}
}

// Bad hosts are refused in one sentence that names the host, exit 3.
func TestRemoteBadInput(t *testing.T) {
	lab := sshlab.Start(t, 3)
	store := t.TempDir()
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o644)
	hosts := lab.Hosts()
	base := []string{"run", "--store", store, "--time-limit", "5s", "--nemesis", "none"}
	wrongKey := filepath.Join(t.TempDir(), "id")
	if err := sshlab.WriteClientKey(wrongKey); err != nil {
		t.Fatal(err)
	}
	unreachable := "root@" + lab.UnusedAddr() + ":22"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown host key", []string{"--host", hosts[0], "--host", hosts[1], "--host", hosts[2], "--ssh-key", lab.KeyFile(), "--known-hosts", empty},
			"host " + hosts[0] + " has a host key that is not in"},
		{"wrong key", []string{"--host", hosts[0], "--host", hosts[1], "--host", hosts[2], "--ssh-key", wrongKey, "--known-hosts", lab.KnownHosts()},
			"host " + hosts[0] + " refused the SSH key"},
		{"unreachable", []string{"--host", hosts[0], "--host", unreachable, "--host", hosts[2], "--ssh-key", lab.KeyFile(), "--known-hosts", lab.KnownHosts()},
			"host " + unreachable + " is unreachable"},
		{"too few hosts", []string{"--host", hosts[0], "--host", hosts[1], "--nodes", "3"}, "2 hosts for --nodes 3"},
		{"a host twice", []string{"--host", hosts[0], "--host", hosts[0], "--host", hosts[1]}, "is listed twice"},
		{"a bad host", []string{"--host", "nobody-at-all"}, "nobody-at-all"},
		{"corrupt on hosts", []string{"--host", hosts[0], "--host", hosts[1], "--host", hosts[2], "--nemesis", "corrupt", "--targets", "one"}, "--nemesis corrupt works on local nodes only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runJetsam(t, time.Minute, append(base, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			msg := lines[len(lines)-1]
			if r.code != exitCannot || !strings.HasPrefix(msg, "jetsam: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, last line %q; want 3 and %q", r.code, msg, tc.want)
			}
			if strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("a stack trace:\n%s", r.stderr)
			}
		})
	}
}
