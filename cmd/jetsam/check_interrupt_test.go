package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// hardJepsen is a Jepsen key-value history only an exhaustive search can
// judge: 40 appends of "a" that never return, and a get of 41 of them. The
// search tries every subset of the appends, for far longer than any test.
func hardJepsen() string {
	var b strings.Builder
	for p := range 40 {
		fmt.Fprintf(&b, "{:process %d, :type :invoke, :f :append, :key \"h\", :value \"a\"}\n", p)
	}
	fmt.Fprintf(&b, "{:process 40, :type :invoke, :f :get, :key \"h\", :value nil}\n{:process 40, :type :ok, :f :get, :key \"h\", :value %q}\n", strings.Repeat("a", 41))
	return b.String()
}

// hardKV is a jetsam KV history only a search can judge, and not quickly:
// 30 writes that never returned, all kept for the search because an
// acknowledged compare-and-set expected a revision no known write
// produced, and reads of the first of them at a revision far above.
func hardKV(t *testing.T) string {
	var events []history.Event
	add := func(e history.Event) {
		e.Index, e.Time, e.Workload, e.Node, e.Key = len(events), int64(len(events)+1)*1000, "kv", "n1", "k"
		events = append(events, e)
	}
	cas := history.Event{Process: 100, F: history.FCAS, Value: history.Str("c"), ExpectRev: history.U64(4000)}
	cas.Type = history.Invoke
	add(cas)
	for p := range 30 {
		add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FWrite, Value: history.Str(fmt.Sprintf("v%d", p))})
	}
	for p := range 30 {
		add(history.Event{Type: history.Info, Process: history.Process(p), F: history.FWrite, Value: history.Str(fmt.Sprintf("v%d", p)), Error: "timeout"})
	}
	for _, phase := range []string{history.PhaseMain, history.PhaseFinal} {
		read := history.Event{Type: history.Invoke, Process: 200, F: history.FRead, ReadMode: history.ReadLeader, Phase: phase}
		add(read)
		read.Type, read.Value, read.Rev = history.OK, history.Str("v0"), 5000
		add(read)
		if phase == history.PhaseMain {
			cas.Type, cas.Rev = history.OK, 4500
			add(cas)
		}
	}
	var b bytes.Buffer
	for _, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.String()
}

// TestCheckStopsOnSignal: jetsam check stops within 2s of SIGTERM or
// SIGINT, prints its verdict (unknown: nothing was proved, and the
// interruption said) and exits 2, whichever checker was searching.
func TestCheckStopsOnSignal(t *testing.T) {
	dir := t.TempDir()
	jepsen, kv := filepath.Join(dir, "hard.edn"), filepath.Join(dir, "hard.jsonl")
	if err := os.WriteFile(jepsen, []byte(hardJepsen()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kv, []byte(hardKV(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		sig  syscall.Signal
	}{
		{[]string{"--format", "jepsen", jepsen}, syscall.SIGTERM},
		{[]string{"--format", "jepsen", jepsen}, syscall.SIGINT},
		{[]string{kv}, syscall.SIGTERM},
	} {
		stdout, code, after := checkUntilSignal(t, tc.sig, tc.args...)
		if code != exitUnknown {
			t.Errorf("%v %v: exit %d, want %d (unknown)\n%s", tc.args, tc.sig, code, exitUnknown, stdout)
		}
		if !strings.Contains(stdout, "verdict: UNKNOWN") || !strings.Contains(stdout, "interrupted") {
			t.Errorf("%v %v: no verdict, or no word of the interruption:\n%s", tc.args, tc.sig, stdout)
		}
		t.Logf("%v %v: exited %v after the signal", tc.args, tc.sig, after.Round(time.Millisecond))
	}
}

// checkUntilSignal runs jetsam check with a long timeout, sends sig after
// a second (failing if the check ended before: then the history proves
// nothing), and waits at most 2s for it to exit.
func checkUntilSignal(t *testing.T, sig syscall.Signal, args ...string) (string, int, time.Duration) {
	t.Helper()
	cmd := exec.Command(jetsamBin, append([]string{"check", "--check-timeout", "10m"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("check %v ended (%v) before the signal: the history is not hard enough\n%s", args, err, stdout.String())
	case <-time.After(time.Second):
	}
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("check %v still running 2s after %v\nstdout:\n%s\nstderr:\n%s", args, sig, stdout.String(), stderr.String())
	}
	after := time.Since(sent)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), code, after
}
