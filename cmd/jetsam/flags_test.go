package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/node/build"
)

// Every scenario's flags parse and make a valid configuration.
func TestScenariosAreValid(t *testing.T) {
	if len(scenarios) < 6 {
		t.Fatalf("%d scenarios; want a handful covering the fault families", len(scenarios))
	}
	seen := map[string]bool{}
	for _, s := range scenarios {
		if seen[s.Name] || s.Purpose == "" {
			t.Errorf("scenario %q: repeated or without a purpose", s.Name)
		}
		seen[s.Name] = true
		cfg := jetsam.Defaults()
		if err := applyScenario(&cfg, s.Name); err != nil {
			t.Errorf("scenario %s: %v", s.Name, err)
			continue
		}
		cfg.Normalize()
		if strings.Contains(s.Name, "power-loss") && os.Geteuid() != 0 {
			continue // Validate checks for root and FUSE
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("scenario %s: %v", s.Name, err)
		}
	}
}

// A scenario changes only what it names; flags given after it win; the
// server flags replace one another.
func TestOverlay(t *testing.T) {
	cfg := jetsam.Defaults()
	if err := applyScenario(&cfg, "kill-leader-log"); err != nil {
		t.Fatal(err)
	}
	if cfg.Workload != "log" || !reflect.DeepEqual(cfg.Nemesis, []string{"kill"}) || cfg.ReadMode != "none" || cfg.Nodes != 3 || cfg.TimeLimit != jetsam.Defaults().TimeLimit {
		t.Fatalf("after the scenario: %+v", cfg)
	}
	if err := overlayArgs(&cfg, "test", []string{"--nodes", "5", "--concurrency", "1n", "--read-mode", "leader", "--time-limit", "7s", "--server-version", "v2.12.8"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes != 5 || cfg.Concurrency != 5 || cfg.ReadMode != "leader" || cfg.TimeLimit != jetsam.Duration(7*time.Second) || cfg.Workload != "log" {
		t.Fatalf("after the flags: nodes %d concurrency %d read %s limit %s workload %s", cfg.Nodes, cfg.Concurrency, cfg.ReadMode, cfg.TimeLimit, cfg.Workload)
	}
	if got := cfg.Server(); got != (build.Spec{Kind: build.Version, Value: "v2.12.8"}) {
		t.Fatalf("server %+v", got)
	}
	if err := overlayArgs(&cfg, "test", []string{"--server-bin", "/x/nats-server"}); err != nil {
		t.Fatal(err)
	}
	if cfg.ServerVersion != "" || cfg.Server() != (build.Spec{Kind: build.Bin, Value: "/x/nats-server"}) {
		t.Fatalf("a later server flag must replace the earlier: %+v", cfg.Server())
	}
	if err := overlayArgs(&cfg, "--candidate-flags", []string{"--seed", "3"}, sideRefused...); err == nil || !strings.Contains(err.Error(), "--candidate-flags may not set --seed") {
		t.Fatalf("refused flag: %v", err)
	}
	if err := overlayArgs(&cfg, "test", []string{"stray"}); err == nil {
		t.Fatal("a stray argument was accepted")
	}
}
