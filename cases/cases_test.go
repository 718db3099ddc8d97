package cases

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam"
)

func TestFindNamesAndRefusals(t *testing.T) {
	all, err := Find(nil)
	if err != nil || len(all) != len(battery) {
		t.Fatalf("Find(nil) = %d cases, %v", len(all), err)
	}
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.Name] {
			t.Errorf("case %s listed twice", c.Name)
		}
		seen[c.Name] = true
	}
	if _, err := Find([]string{all[0].Name, "no-such-case"}); err == nil || !strings.Contains(err.Error(), `there is no case "no-such-case"`) {
		t.Fatalf("unknown case: %v", err)
	}
	got, _ := Find([]string{all[0].Name, all[0].Name})
	if len(got) != 1 {
		t.Fatalf("a name given twice runs twice: %d", len(got))
	}
}

// A side whose server cannot be prepared stops the battery before any
// run, with one sentence naming the case, and leaves no folder.
func TestUnpreparableServerStopsBeforeAnyRun(t *testing.T) {
	store := t.TempDir()
	c := Case{Name: "bad", Kinds: []string{"lost"}, Fixed: Side{Flags: []string{"--server-bin", filepath.Join(store, "missing")}}}
	configure := func(flags []string) (jetsam.Config, error) {
		cfg := jetsam.Defaults()
		if len(flags) == 2 {
			cfg.ServerBin = flags[1]
		}
		return cfg, nil
	}
	_, _, err := Run(context.Background(), Plan{Cases: []Case{c}, Runs: 1, Store: store}, Options{Configure: configure, Jetsam: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "case bad: the fixed side's server") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(store); len(entries) > 0 {
		t.Fatalf("the store holds %v", entries)
	}
}
