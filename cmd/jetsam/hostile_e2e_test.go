package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/results"
)

// runJetsamCapped is runJetsam with the address space capped at 4 GiB, so
// that an input that makes jetsam allocate without bound fails the test
// instead of the machine.
func runJetsamCapped(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", `ulimit -v 4194304 && exec "$0" "$@"`, jetsamBin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("jetsam %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("jetsam %v did not finish within a minute\nstderr:\n%s", args, r.stderr)
	}
	return r
}

// TestCheckRefusesHostileHistories: histories from elsewhere that break
// the history's rules are exit 3 and one sentence naming the line, never
// a panic, a verdict, or memory without bound; and a refused check with
// --write leaves no results.json.
func TestCheckRefusesHostileHistories(t *testing.T) {
	const invoke = `{"index":0,"time":100,"type":"invoke","process":0,"f":"write","workload":"kv","key":"k","value":"a"}` + "\n"
	ok := func(time string) string {
		return `{"index":1,"time":` + time + `,"type":"ok","process":0,"f":"write","workload":"kv","key":"k","value":"a","rev":1}` + "\n"
	}
	read := `{"index":2,"time":200,"type":"invoke","process":1,"f":"read","workload":"kv","key":"k","read_mode":"leader"}` + "\n" +
		`{"index":3,"time":300,"type":"ok","process":1,"f":"read","workload":"kv","key":"k","value":"b","rev":1,"read_mode":"leader"}` + "\n"
	for _, tc := range []struct {
		name, history, want string
	}{
		{"negative time", `{"index":0,"time":-6000000000,"type":"invoke","process":0,"f":"write","workload":"kv","key":"k","value":"a"}` + "\n" + ok("-5000000000") + invoke,
			"line 1: time -6000000000 is negative"},
		{"completion before its invocation", invoke + ok("10") + read, "line 2: process 0's ok completion at time 10 is earlier than its invocation at 100 (line 1)"},
		{"a time of 9e17 ns", invoke + ok("900000000000000000"), "line 2: time 900000000000000000 is more than a week"},
		{"unknown op on kv", strings.ReplaceAll(invoke+ok("110"), `"write"`, `"frob"`), `line 1: workload kv has no operation "frob"`},
		{"empty file", "", "holds no events"},
		{"missing fields", `{"type":"invoke","f":"write"}` + "\n", `line 1: missing "index"`},
		{"missing workload", `{"index":0,"time":1,"type":"invoke","process":0,"f":"write"}` + "\n", `line 1: missing "workload"`},
		{"unknown workload", strings.ReplaceAll(invoke+ok("110"), `"kv"`, `"zz"`), `line 1: unknown workload "zz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, results.HistoryFile), []byte(tc.history), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runJetsamCapped(t, "check", "--write", dir)
			oneSentence(t, r, tc.want)
			if _, err := os.Stat(filepath.Join(dir, results.ResultsFile)); err == nil {
				t.Fatal("results.json was written for a history that was refused")
			}
		})
	}
	t.Run("/dev/zero", func(t *testing.T) {
		oneSentence(t, runJetsamCapped(t, "check", "/dev/zero"), "line 1 is longer than 256 MiB")
	})
}

// oneSentence fails unless r is exit 3 with one line on stderr that says
// want.
func oneSentence(t *testing.T, r result, want string) {
	t.Helper()
	msg := strings.TrimSuffix(r.stderr, "\n")
	if r.code != exitCannot || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "jetsam: ") || !strings.Contains(msg, want) {
		t.Fatalf("exit %d, stderr %q; want 3 and one line saying %q\nstdout: %s", r.code, r.stderr, want, r.stdout)
	}
}

// TestCheckEscapesHistoryValues: values, keys, errors and node names from
// a history reach the terminal escaped, so a history cannot clear the
// screen or retitle the window of whoever checks it.
func TestCheckEscapesHistoryValues(t *testing.T) {
	evil := `\u001b[2J\u001b]0;pwned\u0007\u202e`
	h := `{"index":0,"time":100,"type":"invoke","process":0,"f":"write","workload":"kv","node":"n1` + evil + `","key":"k` + evil + `","value":"a"}
{"index":1,"time":200,"type":"ok","process":0,"f":"write","workload":"kv","node":"n1` + evil + `","key":"k` + evil + `","value":"a","rev":1}
{"index":2,"time":300,"type":"invoke","process":1,"f":"read","workload":"kv","node":"n2` + evil + `","key":"k` + evil + `","read_mode":"leader"}
{"index":3,"time":400,"type":"ok","process":1,"f":"read","workload":"kv","node":"n2` + evil + `","key":"k` + evil + `","value":"b` + evil + `","rev":1,"read_mode":"leader"}
`
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := os.WriteFile(path, []byte(h), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runJetsam(t, time.Minute, "check", path)
	if r.code != exitAnomaly || !strings.Contains(r.stdout, "unexpected-value") {
		t.Fatalf("exit %d; want 1 with the unexpected value\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, raw := range []string{"\x1b", "\x07", "\u202e"} {
		if strings.Contains(r.stdout+r.stderr, raw) {
			t.Fatalf("%q reached the terminal:\n%q", raw, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, `b\x1b[2J\x1b]0;pwned\a\u202e`) {
		t.Fatalf("the value is not shown escaped:\n%s", r.stdout)
	}
}

// TestCrashIsOneSentenceAndExit3: a panic that reaches the command is exit
// 3 and one sentence asking for a report, with the stack in a file.
func TestCrashIsOneSentenceAndExit3(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stderr bytes.Buffer
	code := func() (code int) {
		defer crashed(&code, &stderr)
		var m map[string]int
		m["x"]++ // a nil map: a runtime panic
		return exitValid
	}()
	msg := strings.TrimSuffix(stderr.String(), "\n")
	if code != exitCannot || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") ||
		!strings.HasPrefix(msg, "jetsam: internal error (assignment to entry in nil map), a bug in jetsam: please report it") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "jetsam-crash-*.txt"))
	if len(files) != 1 || !strings.Contains(msg, files[0]) {
		t.Fatalf("stack files %v; message %q", files, msg)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "panic: assignment to entry in nil map") || !strings.Contains(string(b), "hostile_e2e_test.go") {
		t.Fatalf("the stack file holds:\n%s", b)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain → text ↛ é":    "plain → text ↛ é",
		"\x1b[31mred\x1b[0m":  `\x1b[31mred\x1b[0m`,
		"tab\there\nnewline":  `tab\there\nnewline`,
		"bad \xff utf8":       `bad \xff utf8`,
		"bidi \u202e, \u200b": `bidi \u202e, \u200b`,
	} {
		if got := printable(in, ""); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := printable("line\n\tnext\x1b", "\n\t"); got != "line\n\tnext\\x1b" {
		t.Errorf("keeping newlines and tabs: %q", got)
	}
}
