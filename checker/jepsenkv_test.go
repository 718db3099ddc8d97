package checker

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/synth"
)

// kvEDN writes a key-value history on key "k" by hand, one op per string:
// "process type f [value]", e.g. "0 invoke put a", "1 ok get" (read "").
func kvEDN(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		f := strings.SplitN(l, " ", 4)
		value := "nil"
		if len(f) == 4 {
			value = strconv.Quote(f[3])
		} else if f[1] == "ok" && f[2] == "get" {
			value = `""`
		}
		fmt.Fprintf(&b, "{:process %s, :type :%s, :f :%s, :key \"k\", :value %s}\n", f[0], f[1], f[2], value)
	}
	return b.String()
}

// kvDone is an operation that invokes and completes at once.
func kvDone(p int, typ, f, value string) []string {
	return []string{fmt.Sprintf("%d invoke %s %s", p, f, value), fmt.Sprintf("%d %s %s %s", p, typ, f, value)}
}

func getReturning(p int, value string) []string {
	return []string{fmt.Sprintf("%d invoke get", p), strings.TrimSpace(fmt.Sprintf("%d ok get %s", p, value))}
}

func checkKVEDN(t *testing.T, edn string) *Check {
	t.Helper()
	h, err := history.ReadJepsen(strings.NewReader(edn))
	if err != nil {
		t.Fatal(err)
	}
	return CheckAppendKV(context.Background(), Pair(h.Events), Options{Timeout: 10 * time.Second})
}

// TestJepsenKVDirectAnalysis: each anomaly the analysis proves, beside a
// history as close to it as can be that is linearizable; and the cases
// where a string read names no single write, which only the search may
// decide.
func TestJepsenKVDirectAnalysis(t *testing.T) {
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name  string
		lines []string
		want  Validity
		kind  string // the first anomaly's kind, when invalid
		says  string // words its explanation must have
	}{
		{"stale read after an acknowledged put", cat(kvDone(0, "ok", "put", "a"), kvDone(0, "ok", "put", "b"), getReturning(1, "a")),
			Invalid, KindStaleRead, `returned "a", written only by op 0`},
		{"a get concurrent with the newer put may see the older", []string{"0 invoke put a", "0 ok put a", "0 invoke put b", "1 invoke get", "0 ok put b", "1 ok get a"},
			Valid, "", ""},
		{"puts that overlapped may land in either order", cat([]string{"0 invoke put a", "1 invoke put b", "0 ok put a", "1 ok put b"}, getReturning(2, "a")),
			Valid, "", ""},
		{"the initial state read after a put returned", cat(kvDone(0, "ok", "put", "a"), getReturning(1, "")),
			Invalid, KindStaleRead, "the key's initial state"},
		{"the initial state read while the first put is in flight", []string{"0 invoke put a", "1 invoke get", "1 ok get", "0 ok put a"},
			Valid, "", ""},
		{"a get sees a put invoked after it returned", cat(getReturning(1, "a"), kvDone(0, "ok", "put", "a")),
			Invalid, KindFutureRead, "invoked after the get had returned"},
		{"a get sees a put invoked before it returned", []string{"1 invoke get", "0 invoke put a", "1 ok get a", "0 ok put a"},
			Valid, "", ""},
		{"a failed put seen", cat(kvDone(0, "fail", "put", "a"), getReturning(1, "a")),
			Invalid, KindFailedWriteSeen, "which failed"},
		{"a failed put not seen", cat(kvDone(0, "fail", "put", "a"), getReturning(1, "")),
			Valid, "", ""},
		{"a value nobody wrote", cat(kvDone(0, "ok", "put", "a"), getReturning(1, "zz")),
			Invalid, KindUnexpectedValue, "no operation wrote"},
		{"an indeterminate put seen, then missed", cat(kvDone(0, "ok", "put", "a"), kvDone(1, "info", "put", "b"), getReturning(2, "b"), getReturning(3, "a")),
			Invalid, KindStaleRead, "been seen by op"},
		{"an indeterminate put seen, and seen again", cat(kvDone(0, "ok", "put", "a"), kvDone(1, "info", "put", "b"), getReturning(2, "a"), getReturning(2, "b"), getReturning(3, "b")),
			Valid, "", ""},
		{"an indeterminate put nobody saw", cat(kvDone(0, "ok", "put", "a"), kvDone(1, "info", "put", "b"), getReturning(2, "a"), getReturning(3, "a")),
			Valid, "", ""},
		{"a get concurrent with the first to see an indeterminate put may miss it", cat(kvDone(0, "ok", "put", "a"), []string{"1 invoke put b", "2 invoke get", "3 invoke get", "2 ok get b", "3 ok get a", "1 info put b"}),
			Valid, "", ""},
		{"an indeterminate put of a value written twice, seen", cat(kvDone(0, "ok", "put", "a"), kvDone(1, "info", "put", "b"), kvDone(2, "info", "put", "b"), getReturning(3, "b")),
			Valid, "", ""},
		{"an indeterminate append of a value appended twice, seen", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "info", "append", "y"), kvDone(2, "info", "append", "y"), getReturning(3, "xy")),
			Valid, "", ""},
		{"an indeterminate put that never returned, seen", cat(kvDone(0, "ok", "put", "a"), []string{"1 invoke put b"}, getReturning(2, "b")),
			Valid, "", ""},
		// Two puts of one value: a string read names no single write.
		{"a value written twice, the later seen", cat(kvDone(0, "ok", "put", "a"), kvDone(0, "ok", "put", "b"), kvDone(0, "ok", "put", "a"), getReturning(1, "a")),
			Valid, "", ""},
		{"a value written twice, both before a newer put", cat(kvDone(0, "ok", "put", "a"), kvDone(1, "ok", "put", "a"), kvDone(0, "ok", "put", "b"), getReturning(2, "a")),
			Invalid, KindNonlinearizable, ""},
		{"a put of \"\" and the initial state", cat(kvDone(0, "ok", "put", ""), kvDone(0, "ok", "put", "a"), kvDone(1, "ok", "put", ""), getReturning(2, "")),
			Valid, "", ""},
		{"a put of \"\" before a newer put", cat(kvDone(0, "ok", "put", ""), kvDone(0, "ok", "put", "a"), getReturning(2, "")),
			Invalid, KindNonlinearizable, ""},
		// Appends: the search decides, on pruned operations.
		{"an indeterminate append seen", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "info", "append", "y"), getReturning(2, "xy"), getReturning(3, "xy")),
			Valid, "", ""},
		{"an indeterminate append seen, then missed", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "info", "append", "y"), getReturning(2, "xy"), getReturning(3, "x")),
			Invalid, KindNonlinearizable, ""},
		{"an indeterminate append nobody saw", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "info", "append", "y"), getReturning(2, "x")),
			Valid, "", ""},
		{"appends that overlapped may land in either order", cat([]string{"0 invoke append x", "1 invoke append y", "0 ok append x", "1 ok append y"}, getReturning(2, "yx")),
			Valid, "", ""},
		{"sequential appends out of order", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "ok", "append", "y"), getReturning(2, "yx")),
			Invalid, KindNonlinearizable, ""},
		{"an append of \"\"", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "ok", "append", ""), getReturning(2, "x")),
			Valid, "", ""},
		{"an append of \"\" beside a missed append", cat(kvDone(0, "ok", "append", "x"), kvDone(1, "ok", "append", ""), getReturning(2, "")),
			Invalid, KindNonlinearizable, ""},
		{"a put then appends", cat(kvDone(0, "ok", "append", "x"), kvDone(0, "ok", "put", "p"), kvDone(1, "info", "append", "q"), getReturning(2, "pq")),
			Valid, "", ""},
		{"a put's value read without the append acknowledged after it", cat(kvDone(0, "ok", "put", "p"), kvDone(1, "ok", "append", "q"), getReturning(2, "p")),
			Invalid, KindNonlinearizable, ""},
	} {
		c := checkKVEDN(t, kvEDN(tc.lines...))
		if c.Valid != tc.want {
			t.Errorf("%s: %v, want %v (%+v, notes %v)", tc.name, c.Valid, tc.want, c.Anomalies, c.Notes)
			continue
		}
		if tc.want != Invalid {
			continue
		}
		if len(c.Anomalies) == 0 || c.Anomalies[0].Kind != tc.kind || c.Anomalies[0].Key != "k" || !strings.Contains(c.Anomalies[0].Explanation, tc.says) {
			t.Errorf("%s: anomalies %+v, want a %s naming key k and saying %q", tc.name, c.Anomalies, tc.kind, tc.says)
		}
	}
}

// invocationOf is the index of the invocation a completion completes.
func invocationOf(events []history.Event, completion int) int {
	for i := completion - 1; i >= 0; i-- {
		if events[i].Process == events[completion].Process && events[i].Type == history.Invoke {
			return events[i].Index
		}
	}
	return -1
}

// TestJepsenKVHotKeysDecided: 20,000 operations on 10 keys by 32 clients,
// with 5% of the writes indeterminate, as EDN text: valid as generated,
// and invalid with the one planted stale read, named on its key. With
// puts only the analysis names the read; with appends the search decides.
func TestJepsenKVHotKeysDecided(t *testing.T) {
	for _, tc := range []struct {
		name       string
		appendFrac float64
	}{{"puts", 0}, {"puts and appends", 0.5}} {
		for _, stale := range []bool{false, true} {
			g := synth.JepsenKV(synth.JepsenKVConfig{Ops: 20_000, Keys: 10, Clients: 32, InfoFrac: 0.05, AppendFrac: tc.appendFrac, Stale: stale, Seed: 1})
			if stale && g.Planted < 0 {
				t.Fatalf("%s: no read to make stale", tc.name)
			}
			var buf bytes.Buffer
			if err := synth.WriteEDN(&buf, g.Events, false); err != nil {
				t.Fatal(err)
			}
			h, err := history.ReadJepsen(&buf)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			r := CheckHistory(context.Background(), h, Options{Timeout: 30 * time.Second})
			c := r.Checkers[history.WorkloadAppendKV]
			t.Logf("%s, stale %v: %v in %v, counts %v", tc.name, stale, r.Valid, time.Since(began).Round(time.Millisecond), c.Counts)
			if !stale {
				if r.Valid != Valid {
					t.Errorf("%s: generated history %v: %+v %v", tc.name, r.Valid, c.Anomalies, c.Notes)
				}
				continue
			}
			if r.Valid != Invalid || !slices.Equal(c.FailingKeys, []string{g.PlantedKey}) {
				t.Fatalf("%s: planted stale read on key %s: %v, failing keys %v, notes %v", tc.name, g.PlantedKey, r.Valid, c.FailingKeys, c.Notes)
			}
			a := c.Anomalies[0]
			if a.Key != g.PlantedKey {
				t.Errorf("%s: anomaly %+v is not on key %s", tc.name, a, g.PlantedKey)
			}
			if read := invocationOf(g.Events, g.Planted); tc.appendFrac == 0 && (a.Kind != KindStaleRead || a.Ops[0] != read) {
				t.Errorf("%s: anomaly %+v, want a stale read observed by op %d", tc.name, a, read)
			}
		}
	}
}

// TestJepsenKVAnalysisAgreesWithPlainSearch holds the analysis to
// Porcupine alone: on every key of small generated histories (with many
// indeterminate writes, puts and appends, planted or not) and of
// Porcupine's own small key-value histories, a key the analysis proves
// invalid is one plain Porcupine finds no order for, and the pruned search
// decides every key as the plain one does.
func TestJepsenKVAnalysisAgreesWithPlainSearch(t *testing.T) {
	var histories [][]Op
	for seed := uint64(1); seed <= 8; seed++ {
		for _, appendFrac := range []float64{0, 0.5} {
			for _, stale := range []bool{false, true} {
				g := synth.JepsenKV(synth.JepsenKVConfig{Ops: 240, Keys: 3, Clients: 5, InfoFrac: 0.15, AppendFrac: appendFrac, Stale: stale, Seed: seed})
				histories = append(histories, Pair(g.Events))
			}
		}
	}
	dir := porcupineDir(t)
	for _, name := range []string{"c01-ok", "c01-bad", "c10-ok", "c10-bad"} {
		f, err := os.Open(filepath.Join(dir, "test_data", "kv", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := history.ReadJepsen(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		histories = append(histories, Pair(h.Events))
	}
	compared, proved := 0, 0
	for n, ops := range histories {
		var end int64
		for _, op := range ops {
			end = max(end, op.Call)
			if op.Return != Open {
				end = max(end, op.Return)
			}
		}
		end++
		parts, _ := partitionJepsen(ops, appendKVSpec, map[string]int{})
		for _, p := range parts {
			var plainOps []porcupine.Operation
			for _, op := range p.ops {
				if o, ok := jepsenOperation(appendKVSpec, op, op, end); ok {
					plainOps = append(plainOps, o)
				}
			}
			plain := porcupine.CheckOperationsTimeout(AppendKVModel, plainOps, 5*time.Second)
			a := analyseAppendKV(appendKVSpec, p.key, p.ops, end)
			got := porcupine.Illegal
			if !a.proved {
				got = porcupine.CheckOperationsTimeout(AppendKVModel, a.ops, 5*time.Second)
			}
			if plain == porcupine.Unknown || got == porcupine.Unknown {
				continue
			}
			compared++
			if a.proved {
				proved++
			}
			if got != plain {
				t.Errorf("history %d key %s: analysis and pruned search say %v (proved %v: %+v), plain Porcupine %v", n, p.key, got, a.proved, a.anomalies, plain)
			}
		}
	}
	t.Logf("%d keys compared, %d proved by the analysis", compared, proved)
	if compared < 60 || proved == 0 {
		t.Errorf("only %d keys compared, %d proved: the comparison proves little", compared, proved)
	}
}

// hardAppends is a key-value history that only an exhaustive search can
// judge: n appends of "a" that never return, then a get of n+1 of them.
// The analysis draws nothing from it (every string matches many ways), and
// the search tries every subset of the appends.
func hardAppends(key string, n int) []Op {
	var events []history.Event
	for p := range n {
		events = append(events, history.Event{Type: history.Invoke, Process: history.Process(p), F: jepsenAppend, Workload: history.WorkloadAppendKV, Key: key, Value: history.Str("a")})
	}
	events = append(events,
		history.Event{Type: history.Invoke, Process: history.Process(n), F: jepsenGet, Workload: history.WorkloadAppendKV, Key: key},
		history.Event{Type: history.OK, Process: history.Process(n), F: jepsenGet, Workload: history.WorkloadAppendKV, Key: key, Value: history.Str(strings.Repeat("a", n+1))})
	for i := range events {
		events[i].Index, events[i].Time = i, int64(i)
	}
	return Pair(events)
}

func TestJepsenSearchStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	c := CheckAppendKV(ctx, hardAppends("h", 40), Options{})
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("check went on %v after its context ended at 200ms", d)
	}
	if c.Valid != Unknown || !slices.Equal(c.UnknownKeys, []string{"h"}) {
		t.Errorf("stopped check: %v, unknown keys %v", c.Valid, c.UnknownKeys)
	}
}

// TestOneHardKeyDoesNotHoldTheBudget: with more keys than CPUs, a hard key
// is given up after its share of the timeout, while the easy keys are
// decided.
func TestOneHardKeyDoesNotHoldTheBudget(t *testing.T) {
	ops := hardAppends("hard", 40)
	easy := runtime.GOMAXPROCS(0) + 1
	for k := range easy {
		key := fmt.Sprintf("easy%d", k)
		h, err := history.ReadJepsen(strings.NewReader(strings.ReplaceAll(kvEDN(slices.Concat(kvDone(0, "ok", "put", "a"), getReturning(1, "a"))...), `:key "k"`, `:key "`+key+`"`)))
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, Pair(h.Events)...)
	}
	began := time.Now()
	c := CheckAppendKV(context.Background(), ops, Options{Timeout: 8 * time.Second})
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("check took %v: the hard key held more than its share (2s) of the 8s", d)
	}
	if c.Valid != Unknown || !slices.Equal(c.UnknownKeys, []string{"hard"}) || c.Counts["keys"] != easy+1 {
		t.Errorf("%v, unknown keys %v, counts %v; want only the hard key unknown", c.Valid, c.UnknownKeys, c.Counts)
	}
}

// TestStoppableCheckStopsEveryModel: the stop reaches a model stepped
// through StepContext (KVModel) as well as one stepped through Step.
func TestStoppableCheckStopsEveryModel(t *testing.T) {
	var kv []Op
	for p := range 40 {
		kv = append(kv, Op{Index: p, Process: history.Process(p), F: history.FWrite, Workload: WorkloadKV, Key: "k", Type: history.Info, Value: history.Str("a"), Call: int64(p), Return: Open})
	}
	kv = append(kv, Op{Index: 40, Process: 40, F: history.FRead, Workload: WorkloadKV, Key: "k", Type: history.OK, Value: history.Str("b"), Call: 40, Return: 41})
	var appendKV []porcupine.Operation
	for _, op := range hardAppends("h", 40) {
		o, _ := jepsenOperation(appendKVSpec, &op, &op, 1000)
		appendKV = append(appendKV, o)
	}
	for _, tc := range []struct {
		name  string
		model porcupine.Model
		ops   []porcupine.Operation
	}{{"kv", KVModel, kvOperations(kv, 1000)}, {"append-kv", AppendKVModel, appendKV}} {
		began := time.Now()
		stop := func() bool { return time.Since(began) > 100*time.Millisecond }
		res, _ := stoppableCheck(tc.model, tc.ops, stop, false)
		if d := time.Since(began); res != porcupine.Unknown || d > time.Second {
			t.Errorf("%s: %v after %v, want unknown soon after the stop at 100ms", tc.name, res, d)
		}
	}
}

func TestAfterSearchStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop, release := afterSearch(ctx, time.Now(), time.Hour)
	defer release()
	if stop.Load() {
		t.Fatal("stopped before anything ended")
	}
	cancel()
	deadline := time.Now().Add(time.Second)
	for !stop.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !stop.Load() {
		t.Error("not stopped a second after its context ended")
	}
	stop, release = afterSearch(context.Background(), time.Now().Add(-time.Hour), time.Minute)
	defer release()
	time.Sleep(300 * time.Millisecond)
	if !stop.Load() {
		t.Error("out of time, yet given more than a moment")
	}
}

// randomKV is a small key-value history with arbitrary outcomes: each of a
// few processes runs a few operations one at a time, with values and reads
// drawn from a tiny alphabet (so values repeat, "" appears, and strings can
// be made several ways), ending ok, failed, indeterminate or never.
func randomKV(rng *rand.Rand) []Op {
	values := []string{"", "a", "b", "ab", "ba"}
	var queues [][]history.Event
	for p := range 2 + rng.IntN(3) {
		var q []history.Event
		for range 1 + rng.IntN(4) {
			f := []string{jepsenGet, jepsenPut, jepsenAppend}[rng.IntN(3)]
			in := history.Event{Type: history.Invoke, Process: history.Process(p), F: f, Workload: history.WorkloadAppendKV, Key: "k"}
			if f != jepsenGet {
				in.Value = history.Str(values[rng.IntN(len(values))])
			}
			out := in
			switch r := rng.IntN(20); {
			case r < 14:
				out.Type = history.OK
			case r < 17:
				out.Type = history.Fail
			default:
				out.Type = history.Info
			}
			if f == jepsenGet && out.Type == history.OK {
				out.Value = history.Str(values[rng.IntN(len(values))] + values[rng.IntN(len(values))])
			}
			q = append(q, in)
			if rng.IntN(10) > 0 {
				q = append(q, out)
			}
			if out.Type == history.Info {
				break
			}
		}
		queues = append(queues, q)
	}
	var events []history.Event
	for {
		var open []int
		for i, q := range queues {
			if len(q) > 0 {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			break
		}
		i := open[rng.IntN(len(open))]
		e := queues[i][0]
		queues[i] = queues[i][1:]
		e.Index, e.Time = len(events), int64(len(events))
		events = append(events, e)
	}
	return Pair(events)
}

// TestJepsenKVAnalysisAgreesOnRandomHistories: on thousands of tiny
// histories with arbitrary outcomes, the analysis and pruned search give
// every key the verdict plain Porcupine gives it: no false alarm, no
// anomaly missed, and no panic.
func TestJepsenKVAnalysisAgreesOnRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	invalid, proved := 0, 0
	for n := range 3000 {
		ops := randomKV(rng)
		var end int64
		for _, op := range ops {
			end = max(end, op.Call)
			if op.Return != Open {
				end = max(end, op.Return)
			}
		}
		end++
		var plainOps []porcupine.Operation
		var ptrs []*Op
		for i := range ops {
			ptrs = append(ptrs, &ops[i])
			if o, ok := jepsenOperation(appendKVSpec, &ops[i], &ops[i], end); ok {
				plainOps = append(plainOps, o)
			}
		}
		plain := porcupine.CheckOperations(AppendKVModel, plainOps)
		a := analyseAppendKV(appendKVSpec, "k", ptrs, end)
		got := !a.proved && porcupine.CheckOperations(AppendKVModel, a.ops)
		if got != plain {
			var b strings.Builder
			for _, op := range ops {
				fmt.Fprintf(&b, "\n  op %d process %d %s %s %q [%d, %d]", op.Index, op.Process, op.F, op.Type, jepsenDeref(op.Value), op.Call, op.Return)
			}
			t.Fatalf("history %d: analysis says linearizable %v (proved %v: %+v), plain Porcupine %v:%s", n, got, a.proved, a.anomalies, plain, b.String())
		}
		if !plain {
			invalid++
		}
		if a.proved {
			proved++
		}
	}
	t.Logf("3000 random histories: %d not linearizable, %d of them proved by the analysis", invalid, proved)
	if invalid < 300 || proved < 50 {
		t.Errorf("%d not linearizable, %d proved: too few to prove much", invalid, proved)
	}
}
