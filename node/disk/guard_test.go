package disk

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testenv"
)

func TestMain(m *testing.M) {
	switch {
	case len(os.Args) > 1 && os.Args[1] == GuardCommand:
		if err := WaitThenUnmount(os.Stdin, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case len(os.Args) == 4 && os.Args[1] == "mount-and-hang":
		// A process that serves a mount and dies without unmounting.
		if _, err := Mount(os.Args[2], os.Args[3], 0); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		if _, err := Guard([]string{os.Args[0]}, []string{os.Args[3]}); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("mounted")
		select {}
	}
	os.Exit(m.Run())
}

// The process serving a mount is killed outright: its guard unmounts it.
func TestGuardUnmountsAfterACrash(t *testing.T) {
	testenv.Require(t, Check())
	dir := t.TempDir()
	backing, mnt := filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "mount-and-hang", backing, mnt)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "mounted\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	if !mounted(t, mnt) {
		t.Fatal("the child's mount is not in the mount table")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for mounted(t, mnt) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if mounted(t, mnt) {
		t.Fatal("the mount outlived its killed server by 10s")
	}
}
