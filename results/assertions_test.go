package results

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/checker"
)

// A run folder's assertion files are judged by Check, as the run and
// `jetsam check` judge them: a failed assertion makes a valid history's
// run invalid, and the report lists it.
func TestCheckReadsAssertionFiles(t *testing.T) {
	dir := t.TempDir()
	record(t, dir, false)
	version := `{"antithesis_sdk":{"sdk_version":"0.8.0"}}`
	fail := `{"antithesis_assert":{"assert_type":"always","condition":false,"details":{"n":1},"display_type":"Always","hit":true,"id":"jetsam planted assertion","location":{"begin_column":0,"begin_line":846,"class":"github.com/nats-io/nats-server/v2/server.(*Account)","file":"server/stream.go","function":"addStreamWithAssignmentAndMode"},"message":"jetsam planted assertion","must_hit":true}}`
	for node, content := range map[string]string{"n1": version + "\n", "n2": version + "\n" + fail + "\n"} {
		if err := os.MkdirAll(filepath.Join(dir, NodesDir, node), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, NodesDir, node, AssertionsFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Check(context.Background(), dir, checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Checkers[checker.CheckerAssertions]
	if res.Valid != checker.Invalid || c == nil || len(c.Anomalies) != 1 || c.Anomalies[0].Node != "n2" || c.Counts["files"] != 2 {
		t.Fatalf("verdict %s, assertions %+v", res.Valid, c)
	}
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, 0); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, want := range []string{checker.CheckerAssertions, `Always assertion &#34;jetsam planted assertion&#34; failed`, "server/stream.go:846"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if again, err := Recheck(context.Background(), dir, FormatJetsam, checker.Options{}); err != nil || again.Valid != checker.Invalid {
		t.Fatalf("recheck: %v, %v", again, err)
	}
}

// A run that asked for assertions but whose nodes left none is unknown:
// a server built without them failed none. A run that did not ask has no
// assertions checker.
func TestAssertionsAskedForButMissing(t *testing.T) {
	for _, asked := range []bool{true, false} {
		dir := t.TempDir()
		record(t, dir, false)
		cfg := `{"server_src":"/x"}`
		if asked {
			cfg = `{"server_src":"/x","server_assertions":true}`
		}
		if err := os.WriteFile(filepath.Join(dir, TestFile), []byte(`{"name":"t","config":`+cfg+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Check(context.Background(), dir, checker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := res.Checkers[checker.CheckerAssertions]
		if asked && (c == nil || c.Valid != checker.Unknown || res.Valid != checker.Unknown) {
			t.Fatalf("asked: verdict %s, assertions %+v", res.Valid, c)
		}
		if !asked && c != nil {
			t.Fatalf("not asked: assertions checker %+v", c)
		}
	}
}
