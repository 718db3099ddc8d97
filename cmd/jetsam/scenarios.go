package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jetsam-dev/jetsam"
)

// A scenario is a saved set of run flags with a name and a purpose, so a
// comparison can run a standard battery and a person can name a test.
type scenario struct {
	Name, Purpose string
	Flags         []string
}

// scenarios cover the main fault families. Writes-only runs (--read-mode
// none) are for comparing builds: reads under partitions are stale on
// current NATS (documented), so they come and go with timing.
var scenarios = []scenario{
	{"partition-kv", "random partitions of every shape against the KV register, leader reads",
		[]string{"--workload", "kv", "--nemesis", "partition"}},
	{"leader-partition-kv", "the stream or meta leader cut off from the rest; KV writes and compare-and-set only",
		[]string{"--workload", "kv", "--nemesis", "partition", "--partition-shapes", "leader,meta-leader", "--read-mode", "none"}},
	{"kill-leader-log", "the stream leader killed and restarted on its data; appends to a stream log",
		[]string{"--workload", "log", "--nemesis", "kill", "--targets", "leader,minority", "--read-mode", "none"}},
	{"pause-queue", "nodes paused (SIGSTOP) and resumed; a work queue with a durable consumer",
		[]string{"--workload", "queue", "--nemesis", "pause", "--targets", "one,leader,majority"}},
	{"slow-network-kv", "latency, bandwidth caps and connection resets on the routes",
		[]string{"--workload", "kv", "--nemesis", "latency,bandwidth,reset", "--read-mode", "none"}},
	{"power-loss-log", "a power failure of every node with fsync on every write: no acknowledged append may be lost (needs root and FUSE)",
		[]string{"--workload", "log", "--nemesis", "power-loss", "--targets", "all", "--sync-interval", "always", "--writeback", "5s", "--read-mode", "none"}},
	{"membership-queue", "a node replaced under a fresh name, or the stream's replica count changed",
		[]string{"--workload", "queue", "--nemesis", "membership", "--targets", "one"}},
	{"mixed-faults", "partitions, kills and pauses overlapping, all three workloads at once, writes only",
		[]string{"--workload", "kv,log,queue", "--nemesis", "partition,kill,pause", "--nemesis-overlap", "--read-mode", "none"}},
}

func findScenario(name string) (scenario, error) {
	var names []string
	for _, s := range scenarios {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return scenario{}, errorf("there is no scenario %q: choose one of %s ('jetsam scenarios' lists them)", name, strings.Join(names, ", "))
}

// applyScenario lays a scenario's flags over cfg.
func applyScenario(cfg *jetsam.Config, name string) error {
	s, err := findScenario(name)
	if err != nil {
		return err
	}
	return overlayArgs(cfg, "scenario "+name, s.Flags)
}

func cmdScenarios(args []string, stdout io.Writer) (int, error) {
	fs := newFlagSet("scenarios", `Usage: jetsam scenarios

Lists the named scenarios: saved sets of run flags for 'jetsam run
--scenario NAME' and 'jetsam compare --scenario NAME,...'.`, stdout)
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, s := range scenarios {
		fmt.Fprintf(w, "%s\t%s\n\t  %s\n", s.Name, s.Purpose, strings.Join(s.Flags, " "))
	}
	w.Flush()
	return exitValid, nil
}
