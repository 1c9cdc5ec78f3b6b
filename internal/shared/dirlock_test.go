package shared

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDirLockTwoOpens: flock belongs to the open file description, so a
// second LockDir in the same process is refused like another process,
// with the directory and the holder's pid named; Unlock lets the next one
// in, and the file stays.
func TestDirLockTwoOpens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l1, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Path() != filepath.Join(dir, DirLockName) {
		t.Fatalf("lock file %s", l1.Path())
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	for _, want := range []string{dir, fmt.Sprintf("pid %d", os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err, want)
		}
	}
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Unlock(); err != nil { // twice: a no-op
		t.Fatal(err)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	defer l2.Unlock()
	if _, err := os.Stat(filepath.Join(dir, DirLockName)); err != nil {
		t.Fatal(err)
	}
	// A lock file of a state file (pathwayd, observerd) next to it.
	p := filepath.Join(dir, "state.jsonl.lock")
	f1, err := LockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Unlock()
	if _, err := LockFile(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second LockFile: %v", err)
	}
}

// lockChildEnv names the directory the helper child process locks.
const lockChildEnv = "LH_DIRLOCK_CHILD_DIR"

// TestDirLockChild is the child of TestDirLockProcesses: it locks the
// directory, says so on stdout and waits to be killed.
func TestDirLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("helper process of TestDirLockProcesses")
	}
	if _, err := LockDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	time.Sleep(10 * time.Minute)
	os.Exit(4)
}

// TestDirLockProcesses: a real child process holds the lock; this process
// is refused with the child's pid named; after kill -9 of the child (no
// Unlock, the lock file left behind with its pid) the lock is free again.
func TestDirLockProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by the child: %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("pid %d", cmd.Process.Pid); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("message %q does not name %s and %s", err, dir, want)
	}
	cmd.Process.Kill() // SIGKILL: the child cannot clean up
	cmd.Wait()
	killed = true
	if b, err := os.ReadFile(filepath.Join(dir, DirLockName)); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(cmd.Process.Pid) {
		t.Fatalf("lock file after kill -9: %q %v (want the dead child's pid left)", b, err)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	l.Unlock()
}
