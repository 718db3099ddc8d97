// Package testenv says whether tests that need privileges can run here.
package testenv

import (
	"os"
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
