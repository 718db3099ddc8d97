package soak

import (
	"reflect"
	"strings"
	"testing"
)

func TestSoakChoiceCoversEveryPair(t *testing.T) {
	const mixes, workloads = 3, 2
	want := [][2]int{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}, {0, 0}, {1, 0}}
	for i, w := range want {
		m, wl := choice(i, mixes, workloads)
		if m != w[0] || wl != w[1] {
			t.Errorf("run %d: mix %d workload %d, want %v", i, m, wl, w)
		}
	}
	if m, wl := choice(5, 1, 1); m != 0 || wl != 0 {
		t.Errorf("one mix, one workload: %d %d", m, wl)
	}
}

func TestRefusedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nemesis", "partition"}, ""},
		{[]string{"--seed", "1"}, "seed"},
		{[]string{"--store=/tmp/x"}, "store"},
		{[]string{"--time-limit", "5s", "--name", "x"}, "name"},
		{[]string{"--workload", "log"}, "workload"},
		{[]string{"--seeds", "3", "--stored"}, ""}, // other flags that merely start alike
	} {
		if got := refusedFlag(tc.args); got != tc.want {
			t.Errorf("refusedFlag(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestParseSoakWorkloads(t *testing.T) {
	got, err := ParseWorkloads("kv, log,kv+queue")
	if err != nil || !reflect.DeepEqual(got, []string{"kv", "log", "kv,queue"}) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A plan is refused before anything runs, with the flag named.
func TestPlanRefused(t *testing.T) {
	ok := Plan{Runs: 1, Workloads: []string{"kv"}, Name: "soak", Store: t.TempDir()}
	for _, tc := range []struct {
		change func(*Plan)
		want   string
	}{
		{func(p *Plan) { p.Runs = 0 }, "soak needs --runs N or --duration D"},
		{func(p *Plan) { p.Duration = -1 }, "--duration must not be negative"},
		{func(p *Plan) { p.Workloads = nil }, "--workloads names no workload"},
		{func(p *Plan) { p.Workloads = []string{"kv,graph"} }, `"graph" is not one of`},
		{func(p *Plan) { p.PassThrough = []string{"--workload=log"} }, "the run flags after -- set --workload"},
		{func(p *Plan) { p.Mixes = []string{`--nemesis "partition`} }, "a double quote is not closed"},
	} {
		p := ok
		tc.change(&p)
		if _, err := p.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want it to say %q", p, err, tc.want)
		}
	}
	p := ok
	if mixes, err := p.validate(); err != nil || len(mixes) != len(DefaultMixes) || !reflect.DeepEqual(p.Mixes, DefaultMixes) {
		t.Errorf("no mixes: %q, %v; want the default mixes", mixes, err)
	}
}
