package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/results"
)

func readOutcome(t *testing.T, path string) results.Outcome {
	t.Helper()
	var o results.Outcome
	if err := results.ReadJSON(path, &o); err != nil {
		t.Fatalf("no outcome file: %v", err)
	}
	return o
}

// A run that cannot run still writes its --outcome: exit 3 and the
// sentence it printed, and no folder (a run that could not start leaves
// none).
func TestBadInputWritesItsOutcome(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args   []string
		want   string
		folder bool
	}{
		{[]string{"--nemesis", "meteor"}, `--nemesis "meteor" is not a fault package`, false},
		{[]string{"--frobnicate"}, "unknown flag: --frobnicate", false},
		{[]string{"--base-port", strconv.Itoa(busy)}, fmt.Sprintf("port %d is in use", busy), false},
	} {
		store, out := t.TempDir(), filepath.Join(t.TempDir(), "outcome.json")
		r := runJetsam(t, time.Minute, append([]string{"run", "--outcome", out, "--store", store}, tc.args...)...)
		o := readOutcome(t, out)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitCannot || o.ExitCode != exitCannot || o.Verdict != results.VerdictCannot ||
			!strings.Contains(o.Error, tc.want) || lines[len(lines)-1] != "jetsam: "+o.Error {
			t.Errorf("%q: exit %d, outcome %+v, last line %q; want exit 3 and the sentence %q", tc.args, r.code, o, lines[len(lines)-1], tc.want)
		}
		if !tc.folder {
			if o.Dir != "" {
				t.Errorf("%q: outcome names folder %q, want none", tc.args, o.Dir)
			}
			continue
		}
		if o.Dir == "" || o.Dir != runDirOf(t, store) {
			t.Errorf("%q: outcome folder %q, want the run folder under %s", tc.args, o.Dir, store)
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.Dir, results.TestFile))
		if err != nil || bytes.Contains(b, []byte("outcome")) {
			t.Errorf("%q: test.json mentions --outcome (%v):\n%s", tc.args, err, b)
		}
	}
}

func runDirOf(t *testing.T, store string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Join(store, results.LatestLink))
	if err != nil {
		return ""
	}
	abs, _ := filepath.Abs(dir)
	if rel, err := filepath.Rel(store, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join(store, rel)
	}
	return dir
}

// A second interrupt quits at once with exit 3, and the outcome says so
// and still names the run folder.
func TestInterruptTwiceWritesItsOutcome(t *testing.T) {
	testlock.Cluster(t)
	store, out := t.TempDir(), filepath.Join(t.TempDir(), "outcome.json")
	run := startJetsam(t, "run", "--outcome", out, "--store", store, "--time-limit", "60s", "--nemesis", "none")
	run.waitHistory(t, store, func(b []byte) bool { return len(b) > 0 })
	// Two different signals, sent at once: a run with no faults stops
	// within a second of the first, and two of one kind may merge into one.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := run.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-run.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("jetsam still running 30s after two SIGINTs:\n%s", run.stderr.String())
	}
	o := readOutcome(t, out)
	want := results.Outcome{Dir: runDirOf(t, store), ExitCode: exitCannot, Verdict: results.VerdictCannot, Error: secondInterrupt}
	if code := run.cmd.ProcessState.ExitCode(); code != exitCannot || o != want {
		t.Fatalf("exit %d, outcome %+v; want 3 and %+v\n%s", code, o, want, run.stderr.String())
	}
	if !waitUntil(20*time.Second, func() bool { return len(nodeProcesses(t, store)) == 0 }) {
		t.Fatalf("node processes left behind: %v", nodeProcesses(t, store))
	}
	// --outcome is not a run setting: neither in test.json nor in the
	// replay command.
	if b, err := os.ReadFile(filepath.Join(o.Dir, results.TestFile)); err != nil || bytes.Contains(b, []byte("outcome")) {
		t.Errorf("test.json mentions --outcome (%v):\n%s", err, b)
	}
}
