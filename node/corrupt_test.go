package node

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestFileTypes(t *testing.T) {
	for rel, want := range map[string]string{
		"jetstream/$G/streams/s/msgs/1.blk":             FileBlk,
		"jetstream/$G/streams/s/msgs/index.db":          FileIdx,
		"jetstream/$G/streams/s/meta.inf":               FileMeta,
		"jetstream/$G/streams/s/meta.sum":               FileMeta,
		"jetstream/$SYS/_js_/_meta_/snapshots/snap.2.5": FileSnap,
		"jetstream/$SYS/_js_/S-R3F-x/msgs/1.blk":        FileRaftLog,
		"jetstream/$SYS/_js_/S-R3F-x/tav.idx":           FileRaftState,
		"jetstream/$SYS/_js_/_meta_/peers.idx":          FileRaftState,
		"jetstream/$G/streams/s/obs/c/o.dat":            "",
	} {
		if got := fileType(rel); got != want {
			t.Errorf("%s: type %q, want %q", rel, got, want)
		}
	}
}

// Every mode changes the file it names exactly as recorded.
func TestCorruptRecordsWhatItChanged(t *testing.T) {
	for seed := range uint64(30) {
		dir := t.TempDir()
		n := &Node{Spec: Spec{Name: "n1", Dir: dir}}
		blk := filepath.Join(n.Spec.DataDir(), "jetstream/$G/streams/s/msgs/1.blk")
		if err := os.MkdirAll(filepath.Dir(blk), 0o755); err != nil {
			t.Fatal(err)
		}
		orig := bytes.Repeat([]byte("0123456789abcdef"), 700)
		if err := os.WriteFile(blk, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := n.Corrupt(rand.New(rand.NewPCG(seed, 7)), []string{FileBlk})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(blk)
		if c.File != "jetstream/$G/streams/s/msgs/1.blk" || c.Size != int64(len(orig)) {
			t.Fatalf("record %+v", c)
		}
		switch c.Mode {
		case CorruptTruncate:
			if int64(len(got)) != c.Offset || c.Length != c.Size-c.Offset {
				t.Fatalf("truncate %+v left %d bytes", c, len(got))
			}
		case CorruptBitflip, CorruptZero:
			if len(got) != len(orig) || bytes.Equal(got, orig) && c.Mode == CorruptBitflip {
				t.Fatalf("%s %+v changed nothing", c.Mode, c)
			}
			for i := range got {
				inside := int64(i) >= c.Offset && int64(i) < c.Offset+c.Length
				if got[i] != orig[i] && !inside {
					t.Fatalf("%s %+v changed byte %d outside its range", c.Mode, c, i)
				}
			}
			if after := hex.EncodeToString(got[c.Offset:min(c.Offset+16, c.Offset+c.Length)]); after != c.After {
				t.Fatalf("recorded after %s, file has %s", c.After, after)
			}
		}
	}
	n := &Node{Spec: Spec{Name: "n1", Dir: t.TempDir()}}
	if _, err := n.Corrupt(rand.New(rand.NewPCG(1, 1)), []string{FileSnap}); err == nil {
		t.Fatal("corrupted a snapshot in a data dir that has none")
	}
}
