package checker

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jetsam-dev/jetsam/history"
)

// CheckerAssertions names the check of the assertions nats-server evaluated
// itself: its Antithesis SDK assertions, compiled in by a build with them
// and written by each node as JSON lines.
const CheckerAssertions = "assertions"

// KindAssertion is a failed always, always-or-unreachable or unreachable
// assertion of the server.
const KindAssertion = "assertion"

// AssertionFile is one node's assertion events.
type AssertionFile struct {
	Node string
	File string
	R    io.Reader
}

// maxAssertionLine is the longest event read: the SDK writes one JSON
// object a line, and a longer (cut) line cannot be parsed.
const maxAssertionLine = 1 << 20

// degradedModeMessage is the property the SDK itself fails in every binary
// built without cgo: it says the build cannot guide a fuzzer, which says
// nothing about the server.
const degradedModeMessage = "Go application under test compiled with CGO enabled"

// sdkEvent is one line of the SDK's output: the version block it writes
// first, or an assertion.
type sdkEvent struct {
	SDK    json.RawMessage `json:"antithesis_sdk"`
	Assert *sdkAssertion   `json:"antithesis_assert"`
}

type sdkAssertion struct {
	AssertType  string          `json:"assert_type"`
	DisplayType string          `json:"display_type"`
	Message     string          `json:"message"`
	Hit         bool            `json:"hit"`
	MustHit     bool            `json:"must_hit"`
	Condition   bool            `json:"condition"`
	Details     json.RawMessage `json:"details"`
	Location    *struct {
		Class    string `json:"class"`
		Function string `json:"function"`
		File     string `json:"file"`
		Line     int    `json:"begin_line"`
	} `json:"location"`
}

// failed reports whether an assertion event is a failure. The SDK writes an
// assertion's first pass and first failure (per process); a failure is an
// evaluation of an always or always-or-unreachable assertion (assert_type
// "always") whose condition was false, or an unreachable one that was
// reached ("reachability" with condition false). A sometimes assertion
// that did not hold, or a registration (hit false), is no failure.
func (a *sdkAssertion) failed() bool {
	return a.Hit && !a.Condition && (a.AssertType == "always" || a.AssertType == "reachability")
}

// CheckAssertions reads every node's assertion events: each failed
// assertion is an anomaly, in the files' order (the events carry no time).
// Lines that are not events are skipped and counted; a file that cannot be
// read to its end makes the verdict at best unknown.
func CheckAssertions(files []AssertionFile, opts Options) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	var anomalies []Anomaly
	for _, f := range files {
		anomalies = append(anomalies, readAssertions(c, f)...)
		c.Counts["files"]++
	}
	if len(anomalies) > 0 {
		c.Counts["anomaly-"+KindAssertion] = len(anomalies)
		c.Valid = Invalid
	}
	if opts.MaxListed >= 0 && len(anomalies) > opts.MaxListed {
		c.Notes = append(c.Notes, fmt.Sprintf("%d failed assertions, the first %d listed", len(anomalies), opts.MaxListed))
		anomalies = anomalies[:opts.MaxListed]
	}
	c.Anomalies = anomalies
	return c
}

// readAssertions reads one file's events into c's counts and returns its
// failures.
func readAssertions(c *Check, f AssertionFile) []Anomaly {
	var out []Anomaly
	lr := history.NewLineReader(f.R, maxAssertionLine)
	sdk := false
	for {
		b, cut, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			c.Notes = append(c.Notes, fmt.Sprintf("%s %s: read after line %d: %v", f.Node, f.File, lr.Line(), err))
			c.Valid = Unknown
			break
		}
		var ev sdkEvent
		if cut || json.Unmarshal(b, &ev) != nil || (ev.SDK == nil && ev.Assert == nil) {
			if len(strings.TrimSpace(string(b))) > 0 || cut {
				c.Counts["lines-skipped"]++
				if c.Counts["lines-skipped"] <= 5 {
					c.Notes = append(c.Notes, fmt.Sprintf("%s %s line %d is not an assertion event: skipped", f.Node, f.File, lr.Line()))
				}
			}
			continue
		}
		if ev.SDK != nil {
			sdk = true
		}
		if a, ok := countAssertion(c, f, lr.Line(), ev.Assert); ok {
			out = append(out, a)
		}
	}
	if !sdk {
		c.Notes = append(c.Notes, fmt.Sprintf("%s %s has no SDK version line: was the server built with assertions?", f.Node, f.File))
	}
	return out
}

// countAssertion counts one assertion event and returns it as an anomaly
// when it failed.
func countAssertion(c *Check, f AssertionFile, line int, a *sdkAssertion) (Anomaly, bool) {
	switch {
	case a == nil:
		return Anomaly{}, false
	case !a.Hit:
		c.Counts["registered"]++
	case a.Message == degradedModeMessage && (a.Location == nil || a.Location.File == ""):
		if c.Counts["sdk-without-cgo"]++; c.Counts["sdk-without-cgo"] == 1 {
			c.Notes = append(c.Notes, "the server was built without cgo: the SDK's own property \""+degradedModeMessage+"\" fails in every node, and is not counted")
		}
	case a.failed():
		c.Counts["failed"]++
		return Anomaly{Kind: KindAssertion, Node: f.Node, Explanation: explainAssertion(f, line, a)}, true
	case !a.Condition:
		c.Counts["sometimes-false"]++ // a sometimes that did not hold, this time
	default:
		c.Counts["passed"]++
	}
	return Anomaly{}, false
}

// explainAssertion says which assertion failed, where, and with what.
func explainAssertion(f AssertionFile, line int, a *sdkAssertion) string {
	kind := a.DisplayType
	if kind == "" {
		kind = a.AssertType
	}
	s := fmt.Sprintf("%s assertion %q failed (%s line %d)", kind, truncate(a.Message, 300), f.File, line)
	if l := a.Location; l != nil && l.File != "" {
		s += fmt.Sprintf(" at %s:%d", truncate(l.File, 200), l.Line)
		if l.Function != "" {
			s += fmt.Sprintf(" in %s.%s", truncate(l.Class, 200), truncate(l.Function, 100))
		}
	}
	if d := strings.TrimSpace(string(a.Details)); d != "" && d != "null" && d != "{}" {
		s += "; details: " + truncate(d, 1000)
	}
	return s
}
