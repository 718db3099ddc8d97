// Package cases is the battery of known NATS bugs: each case runs a
// schedule that re-finds one bug on a release that had it, and the same
// schedule on the release that fixed it (or with the setting that avoids
// it), so the battery measures what jetsam finds and that it stays quiet
// where it should.
package cases

import (
	"fmt"
	"slices"
	"strings"
)

// Case is one known bug and the schedule that re-finds it.
type Case struct {
	// Name is how `jetsam cases run NAME` picks it.
	Name string
	// Title is the bug in a line; Reference names nats-server's issue or
	// pull request; Demonstrates is what re-finding it shows of jetsam.
	Title, Reference, Demonstrates string
	// Flags are the run flags of both sides: the schedule.
	Flags []string
	// Affected runs a release that had the bug; Fixed the release that
	// fixed it, or the setting that avoids it.
	Affected, Fixed Side
	// Kinds are the anomaly kinds that are the bug's symptom.
	Kinds []string
	// Raft: the schedule needs the raft fault package.
	Raft bool
}

// Side is one side of a case: the flags that choose its server, and any
// setting of its own.
type Side struct {
	Flags []string
}

// All lists the battery in its order.
func All() []Case { return slices.Clone(battery) }

// Find returns the named cases, in the battery's order when names is
// empty; an unknown name is an error that lists the known ones.
func Find(names []string) ([]Case, error) {
	if len(names) == 0 {
		return All(), nil
	}
	var out []Case
	for _, n := range names {
		i := slices.IndexFunc(battery, func(c Case) bool { return c.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("there is no case %q: choose one of %s ('jetsam cases' lists them)", n, strings.Join(Names(), ", "))
		}
		if slices.ContainsFunc(out, func(c Case) bool { return c.Name == n }) {
			continue
		}
		out = append(out, battery[i])
	}
	return out, nil
}

// Names lists the cases' names.
func Names() []string {
	out := make([]string, len(battery))
	for i, c := range battery {
		out[i] = c.Name
	}
	return out
}

// Describe is the side for a person: its server and its own settings.
func (s Side) Describe() string {
	server := "the embedded server"
	for i, f := range s.Flags {
		if strings.HasPrefix(f, "--server-") && i+1 < len(s.Flags) {
			server = strings.TrimPrefix(f, "--server-") + " " + s.Flags[i+1]
		}
	}
	if own := s.Own(); len(own) > 0 {
		return server + ", " + strings.Join(own, " ")
	}
	return server
}

// Own are the side's flags other than the ones choosing its server.
func (s Side) Own() []string {
	var own []string
	for i := 0; i < len(s.Flags); i++ {
		if strings.HasPrefix(s.Flags[i], "--server-") {
			i++
			continue
		}
		own = append(own, s.Flags[i])
	}
	return own
}
