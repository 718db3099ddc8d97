package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/sshlab"
	"golang.org/x/crypto/ssh"
)

// TestLab runs everything that needs real hosts against one lab of three
// (a lab takes under a second to build, a session here about 0.1 s; the
// two dials of an unused address wait 3 s each for ARP to give up).
func TestLab(t *testing.T) {
	lab := sshlab.Start(t, 3)
	var hosts []Host
	for _, s := range lab.Hosts() {
		h, err := ParseHost(s)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	auth := Auth{KeyFile: lab.KeyFile(), KnownHosts: lab.KnownHosts()}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	start := time.Now()
	c, err := Dial(ctx, hosts[0], auth)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("Dial took %v", time.Since(start))
	if c.Host() != hosts[0] {
		t.Errorf("Host() = %v, want %v", c.Host(), hosts[0])
	}

	t.Run("Run", func(t *testing.T) {
		start := time.Now()
		out, err := c.Run(ctx, "echo hello; ip -4 -o addr")
		t.Logf("Run took %v", time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if !strings.HasPrefix(s, "hello\n") {
			t.Errorf("output %q does not start with hello", s)
		}
		// The command ran inside host 0's namespace.
		if !strings.Contains(s, "inet "+lab.HostAddr(0)+"/24") || strings.Contains(s, lab.HostAddr(1)) || strings.Contains(s, lab.ControllerAddr()+"/") {
			t.Errorf("ip -4 addr on host 0 shows\n%s", s)
		}
	})

	t.Run("RunFails", func(t *testing.T) {
		out, err := c.Run(ctx, "echo partial; echo first >&2; echo 'no such thing' >&2; exit 3")
		if err == nil {
			t.Fatal("exit 3 succeeded")
		}
		msg := err.Error()
		for _, want := range []string{"host " + hosts[0].String() + ": ", "failed (exit status 3): first; no such thing"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
		var exit *ssh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
			t.Errorf("error %v does not unwrap to exit status 3", err)
		}
		if string(out) != "partial\n" {
			t.Errorf("output %q, want what was printed", out)
		}
	})

	t.Run("RunCancelled", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Run(short, "sleep 43 & sleep 41")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), hosts[0].String()) {
			t.Errorf("error %v, want the deadline, naming the host", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Run took %v after its context ended", d)
		}
		waitGone(t, lab, 0, "sleep")
	})

	t.Run("Start", func(t *testing.T) {
		s, err := c.Start("cat; echo done >&2; exit 4")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(s.Stdin, "line one\nline two\n"); err != nil {
			t.Fatal(err)
		}
		s.Stdin.Close()
		out, err := io.ReadAll(s.Stdout)
		if err != nil || string(out) != "line one\nline two\n" {
			t.Errorf("read %q, %v", out, err)
		}
		if err := s.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 4): done") {
			t.Errorf("Wait: %v, want exit status 4 and stderr", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close after Wait: %v", err)
		}

		s, err = c.Start("exec sleep 42")
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- s.Wait() }()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-waited:
			if err == nil {
				t.Errorf("Wait of a closed session succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after Close")
		}
		waitGone(t, lab, 0, "sleep")
	})

	t.Run("Upload", func(t *testing.T) {
		dir := t.TempDir() // the hosts share this machine's files
		local := filepath.Join(dir, "local")
		data := make([]byte, 3<<20+17)
		_, _ = rand.Read(data)
		if err := os.WriteFile(local, data, 0o600); err != nil {
			t.Fatal(err)
		}
		remote := filepath.Join(dir, "remote dir", "bin", "jet'sam")
		start := time.Now()
		copied, err := c.Upload(ctx, local, remote, 0o755)
		t.Logf("Upload of %d bytes took %v", len(data), time.Since(start))
		if err != nil || !copied {
			t.Fatalf("first Upload: copied=%v, %v", copied, err)
		}
		out, err := c.Run(ctx, "sha256sum < "+ShellQuote(remote)+"; stat -c %a "+ShellQuote(remote)+"; ls -a "+ShellQuote(filepath.Dir(remote)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		f := strings.Fields(string(out))
		if len(f) != 6 || f[0] != hex.EncodeToString(sum[:]) || f[2] != "755" || f[5] != "jet'sam" {
			t.Errorf("on the host: %q, want sha256 %x, mode 755 and no .tmp", out, sum)
		}

		start = time.Now()
		copied, err = c.Upload(ctx, local, remote, 0o755)
		t.Logf("second Upload took %v", time.Since(start))
		if err != nil || copied {
			t.Errorf("second Upload: copied=%v, %v; want nothing copied", copied, err)
		}
		// Same bytes, another mode: nothing copied, the mode fixed.
		if copied, err := c.Upload(ctx, local, remote, 0o700); err != nil || copied {
			t.Errorf("Upload with a new mode: copied=%v, %v", copied, err)
		}
		if fi, err := os.Stat(remote); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("mode after the new mode: %v, %v", fi, err)
		}
		// Other bytes are copied.
		if err := os.WriteFile(local, []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		if copied, err := c.Upload(ctx, local, remote, 0o755); err != nil || !copied {
			t.Errorf("Upload of changed bytes: copied=%v, %v", copied, err)
		}
		if b, err := os.ReadFile(remote); err != nil || string(b) != "new" {
			t.Errorf("remote holds %q, %v", b, err)
		}
		if _, err := c.Upload(ctx, local, dir, 0o755); err == nil || !strings.Contains(err.Error(), "is a directory, not a file") {
			t.Errorf("Upload onto a directory: %v", err)
		}
		if _, err := c.Upload(ctx, filepath.Join(dir, "missing"), remote, 0o755); err == nil || !strings.Contains(err.Error(), hosts[0].String()) {
			t.Errorf("Upload of a missing file: %v", err)
		}
	})

	t.Run("UploadPlantedLinks", func(t *testing.T) { testUploadPlantedLinks(t, ctx, c) })

	t.Run("PrepareDir", func(t *testing.T) { testPrepareDir(t, ctx, c, lab.Home(0)) })

	t.Run("DialByName", func(t *testing.T) { testDialByName(t, ctx, lab, hosts, auth) })

	t.Run("FetchDir", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "node data")
		files := map[string]string{"nats.log": "log lines\n", "jetstream/x/msgs/1.blk": strings.Repeat("b", 100000), "empty": ""}
		for name, body := range files {
			p := filepath.Join(src, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(src, "emptydir"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("nats.log", filepath.Join(src, "current.log")); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "fetched")
		start := time.Now()
		if err := c.FetchDir(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		t.Logf("FetchDir took %v", time.Since(start))
		for name, body := range files {
			b, err := os.ReadFile(filepath.Join(dst, name))
			if err != nil || string(b) != body {
				t.Errorf("%s: %d bytes, %v; want %d", name, len(b), err, len(body))
			}
			if fi, err := os.Stat(filepath.Join(dst, name)); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("%s: %v, %v; want mode 0640", name, fi, err)
			}
		}
		if fi, err := os.Stat(filepath.Join(dst, "emptydir")); err != nil || !fi.IsDir() {
			t.Errorf("emptydir: %v, %v", fi, err)
		}
		if l, err := os.Readlink(filepath.Join(dst, "current.log")); err != nil || l != "nats.log" {
			t.Errorf("current.log links to %q, %v", l, err)
		}
		err := c.FetchDir(ctx, filepath.Join(src, "missing"), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), hosts[0].String()) || !strings.Contains(err.Error(), "No such file") {
			t.Errorf("FetchDir of a missing directory: %v", err)
		}
	})

	t.Run("Platform", func(t *testing.T) {
		goos, goarch, err := c.Platform(ctx)
		if err != nil || goos != runtime.GOOS || goarch != runtime.GOARCH {
			t.Fatalf("Platform = %s/%s, %v; want this machine's %s/%s", goos, goarch, err, runtime.GOOS, runtime.GOARCH)
		}
		if err := CheckPlatform(c.Host(), goos, goarch); err != nil {
			t.Error(err)
		}
	})

	dir := t.TempDir()
	emptyKnown := filepath.Join(dir, "empty_known_hosts")
	if err := os.WriteFile(emptyKnown, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("UnknownHostKey", func(t *testing.T) {
		h := hosts[1]
		err := dialFails(t, ctx, h, Auth{KeyFile: lab.KeyFile(), KnownHosts: emptyKnown}, 5*time.Second)
		want := fmt.Sprintf("host %s has a host key that is not in %s: add it (ssh-keyscan -p 22 %s >> %s) or pass --ssh-insecure for a throwaway lab",
			h, emptyKnown, h.Addr, emptyKnown)
		if err.Error() != want {
			t.Errorf("error\n%s\nwant\n%s", err, want)
		}
	})

	t.Run("ChangedHostKey", func(t *testing.T) {
		// host 1's key recorded for host 0's address.
		known, err := os.ReadFile(lab.KnownHosts())
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(known)), "\n")
		key := strings.Fields(lines[1])
		forged := filepath.Join(dir, "forged_known_hosts")
		if err := os.WriteFile(forged, []byte("# forged\n"+hosts[0].Addr+" "+key[1]+" "+key[2]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err = dialFails(t, ctx, hosts[0], Auth{KeyFile: lab.KeyFile(), KnownHosts: forged}, 5*time.Second)
		for _, want := range []string{"host " + hosts[0].String() + " has a host key that changed", forged + " line 2", "ssh-keygen -R '" + hosts[0].Addr + "'"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("WrongKey", func(t *testing.T) {
		other := filepath.Join(dir, "unauthorised_key")
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		h := hosts[2]
		err = dialFails(t, ctx, h, Auth{KeyFile: other, KnownHosts: lab.KnownHosts()}, 5*time.Second)
		want := fmt.Sprintf("host %s refused the SSH key for user root (%s): add its public key to that user's authorized_keys", h, other)
		if err.Error() != want {
			t.Errorf("error\n%s\nwant\n%s", err, want)
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		h := Host{User: "root", Addr: lab.UnusedAddr(), Port: 22}
		err := dialFails(t, ctx, h, auth, 8*time.Second)
		want := "host " + h.String() + " is unreachable: dial tcp " + h.hostport() + ": "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q, want it to start %q", err, want)
		}
	})

	t.Run("BadAuthFiles", func(t *testing.T) {
		h := hosts[0]
		missing := filepath.Join(dir, "no_such_file")
		err := dialFails(t, ctx, h, Auth{KeyFile: missing, KnownHosts: lab.KnownHosts()}, time.Second)
		if !strings.Contains(err.Error(), "SSH key file "+missing+" cannot be read") || !strings.Contains(err.Error(), h.String()) {
			t.Errorf("missing key file: %v", err)
		}
		err = dialFails(t, ctx, h, Auth{KeyFile: lab.KnownHosts(), KnownHosts: lab.KnownHosts()}, time.Second)
		if !strings.Contains(err.Error(), "SSH key file "+lab.KnownHosts()+" is not a private key") {
			t.Errorf("not a key: %v", err)
		}
		err = dialFails(t, ctx, h, Auth{KeyFile: lab.KeyFile(), KnownHosts: missing}, time.Second)
		if !strings.Contains(err.Error(), "known_hosts file "+missing+" cannot be read") || !strings.Contains(err.Error(), "ssh-keyscan -p 22 "+h.Addr+" >> "+missing) {
			t.Errorf("missing known_hosts: %v", err)
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		locked := filepath.Join(dir, "locked_key")
		if err := os.WriteFile(locked, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		err = dialFails(t, ctx, h, Auth{KeyFile: locked, KnownHosts: lab.KnownHosts()}, time.Second)
		if !strings.Contains(err.Error(), "is protected by a passphrase: load it into ssh-agent (ssh-add "+locked+")") {
			t.Errorf("passphrase: %v", err)
		}
		t.Setenv("HOME", dir)
		err = dialFails(t, ctx, h, Auth{KeyFile: lab.KeyFile()}, time.Second)
		if !strings.Contains(err.Error(), "known_hosts file "+filepath.Join(dir, ".ssh", "known_hosts")+" cannot be read") {
			t.Errorf("no ~/.ssh/known_hosts: %v", err)
		}
		t.Setenv("SSH_AUTH_SOCK", "")
		err = dialFails(t, ctx, h, Auth{KnownHosts: lab.KnownHosts()}, time.Second)
		if !strings.Contains(err.Error(), "no ssh-agent runs (SSH_AUTH_SOCK is not set)") {
			t.Errorf("no agent: %v", err)
		}
		t.Setenv("SSH_AUTH_SOCK", missing)
		err = dialFails(t, ctx, h, Auth{KnownHosts: lab.KnownHosts()}, time.Second)
		if !strings.Contains(err.Error(), "the ssh-agent at SSH_AUTH_SOCK="+missing+" cannot be reached") {
			t.Errorf("agent socket missing: %v", err)
		}
	})

	t.Run("DefaultKnownHostsAndAgent", func(t *testing.T) {
		agentBin, err := exec.LookPath("ssh-agent")
		if err != nil {
			t.Skip("no ssh-agent here")
		}
		home := t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		known, err := os.ReadFile(lab.KnownHosts())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), known, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("HOME", home)
		sock := filepath.Join(home, "agent.sock")
		agent := exec.Command(agentBin, "-D", "-a", sock)
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()
		t.Setenv("SSH_AUTH_SOCK", sock)
		for i := 0; ; i++ { // until the agent accepts connections
			conn, err := net.Dial("unix", sock)
			if err == nil {
				conn.Close()
				break
			}
			if i == 100 {
				t.Fatalf("ssh-agent does not listen on %s: %v", sock, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		err = dialFails(t, ctx, hosts[1], Auth{}, 2*time.Second)
		if !strings.Contains(err.Error(), "the ssh-agent at SSH_AUTH_SOCK="+sock+" holds no keys") {
			t.Errorf("empty agent: %v", err)
		}
		if out, err := exec.Command("ssh-add", lab.KeyFile()).CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v: %s", err, out)
		}
		c, err := Dial(ctx, hosts[1], Auth{}) // the agent's key, ~/.ssh/known_hosts
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})

	t.Run("Insecure", func(t *testing.T) {
		c, err := Dial(ctx, hosts[1], Auth{KeyFile: lab.KeyFile(), KnownHosts: emptyKnown, Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		out, err := c.Run(ctx, "echo insecure")
		if err != nil || string(out) != "insecure\n" {
			t.Errorf("Run: %q, %v", out, err)
		}
	})

	t.Run("DialAll", func(t *testing.T) {
		start := time.Now()
		all, err := DialAll(ctx, hosts, auth)
		t.Logf("DialAll of %d took %v", len(hosts), time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range all {
			if c.Host() != hosts[i] {
				t.Errorf("client %d is for %v, want %v", i, c.Host(), hosts[i])
			}
			c.Close()
		}
		// Host 2 on a closed port fails at once, the unused address only
		// after ARP gives up; the error is the unused address's, the first
		// in the list.
		unused := Host{User: "root", Addr: lab.UnusedAddr(), Port: 22}
		refused := Host{User: "root", Addr: hosts[2].Addr, Port: 2222}
		before := sshConns(t, lab, 1)
		start = time.Now()
		_, err = DialAll(ctx, []Host{hosts[1], unused, refused, hosts[0]}, auth)
		if err == nil || !strings.HasPrefix(err.Error(), "host "+unused.String()+" is unreachable") {
			t.Errorf("DialAll: %v, want host %s's error", err, unused)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("DialAll took %v", d)
		}
		// The connection it opened to host 1 was closed: host 1's session
		// process exits.
		deadline := time.Now().Add(5 * time.Second)
		for sshConns(t, lab, 1) > before {
			if time.Now().After(deadline) {
				t.Fatalf("host 1 still has %d sshd processes, %d before DialAll", sshConns(t, lab, 1), before)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("Keepalive", func(t *testing.T) {
		c, err := dial(ctx, hosts[2], netip.MustParseAddr(hosts[2].Addr), auth, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(350 * time.Millisecond) // answered keepalives keep it up
		select {
		case <-c.gone:
			t.Fatal("a live connection was closed")
		default:
		}
		// Freeze every process of host 2: the kernel still ACKs, sshd
		// answers nothing.
		pids, err := lab.Pids(2)
		if err != nil || len(pids) < 2 {
			t.Fatalf("pids of host 2: %v, %v", pids, err)
		}
		t.Cleanup(func() {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGCONT)
			}
		})
		for _, p := range pids {
			if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		select {
		case <-c.gone:
			t.Logf("closed %v after the host froze", time.Since(start))
		case <-time.After(3 * time.Second):
			t.Fatal("the connection to a frozen host was not closed")
		}
		_, err = c.Run(ctx, "true")
		if err == nil || !strings.Contains(err.Error(), "it answered no keepalive for 300ms") || !strings.Contains(err.Error(), hosts[2].String()) {
			t.Errorf("Run after the keepalives stopped: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close of a lost connection: %v", err)
		}
	})
}

// dialFails dials h, which must fail within limit; it returns the error.
func dialFails(t *testing.T, ctx context.Context, h Host, a Auth, limit time.Duration) error {
	t.Helper()
	start := time.Now()
	c, err := Dial(ctx, h, a)
	d := time.Since(start)
	if err == nil {
		c.Close()
		t.Fatalf("Dial %s succeeded", h)
	}
	if d > limit {
		t.Errorf("Dial %s took %v to fail, more than %v", h, d, limit)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), h.String()) {
		t.Errorf("error %q is not one line naming %s", err, h)
	}
	t.Logf("%v (%v)", err, d.Round(time.Millisecond))
	return err
}

// procs lists the commands (comm) of the processes in host i.
func procs(t *testing.T, lab *sshlab.Lab, i int) []string {
	t.Helper()
	pids, err := lab.Pids(i)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil {
			names = append(names, string(bytes.TrimSpace(b)))
		}
	}
	return names
}

func sshConns(t *testing.T, lab *sshlab.Lab, i int) int {
	n := 0
	for _, p := range procs(t, lab, i) {
		if p == "sshd" {
			n++
		}
	}
	return n
}

// waitGone waits (5 s at most) until no process named name runs in host i.
func waitGone(t *testing.T, lab *sshlab.Lab, i int, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := false
		for _, p := range procs(t, lab, i) {
			found = found || p == name
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still runs on host %d: %v", name, i, procs(t, lab, i))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeMode writes "the binary" to p with mode, owned by uid (-1: root).
func writeMode(p string, mode os.FileMode, uid int) error {
	if err := os.WriteFile(p, []byte("the binary"), mode); err != nil {
		return err
	}
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	if uid >= 0 {
		return os.Chown(p, uid, uid)
	}
	return nil
}

// testUploadPlantedLinks plants links where an upload could write through
// them, and files at its destination that must not be trusted.
func testUploadPlantedLinks(t *testing.T, ctx context.Context, c *Client) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.WriteFile(local, []byte("the binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(bin, "jetsam-0123")
	// The name earlier versions wrote through.
	if err := os.Symlink(victim, remote+".tmp"); err != nil {
		t.Fatal(err)
	}
	if copied, err := c.Upload(ctx, local, remote, 0o755); err != nil || !copied {
		t.Fatalf("Upload beside a planted .tmp: copied=%v, %v", copied, err)
	}
	intact := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
			t.Errorf("%s: the link's target holds %q, %v", what, b, err)
		}
	}
	intact("a link at the old .tmp name")
	if fi, err := os.Lstat(remote); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Errorf("the upload: %v, %v", fi, err)
	}

	// A link at the very name an upload writes to is refused, not
	// followed (the name is random; this test fixes it).
	old := uploadSuffix
	t.Cleanup(func() { uploadSuffix = old })
	uploadSuffix = func() string { return "FIXED" }
	tmp := filepath.Join(bin, ".jetsam-4567.upload-FIXED")
	for _, target := range []string{victim, filepath.Join(dir, "made-through-a-link")} {
		os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		_, err := c.Upload(ctx, local, filepath.Join(bin, "jetsam-4567"), 0o755)
		if err == nil || !strings.Contains(err.Error(), "exists already: refusing to write through it") {
			t.Errorf("Upload onto a link to %s: %v", target, err)
		}
	}
	intact("a link at the upload's name")
	if _, err := os.Lstat(filepath.Join(dir, "made-through-a-link")); err == nil {
		t.Errorf("a file was made through a dangling link")
	}
	uploadSuffix = old

	// A file already at the destination is used only if it has the
	// bytes and is a regular file of the user's that no one else may
	// write; anything else is replaced.
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("the binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(p string) error{
		"a link to the same bytes": func(p string) error { return os.Symlink(good, p) },
		"group-writable":           func(p string) error { return writeMode(p, 0o775, -1) },
		"another user's":           func(p string) error { return writeMode(p, 0o755, 4242) },
	} {
		p := filepath.Join(bin, strings.ReplaceAll(name, " ", "-"))
		if err := plant(p); err != nil {
			t.Fatal(err)
		}
		copied, err := c.Upload(ctx, local, p, 0o755)
		fi, serr := os.Lstat(p)
		if err != nil || !copied || serr != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s: copied=%v, %v; now %v, %v", name, copied, err, fi, serr)
		}
	}
}

// testPrepareDir prepares folders on c's host, whose home is home.
func testPrepareDir(t *testing.T, ctx context.Context, c *Client, home string) {
	start := time.Now()
	got, err := c.PrepareDir(ctx, "~/.cache/jetsam")
	t.Logf("PrepareDir of a missing folder took %v", time.Since(start))
	want := filepath.Join(home, ".cache", "jetsam")
	if err != nil || got != want {
		t.Fatalf("PrepareDir(~/.cache/jetsam) = %q, %v; want %q", got, err, want)
	}
	for _, p := range []string{want, filepath.Dir(want)} {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a folder of mode 0700", p, fi, err)
		}
	}
	if got, err := c.PrepareDir(ctx, "~/.cache/jetsam"); err != nil || got != want {
		t.Errorf("again: %q, %v", got, err)
	}
	if got, err := c.PrepareDir(ctx, "runs here/x"); err != nil || got != filepath.Join(home, "runs here", "x") {
		t.Errorf("a relative folder: %q, %v", got, err)
	}
	// A link is followed once, and the folder it leads to returned.
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.PrepareDir(ctx, filepath.Join(dir, "link")); err != nil || got != real {
		t.Errorf("a link to a folder: %q, %v; want %q", got, err, real)
	}

	mkdir := func(p string, mode os.FileMode, uid int) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, uid); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	shared := mkdir(filepath.Join(dir, "shared"), 0o775, -1)
	sticky := mkdir(filepath.Join(dir, "sticky"), os.ModeSticky|0o777, -1)
	theirs := mkdir(filepath.Join(dir, "theirs"), 0o700, 4242)
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{shared, "jetsam's folder " + shared + " is unsafe: it is writable by its group or others (mode 0775), so another user could replace what jetsam runs there: run chmod go-w " + ShellQuote(shared) + " on the host, or pass another --remote-dir"},
		{filepath.Join(shared, "jetsam"), "jetsam's folder " + shared + "/jetsam is unsafe: its parent " + shared + " is writable by its group or others (mode 0775)"},
		{sticky, "it is writable by its group or others (mode 1777)"},
		{theirs, "jetsam's folder " + theirs + " is unsafe: it is owned by uid 4242, not by root, so that user could replace what jetsam runs there: make root its owner, or pass another --remote-dir"},
		{filepath.Join(theirs, "a", "b"), "its parent " + theirs + " is owned by uid 4242"},
		{"~other/jetsam", "another user's home (~user) is not supported"},
		{filepath.Join(dir, "file", "jetsam"), "mkdir: cannot create directory"},
	} {
		_, err := c.PrepareDir(ctx, tc.dir)
		if err == nil || !strings.HasPrefix(err.Error(), "host "+c.Host().String()+": ") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("PrepareDir(%s): %v\nwant one line naming the host with %q", tc.dir, err, tc.want)
		}
	}
	// Nothing was made in a folder that was refused.
	for _, p := range []string{filepath.Join(shared, "jetsam"), filepath.Join(theirs, "a")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made", p)
		}
	}
	// A sticky parent is not another user's way in: /tmp's folders pass.
	if got, err := c.PrepareDir(ctx, filepath.Join(sticky, "mine")); err != nil || got != filepath.Join(sticky, "mine") {
		t.Errorf("a folder in a sticky folder: %q, %v", got, err)
	}
}

// testDialByName dials lab host 1 by a name.
func testDialByName(t *testing.T, ctx context.Context, lab *sshlab.Lab, hosts []Host, auth Auth) {
	h := Host{User: "root", Addr: "h2.lab", Port: 22}
	fakeLookup(t, map[string][]string{"h2.lab": {hosts[1].Addr}})
	// known_hosts under the name, as OpenSSH checks it.
	known, err := os.ReadFile(lab.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(t.TempDir(), "known_hosts")
	line := strings.Fields(strings.Split(string(known), "\n")[1])
	if err := os.WriteFile(named, []byte("h2.lab "+line[1]+" "+line[2]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, h, Auth{KeyFile: lab.KeyFile(), KnownHosts: named})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.IP() != hosts[1].Addr || c.Host() != h {
		t.Errorf("dialled %s as %v, want %s as %v", c.IP(), c.Host(), hosts[1].Addr, h)
	}
	out, err := c.Run(ctx, "ip -4 -o addr show dev eth0")
	if err != nil || !strings.Contains(string(out), "inet "+hosts[1].Addr+"/") {
		t.Errorf("by name, ran on %q, %v", out, err)
	}
	// The key is looked up under the name, not the address.
	err = dialFails(t, ctx, h, auth, 5*time.Second)
	if !strings.Contains(err.Error(), "has a host key that is not in "+lab.KnownHosts()) {
		t.Errorf("by name with the addresses' known_hosts: %v", err)
	}
	_, err = DialAll(ctx, []Host{hosts[1], h}, auth)
	if err == nil || !strings.Contains(err.Error(), "are one machine") {
		t.Errorf("a host by address and by name: %v", err)
	}
}
