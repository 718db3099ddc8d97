package jetsam

import (
	"context"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/node"
)

// recoveryPoll is how often the cluster is asked about itself while jetsam
// waits for it to recover.
const recoveryPoll = 250 * time.Millisecond

// awaitRecovery waits, after the last heal, up to --recover-timeout for the
// cluster to recover (node.Health), and records what it saw as an
// FRecovery event: whether it recovered, every problem left with the time
// since which it had held, and each node's and stream's state. It reports
// whether the cluster recovered. An interrupted wait records nothing: it
// proves nothing about the cluster.
func (r *runner) awaitRecovery(ctx context.Context) bool {
	timeout := time.Duration(r.cfg.RecoverTimeout)
	began := time.Now()
	deadline := began.Add(timeout)
	rec := &history.Recovery{Began: r.rec.Since(began), Timeout: int64(timeout)}
	since := map[string]int64{}
	leaderSeen := map[string]int64{}
	var h *node.Health
	for {
		now := r.rec.Now()
		h = r.cluster.Health(ctx, streamsOf(r.workloads)...)
		if ctx.Err() != nil {
			return false
		}
		followProblems(h.Problems, since, now)
		for _, s := range h.Streams {
			if s.Leader != "" {
				leaderSeen[s.Stream] = now
			}
		}
		left := time.Until(deadline)
		if len(h.Problems) == 0 || left <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(recoveryPoll, left)):
		}
	}
	rec.Recovered = len(h.Problems) == 0
	rec.Problems, rec.Nodes, rec.Streams = h.Problems, h.Nodes, h.Streams
	for i := range rec.Streams {
		s := &rec.Streams[i]
		s.Workload = r.workloads[i].Name()
		if t, ok := leaderSeen[s.Stream]; ok {
			s.LeaderSeen = &t
		}
	}
	r.rec.Record(history.Event{Type: history.Info, Process: history.Nemesis, F: history.FRecovery, Recovery: rec})
	if rec.Recovered {
		r.test.Run.RecoverSeconds = time.Since(began).Seconds()
		r.logf("jetsam: cluster recovered in %.2fs", r.test.Run.RecoverSeconds)
		return true
	}
	what := make([]string, len(h.Problems))
	for i, p := range h.Problems {
		what[i] = p.What
	}
	r.logf("jetsam: the cluster did not recover within %s of the last heal: %s", timeout, strings.Join(what, "; "))
	return false
}

// followProblems stamps each problem with the time since which it has held
// without a break: since holds the previous poll's, and becomes this one's.
func followProblems(ps []history.Problem, since map[string]int64, now int64) {
	next := make(map[string]int64, len(ps))
	for i := range ps {
		t, ok := since[ps[i].What]
		if !ok {
			t = now
		}
		ps[i].Since, next[ps[i].What] = t, t
	}
	clear(since)
	for k, v := range next {
		since[k] = v
	}
}
