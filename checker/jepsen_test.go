package checker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/history"
)

// etcdLinearizable is the known verdict of each Jepsen etcd register log in
// Porcupine's test_data/jepsen, as asserted by the TestEtcdJepsenNNN tests
// of porcupine_test.go (github.com/anishathalye/porcupine v1.3.1). Log 95 is
// absent: "etcd cluster failed to start up in test 95", and Porcupine does
// not check it (its log is empty).
var etcdLinearizable = map[int]bool{
	0: false, 1: false, 2: true, 3: false, 4: false, 5: true, 6: false, 7: true,
	8: false, 9: false, 10: false, 11: false, 12: false, 13: false, 14: false, 15: false,
	16: false, 17: false, 18: true, 19: false, 20: false, 21: false, 22: false, 23: false,
	24: false, 25: true, 26: false, 27: false, 28: false, 29: false, 30: false, 31: true,
	32: false, 33: false, 34: false, 35: false, 36: false, 37: false, 38: true, 39: false,
	40: false, 41: false, 42: false, 43: false, 44: false, 45: true, 46: false, 47: false,
	48: true, 49: true, 50: false, 51: true, 52: false, 53: true, 54: false, 55: false,
	56: true, 57: false, 58: false, 59: false, 60: false, 61: false, 62: false, 63: false,
	64: false, 65: false, 66: false, 67: true, 68: false, 69: false, 70: false, 71: false,
	72: false, 73: false, 74: false, 75: true, 76: true, 77: false, 78: false, 79: false,
	80: true, 81: false, 82: false, 83: false, 84: false, 85: false, 86: false, 87: true,
	88: false, 89: false, 90: false, 91: false, 92: true, 93: false, 94: false, 96: false,
	97: false, 98: true, 99: false, 100: true, 101: true, 102: true,
}

// etcdFailedToStart is the test whose etcd cluster never started.
const etcdFailedToStart = 95

// kvLinearizable is the known verdict of each key-value history in
// Porcupine's test_data/kv (TestKv* in porcupine_test.go, v1.3.1).
var kvLinearizable = map[string]bool{
	"c01-ok": true, "c01-bad": false,
	"c10-ok": true, "c10-bad": false,
	"c50-ok": true, "c50-bad": false,
}

// porcupineDir finds Porcupine's module directory, which holds the test data.
// Its absence is a broken setup, not a reason to skip the proof.
func porcupineDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/anishathalye/porcupine").Output()
	if err != nil {
		t.Fatalf("locate porcupine's module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("porcupine's module is not downloaded: run go mod download")
	}
	return dir
}

func checkJepsenFile(t *testing.T, path string, check func(context.Context, []Op, Options) *Check) *Check {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := history.ReadJepsen(f)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return check(context.Background(), Pair(h.Events), Options{Timeout: time.Minute})
}

func verdictOf(b bool) Validity {
	if b {
		return Valid
	}
	return Invalid
}

func TestJepsenEtcdRegisterVerdicts(t *testing.T) {
	began := time.Now()
	logs, err := filepath.Glob(filepath.Join(porcupineDir(t), "test_data", "jepsen", "etcd_*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != len(etcdLinearizable)+1 {
		t.Fatalf("found %d etcd logs, want %d", len(logs), len(etcdLinearizable)+1)
	}
	sort.Strings(logs)
	var valid, invalid int
	for _, path := range logs {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(path), "etcd_%d.log", &n); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c := checkJepsenFile(t, path, CheckRegister)
		want, known := etcdLinearizable[n]
		if !known {
			// No verdict to reproduce: the test never ran, so there is
			// nothing to call valid.
			if n != etcdFailedToStart {
				t.Fatalf("%s has no known verdict", path)
			}
			if c.Valid != Unknown {
				t.Errorf("etcd_%03d (never started): %v, want unknown", n, c.Valid)
			}
			continue
		}
		if c.Valid != verdictOf(want) {
			t.Errorf("etcd_%03d: %v, want %v (notes %v)", n, c.Valid, verdictOf(want), c.Notes)
			continue
		}
		if want {
			valid++
			continue
		}
		invalid++
		if len(c.Anomalies) == 0 || c.Anomalies[0].Kind != KindNonlinearizable || c.Anomalies[0].Explanation == "" || len(c.Anomalies[0].Ops) == 0 {
			t.Errorf("etcd_%03d: invalid without an explained nonlinearizable anomaly: %+v", n, c.Anomalies)
		}
	}
	t.Logf("%d etcd logs linearizable, %d not, in %v", valid, invalid, time.Since(began).Round(time.Millisecond))
	if d := time.Since(began); d > 20*time.Second {
		t.Logf("checking the etcd logs took %v, over the 20s budget", d)
	}
}

func TestJepsenKVVerdicts(t *testing.T) {
	dir := porcupineDir(t)
	names := make([]string, 0, len(kvLinearizable))
	for name := range kvLinearizable {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		began := time.Now()
		c := checkJepsenFile(t, filepath.Join(dir, "test_data", "kv", name+".txt"), CheckAppendKV)
		want := verdictOf(kvLinearizable[name])
		if c.Valid != want {
			t.Errorf("%s: %v, want %v (notes %v)", name, c.Valid, want, c.Notes)
			continue
		}
		if c.Counts["keys"] == 0 {
			t.Errorf("%s: no keys counted: %v", name, c.Counts)
		}
		if want == Invalid {
			if len(c.FailingKeys) == 0 || len(c.Anomalies) == 0 {
				t.Fatalf("%s: invalid without failing keys or anomalies: %+v", name, c)
			}
			a := c.Anomalies[0]
			if a.Kind != KindNonlinearizable || a.Key != c.FailingKeys[0] || !strings.Contains(a.Explanation, fmt.Sprintf("op %d ", a.Ops[0])) {
				t.Errorf("%s: anomaly %+v does not name its key %q and op", name, a, c.FailingKeys[0])
			}
		}
		t.Logf("%s: %v, %d keys, %d failing, in %v", name, c.Valid, c.Counts["keys"], len(c.FailingKeys), time.Since(began).Round(time.Millisecond))
	}
}

func TestJepsenTimeoutIsUnknownNeverValid(t *testing.T) {
	dir := porcupineDir(t)
	for _, tc := range []struct {
		path  string
		check func(context.Context, []Op, Options) *Check
	}{
		{filepath.Join(dir, "test_data", "jepsen", "etcd_002.log"), CheckRegister}, // linearizable
		{filepath.Join(dir, "test_data", "kv", "c10-ok.txt"), CheckAppendKV},
	} {
		f, err := os.Open(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := history.ReadJepsen(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := tc.check(context.Background(), Pair(h.Events), Options{Timeout: time.Nanosecond})
		if c.Valid != Unknown || len(c.UnknownKeys) == 0 {
			t.Errorf("%s with a 1ns timeout: %v, unknown keys %v; want unknown", filepath.Base(tc.path), c.Valid, c.UnknownKeys)
		}
	}
}

// registerOps builds a register history by hand: events in the order given,
// time is the index.
func registerOps(events ...history.Event) []Op {
	for i := range events {
		events[i].Index, events[i].Time = i, int64(i)
		events[i].Workload = history.WorkloadRegister
	}
	return Pair(events)
}

func regEvent(p int, t history.Type, f string, value, expect *string) history.Event {
	return history.Event{Process: history.Process(p), Type: t, F: f, Value: value, Expect: expect}
}

func TestRegisterIndeterminateCAS(t *testing.T) {
	s := history.Str
	inv, ok, info, fail := history.Invoke, history.OK, history.Info, history.Fail
	for _, tc := range []struct {
		name string
		ops  []Op
		want Validity
		// stuck is the op an invalid history's anomaly must name.
		stuck int
	}{
		{"open cas may have applied", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "cas", s("2"), s("1")), regEvent(1, info, "cas", nil, nil),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("2"), nil),
		), Valid, -1},
		{"open cas may not have applied", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "cas", s("2"), s("1")), regEvent(1, info, "cas", nil, nil),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("1"), nil),
		), Valid, -1},
		{"open cas whose compare cannot hold never applies", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "cas", s("2"), s("3")), regEvent(1, info, "cas", nil, nil),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("2"), nil),
		), Invalid, 4},
		{"an open cas applies at most once, at one point", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "cas", s("2"), s("1")), regEvent(1, info, "cas", nil, nil),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("2"), nil),
			regEvent(3, inv, "read", nil, nil), regEvent(3, ok, "read", s("1"), nil),
		), Invalid, 6},
		{"a failed cas did not happen, and proves nothing", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "cas", s("2"), s("1")), regEvent(1, fail, "cas", s("2"), s("1")),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("1"), nil),
		), Valid, -1},
		{"a failed write did not happen", registerOps(
			regEvent(0, inv, "write", s("1"), nil), regEvent(0, ok, "write", s("1"), nil),
			regEvent(1, inv, "write", s("2"), nil), regEvent(1, fail, "write", s("2"), nil),
			regEvent(2, inv, "read", nil, nil), regEvent(2, ok, "read", s("2"), nil),
		), Invalid, 4},
		{"a read of nil before any write", registerOps(
			regEvent(0, inv, "read", nil, nil), regEvent(0, ok, "read", nil, nil),
			regEvent(1, inv, "write", s("1"), nil), regEvent(1, ok, "write", s("1"), nil),
			regEvent(0, inv, "read", nil, nil), regEvent(0, ok, "read", nil, nil),
		), Invalid, 4},
	} {
		c := CheckRegister(context.Background(), tc.ops, Options{})
		if c.Valid != tc.want {
			t.Errorf("%s: %v, want %v (%+v)", tc.name, c.Valid, tc.want, c.Anomalies)
		}
		if tc.want == Invalid && (len(c.Anomalies) != 1 || c.Anomalies[0].Ops[0] != tc.stuck || c.Anomalies[0].Explanation == "") {
			t.Errorf("%s: anomalies %+v, want one naming op %d", tc.name, c.Anomalies, tc.stuck)
		}
	}
}

func TestJepsenNoOperationsIsUnknown(t *testing.T) {
	if c := CheckRegister(context.Background(), nil, Options{}); c.Valid != Unknown {
		t.Errorf("empty register history: %v, want unknown", c.Valid)
	}
	if c := CheckAppendKV(context.Background(), nil, Options{}); c.Valid != Unknown {
		t.Errorf("empty key-value history: %v, want unknown", c.Valid)
	}
}
