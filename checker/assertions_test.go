package checker

import (
	"strings"
	"testing"
)

// Lines as nats-server built with enable_antithesis_sdk (and without cgo)
// writes them to ANTITHESIS_SDK_LOCAL_OUTPUT: the version block, the SDK's
// own property about cgo, then each assertion's first pass and first
// failure.
const (
	sdkVersionLine = `{"antithesis_sdk":{"language":{"name":"Go","version":"go1.26.8"},"protocol_version":"1.1.0","sdk_version":"0.8.0"}}`
	sdkNoCgoLine   = `{"antithesis_assert":{"assert_type":"always","condition":false,"details":{"info":"This binary was built without CGO enabled"},"display_type":"Always","hit":true,"id":"Go application under test compiled with CGO enabled","location":{"begin_column":0,"begin_line":0,"class":"","file":"","function":""},"message":"Go application under test compiled with CGO enabled","must_hit":true}}`
	passLine       = `{"antithesis_assert":{"assert_type":"always","condition":true,"details":{"term":4},"display_type":"Always","hit":true,"id":"Two leaders using the same term","location":{"begin_column":0,"begin_line":3310,"class":"github.com/nats-io/nats-server/v2/server.(*raft)","file":"server/raft.go","function":"processAppendEntry"},"message":"Two leaders using the same term","must_hit":true}}`
	failLine       = `{"antithesis_assert":{"assert_type":"always","condition":false,"details":{"term":4,"leader":"n2"},"display_type":"Always","hit":true,"id":"Two leaders using the same term","location":{"begin_column":0,"begin_line":3310,"class":"github.com/nats-io/nats-server/v2/server.(*raft)","file":"server/raft.go","function":"processAppendEntry"},"message":"Two leaders using the same term","must_hit":true}}`
	unreachLine    = `{"antithesis_assert":{"assert_type":"reachability","condition":false,"details":null,"display_type":"Unreachable","hit":true,"id":"Stream encountered write error","location":{"begin_column":0,"begin_line":9808,"class":"github.com/nats-io/nats-server/v2/server.(*stream)","file":"server/stream.go","function":"processJetStreamMsg"},"message":"Stream encountered write error","must_hit":false}}`
	sometimesLine  = `{"antithesis_assert":{"assert_type":"sometimes","condition":false,"details":{},"display_type":"Sometimes","hit":true,"id":"catchup","location":{"begin_column":0,"begin_line":1,"class":"x","file":"server/raft.go","function":"f"},"message":"catchup","must_hit":true}}`
	reachableLine  = `{"antithesis_assert":{"assert_type":"reachability","condition":true,"details":null,"display_type":"Reachable","hit":true,"id":"r","location":{"begin_column":0,"begin_line":1,"class":"x","file":"server/raft.go","function":"f"},"message":"r","must_hit":true}}`
	registerLine   = `{"antithesis_assert":{"assert_type":"always","condition":false,"details":null,"display_type":"Always","hit":false,"id":"reg","location":{"begin_column":0,"begin_line":1,"class":"x","file":"server/raft.go","function":"f"},"message":"reg","must_hit":true}}`
)

func assertionFiles(files map[string]string) []AssertionFile {
	var out []AssertionFile
	for _, node := range []string{"n1", "n2", "n3"} {
		if s, ok := files[node]; ok {
			out = append(out, AssertionFile{Node: node, File: "assertions.jsonl", R: strings.NewReader(s)})
		}
	}
	return out
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestAssertionsPassingOnlyIsValid(t *testing.T) {
	c := CheckAssertions(assertionFiles(map[string]string{
		"n1": lines(sdkVersionLine, sdkNoCgoLine, passLine, sometimesLine, reachableLine, registerLine),
		"n2": lines(sdkVersionLine, passLine),
	}), Options{MaxListed: 100})
	if c.Valid != Valid || len(c.Anomalies) != 0 {
		t.Fatalf("verdict %s, anomalies %+v; want valid", c.Valid, c.Anomalies)
	}
	want := map[string]int{"files": 2, "passed": 3, "sometimes-false": 1, "registered": 1, "sdk-without-cgo": 1}
	for k, n := range want {
		if c.Counts[k] != n {
			t.Errorf("count %s = %d, want %d (counts %v)", k, c.Counts[k], n, c.Counts)
		}
	}
}

func TestAssertionsFailedAlwaysAndUnreachableAreAnomalies(t *testing.T) {
	c := CheckAssertions(assertionFiles(map[string]string{
		"n1": lines(sdkVersionLine, sdkNoCgoLine, passLine),
		"n3": lines(sdkVersionLine, passLine, failLine, unreachLine),
	}), Options{MaxListed: 100})
	if c.Valid != Invalid || len(c.Anomalies) != 2 || c.Counts["anomaly-"+KindAssertion] != 2 {
		t.Fatalf("verdict %s, counts %v, anomalies %+v; want invalid with 2", c.Valid, c.Counts, c.Anomalies)
	}
	a := c.Anomalies[0]
	for _, want := range []string{`Always assertion "Two leaders using the same term" failed`, "line 3", "server/raft.go:3310", "processAppendEntry", `"leader":"n2"`} {
		if !strings.Contains(a.Explanation, want) {
			t.Errorf("explanation %q lacks %q", a.Explanation, want)
		}
	}
	if a.Kind != KindAssertion || a.Node != "n3" {
		t.Errorf("anomaly %+v, want kind %s on n3", a, KindAssertion)
	}
	if b := c.Anomalies[1]; !strings.Contains(b.Explanation, `Unreachable assertion "Stream encountered write error"`) {
		t.Errorf("second anomaly %q, want the reached unreachable", b.Explanation)
	}
	if listed := CheckAssertions(assertionFiles(map[string]string{"n1": lines(failLine, unreachLine)}), Options{MaxListed: 1}); len(listed.Anomalies) != 1 || len(listed.Notes) == 0 {
		t.Errorf("MaxListed 1: %d listed, notes %v", len(listed.Anomalies), listed.Notes)
	}
}

// Hostile files: garbage, wrong types, a line beyond the limit, NULs, no
// newline at the end. Nothing panics; junk is skipped and counted, and a
// failure among it is still found.
func TestAssertionsHostileInput(t *testing.T) {
	huge := `{"antithesis_assert":{"assert_type":"always","condition":false,"hit":true,"message":"` + strings.Repeat("x", maxAssertionLine+10) + `"}}`
	c := CheckAssertions(assertionFiles(map[string]string{
		"n1": lines("not json", `{"antithesis_assert":{"hit":"yes"}}`, `{"antithesis_assert":null}`, `[1,2]`, `{}`, "\x00\x00", huge, "", failLine) + `{"antithesis_assert":`,
		"n2": strings.Repeat("{", 1<<16),
		"n3": "",
	}), Options{MaxListed: 100})
	if c.Valid != Invalid || len(c.Anomalies) != 1 || c.Counts["files"] != 3 {
		t.Fatalf("verdict %s, counts %v, anomalies %d; want the one failure among the junk", c.Valid, c.Counts, len(c.Anomalies))
	}
	if c.Counts["lines-skipped"] < 7 {
		t.Errorf("skipped %d lines, want at least 7 (counts %v)", c.Counts["lines-skipped"], c.Counts)
	}
	if len(c.Notes) > 20 {
		t.Errorf("%d notes: junk should not flood them", len(c.Notes))
	}
}

func FuzzCheckAssertions(f *testing.F) {
	for _, s := range []string{lines(sdkVersionLine, passLine, failLine), lines(unreachLine, sometimesLine), "{", "\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CheckAssertions([]AssertionFile{{Node: "n1", File: "a", R: strings.NewReader(s)}}, Options{MaxListed: 3})
		if (c.Valid == Invalid) != (c.Counts["anomaly-"+KindAssertion] > 0) || len(c.Anomalies) > 3 {
			t.Fatalf("verdict %s with counts %v and %d anomalies", c.Valid, c.Counts, len(c.Anomalies))
		}
	})
}
