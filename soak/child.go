package soak

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/results"
)

// runOne runs r as a child process and fills in what it found. It returns
// false when the soak was interrupted before the run could start.
func (s *soaker) runOne(r *Record, i int) bool {
	of := strconv.Itoa(i + 1)
	if s.p.Runs > 0 {
		of += "/" + strconv.Itoa(s.p.Runs)
	}
	outcome := filepath.Join(s.tmp, fmt.Sprintf("outcome-%d.json", i))
	var crash panicLine
	prefix := fmt.Sprintf("  [run %d] ", i)
	outW := &lineWriter{mu: &s.outMu, out: s.o.Stderr, prefix: prefix}
	errW := &lineWriter{mu: &s.outMu, out: s.o.Stderr, prefix: prefix, onLine: crash.line}
	// --outcome first, so a run whose other flags do not parse still
	// writes it.
	cmd := exec.Command(s.o.Jetsam, append([]string{"run", "--outcome", outcome}, r.args...)...)
	cmd.Stdout, cmd.Stderr = outW, errW
	// Its own process group, so a terminal's Ctrl-C reaches it once, through
	// soak; and a SIGTERM if soak dies, so it stops in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// A helper the run left behind must not hold soak on its output.
	cmd.WaitDelay = 10 * time.Second

	s.mu.Lock()
	if s.interrupted {
		s.mu.Unlock()
		return false
	}
	begin := time.Now()
	r.Started = begin.UTC()
	err := cmd.Start()
	if err == nil {
		s.current = cmd.Process
	}
	s.mu.Unlock()
	s.say("soak: run %d (%s) seed %d mix %q workload %s: starting", i, of, r.Seed, r.Mix, r.Workload)
	if err == nil {
		err = cmd.Wait()
		s.mu.Lock()
		s.current = nil
		s.mu.Unlock()
	}
	outW.flush()
	errW.flush()
	elapsed := time.Since(begin)
	r.Seconds, r.Duration = elapsed.Seconds(), fmtDuration(elapsed)
	s.outMu.Lock()
	panicked := crash.first
	s.outMu.Unlock()
	r.judge(cmd.ProcessState, err, outcome, panicked)
	r.readFolder()
	s.say("%s", r.line(of))
	return true
}

// judge fills in r's exit code, verdict, folder and error from how the
// child ended and the outcome file it was asked to write.
func (r *Record) judge(ps *os.ProcessState, startErr error, outcomePath, panicked string) {
	r.ExitCode = results.ExitCannot
	var how string
	switch {
	case ps != nil:
		r.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = fmt.Sprintf("killed by %v", ws.Signal())
		}
	case startErr != nil:
		how = fmt.Sprintf("could not start: %v", startErr)
	}
	r.judgeOutcome(outcomePath, panicked, how)
}

// judgeOutcome judges a run whose process exited with r.ExitCode; how
// says why it could not run when it was killed or never started.
func (r *Record) judgeOutcome(outcomePath, panicked, how string) {
	var out results.Outcome
	wrote := results.ReadJSON(outcomePath, &out) == nil
	r.Folder = out.Dir
	switch {
	case how != "":
		r.Verdict, r.Error = results.VerdictCannot, how
	case wrote && out.Verdict != "" && out.Verdict == results.VerdictOf(out.ExitCode):
		r.ExitCode, r.Verdict, r.Error = out.ExitCode, out.Verdict, out.Error
	case wrote:
		r.Verdict, r.Error = results.VerdictCannot, fmt.Sprintf("its outcome file is not one jetsam run writes (exit %d, verdict %q)", out.ExitCode, out.Verdict)
	// A run that crashed (a panic outside the run's own recover, in one
	// of its goroutines) dies before it writes its outcome: it could not
	// run, and the panic line on its stderr says why.
	case panicked != "":
		r.Verdict, r.Error = results.VerdictCannot, "crashed: "+panicked
	default:
		r.Verdict, r.Error = results.VerdictCannot, fmt.Sprintf("exited with code %d without writing its outcome", r.ExitCode)
	}
	switch {
	case r.Verdict == results.VerdictValid && r.Folder == "":
		r.Verdict, r.Error = results.VerdictCannot, "the run named no run folder"
	case r.Verdict != results.VerdictCannot:
		r.Error = ""
	}
	if r.Verdict == results.VerdictCannot && r.Error == "" {
		r.Error = "the run gave no reason"
	}
}

// readFolder takes the run's throughput and anomalies from its
// results.json, and keeps the commands that repeat it only if it failed.
func (r *Record) readFolder() {
	if r.Folder != "" {
		var res checker.Result
		if results.ReadJSON(filepath.Join(r.Folder, results.ResultsFile), &res) == nil {
			r.OKPerSecond = res.Stats.OKPerSecond
			r.Anomalies = anomalyKinds(&res)
		}
	}
	if r.Verdict == results.VerdictValid {
		r.Command = ""
		return
	}
	if r.Folder != "" {
		r.Replay = shell.Join([]string{"jetsam", "run", "--replay", r.Folder})
	}
}

// line is soak's progress line for a finished run.
func (r *Record) line(of string) string {
	line := fmt.Sprintf("soak: run %d (%s) seed %d mix %q workload %s: %s (exit %d) in %s", r.Index, of, r.Seed, r.Mix, r.Workload,
		strings.ToUpper(strings.ReplaceAll(r.Verdict, "-", " ")), r.ExitCode, r.Duration)
	if r.Folder != "" {
		line += fmt.Sprintf(", %.0f ok/s, folder %s", r.OKPerSecond, r.Folder)
	}
	if r.Error != "" {
		line += ": " + r.Error
	}
	return line
}

// panicLine keeps the first line of a Go crash in a run's stderr: the one
// thing soak still reads from a run's output, for a run that died before
// writing its outcome.
type panicLine struct{ first string }

func (c *panicLine) line(s string) {
	if c.first == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")) {
		c.first = s
	}
}

// lineWriter copies a child's output to out line by line, each prefixed,
// under a lock shared with soak's own lines.
type lineWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix string
	onLine func(string)
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<16 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// emit writes one line; the caller holds mu.
func (w *lineWriter) emit(s string) {
	// A status line redrawn in place on a terminal.
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\033[K", ""), "\r", "")
	if w.onLine != nil {
		w.onLine(s)
	}
	fmt.Fprintf(w.out, "%s%s\n", w.prefix, s)
}
