package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// Refused and malformed flags stop soak before any run: one sentence, no
// run started (there is no cluster in this test).
func TestSoakRefusesUpFront(t *testing.T) {
	store := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mix", "--seed 1", "--runs", "1"}, `--mix "--seed 1" sets --seed, which soak sets on every run`},
		{[]string{"--mix", "--workload=log", "--runs", "1"}, "sets --workload"},
		{[]string{"--runs", "1", "--", "--store", "elsewhere"}, "the run flags after -- set --store"},
		{[]string{"--runs", "1", "--mix", `--name 'open`}, "single quote is not closed"},
		{[]string{"--mix", "--nemesis none"}, "soak needs --runs N or --duration D"},
		{[]string{"--runs", "-1"}, "--runs must not be negative"},
		{[]string{"--runs", "1", "--keep-passing", "-1"}, "--keep-passing must not be negative"},
		{[]string{"--runs", "1", "--workloads", "kv,,log"}, "has an empty item"},
		{[]string{"--runs", "1", "--workloads", "kv,graph"}, `"graph" is not one of kv, log, queue`},
		{[]string{"--runs", "1", "--name", "a/b"}, "--name \"a/b\" may hold only"},
		{[]string{"--runs", "1", "stray"}, "soak takes no arguments"},
		{[]string{"--runs", "1", "--frobnicate"}, "unknown flag: --frobnicate"},
	} {
		var stdout, stderr bytes.Buffer
		code := realMain(append([]string{"soak", "--store", store}, tc.args...), &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != exitCannot || strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "jetsam: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("soak %q: exit %d, stderr %q; want exit 3 and one line saying %q", tc.args, code, msg, tc.want)
		}
	}
	if entries, _ := os.ReadDir(store); len(entries) > 0 {
		t.Errorf("a refused soak wrote to the store: %v", entries)
	}
}
