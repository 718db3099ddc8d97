package results

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// Node log lines shown around an anomaly: from a little before the
// observing operation began to a little after, at most so many per node.
const (
	logBefore       = 2 * time.Second
	logAfter        = time.Second
	logLinesPerNode = 25
	logAnomalies    = 5 // per checker, the first ones get their log lines
)

// logLine is one line of a node's log with its time.
type logLine struct {
	At   time.Time
	Text string
}

// nodeLines are the lines one node logged around a moment.
type nodeLines struct {
	Node  string
	Lines []string
	More  int // lines in the window beyond those shown
}

// maxShownLine is how much of a node's log line the report keeps: a line
// longer than that is cut, and the lines after it are still read.
const maxShownLine = 64 << 10

// readNodeLogs reads every node's nats.log of a run folder, keeping the
// lines that carry a time (nats-server writes "[pid] 2006/01/02
// 15:04:05.000000 [LVL] ..." with logtime_utc). A log that cannot be read
// to its end gives the lines read before.
func readNodeLogs(dir string) map[string][]logLine {
	paths, _ := filepath.Glob(filepath.Join(dir, NodesDir, "*", "nats.log"))
	out := map[string][]logLine{}
	for _, p := range paths {
		f, err := openRegular(p)
		if err != nil {
			continue
		}
		node := filepath.Base(filepath.Dir(p))
		lr := history.NewLineReader(f, maxShownLine)
		for {
			b, cut, err := lr.Next()
			if err != nil {
				break
			}
			if l, ok := parseLogLine(string(b)); ok {
				if cut {
					l.Text += " … (cut)"
				}
				out[node] = append(out[node], l)
			}
		}
		f.Close()
	}
	return out
}

// parseLogLine reads the time of a nats-server log line.
func parseLogLine(line string) (logLine, bool) {
	i := strings.Index(line, "] ")
	if i < 0 || len(line) < i+2+26 {
		return logLine{}, false
	}
	at, err := time.Parse("2006/01/02 15:04:05.000000", line[i+2:i+2+26])
	if err != nil {
		return logLine{}, false
	}
	return logLine{At: at, Text: line}, true
}

// openRegular opens a regular file: a node log that is a pipe or a device
// (a folder from elsewhere) could block the open, or be read forever.
func openRegular(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return os.Open(path)
}

// linesAround returns each node's lines logged from before t to after it.
func linesAround(logs map[string][]logLine, t time.Time) []nodeLines {
	nodes := make([]string, 0, len(logs))
	for n := range logs {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []nodeLines
	for _, n := range nodes {
		ls := logs[n]
		from := sort.Search(len(ls), func(i int) bool { return !ls[i].At.Before(t.Add(-logBefore)) })
		nl := nodeLines{Node: n}
		for i := from; i < len(ls) && !ls[i].At.After(t.Add(logAfter)); i++ {
			if len(nl.Lines) < logLinesPerNode {
				nl.Lines = append(nl.Lines, ls[i].Text)
			} else {
				nl.More++
			}
		}
		if len(nl.Lines) > 0 {
			out = append(out, nl)
		}
	}
	return out
}
