// Package testenv says whether tests that need privileges can run here.
package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require skips a test whose environment check failed (not root, no
// /dev/fuse), saying why; under CI (JETSAM_CI set, as .ci/run does) it
// fails instead, so such a test is never silently not run.
func Require(t testing.TB, check error) {
	t.Helper()
	if check != nil {
		if os.Getenv("JETSAM_CI") != "" {
			t.Fatalf("CI must run this test: %v", check)
		}
		t.Skipf("SKIPPED: %v", check)
	}
}

// ServerSource copies the source of the nats-server module this project
// builds against from the module cache into a writable folder of the
// test's, for tests that build a changed server.
func ServerSource(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/nats-io/nats-server/v2").Output()
	Require(t, err)
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("module cache: %v %s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("cp", "-r", mod.Dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	return dst
}
