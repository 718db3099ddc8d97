package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jetsam-dev/jetsam/node/disk"
)

// Node is one nats-server process: `jetsam node --config FILE`, run as a
// child of this process.
type Node struct {
	Spec Spec
	// Command is the program and arguments that run a node, without the
	// config flag.
	Command []string

	disk       *disk.Disk // the volatile disk under the data dir, if any
	generation int        // how many times the node rejoined under a new name

	// remote, when set, runs the process on another host (its Spec.Dir is
	// a folder there); local is where its files are brought back to.
	remote Process
	local  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	err  error         // how it exited
}

// Process is a node's process on another host, driven through that host's
// agent: the same operations as a local child.
type Process interface {
	Start() error
	Signal(sig syscall.Signal) error
	// Kill ends the process at once and returns once it is gone.
	Kill() error
	Stop(grace time.Duration) error
	Running() bool
	Pid() int
	DropUnsynced() (int64, error)
	ExitReason() string
}

// Dir is the node's folder on this machine: where its config, log and data
// are, or (for a node on another host) where they are brought back to.
func (n *Node) Dir() string {
	if n.local != "" {
		return n.local
	}
	return n.Spec.Dir
}

// ErrNotRunning is returned for operations on a node whose process is gone.
var ErrNotRunning = errors.New("node is not running")

// Name is the node's server name.
func (n *Node) Name() string { return n.Spec.Name }

// Start launches the node's process. The child gets its own process group, so
// a Ctrl-C at the terminal reaches only jetsam, which then stops it in order;
// and it is killed by the kernel if jetsam dies first.
func (n *Node) Start() error {
	if n.remote != nil {
		return n.remote.Start()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !exited(n.done) {
		return fmt.Errorf("node %s is already running", n.Spec.Name)
	}
	stderr, err := os.OpenFile(n.Spec.StderrPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Spec.Name, err)
	}
	args := append(append([]string{}, n.Command[1:]...), "--config", n.Spec.ConfigPath())
	cmd := exec.Command(n.Command[0], args...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if n.Spec.Assertions {
		cmd.Env = append(os.Environ(), AssertionsEnv+"="+n.Spec.AssertionsPath())
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return fmt.Errorf("start node %s: %w", n.Spec.Name, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		stderr.Close()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the node's process is alive (running or paused).
func (n *Node) Running() bool {
	if n.remote != nil {
		return n.remote.Running()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !exited(n.done)
}

// Pid is the process id, or 0 when the node has never started.
func (n *Node) Pid() int {
	if n.remote != nil {
		return n.remote.Pid()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Signal sends sig to the node's process.
func (n *Node) Signal(sig syscall.Signal) error {
	if n.remote != nil {
		return n.remote.Signal(sig)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || exited(n.done) {
		return fmt.Errorf("node %s: %w", n.Spec.Name, ErrNotRunning)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal node %s: %w", n.Spec.Name, err)
	}
	return nil
}

// Kill ends the process at once (SIGKILL) and waits for it to be gone.
func (n *Node) Kill() error {
	if n.remote != nil {
		return n.remote.Kill()
	}
	if err := n.Signal(syscall.SIGKILL); err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	<-n.doneChan()
	return nil
}

// DropUnsynced throws away what the node wrote but did not sync, as a power
// failure does, and returns how many bytes that was. The process must be
// dead. It is an error without a volatile disk.
func (n *Node) DropUnsynced() (int64, error) {
	if n.remote != nil {
		return n.remote.DropUnsynced()
	}
	if n.disk == nil {
		return 0, fmt.Errorf("node %s has no volatile disk: power loss must be asked for when the cluster starts", n.Spec.Name)
	}
	if n.Running() {
		return 0, fmt.Errorf("node %s is still running", n.Spec.Name)
	}
	return n.disk.PowerFail(), nil
}

// Pause stops the process (SIGSTOP); Resume continues it.
func (n *Node) Pause() error  { return n.Signal(syscall.SIGSTOP) }
func (n *Node) Resume() error { return n.Signal(syscall.SIGCONT) }

// Stop asks the node to shut down (SIGTERM) and kills it if it has not exited
// within grace.
func (n *Node) Stop(grace time.Duration) error {
	if n.remote != nil {
		return n.remote.Stop(grace)
	}
	_ = n.Signal(syscall.SIGCONT) // a paused node cannot shut down
	if err := n.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	select {
	case <-n.doneChan():
		return nil
	case <-time.After(grace):
		return n.Kill()
	}
}

// Wait blocks until the process exits or ctx ends.
func (n *Node) Wait(ctx context.Context) error {
	if n.remote != nil {
		// No exit events cross the SSH channel: ask until it is gone.
		for n.remote.Running() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		return nil
	}
	select {
	case <-n.doneChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited returns a channel closed when the current process exits.
func (n *Node) doneChan() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return n.done
}

// ExitReason explains why a node's process ended, from its exit status and
// the last lines it logged.
func (n *Node) ExitReason() string {
	if n.remote != nil {
		return n.remote.ExitReason()
	}
	n.mu.Lock()
	err := n.err
	n.mu.Unlock()
	var why []string
	if err != nil {
		why = append(why, err.Error())
	}
	for _, p := range []string{n.Spec.StderrPath(), n.Spec.LogPath()} {
		if line := lastMeaningfulLine(p); line != "" {
			why = append(why, line)
		}
	}
	if len(why) == 0 {
		return "it exited"
	}
	return strings.Join(why, "; ")
}

// lastMeaningfulLine returns the last error-like line of a log file, or its
// last line.
func lastMeaningfulLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-20; i-- {
		l := string(lines[i])
		if strings.Contains(l, "[FTL]") || strings.Contains(l, "[ERR]") || strings.HasPrefix(l, "jetsam node:") || strings.HasPrefix(l, "panic:") {
			return strings.TrimSpace(l)
		}
	}
	if len(lines) > 0 {
		return strings.TrimSpace(string(lines[len(lines)-1]))
	}
	return ""
}

func exited(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
