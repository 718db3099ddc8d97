package results

import (
	"bytes"
	"fmt"
	"html/template"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
)

// Files of a battery folder (store/cases/<time>/).
const (
	CasesJSON = "cases.json"
	CasesHTML = "cases.html"
)

// Sides of a known-bug case.
const (
	Affected = "affected" // a release that had the bug
	Fixed    = "fixed"    // the release that fixed it, or the control setting
)

// Battery is cases.json: known NATS bugs, each run on a release that had
// it and on the one that fixed it, and how often jetsam re-found each.
type Battery struct {
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// RunsPerSide is how many runs each side of each case was given.
	RunsPerSide int          `json:"runs_per_side"`
	Cases       []CaseResult `json:"cases"`
	// Exit is 0 when every case was found on every affected run and never
	// on a fixed one, 1 when a case was missed or fired on its fixed side,
	// 2 when runs did not finish (and nothing was missed).
	Exit    int      `json:"exit"`
	Reasons []string `json:"reasons,omitempty"`
	// Interrupted: stopped before every run was done.
	Interrupted bool `json:"interrupted,omitempty"`
}

// CaseResult is one case's two sides.
type CaseResult struct {
	Name      string `json:"name"`
	Title     string `json:"title"`
	Reference string `json:"reference"`
	// Kinds are the anomaly kinds that are the bug's symptom: a run finds
	// the case when it shows one of them.
	Kinds    []string `json:"kinds"`
	Affected CaseSide `json:"affected"`
	Fixed    CaseSide `json:"fixed"`
}

// CaseSide is one side of a case: its server, its flags and its runs.
type CaseSide struct {
	Spec     string    `json:"spec"`
	Identity string    `json:"identity,omitempty"`
	Flags    []string  `json:"flags"`
	Runs     []CaseRun `json:"runs"`
	// Found counts the runs that showed one of the case's kinds; Finished
	// the runs that reached a verdict (valid or invalid).
	Found    int `json:"found"`
	Finished int `json:"finished"`
	// FirstFinding is the earliest time into a run, over the runs, at
	// which one of the case's kinds was observed (seconds; -1: never).
	FirstFinding float64 `json:"first_finding_seconds"`
	// Kinds counts, per anomaly kind ("checker kind"), the runs showing it.
	Kinds map[string]int `json:"kinds,omitempty"`
}

// CaseRun is one run of one side.
type CaseRun struct {
	Seed uint64 `json:"seed"`
	// Dir is the run folder, relative to the battery folder when it can be.
	Dir   string `json:"dir,omitempty"`
	Exit  int    `json:"exit"`
	Valid string `json:"valid"`
	Error string `json:"error,omitempty"`
	// Found: the run showed one of the case's kinds, first at FirstFinding
	// seconds into the run (-1: not found).
	Found        bool    `json:"found"`
	FirstFinding float64 `json:"first_finding_seconds"`
	// Anomalies counts anomalies by "checker kind".
	Anomalies map[string]int `json:"anomalies,omitempty"`
	Seconds   float64        `json:"seconds"`
}

// CaseRunOf summarises one run for its case: which anomalies it showed,
// and when the first of the case's kinds was observed.
func CaseRunOf(seed uint64, dir string, exit int, res *checker.Result, kinds []string, seconds float64) CaseRun {
	r := CaseRun{Seed: seed, Dir: dir, Exit: exit, FirstFinding: -1, Seconds: seconds}
	if res == nil {
		r.Valid = "could not run"
		return r
	}
	r.Valid = res.Valid.String()
	names := make([]string, 0, len(res.Checkers))
	for name := range res.Checkers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := res.Checkers[name]
		if c == nil {
			continue
		}
		for _, a := range c.Anomalies {
			if r.Anomalies == nil {
				r.Anomalies = map[string]int{}
			}
			// Counts hold every anomaly; the list is capped per kind.
			r.Anomalies[name+" "+a.Kind] = max(c.Counts["anomaly-"+a.Kind], 1)
			if !slices.Contains(kinds, a.Kind) {
				continue
			}
			r.Found = true
			if at := float64(a.Time) / 1e9; r.FirstFinding < 0 || at < r.FirstFinding {
				r.FirstFinding = at
			}
		}
	}
	return r
}

// Judge tallies every side and sets the battery's exit code and reasons.
func (b *Battery) Judge() {
	b.Exit, b.Reasons = 0, nil
	unfinished := b.Interrupted
	for i := range b.Cases {
		c := &b.Cases[i]
		for _, s := range []*CaseSide{&c.Affected, &c.Fixed} {
			s.tally()
			if s.Finished < len(s.Runs) || len(s.Runs) < b.RunsPerSide {
				unfinished = true
			}
		}
		missed := c.Affected.Finished - c.Affected.Found
		if missed > 0 {
			b.Exit = 1
			b.Reasons = append(b.Reasons, fmt.Sprintf("%s: missed in %d of %d finished runs on %s", c.Name, missed, c.Affected.Finished, c.Affected.Spec))
		}
		if c.Fixed.Found > 0 {
			b.Exit = 1
			b.Reasons = append(b.Reasons, fmt.Sprintf("%s: fired in %d of %d finished runs on %s, which fixed it", c.Name, c.Fixed.Found, c.Fixed.Finished, c.Fixed.Spec))
		}
	}
	if b.Exit == 0 && unfinished {
		b.Exit = 2
		b.Reasons = append(b.Reasons, "some runs did not finish (could not run, unknown, or interrupted): nothing missed among the rest")
	}
}

func (s *CaseSide) tally() {
	s.Found, s.Finished, s.FirstFinding, s.Kinds = 0, 0, -1, nil
	for _, r := range s.Runs {
		if r.Exit == ExitValid || r.Exit == ExitAnomaly {
			s.Finished++
		}
		if r.Found {
			s.Found++
			if s.FirstFinding < 0 || r.FirstFinding < s.FirstFinding {
				s.FirstFinding = r.FirstFinding
			}
		}
		for k := range r.Anomalies {
			if s.Kinds == nil {
				s.Kinds = map[string]int{}
			}
			s.Kinds[k]++
		}
	}
}

// WriteBattery writes cases.json and cases.html into dir.
func WriteBattery(dir string, b *Battery) error {
	if err := WriteJSON(filepath.Join(dir, CasesJSON), b); err != nil {
		return err
	}
	page, err := RenderBattery(b)
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, CasesHTML), page)
}

// KindList prints a side's anomaly kinds as "kind (runs)", sorted.
func (s CaseSide) KindList() string {
	keys := make([]string, 0, len(s.Kinds))
	for k := range s.Kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s (%d)", k, s.Kinds[k])
	}
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// Label is the side's server and its own flags, for a table.
func (s CaseSide) Label() string {
	return strings.TrimSpace(s.Spec + " " + strings.Join(s.Flags, " "))
}

// FirstFindingText is the side's first finding for a table.
func (s CaseSide) FirstFindingText() string {
	if s.FirstFinding < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f s", s.FirstFinding)
}

// RenderBattery draws the battery's page: a row per case.
func RenderBattery(b *Battery) ([]byte, error) {
	var buf bytes.Buffer
	if err := batteryPage.Execute(&buf, b); err != nil {
		return nil, fmt.Errorf("render the cases page: %w", err)
	}
	return buf.Bytes(), nil
}

var batteryPage = template.Must(template.New("cases").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>jetsam: known NATS bugs</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.bad{background:#fdd}.good{background:#dfd}.meh{background:#ffd}.banner{font-size:1.3em;padding:.5em;margin-bottom:1em}
small{color:#666}
</style></head><body>
<div class="banner {{if eq .Exit 0}}good{{else if eq .Exit 1}}bad{{else}}meh{{end}}" id="verdict">
{{if eq .Exit 0}}every case found on its affected release, none on its fixed one{{else if eq .Exit 1}}a case was missed, or fired on its fixed release{{else}}not every run finished{{end}}{{if .Interrupted}} (interrupted){{end}}
<small>{{.RunsPerSide}} runs per side · started {{.Started.Format "2006-01-02 15:04:05 MST"}}</small></div>
{{range .Reasons}}<p>{{.}}</p>{{end}}
<table id="cases"><tr><th>case</th><th>affected</th><th>found</th><th>first finding</th><th>fixed / control</th><th>false alarms</th><th>anomaly kinds (affected)</th><th>anomaly kinds (fixed)</th></tr>
{{range .Cases}}<tr>
<td><b>{{.Name}}</b><br>{{.Title}}<br><small>{{.Reference}} · symptom: {{range $i, $k := .Kinds}}{{if $i}}, {{end}}{{$k}}{{end}}</small></td>
<td>{{.Affected.Spec}}<br><small>{{range .Affected.Flags}}{{.}} {{end}}</small></td>
<td class="{{if and .Affected.Finished (eq .Affected.Found .Affected.Finished)}}good{{else}}bad{{end}}">{{.Affected.Found}} / {{len .Affected.Runs}}</td>
<td>{{.Affected.FirstFindingText}}</td>
<td>{{.Fixed.Spec}}<br><small>{{range .Fixed.Flags}}{{.}} {{end}}</small></td>
<td class="{{if .Fixed.Found}}bad{{else}}good{{end}}">{{.Fixed.Found}} / {{len .Fixed.Runs}}</td>
<td><small>{{.Affected.KindList}}</small></td>
<td><small>{{.Fixed.KindList}}</small></td>
</tr>{{end}}</table>
<h2>Runs</h2>
<table id="runs"><tr><th>case</th><th>side</th><th>seed</th><th>verdict</th><th>found at</th><th>seconds</th><th>folder</th></tr>
{{range $c := .Cases}}{{range .Affected.Runs}}<tr><td>{{$c.Name}}</td><td>affected</td><td>{{.Seed}}</td><td>{{.Valid}}{{if .Error}}: {{.Error}}{{end}}</td><td>{{if .Found}}{{printf "%.1f" .FirstFinding}} s{{else}}–{{end}}</td><td>{{printf "%.0f" .Seconds}}</td><td>{{.Dir}}</td></tr>{{end}}{{range .Fixed.Runs}}<tr><td>{{$c.Name}}</td><td>fixed</td><td>{{.Seed}}</td><td>{{.Valid}}{{if .Error}}: {{.Error}}{{end}}</td><td>{{if .Found}}{{printf "%.1f" .FirstFinding}} s{{else}}–{{end}}</td><td>{{printf "%.0f" .Seconds}}</td><td>{{.Dir}}</td></tr>{{end}}{{end}}
</table>
</body></html>
`))
