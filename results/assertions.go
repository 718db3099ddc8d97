package results

import (
	"encoding/json"
	"path/filepath"
	"sort"

	"github.com/jetsam-dev/jetsam/checker"
)

// checkAssertions checks the assertion events the nodes of a run folder
// wrote. It returns nil for a run without them, and an unknown verdict for
// a run whose test.json asked for them when no node wrote any: a server
// that was not built with them can have failed none.
func checkAssertions(dir string, opts checker.Options) *checker.Check {
	paths, _ := filepath.Glob(filepath.Join(dir, NodesDir, "*", AssertionsFile))
	sort.Strings(paths)
	var files []checker.AssertionFile
	for _, p := range paths {
		f, err := openRegular(p)
		if err != nil {
			continue
		}
		defer f.Close()
		files = append(files, checker.AssertionFile{Node: filepath.Base(filepath.Dir(p)), File: AssertionsFile, R: f})
	}
	if len(files) == 0 {
		if !askedForAssertions(dir) {
			return nil
		}
		return &checker.Check{Valid: checker.Unknown, Counts: map[string]int{"files": 0},
			Notes: []string{"the run asked for server assertions (server_assertions in test.json), but no node left an " + AssertionsFile}}
	}
	if opts.MaxListed == 0 {
		opts.MaxListed = 100
	}
	return checker.CheckAssertions(files, opts)
}

// askedForAssertions reports whether test.json's configuration asked for a
// server built with assertions.
func askedForAssertions(dir string) bool {
	var ti TestInfo
	if ReadJSON(filepath.Join(dir, TestFile), &ti) != nil || len(ti.Config) == 0 {
		return false
	}
	var cfg struct {
		ServerAssertions bool `json:"server_assertions"`
	}
	return json.Unmarshal(ti.Config, &cfg) == nil && cfg.ServerAssertions
}
