package remote

import (
	"strings"
	"testing"
)

func TestSplitDir(t *testing.T) {
	for _, tc := range []struct{ in, base, rel string }{
		{"~/.cache/jetsam", "home", ".cache/jetsam"},
		{"~", "home", ""},
		{"~/", "home", ""},
		{"jetsam//x/", "home", "jetsam/x"},
		{"/tmp/../srv/jetsam/", "root", "srv/jetsam"},
		{"/", "root", ""},
	} {
		base, rel, err := splitDir(tc.in)
		if err != nil || base != tc.base || rel != tc.rel {
			t.Errorf("splitDir(%q) = %q, %q, %v; want %q, %q", tc.in, base, rel, err, tc.base, tc.rel)
		}
	}
	for _, in := range []string{"", "~bob/jetsam", "../jetsam", "~/../jetsam", "a\nb"} {
		if _, _, err := splitDir(in); err == nil {
			t.Errorf("splitDir(%q) accepted", in)
		}
	}
}

// chainOf builds a chain from the folder up to /, "uid mode" per folder.
func chainOf(t *testing.T, dir string, stats ...string) []dirEntry {
	t.Helper()
	c, err := parseChain(dir, stats)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJudgeDir(t *testing.T) {
	h := Host{"alice", "10.0.0.5", 22}
	const home = "/home/alice"
	inHome := func(folder, cache, homeMode, homes string) []string {
		return []string{folder, cache, homeMode, homes, "0 755"}
	}
	for _, tc := range []struct {
		name  string
		dir   string
		stats []string
		want  string // "" accepts
	}{
		{"default", home + "/.cache/jetsam", inHome("1000 700", "1000 700", "1000 750", "0 755"), ""},
		{"root owns it", home + "/.cache/jetsam", inHome("0 755", "1000 700", "1000 750", "0 755"), ""},
		{"group-writable folder", home + "/.cache/jetsam", inHome("1000 770", "1000 700", "1000 750", "0 755"),
			"host alice@10.0.0.5:22: jetsam's folder /home/alice/.cache/jetsam is unsafe: it is writable by its group or others (mode 0770), so another user could replace what jetsam runs there: run chmod go-w /home/alice/.cache/jetsam on the host, or pass another --remote-dir"},
		{"sticky folder", home + "/.cache/jetsam", inHome("1000 1777", "1000 700", "1000 750", "0 755"), "it is writable by its group or others (mode 1777)"},
		{"another's folder", home + "/.cache/jetsam", inHome("1001 700", "1000 700", "1000 750", "0 755"),
			"host alice@10.0.0.5:22: jetsam's folder /home/alice/.cache/jetsam is unsafe: it is owned by uid 1001, not by alice (uid 1000) or root, so that user could replace what jetsam runs there: make alice its owner, or pass another --remote-dir"},
		{"group-writable parent", home + "/.cache/jetsam", inHome("1000 700", "1000 775", "1000 750", "0 755"), "its parent /home/alice/.cache is writable by its group or others (mode 0775)"},
		{"group-writable home", home + "/.cache/jetsam", inHome("1000 700", "1000 700", "1000 770", "0 755"), "its parent /home/alice is writable"},
		{"another's parent", home + "/.cache/jetsam", inHome("1000 700", "1002 700", "1000 750", "0 755"), "its parent /home/alice/.cache is owned by uid 1002"},
		// Above the home is the system's: not judged.
		{"above the home", home + "/.cache/jetsam", inHome("1000 700", "1000 700", "1000 700", "1003 777"), ""},
		{"outside the home", "/srv/jetsam", []string{"1000 700", "0 755", "0 755"}, ""},
		{"group-writable parent outside the home", "/srv/jetsam", []string{"1000 700", "0 2775", "0 755"}, "its parent /srv is writable by its group or others (mode 2775)"},
		{"sticky parent", "/tmp/jetsam", []string{"1000 700", "0 1777", "0 755"}, ""},
		{"another's sticky parent", "/tmp/x/jetsam", []string{"1000 700", "1004 1777", "0 1777", "0 755"}, "its parent /tmp/x is owned by uid 1004"},
		{"writable root", "/srv/jetsam", []string{"1000 700", "0 755", "0 777"}, "its parent / is writable"},
	} {
		f := dirFacts{uid: 1000, home: home, want: tc.dir, found: tc.dir, chain: chainOf(t, tc.dir, tc.stats...)}
		err := f.judge(h, tc.dir)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case err != nil && (!strings.HasPrefix(err.Error(), "host "+h.String()+": jetsam's folder "+tc.dir+" is unsafe: ") || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: %q is not one line naming the host and the folder", tc.name, err)
		}
	}

	// A folder not made yet: its deepest existing parent is judged as a
	// parent (a sticky /tmp passes), before anything is made in it.
	tmp := dirFacts{uid: 1000, home: home, want: "/tmp/jetsam", found: "/tmp", chain: chainOf(t, "/tmp", "0 1777", "0 755")}
	if err := tmp.judgeParents(h, tmp.want); err != nil {
		t.Errorf("missing folder in /tmp: %v", err)
	}
	shared := dirFacts{uid: 1000, home: home, want: "/srv/shared/jetsam", found: "/srv/shared", chain: chainOf(t, "/srv/shared", "0 775", "0 755", "0 755")}
	if err := shared.judgeParents(h, shared.want); err == nil || !strings.Contains(err.Error(), "its parent /srv/shared is writable") {
		t.Errorf("missing folder in a group-writable folder: %v", err)
	}
	root := dirFacts{uid: 0, home: "/root", want: "/srv/j", found: "/srv/j", chain: chainOf(t, "/srv/j", "1000 700", "0 755", "0 755")}
	if err := root.judge(Host{"root", "h", 22}, "/srv/j"); err == nil || !strings.Contains(err.Error(), "owned by uid 1000, not by root, so") {
		t.Errorf("root's folder owned by another: %v", err)
	}
}

func TestParseChain(t *testing.T) {
	c, err := parseChain("/a/b", []string{"1000 700", "0 1777", "0 755"})
	if err != nil || len(c) != 3 || c[0] != (dirEntry{"/a/b", 1000, 0o700}) || c[1] != (dirEntry{"/a", 0, 0o1777}) || c[2].path != "/" {
		t.Fatalf("parseChain = %+v, %v", c, err)
	}
	for _, bad := range []struct {
		dir   string
		lines []string
	}{
		{"/a/b", []string{"1000 700", "0 755"}},
		{"/a", []string{"1000 700", "0 755", "0 755"}},
		{"a/b", []string{"1000 700", "0 755", "0 755"}},
		{"/a/../b", []string{"1000 700", "0 755", "0 755"}},
		{"/a", []string{"1000 7x0", "0 755"}},
		{"/a", []string{"x 700", "0 755"}},
	} {
		if c, err := parseChain(bad.dir, bad.lines); err == nil {
			t.Errorf("parseChain(%q, %q) = %+v", bad.dir, bad.lines, c)
		}
	}
}

func TestParseExisting(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for out, ok := range map[string]bool{
		sum + "  -\n1000 755\n1000\n": true,
		sum + "  -\n0 700\n1000\n":    true,
		sum + "  -\n1001 755\n1000\n": false, // another user's
		sum + "  -\n1000 775\n1000\n": false, // group-writable
		sum + "  -\n1000 757\n1000\n": false,
		"":                            false, // no regular file there
	} {
		got, gotOK := parseExisting(out)
		if gotOK != ok || ok && got.sum != sum {
			t.Errorf("parseExisting(%q) = %+v, %v; want ok %v", out, got, gotOK, ok)
		}
	}
}
