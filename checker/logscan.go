package checker

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
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

// ScanLogs reads the nodes' logs for alarming lines.
func ScanLogs(logs []NodeLog, opts Options) *Check {
	c := &Check{Valid: Valid, Counts: map[string]int{}}
	var anomalies []Anomaly
	for _, l := range logs {
		sc := bufio.NewScanner(l.R)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			for _, a := range alarms {
				if !a.re.MatchString(line) {
					continue
				}
				c.Counts["lines-"+a.kind]++
				if a.failure {
					anomalies = append(anomalies, Anomaly{Kind: a.kind, Node: l.Node,
						Explanation: fmt.Sprintf("%s line %d: %s", l.File, n, truncate(line, 300))})
				} else if c.Counts["lines-"+a.kind] <= 5 {
					c.Notes = append(c.Notes, fmt.Sprintf("%s %s line %d: %s", l.Node, l.File, n, truncate(line, 300)))
				}
				break
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
