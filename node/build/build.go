// Package build prepares the nats-server that a run's nodes execute: the
// one embedded in jetsam, a released version built from the Go module
// proxy, a local source tree, or a binary someone else built. Builds are
// cached, so the second run of the same server starts at once.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Kinds of server.
const (
	Embedded = "embedded"
	Version  = "version"
	Src      = "src"
	Bin      = "bin"
)

// Spec names a server: Kind is one of the kinds above, Value the version,
// the source folder or the binary (empty for Embedded).
type Spec struct {
	Kind  string `json:"kind"`
	Value string `json:"value,omitempty"`
}

func (s Spec) String() string {
	if s.Kind == Embedded || s.Kind == "" {
		return Embedded
	}
	return s.Kind + ":" + s.Value
}

// ParseSpec reads "embedded", "version:v2.12.1", "src:PATH" or "bin:PATH".
func ParseSpec(s string) (Spec, error) {
	if s == Embedded {
		return Spec{Kind: Embedded}, nil
	}
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" || (kind != Version && kind != Src && kind != Bin) {
		return Spec{}, fmt.Errorf("%q is not a server: use embedded, version:vX.Y.Z, src:PATH or bin:PATH", s)
	}
	sp := Spec{Kind: kind, Value: value}
	if kind == Version {
		if err := checkVersion(value); err != nil {
			return Spec{}, err
		}
	}
	return sp, nil
}

var versionRe = regexp.MustCompile(`^v2\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$`)

func checkVersion(v string) error {
	if !versionRe.MatchString(v) {
		return fmt.Errorf("nats-server version %q is not a release tag like v2.12.1", v)
	}
	return nil
}

// Server is a prepared server: how to run one node, and what it is.
type Server struct {
	Spec Spec `json:"spec"`
	// Command runs one node; "--config FILE" is appended.
	Command []string `json:"-"`
	// Binary is the executable (jetsam itself for the embedded server).
	Binary string `json:"binary"`
	// Version is the version the server claims ("2.12.8"), before any
	// node reports it.
	Version string `json:"version"`
	// Identity names the exact build: a version, a commit plus a hash of
	// uncommitted changes, or a binary's checksum.
	Identity string `json:"identity"`
	// Cached: the build was already there.
	Cached bool `json:"cached,omitempty"`
	// BuildSeconds is how long preparing it took.
	BuildSeconds float64 `json:"build_seconds"`
	// Assertions: built with AssertionsTag, so its nodes write the
	// Antithesis SDK assertions they evaluate.
	Assertions bool `json:"assertions,omitempty"`
}

// AssertionsTag is the Go build tag that compiles nats-server's Antithesis
// SDK assertions in. Without the SDK's native library they are written as
// JSON lines to the file node.AssertionsEnv names.
const AssertionsTag = "enable_antithesis_sdk"

// Options are where builds go and what builds them.
type Options struct {
	// CacheDir holds built servers (default: $JETSAM_CACHE/nats-server,
	// or the user cache dir's jetsam/nats-server).
	CacheDir string
	// Self runs this binary's embedded node ("jetsam node").
	Self []string
	// EmbeddedVersion is the embedded server's version.
	EmbeddedVersion string
	// Log, if set, hears about a build that takes a while.
	Log func(format string, args ...any)
	// Assertions builds with AssertionsTag, cached apart from plain
	// builds; only a version or a source tree can be built so.
	Assertions bool
}

// cacheKind is the cache folder of a kind of build: plain and assertion
// builds of one server never share a binary.
func (o Options) cacheKind(kind string) string {
	if o.Assertions {
		return kind + "-assertions"
	}
	return kind
}

// tagArgs are the go command's arguments for the build tags.
func (o Options) tagArgs() []string {
	if o.Assertions {
		return []string{"-tags", AssertionsTag}
	}
	return nil
}

// identity names a build of id, marking one with assertions.
func (o Options) identity(id string) string {
	if o.Assertions {
		return id + "+assertions"
	}
	return id
}

// DefaultCacheDir is where builds are kept unless told otherwise.
func DefaultCacheDir() string {
	if d := os.Getenv("JETSAM_CACHE"); d != "" {
		return filepath.Join(d, "nats-server")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "jetsam", "nats-server")
	}
	return filepath.Join(os.TempDir(), "jetsam-cache", "nats-server")
}

// Prepare returns a runnable server for spec, building it if it is not
// cached. Every error is one sentence a user can act on.
func Prepare(ctx context.Context, spec Spec, o Options) (*Server, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Assertions && (spec.Kind == Embedded || spec.Kind == Bin || spec.Kind == "") {
		return nil, fmt.Errorf("server assertions need a nats-server jetsam builds: use --server-version or --server-src, not the %s server", spec.String())
	}
	began := time.Now()
	var s *Server
	var err error
	switch spec.Kind {
	case Embedded, "":
		s = &Server{Spec: Spec{Kind: Embedded}, Command: o.Self, Version: o.EmbeddedVersion, Identity: "v" + o.EmbeddedVersion + " (embedded)", Cached: true}
		if len(o.Self) > 0 {
			s.Binary = o.Self[0]
		}
	case Version:
		s, err = prepareVersion(ctx, spec, o)
	case Src:
		s, err = prepareSrc(ctx, spec, o)
	case Bin:
		s, err = prepareBin(ctx, spec)
	default:
		err = fmt.Errorf("unknown server kind %q", spec.Kind)
	}
	if err != nil {
		return nil, err
	}
	s.BuildSeconds = time.Since(began).Seconds()
	s.Assertions = o.Assertions
	return s, nil
}

func prepareVersion(ctx context.Context, spec Spec, o Options) (*Server, error) {
	if err := checkVersion(spec.Value); err != nil {
		return nil, err
	}
	dir := filepath.Join(o.CacheDir, o.cacheKind("version"), spec.Value)
	bin := filepath.Join(dir, "nats-server")
	s := &Server{Spec: spec, Binary: bin, Command: []string{bin}, Version: strings.TrimPrefix(spec.Value, "v"), Identity: o.identity(spec.Value)}
	return s, cachedBuild(s, dir, "nats-server "+spec.Value, func(goBin string) error {
		return buildVersion(ctx, goBin, spec.Value, dir, bin, o)
	})
}

func buildVersion(ctx context.Context, goBin, version, dir, bin string, o Options) error {
	o.Log("jetsam: building nats-server %s from the Go module proxy (once; cached in %s)", version, dir)
	tmp, err := os.MkdirTemp(dir, ".gobin-")
	if err != nil {
		return fmt.Errorf("cannot write the build cache %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	// go install of module@version builds in a temporary module of Go's own,
	// with the release's own go.mod, so its dependency pins apply.
	args := append(append([]string{"install", "-trimpath"}, o.tagArgs()...), "-ldflags", "-s -w", "github.com/nats-io/nats-server/v2@"+version)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(buildEnv(), "GOBIN="+tmp)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("building nats-server %s was interrupted", version)
		}
		msg := lastLines(out, 3)
		if strings.Contains(msg, "unknown revision") || strings.Contains(msg, "not available") || strings.Contains(msg, "invalid version") || strings.Contains(msg, "no matching versions") || strings.Contains(msg, "not found") {
			return fmt.Errorf("nats-server version %s does not exist (go install said: %s): pick a released tag", version, msg)
		}
		return fmt.Errorf("could not build nats-server %s: %s", version, msg)
	}
	if err := os.Rename(filepath.Join(tmp, "nats-server"), bin); err != nil {
		return fmt.Errorf("could not keep the built nats-server %s: %w", version, err)
	}
	return nil
}

// cachedBuild fills s from the cache, or builds it there once: under a
// lock, so a second jetsam waits and then finds the first one's build.
func cachedBuild(s *Server, dir, what string, build func(goBin string) error) error {
	if exists(s.Binary) {
		s.Cached = true
		return nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if exists(s.Binary) { // built by another jetsam while this one waited
		s.Cached = true
		return nil
	}
	goBin, err := goTool()
	if err != nil {
		return fmt.Errorf("building %s needs %w", what, err)
	}
	return build(goBin)
}

// gitCommitVar is the nats-server variable its own builds inject the commit
// into; a source build puts its identity there, so the servers report it.
const gitCommitVar = "github.com/nats-io/nats-server/v2/server.gitCommit"

func prepareSrc(ctx context.Context, spec Spec, o Options) (*Server, error) {
	root, err := filepath.Abs(spec.Value)
	if err != nil {
		return nil, err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(firstLine(gomod), []byte("github.com/nats-io/nats-server/v2")) || !exists(filepath.Join(root, "main.go")) {
		return nil, fmt.Errorf("%s is not a nats-server source tree (it needs a go.mod of module github.com/nats-io/nats-server/v2 and main.go): give the root of a nats-server checkout", spec.Value)
	}
	version, err := sourceVersion(root)
	if err != nil {
		return nil, err
	}
	id, err := treeIdentity(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("cannot identify the tree %s: %w", spec.Value, err)
	}
	dir := filepath.Join(o.CacheDir, o.cacheKind("src"), id)
	bin := filepath.Join(dir, "nats-server")
	s := &Server{Spec: Spec{Kind: Src, Value: root}, Binary: bin, Command: []string{bin}, Version: version, Identity: o.identity(id)}
	return s, cachedBuild(s, dir, spec.Value, func(goBin string) error {
		return buildSrc(ctx, goBin, spec.Value, root, id, bin, o)
	})
}

func buildSrc(ctx context.Context, goBin, name, root, id, bin string, o Options) error {
	dir := filepath.Dir(bin)
	o.Log("jetsam: building nats-server from %s (build %s, cached in %s)", root, id, dir)
	tmp := bin + ".tmp"
	args := append(append([]string{"build", "-trimpath", "-buildvcs=false"}, o.tagArgs()...), "-ldflags", "-s -w -X "+gitCommitVar+"="+id, "-o", tmp, ".")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = buildEnv()
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		if ctx.Err() != nil {
			return fmt.Errorf("building %s was interrupted", name)
		}
		return fmt.Errorf("could not build the nats-server tree %s: %s", name, lastLines(out, 5))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return fmt.Errorf("could not keep the built nats-server: %w", err)
	}
	return nil
}

var binVersionRe = regexp.MustCompile(`^nats-server: v(\S+)`)

func prepareBin(ctx context.Context, spec Spec) (*Server, error) {
	bin, err := filepath.Abs(spec.Value)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file: give the path of a nats-server binary", spec.Value)
	}
	v, err := binaryVersion(ctx, bin)
	if err != nil {
		return nil, err
	}
	sum, err := fileSum(bin)
	if err != nil {
		return nil, err
	}
	return &Server{Spec: Spec{Kind: Bin, Value: bin}, Binary: bin, Command: []string{bin}, Version: v, Identity: "v" + v + " sha256:" + sum[:12], Cached: true}, nil
}

// binaryVersion asks a binary what nats-server it is.
func binaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	m := binVersionRe.FindSubmatch(bytes.TrimSpace(out))
	if m == nil {
		return "", fmt.Errorf("%s is not a nats-server binary: '%s --version' printed %q, not \"nats-server: vX.Y.Z\"", bin, filepath.Base(bin), lastLines(out, 1))
	}
	return string(m[1]), nil
}

var sourceVersionRe = regexp.MustCompile(`VERSION\s*=\s*"([^"]+)"`)

// sourceVersion reads the VERSION constant of a nats-server tree.
func sourceVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "server", "const.go"))
	if err != nil {
		return "", fmt.Errorf("%s is not a nats-server source tree (no server/const.go): give the root of a nats-server checkout", root)
	}
	m := sourceVersionRe.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s/server/const.go names no VERSION: is it a nats-server tree?", root)
	}
	return string(m[1]), nil
}

// treeIdentity names a source tree's exact state: in a git checkout the
// commit, plus a hash of the uncommitted changes and untracked files when
// there are any; outside git a hash of every file that goes into a build.
func treeIdentity(ctx context.Context, root string) (string, error) {
	if commit, err := git(ctx, root, "rev-parse", "HEAD"); err == nil {
		commit = strings.TrimSpace(commit)
		if len(commit) > 12 {
			commit = commit[:12]
		}
		diff, err := git(ctx, root, "diff", "HEAD", "--binary")
		if err != nil {
			return "", err
		}
		untracked, err := git(ctx, root, "ls-files", "--others", "--exclude-standard", "-z")
		if err != nil {
			return "", err
		}
		if diff == "" && untracked == "" {
			return commit, nil
		}
		h := sha256.New()
		io.WriteString(h, diff)
		for _, f := range strings.Split(strings.TrimRight(untracked, "\x00"), "\x00") {
			if err := hashFile(h, root, f); err != nil {
				return "", err
			}
		}
		return commit + "+" + hex.EncodeToString(h.Sum(nil))[:8], nil
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		if err := hashFile(h, root, f); err != nil {
			return "", err
		}
	}
	return "tree-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

func hashFile(h io.Writer, root, rel string) error {
	if rel == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(h, "%s\x00", rel)
	_, err = io.Copy(h, f)
	return err
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.Output()
	return string(out), err
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goTool finds the go command.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/local/go/bin/go", filepath.Join(os.Getenv("HOME"), "go", "bin", "go")} {
		if exists(p) {
			return p, nil
		}
	}
	return "", errors.New("the go command, which is not on PATH: install Go, or build nats-server yourself and pass --server-bin")
}

// buildEnv builds static binaries that run on any host of the platform.
func buildEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0")
}

// lockDir makes dir and holds an exclusive lock on it until unlock, so two
// jetsams never build the same server at once.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot write the build cache %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot write the build cache %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock the build cache %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func exists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func firstLine(b []byte) []byte {
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && !bytes.HasPrefix(l, []byte("//")) {
			return l
		}
	}
	return nil
}

// lastLines is the last n non-empty lines of a command's output, joined.
func lastLines(out []byte, n int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	if len(keep) == 0 {
		return "nothing"
	}
	return strings.Join(keep, "; ")
}
