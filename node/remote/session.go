package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/internal/shell"
	"golang.org/x/crypto/ssh"
)

// Run runs cmd on the host, through the login user's shell, and returns
// its standard output. When cmd fails the error holds the end of its
// standard error (and the output so far is returned too). When ctx ends
// first, Run returns at once with ctx's error (errors.Is works on it),
// and the command's whole process group is killed (see kill) and its
// session closed.
func (c *Client) Run(ctx context.Context, cmd string) ([]byte, error) {
	var out bytes.Buffer
	finished, err := c.exec(ctx, cmd, nil, &out)
	if !finished {
		return nil, err // out may still be written to
	}
	return out.Bytes(), err
}

// exec runs cmd with stdin and stdout as given and reports whether it ran
// to its end (false when it could not start or ctx stopped it).
func (c *Client) exec(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, c.stopped(cmd, ctx)
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return false, c.connErr(cmd, err)
	}
	stderr := newPIDWriter()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.Start(wrap(cmd)); err != nil {
		s.Close()
		return false, c.connErr(cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		s.Close()
		if err != nil {
			return true, c.cmdErr(cmd, err, stderr.String())
		}
		return true, nil
	case <-ctx.Done():
		go func() {
			c.kill(stderr)
			s.Close()
		}()
		return false, c.stopped(cmd, ctx)
	}
}

// A command's session shell reports its pid first, on standard error,
// behind this marker. sshd makes that shell a session leader, so the pid
// is also the command's process group.
const pidMarker = "jetsam-remote-pid "

func wrap(cmd string) string { return `echo "` + pidMarker + `$$" >&2; ` + cmd }

// kill ends a command's whole process group (what it started in the
// background too, unless that left the group), from a second session:
// OpenSSH refuses the SSH "signal" request for root logins ("session
// signalling requires privilege separation"), and closing a session
// without a terminal leaves its command running. Bounded: 5 s for the pid
// to arrive, 10 s for the kill.
func (c *Client) kill(w *pidWriter) {
	pid := w.wait(5 * time.Second)
	if pid <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.exec(ctx, fmt.Sprintf("kill -9 -- -%d %d 2>/dev/null; true", pid, pid), nil, io.Discard)
}

// Session is a long-running command. Read its Stdout as it goes (a
// reader that is not serviced eventually blocks the remote command) and
// close Stdin to send it end of file.
type Session struct {
	Stdin  io.WriteCloser
	Stdout io.Reader

	c         *Client
	s         *ssh.Session
	cmd       string
	stderr    *pidWriter
	done      chan struct{} // closed when the command has ended
	err       error         // its Wait error, once done
	closeOnce sync.Once
	closeErr  error
}

// Start starts cmd on the host, through the login user's shell, and
// returns at once.
func (c *Client) Start(cmd string) (*Session, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, c.connErr(cmd, err)
	}
	sess := &Session{c: c, s: s, cmd: cmd, stderr: newPIDWriter(), done: make(chan struct{})}
	if sess.Stdin, err = s.StdinPipe(); err == nil {
		sess.Stdout, err = s.StdoutPipe()
	}
	if err != nil {
		s.Close()
		return nil, c.connErr(cmd, err)
	}
	s.Stderr = sess.stderr
	if err := s.Start(wrap(cmd)); err != nil {
		s.Close()
		return nil, c.connErr(cmd, err)
	}
	go func() {
		if err := s.Wait(); err != nil {
			sess.err = c.cmdErr(cmd, err, sess.stderr.String())
		}
		close(sess.done)
	}()
	return sess, nil
}

// Wait waits for the command to end; when it failed the error holds the
// end of its standard error.
func (s *Session) Wait() error {
	<-s.done
	return s.err
}

// Close kills the command's process group if it still runs, waits (5 s
// at most) for it to end, and closes the session. It may be called more
// than once, and after Wait.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.done:
		default:
			s.c.kill(s.stderr)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				s.closeErr = fmt.Errorf("host %s: %s did not end within 5s of being killed: check the host", s.c.host, shortCmd(s.cmd))
			}
		}
		if err := s.s.Close(); err != nil && !errors.Is(err, io.EOF) && s.closeErr == nil {
			s.closeErr = s.c.connErr(s.cmd, err)
		}
	})
	return s.closeErr
}

// ShellQuote quotes s as one word for a POSIX shell (in single quotes).
func ShellQuote(s string) string { return shell.Quote(s) }

// cmdError is a command that ran and failed. It unwraps to the SSH error
// (*ssh.ExitError has the exit status).
type cmdError struct {
	host   Host
	cmd    string
	err    error
	why    string
	stderr string
}

func (e *cmdError) Error() string {
	msg := fmt.Sprintf("host %s: %s failed (%s)", e.host, shortCmd(e.cmd), e.why)
	if e.stderr != "" {
		return msg + ": " + e.stderr
	}
	return msg + " and printed nothing on stderr"
}

func (e *cmdError) Unwrap() error { return e.err }

func (c *Client) cmdErr(cmd string, err error, stderr string) error {
	why := err.Error()
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case errors.As(err, &exit) && exit.Signal() != "":
		why = "killed by signal " + exit.Signal()
	case errors.As(err, &exit):
		why = fmt.Sprintf("exit status %d", exit.ExitStatus())
	case errors.As(err, &missing) || errors.Is(err, io.EOF):
		if lost := c.lostErr(); lost != nil {
			why = "the connection was closed because " + lost.Error()
		} else {
			why = "the connection ended before the command did"
		}
	}
	return &cmdError{host: c.host, cmd: cmd, err: err, why: why, stderr: oneLine(stderr)}
}

// connErr is a command that could not start: the connection is broken.
func (c *Client) connErr(cmd string, err error) error {
	if lost := c.lostErr(); lost != nil {
		return fmt.Errorf("host %s: cannot run %s: the connection was closed because %v: check the host, then reconnect", c.host, shortCmd(cmd), lost)
	}
	return fmt.Errorf("host %s: cannot run %s (%w): the SSH connection is broken, reconnect", c.host, shortCmd(cmd), err)
}

func (c *Client) stopped(cmd string, ctx context.Context) error {
	return fmt.Errorf("host %s: %s was stopped: %w", c.host, shortCmd(cmd), context.Cause(ctx))
}

func shortCmd(cmd string) string {
	cmd = strings.Join(strings.Fields(cmd), " ")
	if len(cmd) > 120 {
		cmd = cmd[:117] + "..."
	}
	return fmt.Sprintf("%q", cmd)
}

// oneLine joins the last lines of s with "; ".
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "; ")
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// pidWriter takes the session shell's pid line off a command's standard
// error and keeps the rest in a tailBuffer.
type pidWriter struct {
	tailBuffer
	pmu     sync.Mutex
	pending []byte
	found   bool
	pid     int
	ready   chan struct{} // closed once the pid line is seen, or given up on
}

func newPIDWriter() *pidWriter { return &pidWriter{ready: make(chan struct{})} }

func (w *pidWriter) Write(p []byte) (int, error) {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	if w.found {
		return w.tailBuffer.Write(p)
	}
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		line := w.pending[:i+1]
		w.pending = w.pending[i+1:]
		if rest, ok := bytes.CutPrefix(line, []byte(pidMarker)); ok {
			w.pid, _ = strconv.Atoi(string(bytes.TrimSpace(rest)))
			w.give()
			break
		}
		_, _ = w.tailBuffer.Write(line) // written before the command began (a login script)
	}
	if !w.found && len(w.pending) > tailMax {
		w.give()
	}
	if w.found {
		_, _ = w.tailBuffer.Write(w.pending)
		w.pending = nil
	}
	return len(p), nil
}

func (w *pidWriter) give() {
	w.found = true
	close(w.ready)
}

// wait returns the pid (0 if it did not come within d).
func (w *pidWriter) wait(d time.Duration) int {
	select {
	case <-w.ready:
	case <-time.After(d):
	}
	w.pmu.Lock()
	defer w.pmu.Unlock()
	return w.pid
}

// String is the standard error kept, without the pid line.
func (w *pidWriter) String() string {
	w.pmu.Lock()
	pending := string(w.pending)
	w.pmu.Unlock()
	return w.tailBuffer.String() + pending
}
