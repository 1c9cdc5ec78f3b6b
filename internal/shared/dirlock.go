package shared

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// DirLockName is the lock file LockDir takes in a state directory.
const DirLockName = "lakehouse.lock"

// DirLock is an exclusive advisory lock (flock(2), LOCK_EX) on a lock file
// guarding a daemon's mutable single-writer state on local disk (vectord's
// WAL directory, matrixd's index directory, pathwayd's journal,
// observerd's ops log). A daemon takes it before it reads or writes that
// state and holds it for its life (Unlock at Close), so a second process
// on the same state (a second daemon, or a restart while the old one still
// runs) refuses to start instead of interleaving writes with it.
//
// The kernel drops the lock when the holder's file is closed, which
// includes the process dying in any way (kill -9 too): a stale lock file
// never blocks a restart, and the file is never removed (removing it would
// let two processes lock two different files of one name). The holder
// writes its pid into the file for the message of the one refused.
//
// flock belongs to the open file description: two LockFile calls in one
// process conflict as two processes do. Over NFS flock may be emulated or
// not enforced; keep state directories on local disk.
type DirLock struct {
	mu   sync.Mutex
	f    *os.File // nil once released
	path string
}

// LockDir takes the lock of state directory dir (created when missing):
// the file DirLockName in it. See LockFile.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return LockFile(filepath.Join(dir, DirLockName))
}

// LockFile takes the exclusive lock of the file at path (created when
// missing; its directory must exist), without waiting. When another open
// of the file holds it (another process, or this one) the error says so,
// naming the file and the holder's pid when it has written it, and wraps
// ErrLocked.
func LockFile(path string) (*DirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := "another process"
			if holder > 0 {
				who = fmt.Sprintf("another process (pid %d)", holder)
			}
			return nil, fmt.Errorf("%w: %s holds %s: only one process may use %s at a time; stop that one first, or give this one another data_dir",
				ErrLocked, who, path, filepath.Dir(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f, path: path}, nil
}

// ErrLocked is wrapped by LockFile's error when another holder has the lock.
var ErrLocked = errors.New("state is locked")

// Path is the lock file.
func (l *DirLock) Path() string { return l.path }

// Unlock releases the lock (and clears the pid); it is safe to call on a
// nil or released lock, and from several goroutines.
func (l *DirLock) Unlock() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.f
	if f == nil {
		return nil
	}
	l.f = nil
	_ = f.Truncate(0)
	err := flock(f, unix.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// flock is flock(2) retried on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// readHolder is the pid in a lock file (0 when absent or unreadable).
func readHolder(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
