package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// File types a corruption can aim at, by what JetStream keeps in them.
const (
	FileBlk       = "blk"        // a stream's message blocks (msgs/N.blk)
	FileIdx       = "idx"        // a stream's index (msgs/index.db)
	FileMeta      = "meta"       // a stream's config and its checksum (meta.inf, meta.sum)
	FileSnap      = "snap"       // raft snapshots
	FileRaftLog   = "raft-log"   // raft logs (a group's msgs/ blocks and index)
	FileRaftState = "raft-state" // raft term, vote, peers and commit (tav.idx, peers.idx, commit.idx, meta.*)
)

// FileTypes lists every file type.
var FileTypes = []string{FileBlk, FileIdx, FileMeta, FileSnap, FileRaftLog, FileRaftState}

// Corruption modes.
const (
	CorruptBitflip  = "bitflip"  // flip a few bits
	CorruptTruncate = "truncate" // cut the file short
	CorruptZero     = "zero"     // overwrite a chunk with zeros
)

// Corruption is exactly what was done to one file.
type Corruption struct {
	File   string // relative to the node's data dir
	Mode   string
	Offset int64
	Length int64  // bytes changed, or cut off by a truncate
	Before string // hex of the first changed bytes (up to 16)
	After  string
	Size   int64 // the file's size before
}

// Params writes c as fault parameters, each key prefixed.
func (c Corruption) Params(prefix string) map[string]string {
	return map[string]string{
		prefix + "file": c.File, prefix + "mode": c.Mode, prefix + "offset": strconv.FormatInt(c.Offset, 10),
		prefix + "length": strconv.FormatInt(c.Length, 10), prefix + "before": c.Before, prefix + "after": c.After,
		prefix + "size": strconv.FormatInt(c.Size, 10),
	}
}

// fileType names the type of a file below the data dir, or "".
func fileType(rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	base := parts[len(parts)-1]
	raft := slices.Contains(parts, "_js_")
	inMsgs := len(parts) > 1 && parts[len(parts)-2] == "msgs"
	switch {
	case raft && slices.Contains(parts, "snapshots"):
		return FileSnap
	case raft && inMsgs:
		return FileRaftLog
	case raft:
		return FileRaftState
	case inMsgs && strings.HasSuffix(base, ".blk"):
		return FileBlk
	case inMsgs && base == "index.db":
		return FileIdx
	case base == "meta.inf" || base == "meta.sum":
		return FileMeta
	}
	return ""
}

// Corrupt changes one non-empty file of the given types in the node's data
// dir, drawn with rng, in a mode drawn with rng. The node must be down.
func (n *Node) Corrupt(rng *rand.Rand, types []string) (Corruption, error) {
	if n.Running() {
		return Corruption{}, fmt.Errorf("node %s is running: corrupt only a node that is down", n.Spec.Name)
	}
	root := n.Spec.DataDir()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if info, err := d.Info(); err == nil && info.Size() > 0 && slices.Contains(types, fileType(rel)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return Corruption{}, fmt.Errorf("node %s: %w", n.Spec.Name, err)
	}
	if len(files) == 0 {
		return Corruption{}, fmt.Errorf("node %s has no non-empty %s file", n.Spec.Name, strings.Join(types, " or "))
	}
	slices.Sort(files)
	rel := files[rng.IntN(len(files))]
	mode := []string{CorruptBitflip, CorruptTruncate, CorruptZero}[rng.IntN(3)]
	return corruptFile(filepath.Join(root, rel), rel, mode, rng)
}

func corruptFile(path, rel, mode string, rng *rand.Rand) (Corruption, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Corruption{}, err
	}
	size := int64(len(b))
	if size == 0 {
		return Corruption{}, errors.New("empty file")
	}
	c := Corruption{File: rel, Mode: mode, Size: size, Offset: rng.Int64N(size)}
	snippet := func(b []byte) string { return hex.EncodeToString(b[:min(len(b), 16)]) }
	switch mode {
	case CorruptTruncate:
		c.Length = size - c.Offset
		c.Before = snippet(b[c.Offset:])
		if err := os.Truncate(path, c.Offset); err != nil {
			return Corruption{}, err
		}
		return c, nil
	case CorruptBitflip:
		c.Length = min(size-c.Offset, 8)
		c.Before = snippet(b[c.Offset : c.Offset+c.Length])
		// At least one bit in the chunk flips.
		chunk := b[c.Offset : c.Offset+c.Length]
		chunk[0] ^= 1 << rng.IntN(8)
		for i := range chunk[1:] {
			if rng.IntN(4) == 0 {
				chunk[1+i] ^= 1 << rng.IntN(8)
			}
		}
	case CorruptZero:
		c.Length = min(size-c.Offset, 1+rng.Int64N(4096))
		c.Before = snippet(b[c.Offset : c.Offset+c.Length])
		clear(b[c.Offset : c.Offset+c.Length])
	default:
		return Corruption{}, fmt.Errorf("unknown corruption mode %q", mode)
	}
	c.After = snippet(b[c.Offset : c.Offset+c.Length])
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return Corruption{}, err
	}
	defer f.Close()
	if _, err := f.WriteAt(b[c.Offset:c.Offset+c.Length], c.Offset); err != nil {
		return Corruption{}, err
	}
	return c, f.Sync()
}
