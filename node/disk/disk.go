// Package disk is a filesystem that can lose power. It mounts a backing
// directory through FUSE and keeps every write in memory, as a page cache
// does, until the file is fsynced; PowerFail throws away whatever was not
// synced, which is what an OS crash or a power cut does to the data a
// process wrote. Directory changes (create, rename, unlink, mkdir) reach the
// backing directory at once: only file contents are volatile.
//
// The process that wrote the data can die without losing it (a killed
// process's writes are in the page cache, and they are here too): only
// PowerFail loses data. Like the kernel's flusher, the disk writes a file's
// data back once it has been dirty for the writeback age (Linux's
// dirty_expire_centisecs, 30s by default), so data nobody syncs is lost
// only if the power fails within that time.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// pageSize is the unit of unsynced data kept in memory.
const pageSize = 4096

// FSName is the type the mount shows ("fuse.jetsam"), by which a stale one
// is recognised.
const FSName = "jetsam"

// Disk is a mounted volatile filesystem.
type Disk struct {
	Backing    string
	Mountpoint string

	server *fuse.Server
	root   *root
	stop   chan struct{}
	done   chan struct{}
}

// root is the state shared by every node: the files that hold unsynced data.
type root struct {
	mu    sync.Mutex
	dirty map[*node]bool
}

// node is one file or directory; state holds a file's unsynced contents.
type node struct {
	fs.LoopbackNode
	r     *root
	state *fileState // guarded by r.mu; nil when the file is synced
}

// fileState is a file as the page cache holds it: its pages written since
// the last fsync, and its size. The backing file's bytes from stale on
// were cut off by a truncate and read as zeros. since is when the file
// became dirty.
type fileState struct {
	pages map[int64][]byte
	size  int64
	stale int64
	since time.Time
}

// DefaultWriteback is Linux's default age at which dirty data is written
// back.
const DefaultWriteback = 30 * time.Second

// Mount mounts a volatile view of backing at mountpoint; both must exist.
// Data dirty for longer than writeback is written back; zero never writes
// back (only fsync makes data durable). It needs root and /dev/fuse.
func Mount(backing, mountpoint string, writeback time.Duration) (*Disk, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	r := &root{dirty: map[*node]bool{}}
	lr := &fs.LoopbackRoot{Path: backing}
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, fmt.Errorf("backing dir: %w", err)
	}
	lr.Dev = uint64(st.Dev)
	lr.NewNode = func(data *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: data}, r: r}
	}
	top := lr.NewNode(lr, nil, "", &st)
	lr.RootNode = top
	// No kernel caching: every read, write and size goes through this
	// process, so discarding data here discards it everywhere.
	zero := time.Duration(0)
	server, err := fs.Mount(mountpoint, top, &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, FsName: backing, Name: FSName, DisableXAttrs: true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	d := &Disk{Backing: backing, Mountpoint: mountpoint, server: server, root: r, stop: make(chan struct{}), done: make(chan struct{})}
	go d.flusher(writeback)
	return d, nil
}

// flusher writes back files dirty for longer than age, checking a few
// times per age.
func (d *Disk) flusher(age time.Duration) {
	defer close(d.done)
	if age <= 0 {
		<-d.stop
		return
	}
	tick := time.NewTicker(min(time.Second, age/5))
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-tick.C:
			d.root.mu.Lock()
			for x := range d.root.dirty {
				if now.Sub(x.state.since) >= age {
					// Written back, not synced: a failed write here
					// leaves the data dirty, to be tried again.
					_ = x.writeBackLocked(nil, false)
				}
			}
			d.root.mu.Unlock()
		}
	}
}

// Unsynced is how many bytes of written data are not yet synced.
func (d *Disk) Unsynced() int64 {
	d.root.mu.Lock()
	defer d.root.mu.Unlock()
	var n int64
	for x := range d.root.dirty {
		n += int64(len(x.state.pages)) * pageSize
	}
	return n
}

// PowerFail throws away every write not yet synced. The processes using
// the filesystem must be dead first, as they are after a power cut.
func (d *Disk) PowerFail() (lostBytes int64) {
	lostBytes = d.Unsynced()
	d.root.mu.Lock()
	defer d.root.mu.Unlock()
	for x := range d.root.dirty {
		x.state = nil
	}
	clear(d.root.dirty)
	return lostBytes
}

// SyncAll writes every unsynced file to the backing directory, as a clean
// shutdown does.
func (d *Disk) SyncAll() error {
	d.root.mu.Lock()
	defer d.root.mu.Unlock()
	var errs []error
	for x := range d.root.dirty {
		if err := x.writeBackLocked(nil, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Unmount syncs, then unmounts; the backing directory then holds
// everything that was written.
func (d *Disk) Unmount() error {
	close(d.stop)
	<-d.done
	err := d.SyncAll()
	if uerr := d.server.Unmount(); uerr != nil {
		// Something still holds a file open: detach it, so the mount
		// never outlives this process.
		if derr := syscall.Unmount(d.Mountpoint, syscall.MNT_DETACH); derr != nil {
			return errors.Join(err, fmt.Errorf("unmount %s: %w", d.Mountpoint, uerr))
		}
	}
	return err
}

// ---- the file system ----

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
)

// backingPath is the node's path in the backing directory.
func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.RootData.RootNode.EmbeddedInode()))
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		n.r.mu.Lock()
		n.truncateLocked(0)
		n.r.mu.Unlock()
	}
	f, err := os.OpenFile(n.backingPath(), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fs.ToErrno(err)
	}
	return &handle{n: n, f: f}, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	// A new file is empty: O_TRUNC has nothing to cut.
	ch, fh, _, errno := n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if fh != nil {
		if r, ok := fh.(fs.FileReleaser); ok {
			r.Release(ctx)
		}
	}
	child := ch.Operations().(*node)
	// The new inode is attached to its parent only after Create returns.
	f, err := os.OpenFile(filepath.Join(n.backingPath(), name), os.O_RDWR, 0)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	return ch, &handle{n: child, f: f}, fuse.FOPEN_DIRECT_IO, 0
}

// Getattr reports the size the page cache knows.
func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	n.r.mu.Lock()
	if n.state != nil {
		out.Size = uint64(n.state.size)
		out.Blocks = (out.Size + 511) / 512
	}
	n.r.mu.Unlock()
	return 0
}

// Setattr truncates in memory; everything else goes to the backing file.
func (n *node) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	size, resize := in.GetSize()
	rest := *in
	rest.Valid &^= fuse.FATTR_SIZE
	if errno := n.LoopbackNode.Setattr(ctx, nil, &rest, out); errno != 0 {
		return errno
	}
	if resize {
		n.r.mu.Lock()
		if err := n.truncateLocked(int64(size)); err != nil {
			n.r.mu.Unlock()
			return fs.ToErrno(err)
		}
		n.r.mu.Unlock()
	}
	return n.Getattr(ctx, nil, out)
}

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	var fd *os.File
	if h, ok := f.(*handle); ok {
		fd = h.f
	}
	n.r.mu.Lock()
	defer n.r.mu.Unlock()
	return fs.ToErrno(n.writeBackLocked(fd, true))
}

// Unlink forgets the unsynced data of a file that is gone.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	child := n.GetChild(name)
	if errno := n.LoopbackNode.Unlink(ctx, name); errno != 0 {
		return errno
	}
	n.forget(child)
	return 0
}

// Rename forgets the unsynced data of a file it replaces.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	replaced := newParent.EmbeddedInode().GetChild(newName)
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		return errno
	}
	if flags&unixRenameExchange == 0 {
		n.forget(replaced)
	}
	return 0
}

// unixRenameExchange is RENAME_EXCHANGE: both names stay.
const unixRenameExchange = 2

func (n *node) forget(child *fs.Inode) {
	if child == nil {
		return
	}
	if c, ok := child.Operations().(*node); ok {
		n.r.mu.Lock()
		c.state = nil
		delete(n.r.dirty, c)
		n.r.mu.Unlock()
	}
}

// stateLocked returns the file's page-cache state, making it from the
// backing file's size.
func (n *node) stateLocked() (*fileState, error) {
	if n.state != nil {
		return n.state, nil
	}
	st, err := os.Stat(n.backingPath())
	if err != nil {
		return nil, err
	}
	n.state = &fileState{pages: map[int64][]byte{}, size: st.Size(), stale: st.Size(), since: time.Now()}
	n.r.dirty[n] = true
	return n.state, nil
}

func (n *node) truncateLocked(size int64) error {
	s, err := n.stateLocked()
	if err != nil {
		return err
	}
	for p, b := range s.pages {
		switch start := p * pageSize; {
		case start >= size:
			delete(s.pages, p)
		case start+pageSize > size:
			clear(b[size-start:])
		}
	}
	s.size = size
	s.stale = min(s.stale, size)
	return nil
}

// pageLocked returns page p for writing, read from the backing file when
// it is not in memory yet. Bytes past the backing file's end are zero.
func (n *node) pageLocked(s *fileState, f *os.File, p int64) ([]byte, error) {
	if b, ok := s.pages[p]; ok {
		return b, nil
	}
	b := make([]byte, pageSize)
	if start := p * pageSize; start < s.stale {
		if _, err := f.ReadAt(b[:min(pageSize, s.stale-start)], start); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	s.pages[p] = b
	return b, nil
}

// writeBackLocked writes the file's dirty pages and size to the backing
// file, and fsyncs it if sync is set. f may be nil: the file is then opened
// by path.
func (n *node) writeBackLocked(f *os.File, sync bool) error {
	if n.state == nil {
		return nil
	}
	if f == nil {
		var err error
		if f, err = os.OpenFile(n.backingPath(), os.O_RDWR, 0); err != nil {
			return err
		}
		defer f.Close()
	}
	s := n.state
	if err := f.Truncate(s.stale); err != nil {
		return err
	}
	pages := make([]int64, 0, len(s.pages))
	for p := range s.pages {
		pages = append(pages, p)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
	for _, p := range pages {
		start := p * pageSize
		if start >= s.size {
			continue
		}
		if _, err := f.WriteAt(s.pages[p][:min(pageSize, s.size-start)], start); err != nil {
			return err
		}
	}
	if err := f.Truncate(s.size); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	n.state = nil
	delete(n.r.dirty, n)
	return nil
}

// handle is an open file: reads and writes go through the node's pages.
type handle struct {
	n *node
	f *os.File // the backing file, read and written
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.n
	n.r.mu.Lock()
	defer n.r.mu.Unlock()
	s := n.state
	if s == nil {
		k, err := h.f.ReadAt(dest, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fs.ToErrno(err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	if off >= s.size {
		return fuse.ReadResultData(nil), 0
	}
	want := min(int64(len(dest)), s.size-off)
	out := dest[:want]
	for done := int64(0); done < want; {
		at := off + done
		p, in := at/pageSize, at%pageSize
		k := min(pageSize-in, want-done)
		if b, ok := s.pages[p]; ok {
			copy(out[done:done+k], b[in:in+k])
		} else {
			chunk := out[done : done+k]
			r := 0
			if at < s.stale {
				var err error
				r, err = h.f.ReadAt(chunk[:min(k, s.stale-at)], at)
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, fs.ToErrno(err)
				}
			}
			clear(chunk[r:]) // cut off, or past the backing file's end: zeros
		}
		done += k
	}
	return fuse.ReadResultData(out), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n := h.n
	n.r.mu.Lock()
	defer n.r.mu.Unlock()
	s, err := n.stateLocked()
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	for done := 0; done < len(data); {
		at := off + int64(done)
		p, in := at/pageSize, at%pageSize
		b, err := n.pageLocked(s, h.f, p)
		if err != nil {
			return uint32(done), fs.ToErrno(err)
		}
		done += copy(b[in:], data[done:])
	}
	s.size = max(s.size, off+int64(len(data)))
	return uint32(len(data)), 0
}

// Flush is close(2): it makes nothing durable.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *handle) Release(ctx context.Context) syscall.Errno {
	return fs.ToErrno(h.f.Close())
}
