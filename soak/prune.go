package soak

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jetsam-dev/jetsam/results"
)

// prune deletes the folders of passing runs beyond the newest KeepPassing,
// oldest first, and repoints store/latest if it was left dangling.
func (p *Plan) prune(runs []*Record, say func(string, ...any)) {
	var passing []*Record
	for _, r := range runs {
		if r.Verdict == results.VerdictValid && r.Folder != "" && r.Folder != Pruned {
			passing = append(passing, r)
		}
	}
	pruned := false
	for _, r := range passing[:max(len(passing)-p.KeepPassing, 0)] {
		if !p.inStore(r.Folder) {
			say("soak: not deleting %s: it is not a run folder under %s", r.Folder, filepath.Join(p.Store, p.Name))
			continue
		}
		if err := os.RemoveAll(r.Folder); err != nil {
			say("soak: cannot delete passing run %d's folder: %v", r.Index, err)
			continue
		}
		say("soak: deleted the folder of passing run %d (%s), keeping the newest %d", r.Index, r.Folder, p.KeepPassing)
		r.Folder = Pruned
		pruned = true
	}
	if pruned {
		if err := p.fixLatest(runs); err != nil {
			say("soak: %v", err)
		}
	}
}

// inStore reports whether dir is a folder right below store/name/: a
// folder named by a run is deleted only there.
func (p *Plan) inStore(dir string) bool {
	abs, err1 := filepath.Abs(dir)
	parent, err2 := filepath.Abs(filepath.Join(p.Store, p.Name))
	return err1 == nil && err2 == nil && filepath.Dir(abs) == parent && filepath.Base(abs) != "." && filepath.Base(abs) != ".."
}

// fixLatest repoints a dangling store/latest at the soak's newest run
// folder that remains, or removes it when none remains.
func (p *Plan) fixLatest(runs []*Record) error {
	link := filepath.Join(p.Store, results.LatestLink)
	if _, err := os.Lstat(link); err != nil {
		return nil // no link at all
	}
	if _, err := os.Stat(link); err == nil {
		return nil // it still points at a run
	}
	for i := len(runs) - 1; i >= 0; i-- {
		f := runs[i].Folder
		if f == "" || f == Pruned {
			continue
		}
		if fi, err := os.Stat(f); err != nil || !fi.IsDir() {
			continue
		}
		tmp := filepath.Join(p.Store, fmt.Sprintf(".latest-soak-%d", os.Getpid()))
		_ = os.Remove(tmp)
		if err := os.Symlink(filepath.Join(p.Name, filepath.Base(f)), tmp); err != nil {
			return fmt.Errorf("cannot repoint %s: %w", link, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("cannot repoint %s: %w", link, err)
		}
		return nil
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", link, err)
	}
	return nil
}
