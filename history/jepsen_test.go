package history

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A Jepsen register log as Jepsen writes it: other loggers' lines, tabs
// between fields, keyword outcomes, and the nemesis.
const jepsenTextLog = `2014-06-12 10:00:00,000{GMT}	INFO	jepsen.core - Running test
INFO  jepsen.util - 3	:invoke	:write	4
INFO  jepsen.util - 1	:invoke	:read	nil
INFO  jepsen.util - 1	:ok	:read	nil
INFO  jepsen.util - :nemesis	:info	:start	nil
INFO  jepsen.util - 3	:ok	:write	4
INFO  jepsen.util - 0   :invoke :cas    [4 2]
INFO  jepsen.util - :nemesis	:info	:start	"Cut off {:n1 #{:n2}}"
INFO  jepsen.util - 0   :fail   :cas    [4 2]
INFO  jepsen.util - 1	:invoke	:cas	[4 5]
INFO  jepsen.util - 1	:info	:cas	:timed-out
INFO  jepsen.util - 2	:invoke	:read	nil
INFO  jepsen.util - 2	:fail	:read	:timed-out	connection refused
	at clojure.lang.AFn.run(AFn.java:22)
INFO  jepsen.util - 2	:invoke	:read	nil
INFO  jepsen.util - 2	:ok	:read	5
`

// The same register history as EDN op maps.
const jepsenEDNRegister = `{:process 3, :type :invoke, :f :write, :value 4}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value nil}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 3, :type :ok, :f :write, :value 4}
{:process 0, :type :invoke, :f :cas, :value [4 2]}
{:process :nemesis, :type :info, :f :start, :value "Cut off {:n1 #{:n2}}"}
{:process 0, :type :fail, :f :cas, :value [4 2]}
{:process 1, :type :invoke, :f :cas, :value [4 5]}
{:process 1, :type :info, :f :cas, :value :timed-out}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :fail, :f :read, :value nil, :error "timed-out: connection refused"}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 5}
`

func readJepsenString(t *testing.T, s string) *History {
	t.Helper()
	h, err := ReadJepsen(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReadJepsenTextLog(t *testing.T) {
	h := readJepsenString(t, jepsenTextLog)
	want := []Event{
		{Type: Invoke, Process: 3, F: FWrite, Workload: WorkloadRegister, Value: Str("4")},
		{Type: Invoke, Process: 1, F: FRead, Workload: WorkloadRegister},
		{Type: OK, Process: 1, F: FRead, Workload: WorkloadRegister},
		{Type: Invoke, Process: Nemesis, F: jepsenNemesisF},
		{Type: OK, Process: 3, F: FWrite, Workload: WorkloadRegister, Value: Str("4")},
		{Type: Invoke, Process: 0, F: FCAS, Workload: WorkloadRegister, Expect: Str("4"), Value: Str("2")},
		{Type: Info, Process: Nemesis, F: jepsenNemesisF, Fault: &Fault{Action: FaultStart, Params: map[string]string{"f": "start", "value": "Cut off {:n1 #{:n2}}"}}},
		{Type: Fail, Process: 0, F: FCAS, Workload: WorkloadRegister, Expect: Str("4"), Value: Str("2")},
		{Type: Invoke, Process: 1, F: FCAS, Workload: WorkloadRegister, Expect: Str("4"), Value: Str("5")},
		{Type: Info, Process: 1, F: FCAS, Workload: WorkloadRegister, Error: "timed-out"},
		{Type: Invoke, Process: 2, F: FRead, Workload: WorkloadRegister},
		{Type: Fail, Process: 2, F: FRead, Workload: WorkloadRegister, Error: "timed-out: connection refused"},
		{Type: Invoke, Process: 2, F: FRead, Workload: WorkloadRegister},
		{Type: OK, Process: 2, F: FRead, Workload: WorkloadRegister, Value: Str("5")},
	}
	for i := range want {
		want[i].Index, want[i].Time = i, int64(i) // line order is the clock
	}
	if len(h.Events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(h.Events), len(want), h.Events)
	}
	for i := range want {
		if !reflect.DeepEqual(h.Events[i], want[i]) {
			t.Errorf("event %d:\n got %s\nwant %s", i, showJepsenEvent(h.Events[i]), showJepsenEvent(want[i]))
		}
	}
}

func TestReadJepsenDetectsFormat(t *testing.T) {
	text := readJepsenString(t, jepsenTextLog)
	edn := readJepsenString(t, jepsenEDNRegister)
	if len(text.Events) != len(edn.Events) {
		t.Fatalf("text log gives %d events, EDN %d", len(text.Events), len(edn.Events))
	}
	for i := range text.Events {
		a, b := text.Events[i], edn.Events[i]
		if !reflect.DeepEqual(a, b) {
			t.Errorf("event %d:\ntext %s\n edn %s", i, showJepsenEvent(a), showJepsenEvent(b))
		}
	}
}

func TestReadJepsenKeyValueEDN(t *testing.T) {
	h := readJepsenString(t, `
{:process 0, :type :invoke, :f :put, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 0, :type :ok, :f :put, :key "0", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "0", :value ""}
{:process 2, :type :invoke, :f :append, :key "1", :value "x 2 0 y"}
{:process 2, :type :info, :f :append, :key "1", :value "x 2 0 y", :error :timeout}
{:process 3, :type :invoke, :f :append, :key 7, :value "a \"quoted\" b"}
{:process 3, :type :fail, :f :append, :key 7, :value "a \"quoted\" b"}
`)
	want := []Event{
		{Type: Invoke, Process: 0, F: "put", Workload: WorkloadAppendKV, Key: "0", Value: Str("x 0 0 y")},
		{Type: Invoke, Process: 1, F: "get", Workload: WorkloadAppendKV, Key: "0"},
		{Type: OK, Process: 0, F: "put", Workload: WorkloadAppendKV, Key: "0", Value: Str("x 0 0 y")},
		{Type: OK, Process: 1, F: "get", Workload: WorkloadAppendKV, Key: "0", Value: Str("")},
		{Type: Invoke, Process: 2, F: "append", Workload: WorkloadAppendKV, Key: "1", Value: Str("x 2 0 y")},
		{Type: Info, Process: 2, F: "append", Workload: WorkloadAppendKV, Key: "1", Value: Str("x 2 0 y"), Error: "timeout"},
		{Type: Invoke, Process: 3, F: "append", Workload: WorkloadAppendKV, Key: "7", Value: Str(`a "quoted" b`)},
		{Type: Fail, Process: 3, F: "append", Workload: WorkloadAppendKV, Key: "7", Value: Str(`a "quoted" b`)},
	}
	if len(h.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(h.Events), len(want))
	}
	for i := range want {
		want[i].Index, want[i].Time = i, int64(i)
		if !reflect.DeepEqual(h.Events[i], want[i]) {
			t.Errorf("event %d:\n got %s\nwant %s", i, showJepsenEvent(h.Events[i]), showJepsenEvent(want[i]))
		}
	}
}

func TestReadJepsenEmptyIsEmpty(t *testing.T) {
	h := readJepsenString(t, "\n  \n")
	if len(h.Events) != 0 {
		t.Errorf("events from blank input: %+v", h.Events)
	}
}

func TestReadJepsenMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, in, line string
	}{
		{"garbage", "\x00\x01 not a history\nat all\n", "line 1:"},
		{"jetsam JSON", `{"index":0,"time":1,"type":"invoke","process":0,"f":"read"}` + "\n", "line 1:"},
		{"torn EDN map", jepsenEDNRegister + `{:process 1, :type :ok, :f :read` + "\n", "line 15:"},
		{"EDN unknown type", `{:process 1, :type :done, :f :read, :value nil}`, "line 1:"},
		{"EDN without process", `{:type :invoke, :f :read, :value nil}`, "line 1:"},
		{"EDN unsupported f", `{:process 1, :type :invoke, :f :add, :value 3}`, "line 1:"},
		{"negative process", "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - -2\t:invoke\t:read\tnil\n", "line 2:"},
		{"text unknown type", "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:done\t:read\t3\n", "line 2:"},
		{"cas without a pair", "INFO  jepsen.util - 1\t:invoke\t:cas\t4\n", "line 1:"},
		{"write without a value", "\nINFO  jepsen.util - 1\t:invoke\t:write\tnil\n", "line 2:"},
		{"unterminated vector", "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2\n", "line 1:"},
		{"no operations", "INFO  jepsen.core - Running test\n", "line 1:"},
	} {
		_, err := ReadJepsen(strings.NewReader(tc.in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%s: %v does not name %q", tc.name, err, tc.line)
		}
	}
}

func showJepsenEvent(e Event) string {
	s := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return "\"" + *p + "\""
	}
	f := "nil"
	if e.Fault != nil {
		f = e.Fault.Action + " " + e.Fault.Describe(e.F)
	}
	return strings.Join([]string{e.Process.String(), string(e.Type), e.F, e.Workload, e.Key, "value=" + s(e.Value), "expect=" + s(e.Expect), "error=" + e.Error, "fault=" + f}, " ")
}
