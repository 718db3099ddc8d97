package results

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
)

// Plots are inline SVG drawn here: the page needs no script and fetches
// nothing.
const (
	plotW, plotH     = 1100, 220
	padL, padR       = 56, 12
	padT, padB       = 18, 28
	maxLatencyPoints = 4000
)

// latencyPoint is one completed main-phase operation: when it was invoked,
// how long it took, what it was and how it ended.
type latencyPoint struct {
	At, Latency int64
	Op          string // "kv write"
	Type        history.Type
}

// timelineData is what the timeline plots need beyond results.json: a
// sample of latencies, and per fault how long until the first failure.
type timelineData struct {
	Points    []latencyPoint
	FirstFail map[int]int64 // fault index -> ns from its start to the first failed or indeterminate completion
}

// readTimeline streams a history once, pairing each completion with its
// process's invocation, and keeps a uniform sample of at most
// maxLatencyPoints operations (reservoir sampling, seeded, so a report is
// the same every time it is written).
func readTimeline(path string, faults []checker.FaultWindow) timelineData {
	d := timelineData{FirstFail: map[int]int64{}}
	f, err := os.Open(path)
	if err != nil {
		return d
	}
	defer f.Close()
	d.Points, d.FirstFail = sampleTimeline(f, faults)
	return d
}

func sampleTimeline(r io.Reader, faults []checker.FaultWindow) ([]latencyPoint, map[int]int64) {
	type pending struct {
		at int64
		op string
	}
	open := map[history.Process]pending{}
	rng := rand.New(rand.NewPCG(1, 2))
	var sample []latencyPoint
	firstFail := map[int]int64{}
	seen := 0
	_, _ = history.Scan(r, func(e *history.Event) error {
		if e.Process < 0 || e.Phase != history.PhaseMain {
			return nil
		}
		if e.Type == history.Invoke {
			open[e.Process] = pending{at: e.Time, op: e.Workload + " " + e.F}
			return nil
		}
		p, ok := open[e.Process]
		if !ok {
			return nil
		}
		delete(open, e.Process)
		if e.Type != history.OK {
			for i, w := range faults {
				if _, done := firstFail[i]; !done && e.Time >= w.Start && (w.End == nil || e.Time <= *w.End) {
					firstFail[i] = e.Time - w.Start
				}
			}
		}
		pt := latencyPoint{At: p.at, Latency: e.Time - p.at, Op: p.op, Type: e.Type}
		seen++
		if len(sample) < maxLatencyPoints {
			sample = append(sample, pt)
		} else if j := rng.IntN(seen); j < maxLatencyPoints {
			sample[j] = pt
		}
		return nil
	})
	sort.Slice(sample, func(i, j int) bool { return sample[i].At < sample[j].At })
	return sample, firstFail
}

// plotFrame draws the axes' frame and the shaded fault windows, labelled,
// over [0, end] seconds.
func plotFrame(b *strings.Builder, end float64, faults []checker.FaultWindow, yLabel string) func(float64) float64 {
	x := func(s float64) float64 { return padL + s/end*float64(plotW-padL-padR) }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img">`, plotW, plotH)
	for i, w := range faults {
		if float64(w.Start)/1e9 >= end {
			continue // after the main phase: the final reads' isolations
		}
		x0 := x(float64(w.Start) / 1e9)
		x1 := x(end)
		if w.End != nil {
			x1 = x(float64(*w.End) / 1e9)
		}
		x1 = min(max(x1, x0+2), x(end))
		label := html.EscapeString(w.Describe())
		fmt.Fprintf(b, `<g class="fault"><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.18"/>`,
			label, x0, padT, x1-x0, plotH-padT-padB, faultColor(i))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" fill="#57606a">%s</text></g>`, x0+2, padT+10+(i%3)*11, html.EscapeString(shorten(w.Describe(), 60)))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#8c959f"/>`, padL, plotH-padB, plotW-padR, plotH-padB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#8c959f"/>`, padL, padT, padL, plotH-padB)
	step := niceStep(end / 10)
	for s := 0.0; s <= end+1e-9; s += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#57606a">%gs</text>`, x(s), plotH-padB+14, s)
	}
	fmt.Fprintf(b, `<text x="12" y="%d" font-size="10" fill="#57606a" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`,
		plotH/2, plotH/2, html.EscapeString(yLabel))
	return x
}

func faultColor(i int) string { return []string{"#cf222e", "#bf8700", "#8250df", "#0969da"}[i%4] }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

var outcomeColor = map[history.Type]string{history.OK: "#1f883d", history.Fail: "#cf222e", history.Info: "#bf8700"}

// throughputSVG draws completions per second by outcome, faults shaded and
// unavailable windows marked under the axis.
func throughputSVG(st checker.Stats, faults []checker.FaultWindow) template.HTML {
	if len(st.Timeline) == 0 {
		return ""
	}
	end := float64(len(st.Timeline))
	top := 1
	for _, bk := range st.Timeline {
		top = max(top, bk.OK, bk.Fail, bk.Info)
	}
	var b strings.Builder
	x := plotFrame(&b, end, faults, "ops/s")
	y := func(v int) float64 { return float64(plotH-padB) - float64(v)/float64(top)*float64(plotH-padT-padB) }
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#57606a">%d</text>`, padL-4, padT+4, top)
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		var pts []string
		for _, bk := range st.Timeline {
			v := map[history.Type]int{history.OK: bk.OK, history.Fail: bk.Fail, history.Info: bk.Info}[t]
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(bk.T)+0.5), y(v)))
		}
		fmt.Fprintf(&b, `<polyline class="outcome-%s" fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, t, outcomeColor[t], strings.Join(pts, " "))
	}
	for _, w := range st.Unavailable {
		x0, x1 := x(float64(w.Start)/1e9), x(float64(w.End)/1e9)
		fmt.Fprintf(&b, `<rect class="unavailable" x="%.1f" y="%d" width="%.1f" height="4" fill="#cf222e"><title>no success for %.2fs</title></rect>`,
			x0, plotH-padB+1, max(x1-x0, 1), float64(w.End-w.Start)/1e9)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every label above was escaped
}

// latencySVG draws a scatter of operation latencies (log scale) by
// operation, coloured by outcome, faults shaded.
func latencySVG(points []latencyPoint, seconds float64, faults []checker.FaultWindow) (template.HTML, []string) {
	if len(points) == 0 {
		return "", nil
	}
	end := max(seconds, float64(points[len(points)-1].At)/1e9, 1)
	lo, hi := math.Inf(1), math.Inf(-1)
	opsSeen := map[string]bool{}
	for _, p := range points {
		l := math.Log10(max(float64(p.Latency)/1e6, 0.01))
		lo, hi = min(lo, l), max(hi, l)
		opsSeen[p.Op] = true
	}
	lo, hi = math.Floor(lo), math.Ceil(max(hi, lo+1))
	ops := make([]string, 0, len(opsSeen))
	for o := range opsSeen {
		ops = append(ops, o)
	}
	sort.Strings(ops)
	shape := map[string]int{}
	for i, o := range ops {
		shape[o] = i
	}
	var b strings.Builder
	x := plotFrame(&b, end, faults, "latency (ms, log)")
	y := func(ms float64) float64 {
		l := math.Log10(max(ms, 0.01))
		return float64(plotH-padB) - (l-lo)/(hi-lo)*float64(plotH-padT-padB)
	}
	for d := lo; d <= hi; d++ {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#57606a">%g</text>`, padL-4, y(math.Pow(10, d))+3, math.Pow(10, d))
	}
	for _, p := range points {
		px, py := x(float64(p.At)/1e9), y(float64(p.Latency)/1e6)
		c := outcomeColor[p.Type]
		if shape[p.Op]%2 == 0 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="%s" fill-opacity="0.6"/>`, px, py, c)
		} else {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="3" height="3" fill="%s" fill-opacity="0.6"/>`, px-1.5, py-1.5, c)
		}
	}
	b.WriteString(`</svg>`)
	legend := make([]string, len(ops))
	for i, o := range ops {
		legend[i] = fmt.Sprintf("%s %s", map[bool]string{true: "●", false: "■"}[i%2 == 0], o)
	}
	return template.HTML(b.String()), legend
}
