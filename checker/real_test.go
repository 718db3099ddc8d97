package checker

import (
	"compress/gzip"
	"context"
	"os"
	"testing"

	"github.com/jetsam-dev/jetsam/history"
)

// Histories recorded by jetsam from real 3-node clusters (nats-server
// 2.15.2): testdata/kv-leader-reads without faults, and
// testdata/kv-direct-partition with direct reads under partitions, where
// NATS served stale reads.

func loadFixture(t *testing.T, name string) *history.History {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(z)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRealHistoryValidThenTampered(t *testing.T) {
	h := loadFixture(t, "kv-leader-reads.jsonl.gz")
	if r := CheckHistory(context.Background(), h, Options{}); r.Valid != Valid {
		t.Fatalf("recorded history judged %s: %+v", r.Valid, r.Checkers[WorkloadKV].Anomalies)
	}
	// Rewrite the last main-phase read that saw a key's newest write to
	// return that key's first write instead.
	first := map[string]history.Event{}
	var target *history.Event
	for i := range h.Events {
		e := &h.Events[i]
		if e.Type != history.OK || e.Value == nil {
			continue
		}
		if e.F == history.FWrite {
			if _, ok := first[e.Key]; !ok {
				first[e.Key] = *e
			}
		}
		if e.F == history.FRead && e.Phase != history.PhaseFinal {
			if w, ok := first[e.Key]; ok && w.Rev < e.Rev {
				target = e
			}
		}
	}
	if target == nil {
		t.Fatal("no read to rewrite")
	}
	w := first[target.Key]
	target.Value, target.Rev = w.Value, w.Rev
	r := CheckHistory(context.Background(), h, Options{})
	if r.Valid != Invalid {
		t.Fatalf("tampered history judged %s", r.Valid)
	}
	invocation := -1
	for _, op := range Pair(h.Events) {
		if op.Completion == target.Index {
			invocation = op.Index
		}
	}
	a := r.Checkers[WorkloadKV].Anomalies
	if len(a) != 1 || a[0].Kind != KindStaleRead || a[0].Ops[0] != invocation {
		t.Fatalf("anomalies %+v, want one stale read: the rewritten read, op %d", a, invocation)
	}
}

func TestRealStaleDirectReadsAreFound(t *testing.T) {
	h := loadFixture(t, "kv-direct-partition.jsonl.gz")
	r := CheckHistory(context.Background(), h, Options{})
	if r.Checkers[WorkloadKV].Valid != Valid {
		t.Fatalf("writes and final reads judged %s: %+v", r.Checkers[WorkloadKV].Valid, r.Checkers[WorkloadKV].Anomalies)
	}
	kv := r.Checkers[WorkloadKVDirect]
	if r.Valid != Invalid || kv.Counts["anomaly-stale-read-direct"] == 0 {
		t.Fatalf("verdict %s, counts %v; want stale direct reads", r.Valid, kv.Counts)
	}
	for _, a := range kv.Anomalies {
		if a.ReadMode != history.ReadDirect {
			t.Fatalf("anomaly not from a direct read: %+v", a)
		}
	}
	if len(r.Faults) != 2 {
		t.Fatalf("%d fault windows, want 2", len(r.Faults))
	}
}
