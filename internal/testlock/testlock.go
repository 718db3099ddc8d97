// Package testlock serializes tests that start clusters: `go test ./...` runs
// packages in parallel, and two clusters on two cores would starve each other
// into timeouts.
package testlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Cluster blocks until no other test process holds the cluster lock, then
// holds it until the test ends.
func Cluster(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "jetsam-cluster-tests.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("open test lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("take test lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
