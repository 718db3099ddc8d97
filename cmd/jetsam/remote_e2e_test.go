package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/sshlab"
	"github.com/jetsam-dev/jetsam/internal/testenv"
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
// between them, pauses and power failures on them, and raft faults on the
// agents' framed links, overlapping. The history is valid, cut links
// carried nothing in their cut direction, the raft faults acted on the
// hosts' links, every node's config and log came back, and nothing is left
// on the hosts.
func TestRemoteHostsPartition(t *testing.T) {
	lab := sshlab.Start(t, 3)
	testlock.Cluster(t)
	store := t.TempDir()
	args := append([]string{"run", "--store", store, "--time-limit", "30s", "--nemesis", "partition,pause,power-loss,raft",
		"--raft-faults", "delay,duplicate", "--raft-groups", "meta",
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
	for _, k := range []string{"partition", "pause", "power-loss", "raft"} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in the run: %v", k, kinds)
		}
	}
	acted := 0
	for _, f := range res.Faults {
		for _, tr := range f.Traffic {
			if f.F == "raft" {
				acted += int(tr.Raft["delayed heartbeat"] + tr.Raft["duplicated heartbeat"] + tr.Raft["delayed append"] + tr.Raft["duplicated append"])
			}
		}
	}
	if acted == 0 {
		t.Errorf("the raft faults delayed or duplicated no Raft message on the hosts' links")
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
	shared := filepath.Join(lab.Dir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o775); err != nil {
		t.Fatal(err)
	}
	all := []string{"--host", hosts[0], "--host", hosts[1], "--host", hosts[2], "--ssh-key", lab.KeyFile(), "--known-hosts", lab.KnownHosts()}
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
		{"a group-writable remote dir", append(all, "--remote-dir", shared),
			"host " + hosts[0] + ": jetsam's folder " + shared + " is unsafe: it is writable by its group or others (mode 0775)"},
		{"a remote dir in a group-writable folder", append(all, "--remote-dir", filepath.Join(shared, "jetsam")),
			"host " + hosts[0] + ": jetsam's folder " + shared + "/jetsam is unsafe: its parent " + shared + " is writable"},
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

// TestRemoteHostsByName runs a cluster on hosts given by name
// (root@h1.jetsam-lab:22, ...) and with jetsam's default folder on them.
// The controller runs in a mount namespace of its own whose /etc/hosts
// names the lab's hosts and whose resolv.conf points at the loopback, so
// this machine's files are untouched and a missing name never leaves it.
// Each name is resolved once: the nodes listen on, and the proxies dial,
// the lab's addresses. The folder is made 0700 in each host's home, and a
// link planted at the name earlier versions uploaded through is not
// followed.
func TestRemoteHostsByName(t *testing.T) {
	lab := sshlab.Start(t, 3)
	dir := t.TempDir()
	names, known := namedHosts(t, lab, dir)
	auth := []string{"--ssh-key", lab.KeyFile(), "--known-hosts", known}
	base := []string{"run", "--store", filepath.Join(dir, "store"), "--time-limit", "10s"}
	for _, tc := range []struct{ name, host, want string }{
		{"a name that resolves to nothing", "root@nosuch.jetsam-lab", "host root@nosuch.jetsam-lab:22: the name nosuch.jetsam-lab resolves to no address ("},
		{"a name and its address", "root@" + lab.HostAddr(0), "hosts " + names[0] + " and root@" + lab.HostAddr(0) + ":22 are one machine (both " + lab.HostAddr(0) + ":22): list each host once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runNamed(t, time.Minute, append(append(base, "--host", names[0], "--host", names[1], "--host", tc.host), auth...)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if msg := lines[len(lines)-1]; r.code != exitCannot || !strings.HasPrefix(msg, "jetsam: "+tc.want) || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("exit %d, stderr:\n%s\nwant 3 and a last line starting %q", r.code, r.stderr, tc.want)
			}
			t.Log(lines[len(lines)-1])
		})
	}

	// The name host 0's upload went through before: a link to a victim.
	sum := fileSum(t, jetsamBin)
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(lab.Home(0), ".cache", "jetsam", "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(bin, "jetsam-"+sum[:16]+".tmp")); err != nil {
		t.Fatal(err)
	}

	testlock.Cluster(t)
	args := append(base, "--nemesis", "partition", "--nemesis-interval", "3s", "--read-mode", "none", "--rate", "200", "--seed", "7")
	for _, n := range names {
		args = append(args, "--host", n)
	}
	r := runNamed(t, 3*time.Minute, append(args, auth...)...)
	store := filepath.Join(dir, "store")
	if _, err := os.Stat(filepath.Join(runDir(t, store), "results.json")); err != nil {
		t.Fatalf("exit %d, no results\nstderr:\n%s", r.code, r.stderr)
	}
	validOrProven(t, r, loadResults(t, runDir(t, store)))
	for i, n := range names {
		if want := "jetsam: host " + n + " is " + lab.HostAddr(i) + " for this run"; !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
		conf, _ := os.ReadFile(filepath.Join(runDir(t, store), "nodes", fmt.Sprintf("n%d", i+1), "nats.conf"))
		if !strings.Contains(string(conf), lab.HostAddr(i)+":") || strings.Contains(string(conf), "jetsam-lab") {
			t.Errorf("n%d's config does not use its host's address only:\n%s", i+1, conf)
		}
		folder := filepath.Join(lab.Home(i), ".cache", "jetsam")
		if fi, err := os.Stat(folder); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("host %d's folder %s: %v, %v; want mode 0700", i, folder, fi, err)
		}
		if got := fileSum(t, filepath.Join(folder, "bin", "jetsam-"+sum[:16])); got != sum {
			t.Errorf("host %d's jetsam has sha256 %s, want %s", i, got, sum)
		}
		if left, _ := os.ReadDir(filepath.Join(folder, "runs")); len(left) > 0 {
			t.Errorf("host %d still has run folders: %v", i, left)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Errorf("the planted link's target now holds %d bytes (%v)", len(b), err)
	}
	if left := hostProcesses(t, lab); len(left) > 0 {
		t.Errorf("processes left on the hosts: %v", left)
	}
}

// namedHosts names the lab's hosts h1.jetsam-lab, ...: it writes the
// /etc/hosts and resolv.conf runNamed mounts, and a known_hosts file
// holding the hosts' keys under their names. It returns the hosts as
// user@name:port and the known_hosts file.
func namedHosts(t *testing.T, lab *sshlab.Lab, dir string) ([]string, string) {
	t.Helper()
	keys, err := os.ReadFile(lab.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	etcHosts := "127.0.0.1 localhost\n::1 localhost\n"
	var known bytes.Buffer
	var names []string
	for i, line := range strings.Split(strings.TrimSpace(string(keys)), "\n") {
		f := strings.Fields(line) // address, type, key
		if len(f) != 3 || f[0] != lab.HostAddr(i) {
			t.Fatalf("known_hosts line %d is %q", i+1, line)
		}
		name := fmt.Sprintf("h%d.jetsam-lab", i+1)
		etcHosts += lab.HostAddr(i) + " " + name + "\n"
		fmt.Fprintf(&known, "%s %s %s\n", name, f[1], f[2])
		names = append(names, "root@"+name+":22")
	}
	for file, body := range map[string]string{
		"hosts":       etcHosts,
		"resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
		"known_hosts": known.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return names, filepath.Join(dir, "known_hosts")
}

// runNamed is runJetsam in a mount namespace of its own (unshare) whose
// /etc/hosts and /etc/resolv.conf are namedHosts' files from the same
// folder as the known_hosts file in args.
func runNamed(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	testenv.Require(t, err)
	dir := ""
	for i, a := range args {
		if a == "--known-hosts" && i+1 < len(args) {
			dir = filepath.Dir(args[i+1])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	mount := `mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"`
	cmd := exec.CommandContext(ctx, unshare, append([]string{"--mount", "--propagation", "private", "sh", "-c", mount, "sh",
		filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf"), jetsamBin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("jetsam %v did not finish within %s\nstderr:\n%s", args, limit, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("jetsam %v: %v", args, err)
	}
	return r
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
