package results

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
)

// Files of a comparison folder (store/compare/<time>/).
const (
	CompareJSON = "compare.json"
	CompareHTML = "compare.html"
)

// Sides of a comparison.
const (
	Baseline  = "baseline"
	Candidate = "candidate"
)

// Comparison verdicts and their exit codes.
const (
	NoWorse      = "no worse"     // exit 0
	Worse        = "worse"        // exit 1
	Inconclusive = "inconclusive" // exit 2
)

// Comparison is compare.json: two servers run on the same seeds, and what
// the runs showed side by side.
type Comparison struct {
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	Baseline  Side      `json:"baseline"`
	Candidate Side      `json:"candidate"`
	Seeds     []uint64  `json:"seeds"`
	// Scenarios are the named scenarios run ("" when none).
	Scenarios []string `json:"scenarios"`
	// Order is alternate (A B, then B A for the next seed) or grouped.
	Order string       `json:"order"`
	Runs  []CompareRun `json:"runs"`
	// Kinds counts, per anomaly kind, the runs of each side that showed it.
	Kinds []KindTally `json:"kinds"`
	// Verdict is no worse, worse or inconclusive; Reasons say why.
	Verdict     string   `json:"verdict"`
	Exit        int      `json:"exit"`
	Reasons     []string `json:"reasons"`
	Performance []string `json:"performance"`
	// Interrupted: stopped before every run was done.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Side is one server under comparison.
type Side struct {
	Spec string `json:"spec"`
	// Flags are run flags given to this side alone.
	Flags    []string `json:"flags,omitempty"`
	Identity string   `json:"identity,omitempty"`
	Reported string   `json:"reported,omitempty"`
}

// CompareRun is one run of one side on one seed.
type CompareRun struct {
	Side     string `json:"side"`
	Scenario string `json:"scenario,omitempty"`
	Seed     uint64 `json:"seed"`
	// Dir is the run folder, relative to the comparison folder when it can
	// be.
	Dir  string `json:"dir,omitempty"`
	Exit int    `json:"exit"`
	// Valid is valid, invalid, unknown, or "could not run".
	Valid string `json:"valid"`
	Error string `json:"error,omitempty"`
	// Anomalies counts anomalies by "checker kind".
	Anomalies   map[string]int   `json:"anomalies,omitempty"`
	Ops         checker.OpCounts `json:"ops"`
	OKPerSecond float64          `json:"ok_per_second"`
	P50         float64          `json:"latency_p50_ms"`
	P99         float64          `json:"latency_p99_ms"`
	// UnavailableSeconds adds up the spans with no success.
	UnavailableSeconds float64 `json:"unavailable_seconds"`
	// Recovery is, per fault, seconds from its heal to the next success
	// (-1: none).
	Recovery []float64 `json:"recovery_seconds,omitempty"`
}

// KindTally is how often one anomaly kind showed on each side.
type KindTally struct {
	Kind string `json:"kind"`
	// Runs of each side that showed it, out of the runs that finished.
	BaselineRuns  int `json:"baseline_runs"`
	CandidateRuns int `json:"candidate_runs"`
	BaselineOf    int `json:"baseline_finished"`
	CandidateOf   int `json:"candidate_finished"`
	// Anomalies of that kind, added up over each side's runs.
	BaselineCount  int `json:"baseline_count"`
	CandidateCount int `json:"candidate_count"`
}

// RunOf summarises a run folder's results for a comparison.
func RunOf(side, scenario string, seed uint64, dir string, exit int, res *checker.Result) CompareRun {
	r := CompareRun{Side: side, Scenario: scenario, Seed: seed, Dir: dir, Exit: exit}
	if res == nil {
		r.Valid = "could not run"
		return r
	}
	r.Valid = res.Valid.String()
	r.Ops = res.Ops
	r.OKPerSecond, r.P50, r.P99 = res.Stats.OKPerSecond, res.Stats.LatencyP50, res.Stats.LatencyP99
	for _, w := range res.Stats.Unavailable {
		r.UnavailableSeconds += float64(w.End-w.Start) / 1e9
	}
	for _, f := range res.Faults {
		if f.FirstOKAfter != nil {
			r.Recovery = append(r.Recovery, float64(*f.FirstOKAfter)/1e9)
		} else {
			r.Recovery = append(r.Recovery, -1)
		}
	}
	for name, c := range res.Checkers {
		for _, a := range c.Anomalies {
			if r.Anomalies == nil {
				r.Anomalies = map[string]int{}
			}
			r.Anomalies[name+" "+a.Kind]++
		}
		if c.Valid == checker.Invalid && len(c.Anomalies) == 0 {
			if r.Anomalies == nil {
				r.Anomalies = map[string]int{}
			}
			r.Anomalies[name+" invalid"]++
		}
	}
	return r
}

// finished: the run reached a verdict of valid or invalid.
func (r CompareRun) finished() bool {
	return r.Valid == checker.Valid.String() || r.Valid == checker.Invalid.String()
}

// Judge sets the verdict. A kind of anomaly is a regression only when the
// candidate showed it in every finished run and the baseline in none: with
// reads under partitions, real anomalies come and go with timing, and one
// seed's coin flip must not read as a regression. A kind the candidate
// shows more often, but not always, is inconclusive; so is any run that
// did not finish. Performance never decides the verdict: it is reported.
func (c *Comparison) Judge() {
	kinds := map[string]*KindTally{}
	var done [2]int
	unfinished := 0
	for _, r := range c.Runs {
		if !r.finished() {
			unfinished++
			continue
		}
		i := sideIndex(r.Side)
		done[i]++
		for k, n := range r.Anomalies {
			t := kinds[k]
			if t == nil {
				t = &KindTally{Kind: k}
				kinds[k] = t
			}
			if i == 0 {
				t.BaselineRuns++
				t.BaselineCount += n
			} else {
				t.CandidateRuns++
				t.CandidateCount += n
			}
		}
	}
	c.Kinds = c.Kinds[:0]
	for _, t := range kinds {
		t.BaselineOf, t.CandidateOf = done[0], done[1]
		c.Kinds = append(c.Kinds, *t)
	}
	sort.Slice(c.Kinds, func(i, j int) bool { return c.Kinds[i].Kind < c.Kinds[j].Kind })
	c.Reasons = nil
	var worse, flaky []string
	for _, t := range c.Kinds {
		switch {
		case t.CandidateRuns == 0:
		case t.BaselineRuns == 0 && t.CandidateRuns == done[1]:
			worse = append(worse, fmt.Sprintf("%s in every candidate run (%d of %d, %d anomalies) and in no baseline run", t.Kind, t.CandidateRuns, done[1], t.CandidateCount))
		case t.CandidateRuns > t.BaselineRuns:
			flaky = append(flaky, fmt.Sprintf("%s comes and goes: candidate %d of %d runs, baseline %d of %d", t.Kind, t.CandidateRuns, done[1], t.BaselineRuns, done[0]))
		}
	}
	for _, t := range c.Kinds {
		if t.BaselineRuns > 0 && t.CandidateRuns <= t.BaselineRuns {
			c.Reasons = append(c.Reasons, fmt.Sprintf("%s shows on both sides or only on the baseline (baseline %d of %d runs, candidate %d of %d): not a difference of the candidate", t.Kind, t.BaselineRuns, done[0], t.CandidateRuns, done[1]))
		}
	}
	switch {
	case len(worse) > 0:
		c.Verdict, c.Exit = Worse, 1
		c.Reasons = append(worse, append(flaky, c.Reasons...)...)
	case unfinished > 0 || len(flaky) > 0 || done[0] == 0 || done[1] == 0 || c.Interrupted:
		c.Verdict, c.Exit = Inconclusive, 2
		if unfinished > 0 {
			flaky = append(flaky, fmt.Sprintf("%d of %d runs did not reach a verdict (unknown, interrupted or could not run)", unfinished, len(c.Runs)))
		}
		if c.Interrupted {
			flaky = append(flaky, "the comparison was interrupted before every run was done")
		}
		c.Reasons = append(flaky, c.Reasons...)
	default:
		c.Verdict, c.Exit = NoWorse, 0
		if len(c.Kinds) == 0 {
			c.Reasons = append(c.Reasons, fmt.Sprintf("no anomaly on either side in %d runs", len(c.Runs)))
		}
	}
	c.Performance = c.performance()
}

func sideIndex(side string) int {
	if side == Candidate {
		return 1
	}
	return 0
}

// performance describes throughput, latency and recovery differences in
// sentences, each beside the baseline's own spread across seeds, which is
// what a difference must be weighed against on a busy machine.
func (c *Comparison) performance() []string {
	var out []string
	metric := func(name, unit string, get func(CompareRun) float64, higherBetter bool) {
		var a, b []float64
		for _, r := range c.Runs {
			if !r.finished() {
				continue
			}
			if v := get(r); !math.IsNaN(v) {
				if r.Side == Baseline {
					a = append(a, v)
				} else {
					b = append(b, v)
				}
			}
		}
		if len(a) == 0 || len(b) == 0 {
			return
		}
		ma, mb := median(a), median(b)
		lo, hi := slices.Min(a), slices.Max(a)
		s := fmt.Sprintf("%s: baseline median %.1f%s (its runs %.1f to %.1f), candidate median %.1f%s", name, ma, unit, lo, hi, mb, unit)
		if ma > 0 {
			s += fmt.Sprintf(", %.2fx", mb/ma)
		}
		outside := mb < lo || mb > hi
		better := (mb > ma) == higherBetter
		switch {
		case !outside:
			s += "; within the baseline's own spread"
		case better:
			s += "; better than every baseline run"
		default:
			s += "; worse than every baseline run"
		}
		out = append(out, s)
	}
	metric("throughput", " ok/s", func(r CompareRun) float64 { return r.OKPerSecond }, true)
	metric("latency p50", "ms", func(r CompareRun) float64 { return r.P50 }, false)
	metric("latency p99", "ms", func(r CompareRun) float64 { return r.P99 }, false)
	metric("time without a success", "s", func(r CompareRun) float64 { return r.UnavailableSeconds }, false)
	metric("slowest recovery after a heal", "s", func(r CompareRun) float64 {
		if len(r.Recovery) == 0 {
			return math.NaN()
		}
		m := 0.0
		for _, v := range r.Recovery {
			if v < 0 {
				return math.Inf(1)
			}
			m = max(m, v)
		}
		return m
	}, false)
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteComparison writes compare.json and compare.html into dir.
func WriteComparison(dir string, c *Comparison) error {
	if err := WriteJSON(filepath.Join(dir, CompareJSON), c); err != nil {
		return err
	}
	page, err := RenderComparison(c)
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, CompareHTML), page)
}

type comparePair struct {
	Scenario string
	Seed     uint64
	A, B     *CompareRun
	// Differ: the two sides reached different verdicts or anomalies.
	Differ bool
}

// RenderComparison draws the comparison page: one row per seed, a column
// per side, differences highlighted.
func RenderComparison(c *Comparison) ([]byte, error) {
	var pairs []*comparePair
	index := map[string]*comparePair{}
	for i := range c.Runs {
		r := &c.Runs[i]
		key := fmt.Sprintf("%s/%d", r.Scenario, r.Seed)
		p := index[key]
		if p == nil {
			p = &comparePair{Scenario: r.Scenario, Seed: r.Seed}
			index[key] = p
			pairs = append(pairs, p)
		}
		if r.Side == Baseline {
			p.A = r
		} else {
			p.B = r
		}
	}
	for _, p := range pairs {
		p.Differ = p.A == nil || p.B == nil || p.A.Valid != p.B.Valid || anomalyKinds(p.A) != anomalyKinds(p.B)
	}
	var buf bytes.Buffer
	err := compareTemplate.Execute(&buf, map[string]any{
		"C": c, "Pairs": pairs,
		"VerdictClass": map[string]string{NoWorse: "valid", Worse: "invalid", Inconclusive: "unknown"}[c.Verdict],
		"Headline": map[string]string{NoWorse: "Candidate no worse than the baseline", Worse: "Candidate worse than the baseline",
			Inconclusive: "Inconclusive: no clear difference either way"}[c.Verdict],
	})
	return buf.Bytes(), err
}

func anomalyKinds(r *CompareRun) string {
	var ks []string
	for k := range r.Anomalies {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

var compareTemplate = template.Must(template.New("compare").Funcs(template.FuncMap{
	"both": func(p *comparePair) []*CompareRun { return []*CompareRun{p.A, p.B} },
	"kinds": func(r *CompareRun) []string {
		var out []string
		for k, n := range r.Anomalies {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
		sort.Strings(out)
		return out
	},
	"recovery": func(r *CompareRun) string {
		var s []string
		for _, v := range r.Recovery {
			if v < 0 {
				s = append(s, "none")
			} else {
				s = append(s, fmt.Sprintf("%.2fs", v))
			}
		}
		if len(s) == 0 {
			return "no fault"
		}
		return strings.Join(s, ", ")
	},
	"cls": func(v string) string {
		switch v {
		case "valid":
			return "ok"
		case "invalid":
			return "bad"
		}
		return "unk"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>jetsam comparison: {{.C.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1300px;margin:0 auto;padding:16px 24px}
.banner{padding:18px 24px;color:#fff;font-size:22px;font-weight:600}
.banner.valid{background:#1f883d}.banner.invalid{background:#cf222e}.banner.unknown{background:#9a6700}
.banner small{display:block;font-size:14px;font-weight:400;opacity:.9}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:17px;margin:4px 0 10px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:4px 10px 4px 0;text-align:left;vertical-align:top}
tr.differ td{background:#fff8c5}
.ok{color:#1f883d}.bad{color:#cf222e}.unk{color:#9a6700}
code{font:12px ui-monospace,monospace;background:#f6f8fa}
</style></head><body>
<div class="banner {{.VerdictClass}}" id="verdict">{{.Headline}}{{if .C.Interrupted}} (interrupted){{end}}<small>{{len .C.Seeds}} seeds{{if .C.Scenarios}} × {{len .C.Scenarios}} scenarios{{end}} · order {{.C.Order}} · started {{.C.Started.Format "2006-01-02 15:04:05 MST"}}</small></div>
<main>
<section id="why"><h2>Why</h2><ul>{{range .C.Reasons}}<li>{{.}}</li>{{end}}</ul></section>
<section id="sides"><h2>Sides</h2><table>
<tr><th></th><th id="col-baseline">baseline</th><th id="col-candidate">candidate</th></tr>
<tr><th>server</th><td>{{.C.Baseline.Spec}}</td><td>{{.C.Candidate.Spec}}</td></tr>
<tr><th>build</th><td>{{.C.Baseline.Identity}}</td><td>{{.C.Candidate.Identity}}</td></tr>
<tr><th>what the nodes report</th><td>{{.C.Baseline.Reported}}</td><td>{{.C.Candidate.Reported}}</td></tr>
<tr><th>flags of this side</th><td><code>{{range .C.Baseline.Flags}}{{.}} {{end}}</code></td><td><code>{{range .C.Candidate.Flags}}{{.}} {{end}}</code></td></tr>
</table></section>
<section id="runs"><h2>Runs, per seed</h2><p><small>Highlighted rows: the sides reached a different verdict or different anomaly kinds.</small></p><table>
<tr><th>scenario</th><th>seed</th><th>side</th><th>verdict</th><th>anomalies</th><th>ok/s</th><th>p50</th><th>p99</th><th>no success for</th><th>first ok after each heal</th><th>run</th></tr>
{{range .Pairs}}{{$p := .}}{{range $i, $r := both .}}{{if $r}}<tr class="run{{if $p.Differ}} differ{{end}}" data-side="{{$r.Side}}"><td>{{if eq $i 0}}{{$p.Scenario}}{{end}}</td><td>{{if eq $i 0}}{{$p.Seed}}{{end}}</td><td>{{$r.Side}}</td>
<td class="{{cls $r.Valid}}">{{$r.Valid}}{{if $r.Error}}<br><small>{{$r.Error}}</small>{{end}}</td>
<td>{{range kinds $r}}{{.}}<br>{{else}}none{{end}}</td>
<td>{{printf "%.0f" $r.OKPerSecond}}</td><td>{{printf "%.1fms" $r.P50}}</td><td>{{printf "%.1fms" $r.P99}}</td><td>{{printf "%.1fs" $r.UnavailableSeconds}}</td><td>{{recovery $r}}</td>
<td>{{if $r.Dir}}<a href="{{$r.Dir}}/report.html">report</a>{{end}}</td></tr>{{end}}{{end}}{{end}}
</table></section>
<section id="kinds"><h2>Anomaly kinds</h2>{{if .C.Kinds}}<table><tr><th>kind</th><th>baseline runs</th><th>candidate runs</th><th>baseline anomalies</th><th>candidate anomalies</th></tr>
{{range .C.Kinds}}<tr{{if gt .CandidateRuns .BaselineRuns}} class="differ"{{end}}><td>{{.Kind}}</td><td>{{.BaselineRuns}} of {{.BaselineOf}}</td><td>{{.CandidateRuns}} of {{.CandidateOf}}</td><td>{{.BaselineCount}}</td><td>{{.CandidateCount}}</td></tr>{{end}}
</table>{{else}}<p>No anomaly on either side.</p>{{end}}</section>
<section id="performance"><h2>Performance</h2><p><small>Reported, never part of the verdict: runs on a shared machine vary.</small></p><ul>{{range .C.Performance}}<li>{{.}}</li>{{else}}<li>Not enough finished runs to compare.</li>{{end}}</ul></section>
</main></body></html>
`))
