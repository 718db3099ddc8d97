package soak

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jetsam-dev/jetsam/results"
)

// fakeRunFolder makes a run folder of run i under store/soak/.
func fakeRunFolder(t *testing.T, store string, i int, verdict string) *Record {
	t.Helper()
	dir := filepath.Join(store, "soak", "20250101T0000"+string(rune('0'+i))+"0.000")
	if err := os.MkdirAll(filepath.Join(dir, results.NodesDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, results.HistoryFile), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Record{Index: i, Verdict: verdict, Folder: dir}
}

// linkLatest points store/latest at a run folder of store/soak/.
func linkLatest(t *testing.T, store, to string) {
	t.Helper()
	l := filepath.Join(store, results.LatestLink)
	_ = os.Remove(l)
	if err := os.Symlink(filepath.Join("soak", filepath.Base(to)), l); err != nil {
		t.Fatal(err)
	}
}

// TestSoakPruning builds a fake store: passing runs beyond --keep-passing
// are deleted oldest first, failing runs stay whole, and a dangling
// store/latest is repointed at the newest run that remains, or removed.
func TestSoakPruning(t *testing.T) {
	store := t.TempDir()
	p := &Plan{Store: store, Name: "soak", KeepPassing: 2}
	mk := func(i int, verdict string) *Record { return fakeRunFolder(t, store, i, verdict) }
	link := func(to string) { linkLatest(t, store, to) }
	say := func(string, ...any) {}
	var runs []*Record
	for i, v := range []string{results.VerdictValid, results.VerdictInvalid, results.VerdictValid, results.VerdictUnknown, results.VerdictValid, results.VerdictCannot} {
		runs = append(runs, mk(i, v))
	}
	// A run that made no folder is left alone.
	runs = append(runs, &Record{Index: 6, Verdict: results.VerdictValid})
	keepFolders := map[int]string{}
	for _, r := range runs {
		keepFolders[r.Index] = r.Folder
	}
	// latest points at the oldest passing run, which is pruned.
	link(runs[0].Folder)
	p.prune(runs, say)
	for _, r := range runs {
		_, err := os.Stat(keepFolders[r.Index])
		switch {
		case r.Index == 0:
			if r.Folder != Pruned || err == nil {
				t.Errorf("run 0 (oldest passing): folder %q, stat %v; want pruned and gone", r.Folder, err)
			}
		case r.Index == 6:
			if r.Folder != "" {
				t.Errorf("run 6 (no folder): %q", r.Folder)
			}
		default:
			if r.Folder != keepFolders[r.Index] || err != nil {
				t.Errorf("run %d (%s): folder %q, stat %v; want it kept", r.Index, r.Verdict, r.Folder, err)
			}
		}
	}
	// Failing runs are whole.
	if _, err := os.Stat(filepath.Join(keepFolders[1], results.NodesDir, "n1")); err != nil {
		t.Errorf("failing run not whole: %v", err)
	}
	target, err := os.Readlink(filepath.Join(store, results.LatestLink))
	if err != nil || target != filepath.Join("soak", filepath.Base(keepFolders[5])) {
		t.Errorf("latest -> %q (%v), want the newest remaining run %s", target, err, keepFolders[5])
	}

	// keep 0: every passing folder goes; latest pointing at a kept failing
	// run is left alone.
	link(runs[1].Folder)
	p.KeepPassing = 0
	p.prune(runs, say)
	for _, i := range []int{2, 4} {
		if runs[i].Folder != Pruned {
			t.Errorf("keep 0: run %d kept", i)
		}
	}
	if target, _ := os.Readlink(filepath.Join(store, results.LatestLink)); target != filepath.Join("soak", filepath.Base(keepFolders[1])) {
		t.Errorf("latest moved to %q though it pointed at a kept run", target)
	}

	// Nothing of the soak remains: latest is removed.
	only := []*Record{mk(7, results.VerdictValid)}
	link(only[0].Folder)
	p.prune(only, say)
	if _, err := os.Lstat(filepath.Join(store, results.LatestLink)); !os.IsNotExist(err) {
		t.Errorf("latest left dangling: %v", err)
	}

	// A folder outside store/name is never deleted.
	outside := t.TempDir()
	stray := []*Record{{Index: 8, Verdict: results.VerdictValid, Folder: outside}}
	p.prune(stray, say)
	if _, err := os.Stat(outside); err != nil || stray[0].Folder != outside {
		t.Errorf("a folder outside the store was deleted: %v", err)
	}
}
