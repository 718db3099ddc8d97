// Command jetsam tests NATS JetStream clusters for consistency under faults.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/disk"
	"github.com/jetsam-dev/jetsam/results"
)

// Exit codes (a contract: scripts and CI depend on them).
const (
	exitValid   = results.ExitValid
	exitAnomaly = results.ExitAnomaly
	exitUnknown = results.ExitUnknown
	exitCannot  = results.ExitCannot
)

const usage = `jetsam: a black-box consistency checker for NATS JetStream.

Usage:
  jetsam run [flags]          start a local cluster, run a workload under faults, check it
  jetsam check [flags] PATH   check a stored run (folder or history file) again, offline
  jetsam report DIR           rebuild a run folder's report.html from its files
  jetsam serve                browse every run of a store (--store, --addr)
  jetsam compare [flags]      run a baseline and a candidate server on the same seeds, side by side
  jetsam soak [flags]         repeated runs with fresh seeds and rotating fault mixes, for a nightly
  jetsam scenarios            list the named scenarios (saved sets of run flags)
  jetsam cases [run NAME...]  list, or run, the battery of known NATS bugs: each on a release that had it and one that fixed it
  jetsam node --config FILE   run one embedded nats-server (used by run)
  jetsam agent                run one node and its links on a remote host, driven over SSH (used by run)
  jetsam version              print versions

Run 'jetsam <command> --help' for a command's flags and their defaults.

Exit codes: 0 valid, 1 anomaly found, 2 unknown (search timed out or the run
was incomplete), 3 the test could not run.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// cliError is a problem with what the user asked for: printed as one
// sentence, exit code 3.
type cliError struct{ msg string }

func (e cliError) Error() string { return e.msg }

func errorf(format string, args ...any) error { return cliError{fmt.Sprintf(format, args...)} }

func realMain(args []string, stdout, stderr io.Writer) (code int) {
	defer crashed(&code, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCannot
	}
	var err error
	switch args[0] {
	case "run":
		code, err = cmdRun(args[1:], stdout, stderr)
	case "check":
		code, err = cmdCheck(args[1:], stdout, stderr)
	case "report":
		code, err = cmdReport(args[1:], stdout, stderr)
	case "serve":
		code, err = cmdServe(args[1:], stdout, stderr)
	case "compare":
		code, err = cmdCompare(args[1:], stdout, stderr)
	case "soak":
		code, err = cmdSoak(args[1:], stdout, stderr)
	case "scenarios":
		code, err = cmdScenarios(args[1:], stdout)
	case "cases":
		code, err = cmdCases(args[1:], stdout, stderr)
	case "node":
		code, err = cmdNode(args[1:], stderr)
	case "agent":
		// Started over SSH on each remote host; driven on stdin and stdout.
		if err := node.ServeAgent(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(stderr, "jetsam agent: %v\n", err)
			return exitCannot
		}
		return exitValid
	case disk.GuardCommand:
		// Started by run with volatile disks: unmounts them if run dies.
		if err := disk.WaitThenUnmount(os.Stdin, args[1:]); err != nil {
			fmt.Fprintf(stderr, "jetsam: %v\n", err)
			return exitCannot
		}
		return exitValid
	case "version", "--version":
		fmt.Fprintf(stdout, "jetsam %s\n%s\n", jetsam.Version(), versions())
		return exitValid
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitValid
	default:
		err = errorf("unknown command %q: run 'jetsam --help' to see the commands", args[0])
	}
	if err != nil {
		// Errors quote what they read (histories, logs): escaped, so no
		// terminal escape sequence passes through.
		fmt.Fprintf(stderr, "jetsam: %s\n", printable(err.Error(), "\n\t"))
		return exitCannot
	}
	return code
}

// crashed, deferred, turns a panic into exit code 3 and one sentence that
// asks for a report, with the stack written to a file rather than
// printed.
func crashed(code *int, stderr io.Writer) {
	v := recover()
	if v == nil {
		return
	}
	*code = exitCannot
	stack := debug.Stack()
	if s, ok := v.(interface{ PanicStack() []byte }); ok {
		stack = append(append(stack, "\nwhere it began:\n"...), s.PanicStack()...)
	}
	where := "it could not be written"
	if f, err := os.CreateTemp("", "jetsam-crash-*.txt"); err == nil {
		fmt.Fprintf(f, "jetsam %s\npanic: %v\n\n%s", jetsam.Version(), v, stack)
		if f.Close() == nil {
			where = "it is in " + f.Name()
		}
	}
	fmt.Fprintf(stderr, "jetsam: internal error (%s), a bug in jetsam: please report it with the stack trace (%s)\n",
		printable(fmt.Sprint(v), ""), where)
}

// printable escapes the control characters and other non-printable runes
// of s (as Go writes them in strings: \x1b, \u202e), and bytes that are
// not UTF-8, except the characters in keep.
func printable(s string, keep string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && !strings.ContainsRune(keep, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r) || strings.ContainsRune(keep, r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// interruptible returns a context that ends at the first SIGINT or SIGTERM.
// A second signal exits at once, after quit (when not nil); the nodes die
// with this process (they hold a parent-death signal).
func interruptible(stderr io.Writer, quit func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "\njetsam: %v: stopping; the history so far will be checked (again to quit at once)\n", s)
			cancel()
		case <-ctx.Done():
			return
		}
		if _, ok := <-sigs; ok {
			fmt.Fprintln(stderr, "jetsam: "+secondInterrupt)
			if quit != nil {
				quit()
			}
			os.Exit(exitCannot)
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

// secondInterrupt is the sentence of a command quit by a second signal.
const secondInterrupt = "second interrupt: quitting now"

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// setupError drops the sentinel's words from a setup error: the sentence
// that remains says what went wrong.
func setupError(err error) error {
	if errors.Is(err, jetsam.ErrSetup) {
		return cliError{jetsam.Sentence(err)}
	}
	return err
}
