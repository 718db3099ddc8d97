package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
)

func mount(t *testing.T) (*Disk, string) {
	t.Helper()
	return mountWithWriteback(t, 0)
}

func mountWithWriteback(t *testing.T, writeback time.Duration) (*Disk, string) {
	t.Helper()
	testenv.Require(t, Check())
	dir := t.TempDir()
	backing, mnt := filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Mount(backing, mnt, writeback)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if mounted(t, mnt) {
			_ = d.Unmount()
		}
	})
	return d, mnt
}

// mounted reports whether mnt is in the kernel's mount table.
func mounted(t *testing.T, mnt string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == mnt {
			return true
		}
	}
	return false
}

func write(t *testing.T, path string, flag int, data []byte, sync bool) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What was fsynced survives a power failure; what was only written is
// gone, though every reader saw it before; files created survive, empty.
func TestPowerFailLosesOnlyUnsyncedData(t *testing.T) {
	d, mnt := mount(t)
	synced := bytes.Repeat([]byte("durable "), 1000) // crosses pages
	a, b := filepath.Join(mnt, "a.blk"), filepath.Join(mnt, "sub", "b.idx")
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, a, os.O_CREATE, synced, true)
	write(t, a, os.O_APPEND, []byte("volatile tail"), false)
	write(t, b, os.O_CREATE, []byte("never synced"), false)
	if got := read(t, a); !bytes.Equal(got, append(append([]byte{}, synced...), "volatile tail"...)) {
		t.Fatalf("before the failure a reads %d bytes, want the synced data and its tail", len(got))
	}
	if got := read(t, b); string(got) != "never synced" {
		t.Fatalf("before the failure b reads %q", got)
	}
	if st, _ := os.Stat(a); st.Size() != int64(len(synced))+13 {
		t.Fatalf("size of a %d before the failure", st.Size())
	}
	if d.Unsynced() == 0 {
		t.Fatal("nothing unsynced after unsynced writes")
	}

	lost := d.PowerFail()
	if got := read(t, a); !bytes.Equal(got, synced) {
		t.Fatalf("after the failure a reads %d bytes (%q...), want exactly the %d synced", len(got), got[len(got)-13:], len(synced))
	}
	if got := read(t, b); len(got) != 0 {
		t.Fatalf("after the failure b reads %q, want an empty file", got)
	}
	t.Logf("a power failure threw away %d bytes of pages", lost)

	if err := d.Unmount(); err != nil {
		t.Fatal(err)
	}
	if mounted(t, mnt) {
		t.Fatal("still mounted after Unmount")
	}
	if got := read(t, filepath.Join(d.Backing, "a.blk")); !bytes.Equal(got, synced) {
		t.Fatalf("backing a holds %d bytes", len(got))
	}
}

// A killed process's writes are in the page cache, not lost; a clean
// unmount writes them out.
func TestUnmountSyncsEverything(t *testing.T) {
	d, mnt := mount(t)
	write(t, filepath.Join(mnt, "x"), os.O_CREATE, []byte("written, not synced"), false)
	if err := d.Unmount(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(d.Backing, "x")); string(got) != "written, not synced" {
		t.Fatalf("backing holds %q after a clean unmount", got)
	}
}

// Truncates are volatile too, and bytes a truncate cut off read as zeros
// when the file grows again.
func TestTruncateThenGrow(t *testing.T) {
	d, mnt := mount(t)
	p := filepath.Join(mnt, "f")
	write(t, p, os.O_CREATE, bytes.Repeat([]byte{'o'}, 10000), true)
	if err := os.Truncate(p, 100); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 9000); err != nil {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte{'o'}, 100), make([]byte, 8900)...), 'x')
	if got := read(t, p); !bytes.Equal(got, want) {
		t.Fatalf("after truncate and write: %d bytes, zeros between? %v", len(got), bytes.Equal(got[100:9000], make([]byte, 8900)))
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.PowerFail()
	if got := read(t, p); !bytes.Equal(got, want) {
		t.Fatalf("synced truncate and write lost: %d bytes", len(got))
	}
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	d.PowerFail()
	if got := read(t, p); !bytes.Equal(got, want) {
		t.Fatalf("an unsynced truncate survived a power failure: %d bytes", len(got))
	}
}

// Renaming over a file and unlinking one drop their unsynced data, which
// must never be written under another file's name.
func TestRenameAndUnlink(t *testing.T) {
	d, mnt := mount(t)
	a, b := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	write(t, a, os.O_CREATE, []byte("new contents"), true)
	write(t, b, os.O_CREATE, []byte("old, unsynced"), false)
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncAll(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b); string(got) != "new contents" {
		t.Fatalf("b reads %q after the rename", got)
	}
	write(t, a, os.O_CREATE, []byte("doomed"), false)
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if d.Unsynced() != 0 {
		t.Fatalf("%d unsynced bytes of removed files", d.Unsynced())
	}
}

// Data left dirty longer than the writeback age reaches the disk without
// a sync, as the kernel's flusher writes it back; younger data does not.
func TestWritebackAge(t *testing.T) {
	d, mnt := mountWithWriteback(t, 2*time.Second)
	old, young := filepath.Join(mnt, "old"), filepath.Join(mnt, "young")
	write(t, old, os.O_CREATE, []byte("written back"), false)
	deadline := time.Now().Add(10 * time.Second)
	for d.Unsynced() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	write(t, young, os.O_CREATE, []byte("too young"), false)
	d.PowerFail()
	if got := read(t, old); string(got) != "written back" {
		t.Fatalf("old file reads %q after the failure", got)
	}
	if got := read(t, young); len(got) != 0 {
		t.Fatalf("young file reads %q after the failure, want nothing", got)
	}
}
