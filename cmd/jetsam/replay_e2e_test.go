package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
	"github.com/jetsam-dev/jetsam/results"
)

// TestReplayRunsNothingItNames: a test.json from elsewhere names a binary
// to run, hosts with no host key check, and a store; the replay takes the
// schedule and workload but none of those, says so in one line, and runs
// the embedded server locally: the named binary never runs.
func TestReplayRunsNothingItNames(t *testing.T) {
	testlock.Cluster(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	evil := filepath.Join(dir, "nats-server")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+marker+"\necho 'nats-server: v2.15.2'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"nodes": 3, "replicas": 3, "workload": "kv", "time_limit": "2s", "nemesis": []string{},
		"nemesis_interval": "1s", "seed": 42, "rate": 100, "server_bin": evil, "store": filepath.Join(dir, "elsewhere"),
		"hosts": []string{"root@10.9.9.1:22", "root@10.9.9.2:22", "root@10.9.9.3:22"}, "ssh_insecure": true, "read_mode": "none"}
	b, _ := json.Marshal(map[string]any{"name": "jetsam", "config": cfg})
	folder := filepath.Join(dir, "run")
	if err := os.MkdirAll(folder, 0o755); err != nil || os.WriteFile(filepath.Join(folder, results.TestFile), b, 0o644) != nil {
		t.Fatal("cannot write the run folder")
	}
	store := filepath.Join(dir, "store")
	r := runJetsam(t, 3*time.Minute, "run", "--replay", folder, "--store", store)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"the replay leaves out", "--server-bin " + evil, "--host root@10.9.9.1:22", "--ssh-insecure"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the binary test.json named was run")
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Fatal("the replay wrote to the store test.json named")
	}
	ti := readTest(t, runDir(t, store))
	if ti.Seed != 42 || ti.Server.Spec != "embedded" || strings.Contains(string(ti.Config), "10.9.9.1") {
		t.Fatalf("replayed seed %d, server %s, config %s", ti.Seed, ti.Server.Spec, ti.Config)
	}
}
