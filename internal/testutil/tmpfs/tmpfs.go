// Package tmpfs mounts a small tmpfs for tests: a real file system that
// fills up (ENOSPC), for the full-disk tests (ADR-078). Mounting needs
// root (CAP_SYS_ADMIN); without it the test is skipped.
package tmpfs

import (
	"fmt"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory, returns
// it, and unmounts it when the test ends.
func Mount(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the full-disk test needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
