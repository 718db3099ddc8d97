// Package soak runs `jetsam run` again and again for a nightly: each run a
// child process of its own (so a crashed run cannot take the soak down),
// with a fresh seed and a fault mix and workload taken in turn. It keeps
// every failing run whole, prunes passing ones, and rewrites
// soak-summary.json after every run.
package soak

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/internal/shell"
	"github.com/jetsam-dev/jetsam/results"
	"github.com/jetsam-dev/jetsam/workload"
)

// DefaultMixes are the fault mixes a soak rotates through unless it is
// given some. Reads stay off under partitions and process faults, where
// current NATS serves stale reads by design (see README), so that a
// failure is a write or durability regression.
var DefaultMixes = []string{
	"--nemesis partition --read-mode none --time-limit 60s",
	"--nemesis kill,pause --read-mode none --time-limit 60s",
	"--nemesis latency,bandwidth --read-mode leader --time-limit 60s",
	"--nemesis reset,clients --read-mode none --time-limit 60s",
}

// refused are the run flags soak sets itself on every run.
var refused = []string{"seed", "store", "name", "workload"}

// Plan is what a soak runs. Its errors name the flags of `jetsam soak`.
type Plan struct {
	// Runs and Duration stop the soak starting runs (0: no limit; at least
	// one is needed); the run in progress is finished.
	Runs     int
	Duration time.Duration
	// Mixes are fault mixes, each run flags as one string quoted as in a
	// shell; none means DefaultMixes.
	Mixes []string
	// Workloads are the --workload values to rotate through (see
	// ParseWorkloads).
	Workloads []string
	// Seed is run 0's seed; run i uses Seed+i.
	Seed uint64
	// KeepPassing is how many passing runs' folders are kept, newest
	// first; failing runs are always kept whole.
	KeepPassing   int
	StopOnFailure bool
	// Runs land in Store/Name/<time>/, the summary in Store.
	Store, Name string
	// PassThrough are run flags given to every run, after the mix's.
	PassThrough []string
}

// validate checks every setting and mix, fills in the default mixes, and
// returns each mix split into words.
func (p *Plan) validate() ([][]string, error) {
	switch {
	case p.Runs < 0:
		return nil, fmt.Errorf("--runs must not be negative, got %d", p.Runs)
	case p.Duration < 0:
		return nil, fmt.Errorf("--duration must not be negative, got %s", p.Duration)
	case p.Runs == 0 && p.Duration == 0:
		return nil, errors.New("soak needs --runs N or --duration D (or both): it stops starting runs at whichever comes first")
	case p.KeepPassing < 0:
		return nil, fmt.Errorf("--keep-passing must not be negative, got %d", p.KeepPassing)
	case !results.ValidName(p.Name):
		return nil, fmt.Errorf("--name %q may hold only letters, digits, '.', '_' and '-'", p.Name)
	case len(p.Workloads) == 0:
		return nil, errors.New("--workloads names no workload: give a comma list such as kv,log,queue")
	}
	for _, w := range p.Workloads {
		if err := checkWorkloads(strings.Split(w, ",")); err != nil {
			return nil, err
		}
	}
	if len(p.Mixes) == 0 {
		p.Mixes = DefaultMixes
	}
	var mixArgs [][]string
	for _, m := range p.Mixes {
		a, err := shell.Split(m)
		if err != nil {
			return nil, fmt.Errorf("--mix %q: %w", m, err)
		}
		if f := refusedFlag(a); f != "" {
			return nil, fmt.Errorf("--mix %q sets --%s, which soak sets on every run (use soak's --seed, --store, --name or --workloads)", m, f)
		}
		mixArgs = append(mixArgs, a)
	}
	if f := refusedFlag(p.PassThrough); f != "" {
		return nil, fmt.Errorf("the run flags after -- set --%s, which soak sets on every run (use soak's --seed, --store, --name or --workloads)", f)
	}
	return mixArgs, nil
}

// ParseWorkloads reads --workloads: a comma list whose items are one
// workload or several joined with +. It returns each item as a --workload
// value (kv+log becomes kv,log).
func ParseWorkloads(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("--workloads %q has an empty item: give a comma list such as kv,log,queue", s)
		}
		parts := strings.Split(item, "+")
		if err := checkWorkloads(parts); err != nil {
			return nil, err
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out, nil
}

func checkWorkloads(names []string) error {
	for _, w := range names {
		if !slices.Contains(workload.Names(), w) {
			return fmt.Errorf("--workloads: %q is not one of %s (join with + to run several in one run)", w, strings.Join(workload.Names(), ", "))
		}
	}
	return nil
}

// refusedFlag returns the name of the first soak-set flag args set, or "".
func refusedFlag(args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, f := range refused {
			if a == "--"+f || strings.HasPrefix(a, "--"+f+"=") {
				return f
			}
		}
	}
	return ""
}

// choice is the mix and workload of run i: every mix in turn, and the next
// workload once every mix has had its turn.
func choice(i, mixes, workloads int) (mix, wl int) {
	return i % mixes, (i / mixes) % workloads
}
