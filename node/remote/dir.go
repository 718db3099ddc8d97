package remote

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// PrepareDir makes dir jetsam's folder on the host, safe from the host's
// other users, and returns it as an absolute path without symbolic links,
// for every later command to use (so a link swapped later is never
// followed). dir is absolute, or "~", "~/..." or relative: below the SSH
// user's home on the host ($HOME there). A missing folder is made with
// mode 0700, as are missing parents.
//
// The folder, and each parent up to the user's home when it is inside it
// (else up to /), must be owned by the SSH user or root and writable by
// nobody else: whoever may write a folder on that path may replace what is
// below it, including the binaries jetsam runs. A parent writable by others
// passes with the sticky bit (/tmp): there others cannot rename or remove
// an entry they do not own. The parents of the home are the system's: if
// others could write them, they could replace the home itself.
func (c *Client) PrepareDir(ctx context.Context, dir string) (string, error) {
	base, rel, err := splitDir(dir)
	if err != nil {
		return "", fmt.Errorf("host %s: folder %q: %w", c.host, dir, err)
	}
	out, err := c.Run(ctx, fmt.Sprintf("set -- %s %s\n", base, ShellQuote(rel))+inspectDir+dirShell+"chain \"$p\"\n")
	if err != nil {
		return "", err
	}
	f, err := parseDirFacts(string(out))
	if err != nil {
		return "", fmt.Errorf("host %s: cannot inspect folder %s: %w", c.host, dir, err)
	}
	rest, ok := strings.CutPrefix(f.want, f.found)
	if !ok {
		return "", fmt.Errorf("host %s: cannot inspect folder %s: %s is not a parent of %s", c.host, dir, f.found, f.want)
	}
	if rest = strings.Trim(rest, "/"); rest == "" {
		if err := f.judge(c.host, f.want); err != nil {
			return "", err
		}
		return f.chain[0].path, nil
	}
	// Judged before anything is made in it, so nothing is made through
	// another user's folder.
	if err := f.judgeParents(c.host, f.want); err != nil {
		return "", err
	}
	out, err = c.Run(ctx, fmt.Sprintf("umask 077; cd -P -- %s && mkdir -p -- %s && cd -P -- %s && pwd -P || exit 1\n",
		ShellQuote(f.chain[0].path), ShellQuote(rest), ShellQuote(rest))+dirShell+"chain \"$(pwd -P)\"\n")
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	made := dirFacts{uid: f.uid, home: f.home, want: f.want}
	if made.chain, err = parseChain(lines[0], lines[1:]); err != nil {
		return "", fmt.Errorf("host %s: cannot inspect folder %s: %w", c.host, dir, err)
	}
	if err := made.judge(c.host, f.want); err != nil {
		return "", err
	}
	return made.chain[0].path, nil
}

// splitDir says whether dir is below the home ("home") or / ("root"), and
// the clean path below it ("" for the base itself).
func splitDir(dir string) (base, rel string, err error) {
	switch {
	case dir == "":
		return "", "", fmt.Errorf("no folder was given: give an absolute path or one below ~")
	case strings.ContainsAny(dir, "\n\x00"):
		return "", "", fmt.Errorf("the path holds a newline or a NUL: give another folder")
	case path.IsAbs(dir):
		return "root", strings.TrimPrefix(path.Clean(dir), "/"), nil
	case dir == "~" || strings.HasPrefix(dir, "~/"):
		rel = strings.TrimPrefix(strings.TrimPrefix(dir, "~"), "/")
	case strings.HasPrefix(dir, "~"):
		return "", "", fmt.Errorf("another user's home (~user) is not supported: give an absolute path or one below ~")
	default:
		rel = dir
	}
	if rel = path.Clean(rel); rel == "." {
		rel = ""
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", fmt.Errorf("it leads out of the home with ..: give an absolute path instead")
	}
	return "home", rel, nil
}

// dirShell defines chain, which prints "uid mode" (mode in octal, with
// the sticky bit) for a folder and each of its parents up to /.
const dirShell = `chain() {
	q=$1
	while :; do
		stat -c '%u %a' -- "$q" || return 1
		[ "$q" = / ] && return 0
		q=$(dirname -- "$q")
	done
}
`

// inspectDir prints the SSH user's uid, the home (without links), the
// folder asked for, and its deepest existing folder (as given, and
// without links: $p, whose chain follows). It changes nothing.
const inspectDir = `case $HOME in /*) ;; *) printf 'HOME is %s, not an absolute path\n' "$HOME" >&2; exit 1 ;; esac
u=$(id -u) || exit 1
h=$(cd -P -- "$HOME" && pwd -P) || exit 1
if [ "$1" = home ]; then d=$HOME; else d=; fi
[ -n "$2" ] && d=$d/$2
[ -n "$d" ] || d=/
a=$d
while [ ! -d "$a" ]; do a=$(dirname -- "$a"); done
p=$(cd -P -- "$a" && pwd -P) || exit 1
printf '%s\n' "$u" "$h" "$d" "$a" "$p"
`

// dirFacts is what a host said about a folder.
type dirFacts struct {
	uid   int
	home  string     // the SSH user's home, without links
	want  string     // the folder asked for, absolute
	found string     // its deepest existing folder, as want spells it
	chain []dirEntry // that folder without links, then each parent up to /
}

type dirEntry struct {
	path string
	uid  int
	mode uint32 // permission bits and the sticky bit
}

func parseDirFacts(out string) (dirFacts, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 6 {
		return dirFacts{}, fmt.Errorf("the host answered %q", out)
	}
	uid, err := strconv.Atoi(lines[0])
	if err != nil {
		return dirFacts{}, fmt.Errorf("id -u printed %q", lines[0])
	}
	f := dirFacts{uid: uid, home: lines[1], want: lines[2], found: lines[3]}
	f.chain, err = parseChain(lines[4], lines[5:])
	return f, err
}

// parseChain pairs the folders from dir up to / with chain's lines.
func parseChain(dir string, lines []string) ([]dirEntry, error) {
	if !path.IsAbs(dir) || path.Clean(dir) != dir {
		return nil, fmt.Errorf("the folder's path %q is not absolute and clean", dir)
	}
	var out []dirEntry
	for p := dir; ; p = path.Dir(p) {
		if len(out) == len(lines) {
			return nil, fmt.Errorf("stat printed %d lines for the folders from %s up to /", len(lines), dir)
		}
		var e dirEntry
		var mode string
		if _, err := fmt.Sscanf(lines[len(out)], "%d %s", &e.uid, &mode); err != nil {
			return nil, fmt.Errorf("stat printed %q for %s", lines[len(out)], p)
		}
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("stat printed mode %q for %s", mode, p)
		}
		e.path, e.mode = p, uint32(m)
		out = append(out, e)
		if p == "/" && len(out) == len(lines) {
			return out, nil
		}
		if p == "/" {
			return nil, fmt.Errorf("stat printed %d lines for the %d folders from %s up to /", len(lines), len(out), dir)
		}
	}
}

// judge refuses the folder (chain[0]) or a parent that another user could
// write; want is the folder as asked for, for the message.
func (f dirFacts) judge(h Host, want string) error { return f.judgeChain(h, want, true) }

// judgeParents judges chain[0] (the deepest existing parent of a folder
// not yet made) and its parents.
func (f dirFacts) judgeParents(h Host, want string) error { return f.judgeChain(h, want, false) }

// judgeChain judges the chain from chain[0] up to the home, or up to /
// when chain[0] is outside the home; withFolder says chain[0] is the
// folder itself, which may not be writable by others even when sticky.
func (f dirFacts) judgeChain(h Host, want string, withFolder bool) error {
	top := "/"
	if within(f.chain[0].path, f.home) {
		top = f.home
	}
	for i, e := range f.chain {
		what := "its parent " + e.path
		if withFolder && i == 0 {
			what = "it"
		}
		if e.uid != f.uid && e.uid != 0 {
			return fmt.Errorf("host %s: jetsam's folder %s is unsafe: %s is owned by uid %d, not by %s, so that user could replace what jetsam runs there: make %s its owner, or pass another --remote-dir",
				h, want, what, e.uid, f.user(h), h.User)
		}
		sticky := e.mode&0o1000 != 0 && !(withFolder && i == 0)
		if e.mode&0o022 != 0 && !sticky {
			return fmt.Errorf("host %s: jetsam's folder %s is unsafe: %s is writable by its group or others (mode %04o), so another user could replace what jetsam runs there: run chmod go-w %s on the host, or pass another --remote-dir",
				h, want, what, e.mode, ShellQuote(e.path))
		}
		if e.path == top {
			return nil
		}
	}
	return nil
}

// user names the owners a folder may have, for a message.
func (f dirFacts) user(h Host) string {
	if f.uid == 0 {
		return "root"
	}
	return fmt.Sprintf("%s (uid %d) or root", h.User, f.uid)
}

// within says whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
