// Package sshlab gives tests real remote hosts on this machine: each host is
// a network namespace running a real OpenSSH sshd, and all of them hang off
// one Linux bridge that the test process (the jetsam controller, in the root
// namespace) reaches over its own veth pair:
//
//	root ns (test process)      switch ns jsl<S>sw         host ns jsl<S>h1, jsl<S>h2, ...
//	jsl<S>c 10.250.S.1 ──veth── ctl ─┐
//	                                 br0 ─ h1 ──veth── eth0 10.250.S.11, lo, sshd
//	                                  └─── h2 ──veth── eth0 10.250.S.12, lo, sshd
//
// S (1..250) is claimed per process with a lock file, so test binaries
// running at once never share names or addresses. There is no default route
// anywhere, so nothing in the lab reaches beyond 10.250.S.0/24.
//
// The hosts share this machine's file system (only the network is theirs):
// two hosts writing the same path write the same file. Each host's sessions
// have a home of their own in the lab's folder (HOME, see Home), so what a
// program keeps under ~ is kept per host, as on separate machines.
//
// Use it from a test:
//
//	lab := sshlab.Start(t, 3) // skips (fails under JETSAM_CI) without root, ip or sshd
//	hosts := lab.Hosts()      // "root@10.250.S.11:22", ...
//	key, known := lab.KeyFile(), lab.KnownHosts()
//
// Close runs at the end of the test; it kills every process left in the
// hosts' namespaces and removes the namespaces.
package sshlab

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is the OpenSSH server every host runs.
const SSHD = "/usr/sbin/sshd"

const (
	maxHosts     = 50
	startTimeout = 10 * time.Second // for each sshd to accept TCP
	execTimeout  = 30 * time.Second // for a command run by Exec or by the lab
)

// Lab is a set of hosts in network namespaces, each running sshd.
type Lab struct {
	s     int    // the claimed subnet: 10.250.S.0/24
	dir   string // configs, keys, logs
	lock  *os.File
	hosts []*host

	keyFile, knownHosts string

	closeOnce sync.Once
	closeErr  error
}

type host struct {
	ns, addr string
	home     string // HOME of the host's sessions
	sshd     *exec.Cmd
	exited   chan struct{} // closed when sshd has exited (and been reaped)
	log      string
}

// Start builds a lab of n hosts and registers its Close with t.Cleanup. It
// needs root, ip (iproute2) and /usr/sbin/sshd; without them it skips the
// test, or fails it under CI, saying what is missing.
func Start(t testing.TB, n int) *Lab {
	t.Helper()
	testenv.Require(t, Check())
	if n < 1 || n > maxHosts {
		t.Fatalf("sshlab: %d hosts asked for; a lab has 1 to %d", n, maxHosts)
	}
	l := &Lab{dir: t.TempDir()}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("sshlab: %v", err)
		}
	})
	if err := l.start(n); err != nil {
		var np notPermitted
		if errors.As(err, &np) {
			testenv.Require(t, err) // root without the capabilities (a plain container)
		}
		t.Fatalf("sshlab: %v", err)
	}
	return l
}

// Check says why a lab cannot be built here, or nil when it can.
func Check() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need it)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (apt-get install iproute2)")
	}
	if _, err := os.Stat(SSHD); err != nil {
		missing = append(missing, SSHD+" (apt-get install openssh-server)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("sshlab needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// Hosts returns the hosts as user@addr:port, in order.
func (l *Lab) Hosts() []string {
	out := make([]string, len(l.hosts))
	for i, h := range l.hosts {
		out[i] = "root@" + net.JoinHostPort(h.addr, "22")
	}
	return out
}

// HostAddr returns host i's IPv4 address (10.250.S.11 for i = 0).
func (l *Lab) HostAddr(i int) string { return l.hosts[i].addr }

// ControllerAddr returns the root namespace's address on the lab network
// (10.250.S.1), the address the hosts see the test process dial from.
func (l *Lab) ControllerAddr() string { return l.ip(1) }

// UnusedAddr returns an address inside the lab's subnet that nothing holds
// (10.250.S.99): dialling it fails with "no route to host" after the
// kernel's ARP attempts (about 3 s).
func (l *Lab) UnusedAddr() string { return l.ip(99) }

// KeyFile is the client's private key (OpenSSH PEM, mode 0600), authorised
// for root on every host.
func (l *Lab) KeyFile() string { return l.keyFile }

// KnownHosts is a known_hosts file holding every host's key.
func (l *Lab) KnownHosts() string { return l.knownHosts }

// Dir is the lab's own directory (configs, keys, sshd logs).
func (l *Lab) Dir() string { return l.dir }

// Namespace returns host i's network namespace name.
func (l *Lab) Namespace(i int) string { return l.hosts[i].ns }

// SSHDLog returns the path of host i's sshd log (its stderr with -e).
func (l *Lab) SSHDLog(i int) string { return l.hosts[i].log }

// Home returns host i's home folder (mode 0700), the HOME of its sessions.
func (l *Lab) Home(i int) string { return l.hosts[i].home }

// SSHDPid returns the pid of host i's listening sshd.
func (l *Lab) SSHDPid(i int) int { return l.hosts[i].sshd.Process.Pid }

// Exec runs a command inside host i's namespace (ip netns exec) and
// returns its standard output; on failure the error holds its standard
// error. It is bounded by 30 s.
func (l *Lab) Exec(i int, args ...string) ([]byte, error) {
	return run(append([]string{"netns", "exec", l.hosts[i].ns}, args...)...)
}

// Pids lists the processes running inside host i's namespace (ip netns
// pids): its sshd, the sessions' processes and whatever they started.
func (l *Lab) Pids(i int) ([]int, error) { return nsPids(l.hosts[i].ns) }

func (l *Lab) ip(last int) string { return fmt.Sprintf("10.250.%d.%d", l.s, last) }

func (l *Lab) switchNS() string    { return fmt.Sprintf("jsl%dsw", l.s) }
func (l *Lab) rootLink() string    { return fmt.Sprintf("jsl%dc", l.s) }
func (l *Lab) hostNS(i int) string { return fmt.Sprintf("jsl%dh%d", l.s, i+1) }

func (l *Lab) start(n int) error {
	if err := l.claim(); err != nil {
		return err
	}
	if err := l.cleanLeftovers(); err != nil {
		return err
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation dir
		return err
	}
	if err := l.writeKeys(n); err != nil {
		return err
	}
	if err := l.buildNetwork(n); err != nil {
		return err
	}
	for i := range l.hosts {
		if err := l.startSSHD(i); err != nil {
			return err
		}
	}
	for i := range l.hosts {
		if err := l.waitSSHD(i); err != nil {
			return err
		}
	}
	return nil
}

// claim takes the first free S, by an flock'd lock file per S, skipping any
// S whose subnet is already on one of this machine's interfaces.
func (l *Lab) claim() error {
	for s := 1; s <= 250; s++ {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("jetsam-sshlab-%d.lock", s))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return fmt.Errorf("open lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		if subnetInUse(s) {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
			continue
		}
		l.s, l.lock = s, f
		return nil
	}
	return errors.New("every lab subnet 10.250.1-250.0/24 is taken (250 labs running, or the addresses are in use)")
}

// subnetInUse says whether an interface other than a leftover of this lab
// has an address in 10.250.S.0/24.
func subnetInUse(s int) bool {
	_, subnet, _ := net.ParseCIDR(fmt.Sprintf("10.250.%d.0/24", s))
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifs {
		if ifc.Name == fmt.Sprintf("jsl%dc", s) {
			continue // removed by cleanLeftovers
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (subnet.Contains(ipn.IP) || ipn.Contains(subnet.IP)) {
				return true
			}
		}
	}
	return false
}

// cleanLeftovers removes the namespaces and root-side veth of an earlier
// run with the same S that crashed before its Close, killing what still
// runs in them.
func (l *Lab) cleanLeftovers() error {
	out, err := run("netns", "list")
	if err != nil {
		return err
	}
	mine := regexp.MustCompile(fmt.Sprintf(`^jsl%d(sw|h[0-9]+)$`, l.s))
	// The veth first: once its peer's namespace is deleted, it goes away
	// on its own, but asynchronously.
	errs := []error{delLink(l.rootLink())}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !mine.MatchString(fields[0]) {
			continue
		}
		errs = append(errs, killNS(fields[0]))
		if _, err := run("netns", "del", fields[0]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeKeys makes the client key, each host's key, authorized_keys and
// known_hosts.
func (l *Lab) writeKeys(n int) error {
	clientPub, err := writeKey(filepath.Join(l.dir, "id_ed25519"), "jetsam-sshlab client")
	if err != nil {
		return err
	}
	l.keyFile = filepath.Join(l.dir, "id_ed25519")
	auth := filepath.Join(l.dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return err
	}
	var known bytes.Buffer
	for i := 0; i < n; i++ {
		hd := filepath.Join(l.dir, fmt.Sprintf("h%d", i+1))
		h := &host{ns: l.hostNS(i), addr: l.ip(11 + i), home: filepath.Join(hd, "home")}
		if err := os.MkdirAll(h.home, 0o700); err != nil {
			return err
		}
		hostKey := filepath.Join(hd, "ssh_host_ed25519_key")
		pub, err := writeKey(hostKey, "jetsam-sshlab "+h.ns)
		if err != nil {
			return err
		}
		known.WriteString(knownhosts.Line([]string{net.JoinHostPort(h.addr, "22")}, pub) + "\n")
		// SHLVL=1 makes the session's bash a nested shell, which does not
		// read ~/.bashrc (bash reads it under sshd only at level 1): a
		// root .bashrc may be slow (pyenv) and, killed half way (Close
		// kills every process of a host), leave a lock file that stalls
		// every later root shell on this machine. HOME keeps the
		// sessions' ~ apart from this machine's real one.
		conf := strings.Join([]string{
			"ListenAddress " + h.addr,
			"Port 22",
			"HostKey " + hostKey,
			"PidFile " + filepath.Join(hd, "sshd.pid"),
			"AuthorizedKeysFile " + auth,
			"PermitRootLogin prohibit-password",
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"UsePAM no",
			"StrictModes no",
			"UseDNS no",
			"PrintMotd no",
			"PrintLastLog no",
			"X11Forwarding no",
			"MaxStartups 100:30:200",
			"MaxSessions 100",
			"SetEnv SHLVL=1 HOME=" + h.home,
			"",
		}, "\n")
		if err := os.WriteFile(filepath.Join(hd, "sshd_config"), []byte(conf), 0o600); err != nil {
			return err
		}
		h.log = filepath.Join(hd, "sshd.log")
		l.hosts = append(l.hosts, h)
	}
	l.knownHosts = filepath.Join(l.dir, "known_hosts")
	return os.WriteFile(l.knownHosts, known.Bytes(), 0o600)
}

// writeKey writes a fresh ed25519 private key as OpenSSH PEM (mode 0600)
// and returns its public key.
func writeKey(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

func (l *Lab) buildNetwork(n int) error {
	sw, root := l.switchNS(), l.rootLink()
	cmds := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
		{"link", "add", root, "type", "veth", "peer", "name", "ctl", "netns", sw},
		{"-n", sw, "link", "set", "ctl", "master", "br0", "up"},
		{"addr", "add", l.ip(1) + "/24", "dev", root},
		{"link", "set", root, "up"},
	}
	for i, h := range l.hosts {
		port := fmt.Sprintf("h%d", i+1)
		cmds = append(cmds,
			[]string{"netns", "add", h.ns},
			[]string{"-n", h.ns, "link", "set", "lo", "up"},
			[]string{"-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns},
			[]string{"-n", sw, "link", "set", port, "master", "br0", "up"},
			[]string{"-n", h.ns, "addr", "add", h.addr + "/24", "dev", "eth0"},
			[]string{"-n", h.ns, "link", "set", "eth0", "up"},
		)
	}
	for i, c := range cmds {
		if _, err := run(c...); err != nil {
			if i == 0 && (strings.Contains(err.Error(), "not permitted") || strings.Contains(err.Error(), "Permission denied")) {
				return notPermitted{err}
			}
			return err
		}
	}
	return nil
}

// notPermitted is root lacking CAP_SYS_ADMIN or CAP_NET_ADMIN, as in an
// unprivileged container.
type notPermitted struct{ err error }

func (e notPermitted) Error() string {
	return fmt.Sprintf("sshlab needs to create network namespaces, which this root may not (%v): run privileged", e.err)
}

func (l *Lab) startSSHD(i int) error {
	h := l.hosts[i]
	logf, err := os.OpenFile(h.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	conf := filepath.Join(filepath.Dir(h.log), "sshd_config")
	// ip netns exec execs sshd in place, so this process is sshd itself.
	cmd := exec.Command("ip", "netns", "exec", h.ns, SSHD, "-D", "-e", "-f", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the test binary die without Close, sshd dies with it (the
	// kernel ties this to the starting OS thread, which Go keeps unless a
	// goroutine exits locked to it); what its sessions started lives on
	// until the next lab of this S removes it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd in %s: %w", h.ns, err)
	}
	h.sshd, h.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(h.exited) }()
	return nil
}

// waitSSHD waits until host i's sshd accepts TCP on its address.
func (l *Lab) waitSSHD(i int) error {
	h := l.hosts[i]
	addr := net.JoinHostPort(h.addr, "22")
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-h.exited:
			return fmt.Errorf("sshd in %s exited at start: %s", h.ns, tail(h.log))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd in %s did not accept connections on %s within %v (%v): %s", h.ns, addr, startTimeout, lastErr, tail(h.log))
}

// Close kills every sshd and every process still running in the hosts'
// namespaces, removes the namespaces and the root-side veth, and releases
// S. It may be called more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		if l.lock == nil {
			return // nothing was claimed
		}
		var errs []error
		for _, h := range l.hosts {
			if h.sshd != nil && h.sshd.Process != nil {
				_ = h.sshd.Process.Kill()
			}
			errs = append(errs, killNS(h.ns))
		}
		for _, h := range l.hosts {
			if h.exited == nil {
				continue
			}
			select {
			case <-h.exited:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("sshd %d in %s did not exit", h.sshd.Process.Pid, h.ns))
			}
		}
		// Deleting one end of a veth deletes the other at once, while a
		// deleted namespace's links go away asynchronously.
		errs = append(errs, delLink(l.rootLink()))
		for _, ns := range l.namespaces() {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
				continue
			}
			if _, err := run("netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
		_ = syscall.Flock(int(l.lock.Fd()), syscall.LOCK_UN)
		l.lock.Close()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func (l *Lab) namespaces() []string {
	ns := []string{}
	for _, h := range l.hosts {
		ns = append(ns, h.ns)
	}
	return append(ns, l.switchNS())
}

// killNS SIGKILLs every process in namespace ns until none is left
// (bounded: 5 s).
func killNS(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := nsPids(ns)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s survive SIGKILL", pids, ns)
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nsPids(ns string) ([]int, error) {
	out, err := run("netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: unexpected %q", ns, f)
		}
		// A zombie still counts as in the namespace until its parent
		// reaps it; it is dead already, so it is not listed.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && zombie(st) {
			continue
		}
		pids = append(pids, p)
	}
	return pids, nil
}

func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func delLink(name string) error {
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	if _, err := run("link", "del", name); err != nil {
		if _, gone := net.InterfaceByName(name); gone != nil {
			return nil // it went away meanwhile, with its peer's namespace
		}
		return err
	}
	return nil
}

// run runs ip with args (bounded by execTimeout) and returns its stdout.
func run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// tail returns the end of a log file, on one line.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\n", " | ")), " ")
	if s == "" {
		return "(sshd wrote nothing)"
	}
	return s
}
