package checker

import (
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

// recoveryEvent records what the run saw after the last heal.
func (h *hist) recovery(recovered bool, problems []history.Problem, replicas ...history.ReplicaState) {
	leader := ""
	if recovered {
		leader = "n1"
	}
	h.add(history.Event{Type: history.Info, Process: history.Nemesis, F: history.FRecovery, Recovery: &history.Recovery{
		Recovered: recovered, Began: h.now, Timeout: 60e9, Problems: problems,
		Nodes:   []history.NodeState{{Node: "n1", Running: true, Routes: 2, MetaLeader: "n1"}},
		Streams: []history.StreamState{{Stream: "KV_jetsam", Workload: WorkloadKV, Leader: leader, Replicas: replicas}},
	}})
}

func (h *hist) finalDone() {
	h.add(history.Event{Type: history.Info, Process: history.Nemesis, F: history.FFinalDone})
}

func (h *hist) failedFinal(p int, key string) {
	h.add(history.Event{Type: history.Invoke, Process: history.Process(p), F: history.FRead, Key: key, ReadMode: history.ReadLeader, Phase: history.PhaseFinal})
	h.add(history.Event{Type: history.Fail, Process: history.Process(p), F: history.FRead, Key: key, ReadMode: history.ReadLeader, Phase: history.PhaseFinal, Error: "stream not found"})
}

func TestRecoveryVerdicts(t *testing.T) {
	present := history.ReplicaState{Node: "n1", Answered: true, Present: true, Leader: "n1", LastSeq: 2}
	gone := []history.ReplicaState{{Node: "n1", Answered: true}, {Node: "n2", Answered: true}}
	noLeader := []history.Problem{{What: "stream KV_jetsam has no leader", Stream: "KV_jetsam", Since: 3e6}}
	cases := []struct {
		name      string
		build     func(h *hist)
		want      Validity
		kinds     []string
		kvNote    string
		explained string
	}{
		{"recovered, final reads ok", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.recovery(true, nil, present)
			h.final(0, "k", s("a"), 1)
			h.finalDone()
		}, Valid, nil, "", ""},
		{"no leader for the whole wait", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.write(0, "k", "b", 2)
			h.recovery(false, noLeader, history.ReplicaState{Node: "n1", Answered: true, Present: true, LastSeq: 2})
			h.failedFinal(0, "k")
			h.finalDone()
		}, Invalid, []string{KindNoRecovery}, "every final read of them failed", "has no leader (since 0.003s"},
		{"the stream exists on no node", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.recovery(false, []history.Problem{{What: "stream KV_jetsam exists on no node", Stream: "KV_jetsam", Since: 3e6}}, gone...)
			h.failedFinal(0, "k")
			h.finalDone()
		}, Invalid, []string{KindStreamLost, KindNoRecovery}, "", "all 1 acknowledged writes to it are lost"},
		{"described as recovered, yet every final read failed", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.recovery(true, nil, present)
			h.failedFinal(0, "k")
			h.finalDone()
		}, Invalid, []string{KindNoRecovery}, "", "yet none of its 1 final operations succeeded"},
		{"stopped during the final phase: not a finding", func(h *hist) {
			h.write(0, "k", "a", 1)
			h.recovery(true, nil, present)
			h.failedFinal(0, "k")
		}, Unknown, nil, "every final read of them failed", ""},
		{"stopped before the final phase", func(h *hist) {
			h.write(0, "k", "a", 1)
		}, Unknown, nil, "the run ended before its final phase", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			tc.build(h)
			r := h.check(t, Options{})
			if r.Valid != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", r.Valid, tc.want, r.Checkers)
			}
			rc := r.Checkers[CheckerRecovery]
			var got []string
			if rc != nil {
				for _, a := range rc.Anomalies {
					got = append(got, a.Kind)
					if tc.explained != "" && !strings.Contains(a.Explanation, tc.explained) && a.Kind == tc.kinds[0] {
						t.Errorf("%s explanation lacks %q: %s", a.Kind, tc.explained, a.Explanation)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.kinds, ",") {
				t.Fatalf("recovery anomalies %v, want %v", got, tc.kinds)
			}
			if tc.kvNote != "" && !strings.Contains(strings.Join(r.Checkers[WorkloadKV].Notes, "|"), tc.kvNote) {
				t.Fatalf("kv notes %q, want one saying %q", r.Checkers[WorkloadKV].Notes, tc.kvNote)
			}
		})
	}
}
