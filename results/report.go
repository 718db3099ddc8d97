package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/shell"
)

// MaxDiagrams caps how many failing keys get a linearization diagram, so the
// page stays small.
const MaxDiagrams = 5

// WriteResults writes results.json into a run folder.
func WriteResults(dir string, r *checker.Result) error {
	return WriteJSON(filepath.Join(dir, ResultsFile), r)
}

// History formats Check reads.
const (
	FormatJetsam = "jetsam"
	FormatJepsen = "jepsen"
)

// Check checks the history of a run folder (or a history file) as the run
// does: see CheckRun.
func Check(ctx context.Context, path string, opts checker.Options) (*checker.Result, error) {
	return CheckRun(ctx, path, FormatJetsam, opts)
}

// CheckRun checks a run folder, or a bare history file, the one way a run
// is judged, so that a run and any later check of its folder agree: every
// checker over the history, the nodes' logs when there is a folder, and a
// run test.json records as interrupted or failed is at best unknown.
func CheckRun(ctx context.Context, path, format string, opts checker.Options) (*checker.Result, error) {
	res, err := CheckFormat(ctx, path, format, opts)
	if err != nil {
		return nil, err
	}
	if _, dir, _ := ResolveHistory(path); dir != "" {
		var ti TestInfo
		if ReadJSON(filepath.Join(dir, TestFile), &ti) == nil && (ti.Run.Interrupted || ti.Run.Error != "") {
			res.Valid = checker.Merge(res.Valid, checker.Unknown)
		}
	}
	return res, nil
}

// Recheck is CheckRun on a run that was checked before. It refuses, before
// checking anything, a folder whose results.json names a checker this
// jetsam does not know, and after checking, one where a checker the run
// ran could not run again: a verdict without it would not be the run's.
func Recheck(ctx context.Context, path, format string, opts checker.Options) (*checker.Result, error) {
	_, dir, err := ResolveHistory(path)
	if err != nil {
		return nil, err
	}
	var before []string
	if dir != "" {
		if before, err = checkersOf(filepath.Join(dir, ResultsFile)); err != nil {
			return nil, err
		}
	}
	res, err := CheckRun(ctx, path, format, opts)
	if err != nil {
		return nil, err
	}
	for _, name := range before {
		// An interrupted check ran what it could: it is unknown, not wrong.
		if _, ok := res.Checkers[name]; !ok && !res.Interrupted {
			return nil, fmt.Errorf("the run was judged by the %s checker, which cannot run again on %s (its input is gone from the folder): the verdict would not be the run's", name, dir)
		}
	}
	return res, nil
}

// checkersOf lists the checkers a results.json names; none when there is no
// results.json.
func checkersOf(path string) ([]string, error) {
	var stored struct {
		Checkers map[string]json.RawMessage `json:"checkers"`
	}
	if err := ReadJSON(path, &stored); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s is not readable (%v): move it aside to check the history afresh", path, err)
	}
	var names []string
	for name := range stored.Checkers {
		if !slices.Contains(checker.Names, name) {
			return nil, fmt.Errorf("%s names a checker this jetsam does not know (%q): check it with the jetsam that wrote it", path, name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// CheckFormat is Check for a history in the given format: jetsam's JSONL
// (streamed from disk, so millions of operations fit in memory), or a
// Jepsen history (its log lines or EDN op maps). For a run folder the
// nodes' logs are scanned as well.
func CheckFormat(ctx context.Context, path, format string, opts checker.Options) (*checker.Result, error) {
	hp, dir, err := ResolveHistory(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(hp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var res *checker.Result
	switch format {
	case FormatJetsam:
		res, err = checker.CheckReader(ctx, f, opts)
	case FormatJepsen:
		var h *history.History
		if h, err = history.ReadJepsenContext(ctx, f); err == nil && len(h.Events) == 0 && !h.Interrupted {
			err = fmt.Errorf("%w: it holds no operations", history.ErrMalformed)
		}
		if err == nil {
			res = checker.CheckHistory(ctx, h, opts)
		}
	default:
		return nil, fmt.Errorf("history format %q is not jetsam or jepsen", format)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a readable %s history: %w", hp, format, err)
	}
	if dir != "" {
		if logs := scanNodeLogs(dir, opts); logs != nil {
			res.Checkers[checker.CheckerLogs] = logs
			res.Valid = checker.Merge(res.Valid, logs.Valid)
		}
		if a := checkAssertions(dir, opts); a != nil {
			res.Checkers[checker.CheckerAssertions] = a
			res.Valid = checker.Merge(res.Valid, a.Valid)
		}
	}
	return res, nil
}

// scanNodeLogs checks a run folder's node logs for alarming lines, or
// returns nil when it has none.
func scanNodeLogs(dir string, opts checker.Options) *checker.Check {
	var logs []checker.NodeLog
	for _, name := range []string{"nats.log", "stderr.log"} {
		paths, _ := filepath.Glob(filepath.Join(dir, NodesDir, "*", name))
		sort.Strings(paths)
		for _, p := range paths {
			f, err := openRegular(p)
			if err != nil {
				continue
			}
			defer f.Close()
			logs = append(logs, checker.NodeLog{Node: filepath.Base(filepath.Dir(p)), File: name, R: f})
		}
	}
	if len(logs) == 0 {
		return nil
	}
	if opts.MaxListed == 0 {
		opts.MaxListed = 100
	}
	return checker.ScanLogs(logs, opts)
}

// WriteReport writes report.html for a run folder from its files: test.json
// (if present), results.json and, for the diagrams, history.jsonl.
func WriteReport(dir string, diagramTimeout time.Duration) error {
	var res checker.Result
	if err := ReadJSON(filepath.Join(dir, ResultsFile), &res); err != nil {
		return fmt.Errorf("report needs %s: %w", ResultsFile, err)
	}
	var test *TestInfo
	var ti TestInfo
	if err := ReadJSON(filepath.Join(dir, TestFile), &ti); err == nil {
		test = &ti
	}
	ops := failingKeyOps(filepath.Join(dir, HistoryFile), &res)
	tl := readTimeline(filepath.Join(dir, HistoryFile), res.Faults)
	page, err := RenderReport(dir, test, &res, ops, tl, diagramTimeout)
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, ReportFile), page)
}

// failingKeyOps reads, from a history file, the operations on the KV keys
// the results name as failing: all the diagrams need, however large the
// history.
func failingKeyOps(path string, res *checker.Result) []checker.Op {
	keys := map[string]bool{}
	for _, name := range []string{checker.WorkloadKV, checker.WorkloadKVDirect} {
		if c := res.Checkers[name]; c != nil {
			for i, k := range c.FailingKeys {
				if i < MaxDiagrams {
					keys[k] = true
				}
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	p := checker.NewPairer()
	if _, err := history.Scan(f, func(e *history.Event) error {
		if e.Workload == checker.WorkloadKV && keys[e.Key] {
			p.Add(e)
		}
		return nil
	}); err != nil {
		return nil
	}
	return p.Ops()
}

// RenderReport builds the self-contained report page; ops are the
// operations of the failing keys, for their diagrams.
func RenderReport(dir string, test *TestInfo, res *checker.Result, ops []checker.Op, tl timelineData, diagramTimeout time.Duration) ([]byte, error) {
	d := reportData{Test: test, Res: res, Generated: time.Now().UTC().Format(time.RFC3339)}
	d.Throughput = throughputSVG(res.Stats, res.Faults)
	d.Latency, d.LatencyLegend = latencySVG(tl.Points, float64(len(res.Stats.Timeline)), res.Faults)
	for _, w := range res.Stats.Unavailable {
		d.Unavailable = append(d.Unavailable, fmt.Sprintf("%s to %s (%.2fs)", secs(w.Start), secs(w.End), float64(w.End-w.Start)/1e9))
	}
	switch res.Valid {
	case checker.Valid:
		d.Verdict, d.VerdictClass = "VALID", "valid"
	case checker.Invalid:
		d.Verdict, d.VerdictClass = "ANOMALY FOUND", "invalid"
	default:
		d.Verdict, d.VerdictClass = "UNKNOWN", "unknown"
	}
	if test != nil {
		d.Replay = shell.Join(test.Command)
		if b, err := json.MarshalIndent(test, "", "  "); err == nil {
			d.TestJSON = string(b)
		}
	}
	for i, w := range res.Faults {
		fr := faultRow{Desc: w.Describe(), Start: secs(w.Start), End: "never healed", OKDuring: w.OKDuring, OKAfter: w.OKAfter, FirstOK: "-",
			FirstFail: "-", Notes: strings.Join(w.Notes, "; ")}
		if ff, ok := tl.FirstFail[i]; ok {
			fr.FirstFail = secs(ff)
		}
		for _, l := range w.Traffic {
			fr.Traffic = append(fr.Traffic, trafficRow{Link: l.From + " → " + l.To, Fwd: l.BytesForward, Rev: l.BytesBackward, Conns: l.Accepted,
				Silent: l.BytesForward == 0 && l.BytesBackward == 0, Raft: raftActions(l.Raft)})
		}
		if w.End != nil {
			fr.End = secs(*w.End)
		}
		if w.FirstOKAfter != nil {
			fr.FirstOK = secs(*w.FirstOKAfter)
		}
		d.Faults = append(d.Faults, fr)
	}
	var logs map[string][]logLine
	var zero time.Time // the wall-clock time of the history's time 0
	if test != nil {
		zero = test.Run.HistoryStarted
		if zero.IsZero() {
			zero = test.Started
		}
	}
	if !zero.IsZero() {
		logs = readNodeLogs(dir)
	}
	d.Checkers = checkerSections(res, ops, logs, zero, diagramTimeout)
	d.Files = listFiles(dir)
	var out bytes.Buffer
	if err := reportTemplate.Execute(&out, d); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return out.Bytes(), nil
}

// missingCheck stands for a checker results.json holds as null.
var missingCheck = checker.Check{Notes: []string{"results.json holds null for this checker: its verdict, counts and anomalies are missing"}}

// checkerSections describes every checker of res, by name; logs (nil when
// the run's clock is unknown) give the lines the nodes logged around the
// first anomalies, zero being the wall time of the history's time 0.
func checkerSections(res *checker.Result, ops []checker.Op, logs map[string][]logLine, zero time.Time, diagramTimeout time.Duration) []checkerSection {
	names := make([]string, 0, len(res.Checkers))
	for n := range res.Checkers {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []checkerSection
	for _, n := range names {
		c := res.Checkers[n]
		if c == nil {
			c = &missingCheck
		}
		cs := checkerSection{Name: n, Check: c, Verdict: c.Valid.String()}
		keys := make([]string, 0, len(c.Counts))
		for k := range c.Counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cs.Counts = append(cs.Counts, countRow{k, c.Counts[k]})
		}
		for i, a := range c.Anomalies {
			row := anomalyRow{Anomaly: a, At: secs(a.Time), Faults: strings.Join(a.Faults, "; "), Timeless: a.Time == 0 && len(a.Ops) == 0}
			if i < logAnomalies && logs != nil && !row.Timeless {
				// History times count from the run's start; the logs
				// carry UTC wall time.
				row.Logs = linesAround(logs, zero.UTC().Add(time.Duration(a.Time)))
			}
			cs.Anomalies = append(cs.Anomalies, row)
		}
		if (n == checker.WorkloadKV || n == checker.WorkloadKVDirect) && ops != nil {
			addDiagrams(&cs, c, checker.KVOps(ops, n == checker.WorkloadKVDirect), diagramTimeout)
		}
		out = append(out, cs)
	}
	return out
}

// addDiagrams draws the linearization diagrams of a KV check's first
// failing keys.
func addDiagrams(cs *checkerSection, c *checker.Check, kvOps []checker.Op, diagramTimeout time.Duration) {
	for i, key := range c.FailingKeys {
		if i == MaxDiagrams {
			cs.DiagramNote = fmt.Sprintf("%d more failing keys have no diagram here; run `jetsam check` on the history to see them all.", len(c.FailingKeys)-MaxDiagrams)
			break
		}
		var buf bytes.Buffer
		at := int64(0)
		for _, a := range c.Anomalies {
			if a.Key == key {
				at = a.Time
				break
			}
		}
		if err := checker.VisualizeKV(&buf, kvOps, key, at, diagramTimeout); err != nil {
			cs.DiagramNote = fmt.Sprintf("diagram of %s failed: %v", key, err)
			continue
		}
		cs.Diagrams = append(cs.Diagrams, diagram{Key: key, HTML: drawWhenSized(buf.String())})
	}
}

type reportData struct {
	Throughput    template.HTML
	Latency       template.HTML
	LatencyLegend []string
	Unavailable   []string
	Test          *TestInfo
	Res           *checker.Result
	Verdict       string
	VerdictClass  string
	Replay        string
	TestJSON      string
	Faults        []faultRow
	Checkers      []checkerSection
	Files         []string
	Generated     string
}

type faultRow struct {
	Desc, Start, End, FirstOK, FirstFail, Notes string
	OKDuring, OKAfter                           int
	Traffic                                     []trafficRow
}

// raftActions words what a raft fault did on a link ("214 dropped
// append, 30 dropped heartbeat"), leaving out what merely passed.
func raftActions(counts map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !strings.HasPrefix(k, "seen ") {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

type trafficRow struct {
	// Raft is what a raft fault did to the link's Raft messages.
	Raft            string
	Link            string
	Fwd, Rev, Conns int64
	Silent          bool
}

type checkerSection struct {
	Name        string
	Verdict     string
	Check       *checker.Check
	Counts      []countRow
	Anomalies   []anomalyRow
	Diagrams    []diagram
	DiagramNote string
}

type countRow struct {
	Name  string
	Value int
}

type anomalyRow struct {
	checker.Anomaly
	At     string
	Faults string
	Logs   []nodeLines
	// Timeless: found in a file without the run's clock (a node's log or
	// assertions), with no operation involved, so no time or fault to show.
	Timeless bool
}

type diagram struct {
	Key  string
	HTML string
}

// drawWhenSized makes a diagram page draw itself only once text can be
// measured. Chromium runs a sandboxed frame in a process of its own, where
// the page's script can run before the frame is laid out: Porcupine, which
// measures each label as it draws, measured every one 0 wide (seen even
// after the frame had a width, on a busy machine). So the page measures a
// character first, and tries again every 20 ms, for at most 10 s.
func drawWhenSized(page string) string {
	const call = "render(data)"
	i := strings.LastIndex(page, call)
	if i < 0 {
		return page
	}
	// The statement before it has no semicolon: a "(" would call it.
	return page[:i] + drawScript + page[i+len(call):]
}

const drawScript = `;(function draw(tries) {
	const ns = 'http://www.w3.org/2000/svg', svg = document.createElementNS(ns, 'svg'), text = document.createElementNS(ns, 'text')
	text.textContent = '0'
	svg.appendChild(text)
	document.body.appendChild(svg)
	const width = innerWidth > 0 ? text.getBBox().width : 0
	svg.remove()
	if (width > 0 || tries >= 500) { render(data) } else { setTimeout(() => draw(tries + 1), 20) }
})(0)`

func secs(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

// listFiles lists the run's raw files, relative to the run folder: what a
// report links to, and all that serve sends of a run besides its pages.
// Private keys are never among them.
func listFiles(dir string) []string {
	var out []string
	for _, f := range []string{TestFile, HistoryFile, ResultsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			out = append(out, f)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, NodesDir, "*", "*"))
	sort.Strings(logs)
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Mode().IsRegular() && !privateKey(l) {
			rel, _ := filepath.Rel(dir, l)
			out = append(out, rel)
		}
	}
	return out
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>jetsam {{if .Test}}{{.Test.Name}} {{end}}{{.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
.banner{padding:18px 24px;color:#fff;font-size:22px;font-weight:600}
.banner.valid{background:#1f883d}.banner.invalid{background:#cf222e}.banner.unknown{background:#9a6700}
.banner small{display:block;font-size:14px;font-weight:400;opacity:.9}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eaeef2;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
code,pre{font:12px ui-monospace,monospace;background:#f6f8fa}pre{padding:8px;overflow:auto;max-height:400px}
.ok{color:#1f883d}.bad{color:#cf222e}.unk{color:#9a6700}
.anomaly{border-left:3px solid #cf222e;padding:4px 10px;margin:6px 0;background:#fff8f8}
.kind{font-weight:600}iframe{width:100%;height:520px;border:1px solid #d0d7de}
</style></head><body>
<div class="banner {{.VerdictClass}}" id="verdict">{{.Verdict}}<small>{{if .Test}}{{.Test.Name}} · started {{.Test.Started.Format "2006-01-02 15:04:05 MST"}} · seed {{.Test.Seed}}{{end}}</small></div>
<main>
{{if .Replay}}<section><h2>Replay</h2><pre id="replay">{{.Replay}}</pre></section>{{end}}
<section><h2>Summary</h2><table>
<tr><th>operations ok</th><td class="ok">{{.Res.Ops.OK}}</td></tr>
<tr><th>operations failed</th><td>{{.Res.Ops.Fail}}</td></tr>
<tr><th>operations indeterminate</th><td>{{.Res.Ops.Info}}</td></tr>
{{if .Test}}{{if .Test.Run.ReadySeconds}}<tr><th>cluster ready in</th><td>{{printf "%.2fs" .Test.Run.ReadySeconds}}</td></tr>{{end}}
{{if .Test.Run.Interrupted}}<tr><th>run</th><td class="unk">interrupted before its final phase</td></tr>{{end}}
{{if .Test.Run.Error}}<tr><th>run error</th><td class="bad">{{.Test.Run.Error}}</td></tr>{{end}}{{end}}
<tr><th>check took</th><td>{{printf "%.2fs" .Res.CheckSeconds}}</td></tr>
{{if .Res.Truncated}}<tr><th>history</th><td class="unk">last line torn by a crash and dropped</td></tr>{{end}}
</table></section>
{{if .Test}}{{with .Test.Server}}<section id="server"><h2>Server under test</h2><table>
<tr><th>asked for</th><td>{{.Spec}}</td></tr>
<tr><th>build</th><td id="server-identity">{{.Identity}}{{if .Binary}} <small>({{.Binary}}{{if .Cached}}, cached{{else}}, built in {{printf "%.1fs" .BuildSeconds}}{{end}})</small>{{end}}</td></tr>
<tr><th>what the nodes report</th><td id="server-reported">{{.Summary}}</td></tr>
<tr><th>route compression</th><td>{{if .RouteCompression}}{{.RouteCompression}}{{else}}the server's default{{end}}</td></tr>
<tr><th>route pool size</th><td>{{if eq .RoutePoolSize 0}}the server's default{{else if eq .RoutePoolSize -1}}one route per pair (-1){{else}}{{.RoutePoolSize}}{{end}}</td></tr>
<tr><th>route TLS</th><td>{{if .RouteTLS}}mutual TLS, certificates from a CA made for this run{{else}}off{{end}}</td></tr>
</table></section>{{end}}{{end}}
{{if .Throughput}}<section id="timeline"><h2>Timeline</h2>
<p><small>Completions per second: <span class="ok">ok</span>, <span class="bad">fail</span>, <span class="unk">indeterminate</span>; shaded: faults in place (hover for details); red marks under the axis: no success for a second or more.</small></p>
{{.Throughput}}
{{if .Latency}}<p><small>Latency of a sample of operations by when they began, coloured by outcome: {{range $i, $l := .LatencyLegend}}{{if $i}} · {{end}}{{$l}}{{end}}</small></p>{{.Latency}}{{end}}
</section>{{end}}
<section id="availability"><h2>Availability</h2>{{if .Unavailable}}<p>No operation succeeded from:</p><ul>{{range .Unavailable}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>Some operation succeeded in every second of the main phase.</p>{{end}}</section>
<section id="faults"><h2>Faults</h2>{{if .Faults}}<table>
<tr><th>fault</th><th>in place</th><th>healed</th><th>first failure after it began</th><th>ok during</th><th>ok after heal</th><th>first ok after heal</th></tr>
{{range .Faults}}<tr class="fault"><td>{{.Desc}}{{if .Notes}}<br><small>{{.Notes}}</small>{{end}}{{if .Traffic}}<details><summary>traffic while it held</summary><table>
<tr><th>link (dialer → dialed)</th><th>bytes →</th><th>bytes ←</th><th>new conns</th><th>Raft messages acted on</th></tr>
{{range .Traffic}}<tr{{if .Silent}} class="unk"{{end}}><td>{{.Link}}</td><td>{{.Fwd}}</td><td>{{.Rev}}</td><td>{{.Conns}}</td><td>{{.Raft}}</td></tr>{{end}}</table></details>{{end}}</td><td>{{.Start}}</td><td>{{.End}}</td><td>{{.FirstFail}}</td><td>{{.OKDuring}}</td><td>{{.OKAfter}}</td><td>{{.FirstOK}}</td></tr>
{{end}}</table>{{else}}<p>No faults were injected.</p>{{end}}</section>
{{range .Checkers}}<section class="checker" id="checker-{{.Name}}"><h2>Checker {{.Name}}: <span class="{{if eq .Verdict "valid"}}ok{{else if eq .Verdict "invalid"}}bad{{else}}unk{{end}}">{{.Verdict}}</span></h2>
{{range .Check.Notes}}<p class="unk">{{.}}</p>{{end}}
{{if .Anomalies}}<h3>Anomalies</h3>{{range .Anomalies}}<div class="anomaly"><span class="kind">{{.Kind}}</span>{{if .Key}} · key {{.Key}}{{end}}{{if .Node}} · node {{.Node}}{{end}}{{if .ReadMode}} · {{.ReadMode}} read{{end}}{{if not .Timeless}} · at {{.At}} · ops {{range $i, $o := .Ops}}{{if $i}}, {{end}}{{$o}}{{end}}{{end}}
<div>{{.Explanation}}</div>{{if .Faults}}<div>Active fault: {{.Faults}}</div>{{else if not .Timeless}}<div>No fault was active.</div>{{end}}
{{if .Logs}}<details class="logs"><summary>what the nodes logged around it</summary>{{range .Logs}}<h4>{{.Node}}</h4><pre>{{range .Lines}}{{.}}
{{end}}{{if .More}}… {{.More}} more lines
{{end}}</pre>{{end}}</details>{{end}}</div>{{end}}{{end}}
<h3>Counts</h3><table>{{range .Counts}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}</table>
{{range .Diagrams}}<h3>Linearization diagram of key {{.Key}}</h3><iframe sandbox="allow-scripts" title="key {{.Key}}" srcdoc="{{.HTML}}"></iframe>{{end}}
{{if .DiagramNote}}<p>{{.DiagramNote}}</p>{{end}}
</section>{{end}}
<section><h2>Raw files</h2><ul>{{range .Files}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul></section>
{{if .TestJSON}}<section><h2>Configuration</h2><pre>{{.TestJSON}}</pre></section>{{end}}
<p><small>Written by jetsam at {{.Generated}}.</small></p>
</main></body></html>
`))
