package storagetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Freeze stops (SIGSTOP) the MinIO serving the S3 API on addr — a hung
// server: its port still accepts connections, nothing answers — and returns
// a function that resumes it (SIGCONT), also called when the test ends.
// The process is found by its command line ("--address addr").
func Freeze(t testing.TB, addr string) (resume func()) {
	t.Helper()
	pid := minioPID(t, addr)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP MinIO %d: %v", pid, err)
	}
	resumed := false
	resume = func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// Pause stops the MinIO on addr (SIGSTOP) until resume (SIGCONT).
func Pause(t testing.TB, addr string) (pause, resume func()) {
	t.Helper()
	pid := minioPID(t, addr)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	return func() { _ = syscall.Kill(pid, syscall.SIGSTOP) }, func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
}

func minioPID(t testing.TB, addr string) int {
	t.Helper()
	want := []byte("\x00--address\x00" + addr + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil && pid != os.Getpid() {
			return pid
		}
	}
	t.Fatalf("no MinIO process serving %s", addr)
	return 0
}
