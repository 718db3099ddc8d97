package compare

import (
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/node/build"
)

func TestCompareOrder(t *testing.T) {
	str := func(steps []step) string {
		var b strings.Builder
		for _, s := range steps {
			b.WriteString([]string{"b", "c"}[s.side])
			b.WriteByte(byte('0' + s.seed))
		}
		return b.String()
	}
	if got := str(order(3, Alternate)); got != "b0c0c1b1b2c2" {
		t.Errorf("alternate: %s", got)
	}
	if got := str(order(2, Grouped)); got != "b0b1c0c1" {
		t.Errorf("grouped: %s", got)
	}
}

// A plan is refused before anything is built or run.
func TestPlanRefused(t *testing.T) {
	cfg := jetsam.Defaults()
	cfg.Name = "compare-baseline"
	ok := Plan{Sides: [2]Side{{Spec: build.Spec{Kind: build.Embedded}}, {Spec: build.Spec{Kind: build.Embedded}}},
		Cases: []Case{{Configs: [2]jetsam.Config{cfg, cfg}}}, Seeds: 1, Order: Alternate, Store: t.TempDir(), Name: "compare"}
	if err := ok.validate(); err != nil {
		t.Fatalf("a good plan: %v", err)
	}
	bad := func(c jetsam.Config, f func(*jetsam.Config)) jetsam.Config { f(&c); return c }
	for _, tc := range []struct {
		change func(*Plan)
		want   string
	}{
		{func(p *Plan) { p.Seeds = 0 }, "--seeds must be at least 1, got 0"},
		{func(p *Plan) { p.Order = "shuffled" }, `--order "shuffled" is not alternate or grouped`},
		{func(p *Plan) { p.Cases = nil }, "at least one pair"},
		{func(p *Plan) { p.Sides[1].Spec = build.Spec{Kind: build.Bin, Value: "/x"} }, "candidate: its configuration runs"},
		{func(p *Plan) {
			p.Cases = []Case{{Configs: [2]jetsam.Config{cfg, bad(cfg, func(c *jetsam.Config) { c.Nodes = 0 })}}}
		}, "candidate: --nodes must be between 1 and 9"},
	} {
		p := ok
		p.Cases = append([]Case(nil), ok.Cases...)
		tc.change(&p)
		if err := p.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want it to say %q", err, tc.want)
		}
	}
}
