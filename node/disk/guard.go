package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// GuardCommand is the subcommand of jetsam's own binary that runs
// WaitThenUnmount.
const GuardCommand = "unmount-on-exit"

// Guard starts command with mounts as its arguments: a separate process
// that unmounts them if this one dies without doing so (a crash, a
// SIGKILL), since a FUSE mount outlives the process that serves it. It
// learns of the death from its stdin, a pipe that closes when this process
// ends. stop ends it once the mounts are gone.
func Guard(command []string, mounts []string) (stop func() error, err error) {
	if len(command) == 0 {
		return nil, errors.New("no command to guard the mounts")
	}
	cmd := exec.Command(command[0], append(append(append([]string{}, command[1:]...), GuardCommand), mounts...)...)
	// Its own process group: a Ctrl-C at the terminal must not end it
	// before this process has unmounted.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the mount guard: %w", err)
	}
	return func() error {
		w.Close()
		return cmd.Wait()
	}, nil
}

// WaitThenUnmount blocks until r ends, then detaches every one of mounts
// that is still mounted.
func WaitThenUnmount(r io.Reader, mounts []string) error {
	_, _ = io.Copy(io.Discard, r)
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// Check says why power loss cannot be injected here, or nil.
func Check() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("power loss needs FUSE, and /dev/fuse is missing: load the fuse module or run where it exists")
	}
	if os.Geteuid() != 0 {
		return errors.New("power loss mounts a FUSE filesystem, which needs root: run jetsam as root")
	}
	return nil
}
