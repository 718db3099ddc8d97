package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
)

func TestParseSpec(t *testing.T) {
	good := map[string]Spec{
		"embedded":                 {Kind: Embedded},
		"version:v2.12.1":          {Kind: Version, Value: "v2.12.1"},
		"version:v2.11.0-RC.1":     {Kind: Version, Value: "v2.11.0-RC.1"},
		"src:../nats-server":       {Kind: Src, Value: "../nats-server"},
		"bin:/usr/bin/nats-server": {Kind: Bin, Value: "/usr/bin/nats-server"},
	}
	for in, want := range good {
		got, err := ParseSpec(in)
		if err != nil || got != want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%+v prints as %q, want %q", got, got.String(), in)
		}
	}
	bad := map[string]string{
		"":                 "is not a server",
		"nightly":          "is not a server",
		"version:":         "is not a server",
		"version:2.12.1":   "is not a release tag",
		"version:latest":   "is not a release tag",
		"version:v1.4.0":   "is not a release tag",
		"docker:nats:2.12": "is not a server",
	}
	for in, want := range bad {
		if _, err := ParseSpec(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) error %v, want it to say %q", in, err, want)
		}
	}
}

// A folder that is not a nats-server tree, and binaries that are not a
// nats-server, are refused in one sentence.
func TestNotAServer(t *testing.T) {
	ctx := context.Background()
	o := Options{CacheDir: t.TempDir()}
	dir := t.TempDir()
	if _, err := Prepare(ctx, Spec{Kind: Src, Value: dir}, o); err == nil || !strings.Contains(err.Error(), "is not a nats-server source tree") {
		t.Errorf("empty folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	if _, err := Prepare(ctx, Spec{Kind: Src, Value: dir}, o); err == nil || !strings.Contains(err.Error(), "is not a nats-server source tree") {
		t.Errorf("another module: %v", err)
	}
	if _, err := Prepare(ctx, Spec{Kind: Bin, Value: "/bin/true"}, o); err == nil || !strings.Contains(err.Error(), "/bin/true is not a nats-server binary") {
		t.Errorf("/bin/true: %v", err)
	}
	script := filepath.Join(dir, "fake")
	os.WriteFile(script, []byte("#!/bin/sh\necho 'nats-server: v2.10.3'\n"), 0o755)
	s, err := Prepare(ctx, Spec{Kind: Bin, Value: script}, o)
	if err != nil || s.Version != "2.10.3" || !strings.HasPrefix(s.Identity, "v2.10.3 sha256:") || s.Command[0] != script {
		t.Errorf("a binary that says it is v2.10.3: %+v, %v", s, err)
	}
	if _, err := Prepare(ctx, Spec{Kind: Bin, Value: dir}, o); err == nil || !strings.Contains(err.Error(), "is not an executable file") {
		t.Errorf("a folder as a binary: %v", err)
	}
}

// A source tree's identity follows its content: outside git a hash of its
// files; in git the commit, plus a hash of uncommitted changes.
func TestTreeIdentity(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module github.com/nats-io/nats-server/v2\n")
	write("main.go", "package main\n")
	a, err := treeIdentity(ctx, dir)
	if err != nil || !strings.HasPrefix(a, "tree-") {
		t.Fatalf("identity %q, %v", a, err)
	}
	write("main.go", "package main // changed\n")
	b, _ := treeIdentity(ctx, dir)
	if b == a {
		t.Fatalf("a changed file kept the identity %s", a)
	}
	write("notes.txt", "not part of a build")
	if c, _ := treeIdentity(ctx, dir); c != b {
		t.Fatalf("a file no build reads changed the identity: %s, then %s", b, c)
	}

	_, err = exec.LookPath("git")
	testenv.Require(t, err) // fails under CI rather than skip
	gitDo := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@t", "-c", "user.name=t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitDo("init", "-q")
	gitDo("add", "-A")
	gitDo("commit", "-q", "-m", "x")
	commit := gitDo("rev-parse", "HEAD")[:12]
	if id, _ := treeIdentity(ctx, dir); id != commit {
		t.Fatalf("clean checkout: identity %q, want the commit %s", id, commit)
	}
	write("main.go", "package main // uncommitted\n")
	dirty, _ := treeIdentity(ctx, dir)
	if !strings.HasPrefix(dirty, commit+"+") {
		t.Fatalf("uncommitted change: identity %q, want %s+<hash>", dirty, commit)
	}
	write("extra.go", "package main\n")
	if u, _ := treeIdentity(ctx, dir); u == dirty {
		t.Fatalf("an untracked file kept the identity %s", u)
	}
}

// A version that does not exist is refused in one sentence; the build
// cache is left without a binary for it.
func TestVersionThatDoesNotExist(t *testing.T) {
	if _, err := goTool(); err != nil {
		testenv.Require(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cache := t.TempDir()
	_, err := Prepare(ctx, Spec{Kind: Version, Value: "v2.99.1"}, Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "nats-server version v2.99.1 does not exist") {
		t.Fatalf("error %v", err)
	}
	if exists(filepath.Join(cache, "version", "v2.99.1", "nats-server")) {
		t.Fatal("a binary was left for a version that does not exist")
	}
}

// A source tree with a deliberate change builds once, reports the build's
// identity as its commit, and comes from the cache the second time.
func TestSourceTreeBuildIsCached(t *testing.T) {
	if _, err := goTool(); err != nil {
		testenv.Require(t, err)
	}
	src := testenv.ServerSource(t)
	f := filepath.Join(src, "server", "const.go")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, append(b, []byte("\n// changed by jetsam's build test\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := Options{CacheDir: t.TempDir()}
	first, err := Prepare(ctx, Spec{Kind: Src, Value: src}, o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Prepare(ctx, Spec{Kind: Src, Value: src}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("source build %s: %.1fs, then %.3fs from the cache", first.Identity, first.BuildSeconds, second.BuildSeconds)
	if first.Cached || !second.Cached || second.Binary != first.Binary || second.Identity != first.Identity {
		t.Fatalf("first %+v, second %+v: want a build, then the same binary from the cache", first, second)
	}
	v, err := exec.Command(first.Binary, "--version").Output()
	if err != nil || !strings.HasPrefix(string(v), "nats-server: v"+first.Version) {
		t.Fatalf("built binary says %q, %v; want v%s", v, err, first.Version)
	}
	// Another change is another build.
	os.WriteFile(f, append(b, []byte("\n// changed again\n")...), 0o644)
	id, err := treeIdentity(ctx, src)
	if err != nil || id == first.Identity {
		t.Fatalf("a second change kept the identity %s (%v)", id, err)
	}
}

// A build with assertions is cached apart from the plain build of the same
// server and named apart; the embedded server and a given binary cannot
// have them.
func TestAssertionBuildsAreCachedApart(t *testing.T) {
	cache := t.TempDir()
	for _, kind := range []string{"version", "version-assertions"} {
		dir := filepath.Join(cache, kind, "v2.12.8")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nats-server"), []byte(kind), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	spec := Spec{Kind: Version, Value: "v2.12.8"}
	plain, err := Prepare(ctx, spec, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	withAsserts, err := Prepare(ctx, spec, Options{CacheDir: cache, Assertions: true})
	if err != nil {
		t.Fatal(err)
	}
	if !plain.Cached || !withAsserts.Cached || plain.Binary == withAsserts.Binary || plain.Assertions || !withAsserts.Assertions ||
		plain.Identity != "v2.12.8" || withAsserts.Identity != "v2.12.8+assertions" {
		t.Fatalf("plain %+v, with assertions %+v", plain, withAsserts)
	}
	if b, _ := os.ReadFile(withAsserts.Binary); string(b) != "version-assertions" {
		t.Fatalf("the assertions build is %s", withAsserts.Binary)
	}
	for _, s := range []Spec{{Kind: Embedded}, {Kind: Bin, Value: "/bin/true"}} {
		if _, err := Prepare(ctx, s, Options{CacheDir: cache, Assertions: true}); err == nil || !strings.Contains(err.Error(), "server assertions need a nats-server jetsam builds") {
			t.Errorf("%s with assertions: %v", s, err)
		}
	}
}
