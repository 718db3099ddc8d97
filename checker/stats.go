package checker

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// Stats describe the main phase: throughput, latency per operation, the
// rate over time by outcome, and when nothing succeeded.
type Stats struct {
	// Seconds from the first invocation to the last completion of the main
	// phase.
	Seconds     float64 `json:"seconds"`
	OKPerSecond float64 `json:"ok_per_second"`
	// Latency of successful operations, in milliseconds.
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	LatencyMax float64 `json:"latency_max_ms"`
	// ByOp has counts and latencies per workload and operation, e.g.
	// "kv write".
	ByOp map[string]*OpStats `json:"by_op"`
	// Timeline counts completions per second of the main phase.
	Timeline []Bucket `json:"timeline"`
	// Unavailable are the spans of at least UnavailableAfter in which
	// operations were attempted and none succeeded.
	Unavailable []Window `json:"unavailable,omitempty"`
}

// OpStats are one operation's counts by outcome and its successes' latency.
type OpStats struct {
	OK   int     `json:"ok"`
	Fail int     `json:"fail"`
	Info int     `json:"info"`
	P50  float64 `json:"latency_p50_ms"`
	P99  float64 `json:"latency_p99_ms"`
	Max  float64 `json:"latency_max_ms"`
}

// Bucket counts the completions of one second.
type Bucket struct {
	T    int `json:"t"` // seconds since the history began
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
}

// Window is a span of history time, in nanoseconds.
type Window struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// UnavailableAfter is the shortest span without a success that counts as
// unavailable.
const UnavailableAfter int64 = 1e9

// MainStats computes Stats over the main phase's operations.
func MainStats(ops []Op) Stats {
	st := Stats{ByOp: map[string]*OpStats{}}
	var first, last int64 = Open, 0
	var all []int64
	byOp := map[string][]int64{}
	var okTimes []int64
	for _, op := range ops {
		if op.Phase != history.PhaseMain {
			continue
		}
		first = min(first, op.Call)
		name := op.Workload + " " + op.F
		s := st.ByOp[name]
		if s == nil {
			s = &OpStats{}
			st.ByOp[name] = s
		}
		end := op.Return
		switch op.Type {
		case history.OK:
			s.OK++
			all = append(all, op.Return-op.Call)
			byOp[name] = append(byOp[name], op.Return-op.Call)
			okTimes = append(okTimes, op.Return)
		case history.Fail:
			s.Fail++
		default:
			s.Info++
		}
		if end != Open {
			last = max(last, end)
		}
		// A history's times are within [0, MaxTime] (history.Scan sees to
		// it); one built otherwise gets no bucket for the others.
		if end >= 0 && end <= history.MaxTime {
			t := int(end / 1e9)
			for len(st.Timeline) <= t {
				st.Timeline = append(st.Timeline, Bucket{T: len(st.Timeline)})
			}
			b := &st.Timeline[t]
			switch op.Type {
			case history.OK:
				b.OK++
			case history.Fail:
				b.Fail++
			default:
				b.Info++
			}
		}
	}
	if last <= first || first == Open {
		return st
	}
	st.Seconds = float64(last-first) / 1e9
	st.OKPerSecond = float64(len(all)) / st.Seconds
	st.LatencyP50, st.LatencyP99, st.LatencyMax = percentiles(all)
	for name, lat := range byOp {
		s := st.ByOp[name]
		s.P50, s.P99, s.Max = percentiles(lat)
	}
	// Unavailable: gaps between successes (or from the first invocation, or
	// to the last completion) of at least UnavailableAfter.
	sort.Slice(okTimes, func(i, j int) bool { return okTimes[i] < okTimes[j] })
	prev := first
	for _, t := range append(okTimes, last) {
		if t-prev >= UnavailableAfter {
			st.Unavailable = append(st.Unavailable, Window{Start: prev, End: t})
		}
		prev = max(prev, t)
	}
	return st
}

// percentiles returns the median, 99th percentile and maximum in ms.
func percentiles(lat []int64) (p50, p99, maxMS float64) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	return pct(0.5), pct(0.99), pct(1)
}

// leaveOutTimes drops from res what needs real times, for a history whose
// times are only positions: rates, latencies and the time from a heal to
// the next success would be numbers of events, not seconds.
func leaveOutTimes(res *Result) {
	res.Timeless = true
	res.Stats = Stats{}
	for i := range res.Faults {
		res.Faults[i].FirstOKAfter = nil
	}
}

// errInterrupted ends reading a history once the check's context ends.
var errInterrupted = errors.New("interrupted while reading the history")

// interruptedRead is the result of a check stopped while the history was
// being read: nothing is checked, since a checker may judge a cut history
// as it would not judge the whole (an enqueue whose delivery was not read
// yet looks lost), so the verdict is unknown.
func interruptedRead(ops []Op, truncated bool, began time.Time) *Result {
	res := &Result{Valid: Unknown, Checkers: map[string]*Check{}, Truncated: truncated, Interrupted: true}
	countOps(res, ops)
	res.CheckSeconds = time.Since(began).Seconds()
	return res
}

// stopped makes the verdict of a check whose context ended before it did
// at best unknown: the caller stopped it, whatever had been decided.
func stopped(ctx context.Context, res *Result) *Result {
	if ctx.Err() != nil {
		res.Interrupted = true
		res.Valid = Merge(res.Valid, Unknown)
	}
	return res
}

// countOps counts operations by how they ended.
func countOps(res *Result, ops []Op) {
	for _, op := range ops {
		switch op.Type {
		case history.OK:
			res.Ops.OK++
		case history.Fail:
			res.Ops.Fail++
		default:
			res.Ops.Info++
		}
	}
}
