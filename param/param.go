// Package param is how a stage declares the settings it owns: each is a run
// flag (--name) with its default and usage, parsed into the stage's own
// settings struct and printed back as a command line takes it. The flag
// table of `jetsam run`, its --help, scenarios, the sides of a comparison
// and the replay command are all made from these, so they cannot drift;
// the settings structs are embedded in the run's Config, so test.json
// keeps every setting under its flag's name.
package param

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Param is one setting of a stage whose settings are an S.
type Param[S any] struct {
	// Name is the flag's name, without dashes.
	Name  string
	Usage string
	// Type names the value in --help: duration, int, list, bool, rate...;
	// empty is "string". A bool flag may be given without a value.
	Type string
	// Repeat: the flag may be given more than once in one command line;
	// Set then gets the values joined by commas.
	Repeat bool
	// Order places Set among the flags one command line gives: lower
	// first (a setting another's parse depends on, such as the node
	// count), then by the order of the table.
	Order int
	// Set parses a command-line value into s; Get prints s's value as Set
	// takes it, or "" when the replay command should leave it out.
	Set func(s *S, v string) error
	Get func(s *S) string
}

// Map turns a param of a part of T (a stage's settings inside a run's
// configuration) into a param of T.
func Map[S, T any](p Param[S], part func(*T) *S) Param[T] {
	return Param[T]{Name: p.Name, Usage: p.Usage, Type: p.Type, Repeat: p.Repeat, Order: p.Order,
		Set: func(t *T, v string) error { return p.Set(part(t), v) },
		Get: func(t *T) string { return p.Get(part(t)) },
	}
}

// Duration, Int, List and Bool make the common params: a setting held in a
// field that get returns.
func DurationOf[S any](name, usage string, get func(*S) *Duration) Param[S] {
	return Param[S]{Name: name, Usage: usage, Type: "duration",
		Set: func(s *S, v string) (err error) { *get(s), err = ParseDuration(name, v); return err },
		Get: func(s *S) string { return get(s).String() },
	}
}

func IntOf[S any](name, usage string, get func(*S) *int) Param[S] {
	return Param[S]{Name: name, Usage: usage, Type: "int",
		Set: func(s *S, v string) (err error) { *get(s), err = ParseInt(name, v); return err },
		Get: func(s *S) string { return strconv.Itoa(*get(s)) },
	}
}

func ListOf[S any](name, usage string, get func(*S) *[]string) Param[S] {
	return Param[S]{Name: name, Usage: usage, Type: "list", Repeat: true,
		Set: func(s *S, v string) error { *get(s) = ParseList(v); return nil },
		Get: func(s *S) string { return strings.Join(*get(s), ",") },
	}
}

func StringOf[S any](name, usage string, get func(*S) *string) Param[S] {
	return Param[S]{Name: name, Usage: usage,
		Set: func(s *S, v string) error { *get(s) = v; return nil },
		Get: func(s *S) string { return *get(s) },
	}
}

func BoolOf[S any](name, usage string, get func(*S) *bool) Param[S] {
	return Param[S]{Name: name, Usage: usage, Type: "bool",
		Set: func(s *S, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("--%s %q is not true or false", name, v)
			}
			*get(s) = b
			return nil
		},
		Get: func(s *S) string { return strconv.FormatBool(*get(s)) },
	}
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a flag's duration.
func ParseDuration(name, v string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("--%s %q is not a duration such as 100ms or 5s", name, v)
	}
	return Duration(d), nil
}

// ParseInt reads a flag's integer.
func ParseInt(name, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("--%s %q is not a whole number", name, v)
	}
	return n, nil
}

// ParseList reads a flag's comma-separated list; empty gives none.
func ParseList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ParseRate reads a rate in bytes per second: "65536", "64KB", "1MB/s".
func ParseRate(name, v string) (int64, error) {
	num := strings.TrimSuffix(strings.TrimSpace(v), "/s")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || !(n > 0) || n*float64(mult) > 1<<40 {
		return 0, fmt.Errorf("--%s %q must be a positive rate in bytes per second up to 1TB/s, like 64KB/s or 1MB/s", name, v)
	}
	return int64(n * float64(mult)), nil
}

// FormatRate writes bytes per second for people: "128KB/s".
func FormatRate(bps int64) string {
	switch {
	case bps >= 1<<30 && bps%(1<<30) == 0:
		return fmt.Sprintf("%dGB/s", bps>>30)
	case bps >= 1<<20 && bps%(1<<20) == 0:
		return fmt.Sprintf("%dMB/s", bps>>20)
	case bps >= 1<<10 && bps%(1<<10) == 0:
		return fmt.Sprintf("%dKB/s", bps>>10)
	}
	return fmt.Sprintf("%dB/s", bps)
}
