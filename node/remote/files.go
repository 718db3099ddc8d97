package remote

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Upload copies the local file to remote (an absolute path on the host,
// in a folder PrepareDir accepted) with the given mode, making the remote
// directory. When remote already holds the same bytes (sha256sum on the
// host) as a regular file of the SSH user's or root's that nobody else may
// write, it copies nothing and returns false, fixing the mode if it
// differs; anything else there is replaced. This runs on every upload, so
// a binary named by its checksum is checked against it before each run:
// the name alone proves nothing about the bytes.
//
// The bytes go to a fresh name of 128 random bits beside remote, created
// exclusively (the shell's noclobber opens a missing file with O_EXCL, so
// a link planted there is never followed), are checked against the local
// sha256 there, and only then renamed over remote: a half copy is never
// used, and a running binary is replaced, not rewritten.
func (c *Client) Upload(ctx context.Context, local, remote string, mode os.FileMode) (copied bool, err error) {
	f, err := os.Open(local)
	if err != nil {
		return false, fmt.Errorf("cannot upload %s to host %s: %w", local, c.host, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("cannot upload %s to host %s: %w", local, c.host, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	perm := fmt.Sprintf("%o", mode.Perm())
	q := ShellQuote(remote)
	// "<sum> - <uid> <mode> <ssh user's uid>" for a regular file, not a link.
	check := fmt.Sprintf("mkdir -p -- %s && if [ -f %s ] && [ ! -L %s ]; then sha256sum < %s && stat -c '%%u %%a' -- %s && id -u; fi",
		ShellQuote(path.Dir(remote)), q, q, q, q)
	out, err := c.Run(ctx, check)
	if err != nil {
		return false, err
	}
	if have, ok := parseExisting(string(out)); ok && have.sum == sum {
		if have.mode != perm {
			if _, err := c.Run(ctx, fmt.Sprintf("chmod %s -- %s", perm, q)); err != nil {
				return false, err
			}
		}
		return false, nil
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("cannot upload %s to host %s: %w", local, c.host, err)
	}
	tmp := ShellQuote(path.Join(path.Dir(remote), "."+path.Base(remote)+".upload-"+uploadSuffix()))
	put := fmt.Sprintf(`if [ -d %[4]s ]; then printf '%%s is a directory, not a file\n' %[4]s >&2; exit 1; fi
if [ -e %[1]s ] || [ -L %[1]s ]; then printf '%%s exists already: refusing to write through it\n' %[1]s >&2; exit 1; fi
set -C
cat > %[1]s || { rm -f -- %[1]s; exit 1; }
set -- $(sha256sum < %[1]s)
if [ "$1" != %[2]s ]; then rm -f -- %[1]s; echo "the copy arrived with sha256 $1, not %[2]s" >&2; exit 1; fi
chmod %[3]s -- %[1]s && mv -f -T -- %[1]s %[4]s || { rm -f -- %[1]s; exit 1; }`, tmp, sum, perm, q)
	if _, err := c.exec(ctx, put, f, io.Discard); err != nil {
		return false, err
	}
	return true, nil
}

// uploadSuffix names an upload's temporary file: unpredictable, so no one
// can plant anything at the name beforehand. Tests replace it.
var uploadSuffix = func() string { return rand.Text() }

// existing is a file already at an upload's destination.
type existing struct{ sum, mode string }

// parseExisting reads the check's "<sum> - <uid> <mode> <uid>": ok only for
// a file of the SSH user's or root's that nobody else may write.
func parseExisting(out string) (existing, bool) {
	f := strings.Fields(out)
	if len(f) != 5 {
		return existing{}, false
	}
	m, err := strconv.ParseUint(f[3], 8, 32)
	if err != nil || m&0o022 != 0 || (f[2] != f[4] && f[2] != "0") {
		return existing{}, false
	}
	return existing{sum: f[0], mode: f[3]}, true
}

// Platform asks the host for its system and machine (uname -s -m) as Go
// names them: "linux", "amd64".
func (c *Client) Platform(ctx context.Context) (goos, goarch string, err error) {
	out, err := c.Run(ctx, "uname -s -m")
	if err != nil {
		return "", "", err
	}
	goos, goarch, err = unamePlatform(string(out))
	if err != nil {
		return "", "", fmt.Errorf("host %s: %v: run jetsam's nodes on a Linux, macOS or BSD machine Go builds for", c.host, err)
	}
	return goos, goarch, nil
}

// FetchDir copies the host's remoteDir into localDir (made if missing),
// streamed as `tar -C remoteDir -cf - .` and unpacked here: regular files
// (with their mode and time), directories, symbolic links and hard links;
// other entries (devices, fifos) are skipped. An entry that would land
// outside localDir, or a link pointing outside it, is refused. Files that
// change while tar reads them (a node's log) are copied as they were read.
func (c *Client) FetchDir(ctx context.Context, remoteDir, localDir string) error {
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return fmt.Errorf("cannot fetch %s from host %s: %v", remoteDir, c.host, err)
	}
	// GNU tar exits 1 when a file changed as it read it, and 2 on errors.
	cmd := fmt.Sprintf("tar -C %s -cf - . ; s=$?; [ $s -le 1 ] || exit $s", ShellQuote(remoteDir))
	pr, pw := io.Pipe()
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		finished bool
		err      error
	}
	ran := make(chan result, 1)
	go func() {
		finished, err := c.exec(run, cmd, nil, pw)
		pw.CloseWithError(io.ErrUnexpectedEOF) // after all of tar's output, or none
		ran <- result{finished, err}
	}()
	untarErr := untar(pr, localDir)
	if untarErr == nil {
		_, untarErr = io.Copy(io.Discard, pr) // tar's trailing padding
		if errors.Is(untarErr, io.ErrUnexpectedEOF) {
			untarErr = nil
		}
	}
	if untarErr != nil {
		cancel() // stop tar, which nobody reads any more
	}
	pr.CloseWithError(errors.New("stopped reading"))
	r := <-ran
	var exit *ssh.ExitError
	switch {
	case ctx.Err() != nil:
		return c.stopped(cmd, ctx)
	case r.err != nil && errors.As(r.err, &exit) && exit.Signal() == "":
		return r.err // tar failed on its own: its stderr says why
	case untarErr != nil:
		return fmt.Errorf("cannot fetch %s from host %s into %s: %v", remoteDir, c.host, localDir, untarErr)
	}
	return r.err
}

// untar unpacks a tar stream into dir, refusing entries and links that
// would reach outside it. Writes go through an os.Root, so even a link
// planted by the archive cannot carry a later entry outside dir.
func untar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return errors.New("the archive is empty")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("the archive is broken (%v)", err)
		}
		name, ok := localName(hdr.Name)
		if !ok {
			return fmt.Errorf("the archive holds %q, which is outside the directory: refused", hdr.Name)
		}
		if name == "." {
			continue
		}
		if err := extract(root, tr, hdr, name); err != nil {
			return fmt.Errorf("cannot unpack %q (%v)", hdr.Name, err)
		}
	}
}

// extract writes one archive entry, named name below root.
func extract(root *os.Root, tr *tar.Reader, hdr *tar.Header, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	perm := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		if err := root.Chmod(name, perm|0o700); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := replace(root, name); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := root.Chmod(name, perm); err != nil {
			return err
		}
		_ = root.Chtimes(name, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if path.IsAbs(hdr.Linkname) || !filepath.IsLocal(path.Join(path.Dir(name), hdr.Linkname)) {
			return fmt.Errorf("it links to %q, outside the directory: refused", hdr.Linkname)
		}
		if err := replace(root, name); err != nil {
			return err
		}
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, ok := localName(hdr.Linkname)
		if !ok || target == "." {
			return fmt.Errorf("it is a hard link to %q, outside the directory: refused", hdr.Linkname)
		}
		if err := replace(root, name); err != nil {
			return err
		}
		if err := root.Link(target, name); err != nil {
			return err
		}
	}
	return nil
}

// localName cleans an archive name ("./a/b") to a path below the
// directory ("a/b"), or says it is not one.
func localName(name string) (string, bool) {
	if name == "" || path.IsAbs(name) {
		return "", false
	}
	clean := path.Clean(name)
	if clean == "." {
		return ".", true
	}
	return clean, filepath.IsLocal(clean)
}

// replace removes name if it exists and is not a directory, so it can be
// created afresh (never written through an old link).
func replace(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory here, a file in the archive", name)
	}
	return root.Remove(name)
}
