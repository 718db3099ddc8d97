package jetsam

import (
	"slices"
	"strings"
	"testing"

	"github.com/jetsam-dev/jetsam/nemesis"
	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/results"
)

func TestNormalizeFaultsAndConcurrency(t *testing.T) {
	c := Defaults()
	c.Nodes = 5
	c.Nemesis = []string{"none"}
	c.Normalize()
	if len(c.Nemesis) != 0 || c.Concurrency != 10 {
		t.Fatalf("none gave %v, concurrency %d (want none, 2 per node)", c.Nemesis, c.Concurrency)
	}
	c.Nemesis = []string{"all", "partition"}
	c.Normalize()
	if !slices.Equal(c.Nemesis, slices.Sorted(slices.Values(nemesis.Packages()))) {
		t.Fatalf("all gave %v", c.Nemesis)
	}
	if !slices.Equal(c.PartitionShapes, nemesis.ShapesFor(5)) {
		t.Fatalf("default shapes %v, want all that fit 5 nodes", c.PartitionShapes)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Replicas = 4 }, "--replicas 4 is more than --nodes 3"},
		{func(c *Config) { c.Keys = 0 }, "--keys"},
		{func(c *Config) { c.ReadMode = "eventually" }, "--read-mode"},
		{func(c *Config) { c.PartitionShapes = []string{"triangle"} }, "--partition-shapes"},
		{func(c *Config) { c.Nodes, c.Replicas, c.PartitionShapes = 2, 1, []string{"bridge"} }, "--partition-shapes bridge needs at least 3 nodes"},
		{func(c *Config) { c.Latency = -1 }, "--latency"},
		{func(c *Config) { c.CutMode = "drop" }, "--cut-mode"},
		{func(c *Config) { c.Name = "a/b" }, "--name"},
	} {
		c := Defaults()
		tc.edit(&c)
		c.Normalize()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
	c := Defaults()
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

// The nodes write their assertions where the checker reads them.
func TestAssertionsFileIsOneName(t *testing.T) {
	if node.AssertionsFile != results.AssertionsFile {
		t.Fatalf("nodes write %s, the checker reads %s", node.AssertionsFile, results.AssertionsFile)
	}
}
