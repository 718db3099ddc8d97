package checker

import (
	"fmt"
	"io"
	"regexp"

	"github.com/jetsam-dev/jetsam/history"
)

// CheckerLogs names the check of the nodes' logs.
const CheckerLogs = "logs"

// Alarm kinds of the log scan.
const (
	KindPanic      = "panic"
	KindDataRace   = "data-race"
	KindFatal      = "fatal"
	KindCorruption = "corruption"
	KindStateReset = "state-reset"
)

// alarms are the log lines that say a node failed or its data is damaged
// (which make the run invalid), or that it threw state away to recover
// (which are reported but judged by the workloads' checkers).
var alarms = []struct {
	kind    string
	failure bool
	re      *regexp.Regexp
}{
	{KindPanic, true, regexp.MustCompile(`^panic: |^fatal error: |goroutine \d+ \[running\]:`)},
	{KindDataRace, true, regexp.MustCompile(`WARNING: DATA RACE`)},
	{KindFatal, true, regexp.MustCompile(`\[FTL\]`)},
	{KindCorruption, true, regexp.MustCompile(`(?i)corrupt|checksums do not match|bad stream state|invalid stream state|inconsistent state`)},
	{KindStateReset, false, regexp.MustCompile(`(?i)resetting stream cluster state|resetting first sequence|resetting wal state|sequence mismatch`)},
}

// NodeLog is one log file of one node.
type NodeLog struct {
	Node string
	File string
	R    io.Reader
}

// maxLogLine is the longest log line matched whole. nats-server's lines
// carry their level and message first, so the beginning of a longer line
// (a dump of state) says what it is, and the rest is skipped.
const maxLogLine = 1 << 20

// ScanLogs reads the nodes' logs for alarming lines. A line longer than
// maxLogLine is matched on its beginning (history.LineReader's cut); a log
// that cannot be read to its end makes the verdict at best unknown, since
// what it did not show may have been a failure.
func ScanLogs(logs []NodeLog, opts Options) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	var anomalies []Anomaly
	for _, l := range logs {
		lr := history.NewLineReader(l.R, maxLogLine)
		for {
			b, cut, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				c.Notes = append(c.Notes, fmt.Sprintf("%s %s: read after line %d: %v", l.Node, l.File, lr.Line(), err))
				c.Valid = Unknown
				break
			}
			if cut {
				c.Counts["lines-cut"]++
			}
			if a, ok := scanLine(c, l, lr.Line(), string(b)); ok {
				anomalies = append(anomalies, a)
			}
		}
		c.Counts["files"]++
	}
	for _, a := range anomalies {
		c.Counts["anomaly-"+a.Kind]++
	}
	listed := map[string]int{}
	for _, a := range anomalies {
		if listed[a.Kind] < opts.MaxListed || opts.MaxListed < 0 {
			listed[a.Kind]++
			c.Anomalies = append(c.Anomalies, a)
		}
	}
	if len(anomalies) > 0 {
		c.Valid = Invalid
	}
	return c
}

// scanLine matches one line against the alarms: it counts a match, notes a
// state reset, and returns a failure as an anomaly.
func scanLine(c *Check, l NodeLog, n int, line string) (Anomaly, bool) {
	for _, a := range alarms {
		if !a.re.MatchString(line) {
			continue
		}
		c.Counts["lines-"+a.kind]++
		if a.failure {
			return Anomaly{Kind: a.kind, Node: l.Node,
				Explanation: fmt.Sprintf("%s line %d: %s", l.File, n, truncate(line, 300))}, true
		}
		if c.Counts["lines-"+a.kind] <= 5 {
			c.Notes = append(c.Notes, fmt.Sprintf("%s %s line %d: %s", l.Node, l.File, n, truncate(line, 300)))
		}
		return Anomaly{}, false
	}
	return Anomaly{}, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
