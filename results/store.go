// Package results is the store: one folder per run with its configuration,
// history, verdict and report, and the pages people read. It works from
// files, never from live nodes.
package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// File names inside a run folder.
const (
	TestFile    = "test.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	ReportFile  = "report.html"
	NodesDir    = "nodes"
	LatestLink  = "latest"
	// AssertionsFile, in a node's folder, holds the assertion events of a
	// server built with assertions (node.AssertionsFile).
	AssertionsFile = "assertions.jsonl"
)

// TimeFormat names run folders; it sorts in time order.
const TimeFormat = "20060102T150405.000"

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidName reports whether a test name can name a folder.
func ValidName(name string) bool { return validName.MatchString(name) && len(name) <= 100 }

// NewRunDir makes store/<name>/<time>/ and points store/latest at it.
func NewRunDir(store, name string, now time.Time) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("test name %q may hold only letters, digits, '.', '_' and '-'", name)
	}
	stamp := now.Format(TimeFormat)
	dir := filepath.Join(store, name, stamp)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("cannot write to store %s: %w", store, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create run folder %s: %w", dir, err)
	}
	if err := pointLatest(store, filepath.Join(name, stamp)); err != nil {
		return "", err
	}
	return dir, nil
}

// DiscardRunDir removes a run folder that tested nothing and points
// store/latest back at previous (its link before the run; none when
// empty), so a run that could not start leaves no trace.
func DiscardRunDir(store, dir, previous string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if previous == "" {
		if err := os.Remove(filepath.Join(store, LatestLink)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", LatestLink, err)
		}
		return nil
	}
	return pointLatest(store, previous)
}

// pointLatest replaces store/latest atomically with a link to rel.
func pointLatest(store, rel string) error {
	tmp := filepath.Join(store, fmt.Sprintf(".latest-%d", os.Getpid()))
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("link %s: %w", LatestLink, err)
	}
	if err := os.Rename(tmp, filepath.Join(store, LatestLink)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link %s: %w", LatestLink, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON, replacing path atomically so a reader
// never sees half a file.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return WriteFile(path, append(b, '\n'))
}

// WriteFile replaces path atomically.
func WriteFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadJSON decodes a JSON file into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// ResolveHistory accepts a run folder or a history file and returns the
// history file's path and the run folder (empty when given a bare file).
func ResolveHistory(path string) (historyPath, runDir string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("%s does not exist: give a run folder or a history file", path)
	}
	if !fi.IsDir() {
		return path, "", nil
	}
	h := filepath.Join(path, HistoryFile)
	if _, err := os.Stat(h); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("%s holds no %s: give a run folder or a history file", path, HistoryFile)
		}
		return "", "", err
	}
	return h, path, nil
}

// RelTo is path relative to base when it can be, so a folder of runs
// (a comparison's, a battery's) moved with its runs still finds them.
func RelTo(base, path string) string {
	ab, err1 := filepath.Abs(base)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	if rel, err := filepath.Rel(ab, ap); err == nil {
		return rel
	}
	return path
}
