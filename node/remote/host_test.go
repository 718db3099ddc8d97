package remote

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestParseHost(t *testing.T) {
	good := []struct {
		in   string
		want Host
	}{
		{"root@10.0.0.5", Host{"root", "10.0.0.5", 22}},
		{"ubuntu@node1:2222", Host{"ubuntu", "node1", 2222}},
		{"  root@node1:22 ", Host{"root", "node1", 22}},
		{"root@[fd00::5]:2200", Host{"root", "fd00::5", 2200}},
		{"root@[fd00::5]", Host{"root", "fd00::5", 22}},
		{"root@fd00::5", Host{"root", "fd00::5", 22}},
		{"ad.user@corp@host.example", Host{"ad.user@corp", "host.example", 22}},
		{"root@h:65535", Host{"root", "h", 65535}},
	}
	for _, tc := range good {
		got, err := ParseHost(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if again, err := ParseHost(got.String()); err != nil || again != got {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v back", got.String(), again, err, got)
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty host"},
		{"10.0.0.5", "names no user"},
		{"10.0.0.5:22", "names no user"},
		{"@10.0.0.5", "empty user"},
		{"root@", "no address after the @"},
		{"root@:22", "no address before its port"},
		{"root@h:0", `port "0"`},
		{"root@h:65536", `port "65536"`},
		{"root@h:ssh", `port "ssh"`},
		{"root@h:", `port ""`},
		{"root@[fd00::5", "does not close"},
		{"root@[fd00::5]22", `"22" after its ]`},
		{"root@[node1]:22", "not an IP address"},
		{"root@a:b:c", "more than one colon"},
		{"root@h/x", "space or a slash"},
		{"ro ot@h", "space or a slash"},
	}
	for _, tc := range bad {
		_, err := ParseHost(tc.in)
		if err == nil {
			t.Errorf("ParseHost(%q) accepted", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("ParseHost(%q): %q, want one line with %q", tc.in, msg, tc.want)
		}
		if tc.in != "" && !strings.Contains(msg, strings.TrimSpace(tc.in)) {
			t.Errorf("ParseHost(%q): %q does not quote the input", tc.in, msg)
		}
	}
}

func TestHostString(t *testing.T) {
	for h, want := range map[Host]string{
		{"root", "10.0.0.5", 22}:  "root@10.0.0.5:22",
		{"root", "fd00::5", 2200}: "root@[fd00::5]:2200",
	} {
		if h.String() != want {
			t.Errorf("%+v.String() = %q, want %q", h, h.String(), want)
		}
	}
}

func TestReadHostsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("ok", "# the lab\n\nroot@10.0.0.1\n  root@10.0.0.2:2222  # the second\n\t\nubuntu@[fd00::3]\n#root@10.0.0.4\n")
	hosts, err := ReadHostsFile(p)
	want := []Host{{"root", "10.0.0.1", 22}, {"root", "10.0.0.2", 2222}, {"ubuntu", "fd00::3", 22}}
	if err != nil || len(hosts) != len(want) {
		t.Fatalf("ReadHostsFile = %v, %v; want %v", hosts, err, want)
	}
	for i := range want {
		if hosts[i] != want[i] {
			t.Errorf("host %d = %+v, want %+v", i, hosts[i], want[i])
		}
	}

	for _, tc := range []struct{ name, content, want string }{
		{"dup", "root@10.0.0.1\n# x\nadmin@10.0.0.1:22\n", "line 3: 10.0.0.1:22 is already on line 1"},
		{"dupcase", "root@Node1\nroot@node1\n", "line 2: node1:22 is already on line 1"},
		{"bad", "root@10.0.0.1\n\n10.0.0.2\n", "line 3: host \"10.0.0.2\" names no user"},
		{"empty", "# nothing\n\n", "lists no hosts"},
	} {
		p := write(tc.name, tc.content)
		_, err := ReadHostsFile(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming %s with %q", tc.name, err, p, tc.want)
		}
	}
	// Another user on the same address and port is not a duplicate by
	// accident: it is the same machine.
	if _, err := ReadHostsFile(write("ports", "root@10.0.0.1:22\nroot@10.0.0.1:2222\n")); err != nil {
		t.Errorf("two ports of one address: %v", err)
	}
	if _, err := ReadHostsFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckPlatform(t *testing.T) {
	h := Host{"root", "10.0.0.1", 22}
	if err := CheckPlatform(h, runtime.GOOS, runtime.GOARCH); err != nil {
		t.Errorf("own platform: %v", err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	err := CheckPlatform(h, "linux", other)
	want := "host root@10.0.0.1:22 runs linux/" + other + " but this jetsam is built for " + runtime.GOOS + "/" + runtime.GOARCH +
		": build jetsam for that platform (GOOS=linux GOARCH=" + other + " go build ./cmd/jetsam)"
	if err == nil || err.Error() != want {
		t.Errorf("CheckPlatform = %v\nwant %s", err, want)
	}
	if CheckPlatform(h, "darwin", runtime.GOARCH) == nil && runtime.GOOS != "darwin" {
		t.Errorf("another GOOS accepted")
	}
}

func TestUnamePlatform(t *testing.T) {
	for in, want := range map[string][2]string{
		"Linux x86_64\n":    {"linux", "amd64"},
		"Linux aarch64\n":   {"linux", "arm64"},
		"Linux armv7l\n":    {"linux", "arm"},
		"Linux armv6l":      {"linux", "arm"},
		"Linux i686":        {"linux", "386"},
		"Linux riscv64":     {"linux", "riscv64"},
		"Linux ppc64le":     {"linux", "ppc64le"},
		"Linux s390x":       {"linux", "s390x"},
		"Linux loongarch64": {"linux", "loong64"},
		"Darwin arm64":      {"darwin", "arm64"},
		"Darwin x86_64":     {"darwin", "amd64"},
		"FreeBSD amd64":     {"freebsd", "amd64"},
		"OpenBSD arm64":     {"openbsd", "arm64"},
	} {
		goos, goarch, err := unamePlatform(in)
		if err != nil || goos != want[0] || goarch != want[1] {
			t.Errorf("unamePlatform(%q) = %s/%s, %v; want %s/%s", in, goos, goarch, err, want[0], want[1])
		}
	}
	for _, in := range []string{"", "Linux", "Plan9 x86_64", "Linux vax", "MINGW64_NT-10.0 x86_64"} {
		if goos, goarch, err := unamePlatform(in); err == nil {
			t.Errorf("unamePlatform(%q) = %s/%s, want an error", in, goos, goarch)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      "plain",
		"it's":       `'it'\''s'`,
		"a b;$(x)`y": "'a b;$(x)`y'",
		"":           "''",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

type entry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

func archive(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: mode, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestUntar(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An old file where the archive has a link is replaced, not written
	// through.
	if err := os.WriteFile(filepath.Join(dir, "l"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := untar(archive(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./a/", typ: tar.TypeDir, mode: 0o750},
		entry{name: "./a/f", typ: tar.TypeReg, body: "hello", mode: 0o640},
		entry{name: "./bin/x", typ: tar.TypeReg, body: "#!/bin/sh", mode: 0o755},
		entry{name: "./l", typ: tar.TypeSymlink, link: "a/f"},
		entry{name: "./a/up", typ: tar.TypeSymlink, link: "../bin/x"},
		entry{name: "./h", typ: tar.TypeLink, link: "./a/f"},
		entry{name: "./fifo", typ: tar.TypeFifo},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a/f": "hello", "l": "hello", "h": "hello", "a/up": "#!/bin/sh"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/x")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/x: %v, %v; want mode 0755", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/f")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("a/f: %v, %v; want mode 0640", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "l")); err != nil || l != "a/f" {
		t.Errorf("l links to %q, %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "fifo")); err == nil {
		t.Errorf("a fifo was made")
	}

	for name, entries := range map[string][]entry{
		"dotdot":          {{name: "../evil", typ: tar.TypeReg, body: "x"}},
		"absolute":        {{name: "/tmp/evil", typ: tar.TypeReg, body: "x"}},
		"inner dotdot":    {{name: "a/../../evil", typ: tar.TypeReg, body: "x"}},
		"symlink out":     {{name: "l2", typ: tar.TypeSymlink, link: "../evil"}},
		"symlink abs":     {{name: "l3", typ: tar.TypeSymlink, link: "/etc/passwd"}},
		"hard link out":   {{name: "h2", typ: tar.TypeLink, link: "../evil"}},
		"through a link":  {{name: "s", typ: tar.TypeSymlink, link: "."}, {name: "s/p", typ: tar.TypeSymlink, link: ".."}, {name: "s/p/evil", typ: tar.TypeReg, body: "x"}},
		"empty archive":   {},
		"dir over a file": {{name: "f", typ: tar.TypeDir}, {name: "f/g", typ: tar.TypeReg}, {name: "f", typ: tar.TypeReg}},
	} {
		out := filepath.Join(t.TempDir(), "out")
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		err := untar(archive(t, entries...), out)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, statErr := os.Lstat(filepath.Join(filepath.Dir(out), "evil")); statErr == nil {
			t.Errorf("%s: wrote outside the directory (%v)", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// The handshake asks only for the key types known_hosts has for the host.
func TestHostKeyAlgorithms(t *testing.T) {
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	edKey, _ := ssh.NewPublicKey(ed)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ssh.NewPublicKey(&ec.PublicKey)
	path := filepath.Join(t.TempDir(), "known_hosts")
	lines := knownhosts.Line([]string{"10.0.0.1"}, ecKey) + "\n" +
		knownhosts.Line([]string{"10.0.0.1", "[10.0.0.2]:2222"}, edKey) + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[Host]string{
		{"root", "10.0.0.1", 22}:   "ecdsa-sha2-nistp256 ssh-ed25519",
		{"root", "10.0.0.2", 2222}: "ssh-ed25519",
		{"root", "10.0.0.2", 22}:   "",
	} {
		k := &hostKeyCheck{h: h}
		if err := k.load(path); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(k.algorithms(), " "); got != want {
			t.Errorf("%v: algorithms %q, want %q", h, got, want)
		}
	}
}
