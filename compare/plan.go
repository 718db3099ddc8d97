// Package compare runs two nats-servers on the same seeds, one run after
// another in this process, so both face the same fault schedule and draw
// the same operations; after every run it rewrites compare.json and
// compare.html, so a stopped comparison still has its page.
package compare

import (
	"errors"
	"fmt"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/node/build"
	"github.com/jetsam-dev/jetsam/results"
)

// Orders of the runs.
const (
	// Alternate runs seed 0 as baseline then candidate, seed 1 the other
	// way round, and so on, so a drifting machine favours neither.
	Alternate = "alternate"
	// Grouped runs every baseline seed, then every candidate seed.
	Grouped = "grouped"
)

// sideNames are the sides in the order of Plan.Sides and Case.Configs.
var sideNames = [2]string{results.Baseline, results.Candidate}

// Plan is a comparison. Its errors name the flags of `jetsam compare`.
type Plan struct {
	// Sides are the baseline's and the candidate's.
	Sides [2]Side
	// Cases are run on every seed, in order.
	Cases []Case
	// Seeds is how many seeds each case runs on: FirstSeed, FirstSeed+1...
	Seeds     int
	FirstSeed uint64
	// Order is Alternate or Grouped.
	Order string
	// The comparison's own folder is Store/Name/<time>/.
	Store, Name string
}

// Side is one server under comparison.
type Side struct {
	Spec build.Spec
	// Flags are the run flags given to this side alone, as compare.json
	// records them; they are already part of each case's configuration.
	Flags []string
}

// Case is one pair of run configurations, the same run but for the
// side's server and flags.
type Case struct {
	// Scenario names the scenario the pair was made from; "" when it was
	// made from the run flags alone.
	Scenario string
	// Configs are the baseline's and the candidate's; each run sets the
	// seed.
	Configs [2]jetsam.Config
}

// validate checks the plan and every configuration before anything runs,
// normalizing the configurations.
func (p *Plan) validate() error {
	switch {
	case p.Seeds < 1:
		return fmt.Errorf("--seeds must be at least 1, got %d", p.Seeds)
	case p.Order != Alternate && p.Order != Grouped:
		return fmt.Errorf("--order %q is not %s or %s", p.Order, Alternate, Grouped)
	case len(p.Cases) == 0:
		return errors.New("a comparison needs at least one pair of configurations")
	}
	for ci := range p.Cases {
		for i := range p.Cases[ci].Configs {
			c := &p.Cases[ci].Configs[i]
			if c.Server() != p.Sides[i].Spec {
				return fmt.Errorf("%s: its configuration runs %s, not the side's %s", sideNames[i], c.Server(), p.Sides[i].Spec)
			}
			c.Normalize()
			if err := c.Validate(); err != nil {
				return fmt.Errorf("%s: %w", sideNames[i], err)
			}
		}
	}
	return nil
}

// step is one run: a seed's index and a side's.
type step struct{ seed, side int }

// order lists the runs of one case in the plan's order.
func order(seeds int, how string) []step {
	var out []step
	if how == Grouped {
		for side := 0; side < 2; side++ {
			for s := 0; s < seeds; s++ {
				out = append(out, step{s, side})
			}
		}
		return out
	}
	for s := 0; s < seeds; s++ {
		a, b := 0, 1
		if s%2 == 1 {
			a, b = 1, 0
		}
		out = append(out, step{s, a}, step{s, b})
	}
	return out
}
