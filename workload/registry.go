package workload

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/param"
)

// Kind is one workload. Its file holds its clients, its final phase and
// its own settings; this registry is the one place that names it (its
// checks are named in the checker's registry).
type Kind struct {
	Name string
	// New makes the workload from the run's options; Setup connects it.
	New func(o Options) Workload
	// Reads: it reads while faults are active, so it gets read-only
	// clients (--readers).
	Reads bool
	// FinalLast: its final phase cuts nodes off, so it runs after every
	// other workload's.
	FinalLast bool
	// Params are its own settings, as run flags; Validate checks them.
	Params   []Param
	Validate func(s *WorkloadSettings) error
}

// registry lists every workload, in the order --help names them.
var registry = []Kind{kvKind, logKind, queueKind}

// Param is a run flag of the workloads' settings.
type Param = param.Param[WorkloadSettings]

// WorkloadSettings are the workloads' part of a run's configuration; each
// workload's own are embedded, so they sit in test.json under their
// flags' names.
type WorkloadSettings struct {
	// Workload names the workloads, comma separated.
	Workload string `json:"workload"`
	// Readers are read-only clients per node, beside the writers, for
	// each workload that reads.
	Readers int `json:"readers"`
	// Rate caps operations per second over every client; 0 is unlimited.
	Rate float64 `json:"rate"`
	// ReadMode: leader, direct, mixed (drawn per read) or none (no reads
	// before the final phase).
	ReadMode  string         `json:"read_mode"`
	OpTimeout param.Duration `json:"op_timeout"`
	KVSettings
}

// Names lists every workload.
func Names() []string {
	out := make([]string, len(registry))
	for i, k := range registry {
		out[i] = k.Name
	}
	return out
}

// Lookup returns the workload called name.
func Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(registry, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return registry[i], true
}

// ReadModes lists the accepted --read-mode values.
var ReadModes = []string{ReadLeader, ReadDirect, ReadMixed, ReadNone}

// Params are every workload flag: the shared ones, then each workload's.
func Params() []Param {
	out := []Param{
		param.StringOf("workload", "workloads, comma separated, each with --concurrency clients of its own: kv (a register per key: read, write, compare-and-set, create, delete), log (a stream as a log: conditional and deduplicated appends, reads by sequence), queue (enqueue, and fetch and ack from a durable consumer)",
			func(s *WorkloadSettings) *string { return &s.Workload }),
		param.IntOf("readers", "read-only clients per node for each workload that reads (kv, log), beside --concurrency: they keep reading on a node whose writes wait for a quorum, so a cut-off leader's stale answers are seen (0: none)",
			func(s *WorkloadSettings) *int { return &s.Readers }),
		{Name: "rate", Type: "float", Usage: "operations per second over all clients (0: unlimited)",
			Set: func(s *WorkloadSettings, v string) (err error) { s.Rate, err = parseRate(v); return err },
			Get: func(s *WorkloadSettings) string { return fmt.Sprint(s.Rate) }},
		param.StringOf("read-mode", "how reads are served: leader (stream leader's get), direct (any replica), mixed (drawn per read), none (no reads until the final phase)",
			func(s *WorkloadSettings) *string { return &s.ReadMode }),
		param.DurationOf("op-timeout", "per-operation timeout; an operation that times out is indeterminate",
			func(s *WorkloadSettings) *param.Duration { return &s.OpTimeout }),
	}
	for _, k := range registry {
		out = append(out, k.Params...)
	}
	return out
}

func parseRate(v string) (float64, error) {
	var r float64
	if _, err := fmt.Sscan(strings.TrimSpace(v), &r); err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("--rate %q is not a number of operations per second", v)
	}
	return r, nil
}

// Validate explains, in one sentence, the first thing wrong with s.
func (s *WorkloadSettings) Validate() error {
	switch {
	case s.Workload == "":
		return fmt.Errorf("--workload names no workload: give one or more of %s", strings.Join(Names(), ", "))
	case s.Readers < 0 || s.Readers > 16:
		return fmt.Errorf("--readers must be between 0 and 16 read-only clients per node, got %d", s.Readers)
	case s.Rate < 0 || s.Rate > 1e6:
		return fmt.Errorf("--rate must be between 0 (unlimited) and 1000000 operations per second, got %g", s.Rate)
	case !slices.Contains(ReadModes, s.ReadMode):
		return fmt.Errorf("--read-mode %q is not one of %s", s.ReadMode, strings.Join(ReadModes, ", "))
	case s.OpTimeout <= 0 || s.OpTimeout > param.Duration(time.Hour):
		return fmt.Errorf("--op-timeout must be positive and at most 1h, got %s", s.OpTimeout)
	}
	seen := map[string]bool{}
	for _, w := range strings.Split(s.Workload, ",") {
		if _, ok := Lookup(w); !ok {
			return fmt.Errorf("--workload %q is not one of %s (a comma list runs several)", w, strings.Join(Names(), ", "))
		}
		if seen[w] {
			return fmt.Errorf("--workload names %s twice", w)
		}
		seen[w] = true
	}
	for _, k := range registry {
		if k.Validate != nil {
			if err := k.Validate(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// Kinds returns the workloads s names, in its order.
func (s *WorkloadSettings) Kinds() []Kind {
	var out []Kind
	for _, w := range strings.Split(s.Workload, ",") {
		if k, ok := Lookup(w); ok {
			out = append(out, k)
		}
	}
	return out
}

// Workload names, as histories spell them.
const (
	NameKV    = history.WorkloadKV
	NameLog   = history.WorkloadLog
	NameQueue = history.WorkloadQueue
)
