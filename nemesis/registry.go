package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/param"
)

// Fault is one fault package. Its file holds everything about it: its
// settings (a struct embedded in FaultSettings), their flags, what it fits,
// and how it injects and heals one fault.
type Fault interface {
	Name() string
	// Params are the package's own settings, as run flags.
	Params() []Param
	// Validate checks the package's settings whether or not it runs, so a
	// bad flag is refused even when its package was not asked for.
	Validate(s *FaultSettings, nodes int) error
	// Fits says in one sentence why the package cannot run on this
	// cluster (remote: its nodes are on remote hosts), or nil.
	Fits(s *FaultSettings, nodes int, remote bool) error
	// Start injects one fault, drawing every choice from rng, and returns
	// how to heal it; an error skips this fault.
	Start(ctx context.Context, n *Nemesis, rng *rand.Rand) (heal func(), err error)
}

// Param is a run flag of the nemesis's settings.
type Param = param.Param[FaultSettings]

// registry lists every fault package, in the order --help names them.
var registry = []Fault{
	partitionFault{}, linkFault{FaultLatency}, linkFault{FaultBandwidth}, linkFault{FaultReset}, clientsFault{},
	processFault{FaultKill}, processFault{FaultPause}, processFault{FaultPowerLoss}, processFault{FaultCorrupt},
	membershipFault{}, raftFault{},
}

// FaultSettings are the nemesis's part of a run's configuration. Each package's
// own settings are embedded here, so they sit in test.json under their
// flags' names.
type FaultSettings struct {
	// Nemesis are the fault packages to draw from; none means no faults.
	Nemesis []string `json:"nemesis"`
	// NemesisInterval is both the quiet time before each fault and how
	// long each fault holds.
	NemesisInterval param.Duration `json:"nemesis_interval"`
	// NemesisOverlap runs each package on its own schedule, so faults of
	// different packages can be in place at once.
	NemesisOverlap bool `json:"nemesis_overlap,omitempty"`
	// NemesisInOrder staggers overlapping packages in the order listed,
	// evenly within an interval, instead of at offsets drawn from the seed:
	// each fault of a package is then in place when the next package's
	// fault starts.
	NemesisInOrder bool `json:"nemesis_in_order,omitempty"`
	PartitionSettings
	ProcessSettings
	LinkSettings
	RaftSettings
	MembershipSettings
}

// Packages lists the fault packages this version can inject.
func Packages() []string {
	out := make([]string, len(registry))
	for i, f := range registry {
		out[i] = f.Name()
	}
	return out
}

// Lookup returns the package called name.
func Lookup(name string) (Fault, bool) {
	i := slices.IndexFunc(registry, func(f Fault) bool { return f.Name() == name })
	if i < 0 {
		return nil, false
	}
	return registry[i], true
}

// Params are every nemesis flag: the schedule's, then each package's.
func Params() []Param {
	out := []Param{
		noneIfEmpty(param.ListOf("nemesis", "fault packages, comma separated: "+strings.Join(Packages(), ", ")+"; or none, all",
			func(s *FaultSettings) *[]string { return &s.Nemesis })),
		param.DurationOf("nemesis-interval", "quiet time before each fault, and how long each fault holds",
			func(s *FaultSettings) *param.Duration { return &s.NemesisInterval }),
		param.BoolOf("nemesis-overlap", "run each fault package on its own schedule, so faults of different packages overlap (default: one fault at a time)",
			func(s *FaultSettings) *bool { return &s.NemesisOverlap }),
		param.BoolOf("nemesis-in-order", "with --nemesis-overlap, start the packages in the order --nemesis lists them, evenly spread over an interval, so each one's fault is in place when the next one's starts (default: each at an offset drawn from the seed)",
			func(s *FaultSettings) *bool { return &s.NemesisInOrder }),
	}
	seen := map[string]bool{}
	for _, f := range registry {
		for _, p := range f.Params() {
			// Packages of one family share their settings.
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// noneIfEmpty prints no packages as "none", which a command line reads as
// none rather than as the default.
func noneIfEmpty(p Param) Param {
	get := p.Get
	p.Get = func(s *FaultSettings) string {
		if v := get(s); v != "" {
			return v
		}
		return "none"
	}
	return p
}

// Normalize fills derived defaults: "all" is every package, "none" none,
// and each package's own (the shapes and targets the cluster fits).
func (s *FaultSettings) Normalize(nodes int) {
	var faults []string
	for _, f := range s.Nemesis {
		switch f {
		case "none", "":
		case "all":
			faults = append(faults, Packages()...)
		default:
			faults = append(faults, f)
		}
	}
	// The listed order matters only when it orders the schedule; otherwise
	// one set of packages is one schedule however it was written.
	if !s.NemesisInOrder {
		slices.Sort(faults)
	}
	s.Nemesis = faults[:0]
	for _, f := range faults {
		if !slices.Contains(s.Nemesis, f) {
			s.Nemesis = append(s.Nemesis, f)
		}
	}
	s.PartitionSettings.normalize(nodes)
	s.ProcessSettings.normalize(nodes)
	s.RaftSettings.normalize()
	s.MembershipSettings.normalize()
}

// Validate explains, in one sentence, the first thing wrong with s for a
// cluster of nodes (remote: on remote hosts).
func (s *FaultSettings) Validate(nodes int, remote bool) error {
	if s.NemesisInterval <= 0 || s.NemesisInterval > param.Duration(24*time.Hour) {
		return fmt.Errorf("--nemesis-interval must be positive and at most 24h, got %s", s.NemesisInterval)
	}
	if s.NemesisInOrder && !s.NemesisOverlap {
		return fmt.Errorf("--nemesis-in-order orders overlapping packages: add --nemesis-overlap")
	}
	for _, name := range s.Nemesis {
		f, ok := Lookup(name)
		if !ok {
			return fmt.Errorf("--nemesis %q is not a fault package this version has (%s, or none or all)", name, strings.Join(Packages(), ", "))
		}
		if err := f.Fits(s, nodes, remote); err != nil {
			return err
		}
	}
	for _, f := range registry {
		if err := f.Validate(s, nodes); err != nil {
			return err
		}
	}
	return nil
}

// NeedsFramedRoutes reports whether any of the packages acts on Raft
// messages, which needs route links that read the route protocol.
func NeedsFramedRoutes(packages []string) bool {
	return slices.Contains(packages, FaultRaft)
}

// NeedsVolatileDisks reports whether any of the packages loses unsynced
// writes, which needs every node's data dir on a volatile disk.
func NeedsVolatileDisks(packages []string) bool {
	return slices.Contains(packages, FaultPowerLoss)
}

// needNodes is the sentence for a package that needs more nodes.
func needNodes(f string, want, nodes int) error {
	if nodes < want {
		return fmt.Errorf("--nemesis %s needs at least %d nodes, and --nodes is %d", f, want, nodes)
	}
	return nil
}
