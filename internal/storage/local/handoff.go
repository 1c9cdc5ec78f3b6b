package local

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// This file is the local backend's side of the short-circuit socket
// (ADR-015): storaged hands a client on the same host the open file of an
// object to read, or a temp file to write, instead of streaming the bytes
// over HTTP. The invariants stay the local backend's own: objects are
// published only by publish, after storaged itself fsynced and hashed them.

// OpenFile opens key for reading, like Get, and returns the file itself:
// the fd is a consistent snapshot of one version (a later Put renames a new
// file over the name, a Delete unlinks it; neither changes this file).
// Errors: Invalid, NotFound, Unavailable.
func (s *Store) OpenFile(key string) (*os.File, storage.ObjectInfo, error) {
	return s.open("local.open", key)
}

// Write is a write in progress through a handed-out temp file (BeginWrite):
// the writer fills the file through its own fd, then Commit verifies and
// publishes it, or Abort removes it. A Write is used by one goroutine.
type Write struct {
	s          *Store
	key, final string
	tmp        string   // the temp file's path, in tmp/ (cleaned at start)
	f          *os.File // storaged's own fd of the temp file, read-only
	createOnly bool
	done       bool
}

// BeginWrite validates key with the local backend's rules and creates a
// temp file for it in tmp/ (the directory Put uses, so the start-up cleanup
// covers leftovers). It returns the Write and a write-only fd of the temp
// file for the writer; the caller closes that fd once it is handed over.
// Errors: Invalid (bad key), Unavailable.
func (s *Store) BeginWrite(key string, createOnly bool) (*Write, *os.File, error) {
	const op = "local.create"
	final, err := ObjectPath(s.dir, key)
	if err != nil {
		return nil, nil, err
	}
	wf, err := s.createTempMode(unix.O_WRONLY)
	if err != nil {
		return nil, nil, errs.E(op, errs.Unavailable, "local storage: cannot create a temp file", err)
	}
	// storaged keeps a read-only fd: at commit the file must have no
	// writer left (see Commit), and storaged's own fd must not count as one.
	fd, err := unix.Open(wf.Name(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		wf.Close()
		os.Remove(wf.Name())
		return nil, nil, errs.E(op, errs.Unavailable, "local storage: cannot reopen a temp file", err)
	}
	w := &Write{s: s, key: key, final: final, tmp: wf.Name(), f: os.NewFile(uintptr(fd), wf.Name()), createOnly: createOnly}
	return w, wf, nil
}

// Key is the object key the write will publish.
func (w *Write) Key() string { return w.key }

// Abort removes the temp file; nothing becomes visible. Safe to call after
// Commit (it does nothing then) and more than once.
func (w *Write) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.tmp)
}

// ErrStillOpen is the cause of Commit's error when the writer still holds
// a writable fd of the temp file.
var ErrStillOpen = errors.New("the temp file is still open for writing: close it before commit")

// Commit publishes the temp file as the object if it is what the writer
// claims: size bytes (fstat) with xxh3-128 etag — storaged re-reads and
// hashes the file itself, concurrently with its fsync, and never trusts
// the claim. The writer must have closed every writable fd of the file
// (checked with a read lease, which the kernel refuses while a writer is
// open), so the verified bytes cannot change before or after publishing.
// On any error the temp file is removed and nothing is visible.
// Errors: Invalid (size or etag mismatch, a writer still open, a malformed
// etag), Conflict 412 (create-only and the key exists), Unavailable.
func (w *Write) Commit(ctx context.Context, size int64, etag string) (storage.ObjectInfo, error) {
	const op = "local.commit"
	if w.done {
		return storage.ObjectInfo{}, errs.E(op, errs.Invalid, "no write in progress")
	}
	defer w.Abort() // after a publish the temp name is gone; Abort only closes
	if !validETag(etag) {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "etag %q: want 32 lowercase hex digits (xxh3-128)", etag)
	}
	fd := int(w.f.Fd())
	switch _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); {
	case err == nil:
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
		return storage.ObjectInfo{}, errs.E(op, errs.Invalid, ErrStillOpen)
	default:
		// Leases disabled (fs.leases-enable = 0) or unsupported here: the
		// check is skipped; the writer is the same user anyway (ADR-015).
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: fstat of a temp file", err)
	}
	if st.Size != size {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "the file has %d bytes, the commit declares %d", st.Size, size)
	}
	// The claimed etag goes into the xattr before the fsync so that one
	// fsync covers data and xattr; a mismatch below removes the file anyway.
	_ = unix.Fsetxattr(fd, ETagXattr, []byte(etag), 0)
	var (
		wg      sync.WaitGroup
		sum     string
		hashErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sum, hashErr = hashFile(w.f, size)
	}()
	syncErr := unix.Fsync(fd)
	wg.Wait()
	if hashErr != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: reading a temp file back", hashErr)
	}
	if sum != etag {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "the file's xxh3-128 is %s, the commit declares %s: refused", sum, etag)
	}
	if syncErr != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: fsync failed", syncErr)
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, errs.E(op, err)
	}
	w.done = true
	w.f.Close()
	if err := w.s.publish(op, w.key, w.tmp, w.final, w.createOnly); err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: w.key, Size: size, ETag: sum, Modified: timespecUTC(st.Mtim), Path: w.final}, nil
}

// hashFile is the xxh3-128 hex of the first size bytes of f: hashed in
// place through read-only shared mappings of mapWindow bytes at a time (no
// copy out of the page cache, which was most of a big socket PUT's commit;
// the window keeps storaged's mapped memory small), or with pread where a
// mapping cannot be made.
func hashFile(f *os.File, size int64) (string, error) {
	if size > 0 {
		if sum, mapped, err := hashMapped(f, size); mapped {
			return sum, err
		}
	}
	return hashRead(f, size)
}

// mapWindow is how much of the file one mapping covers (a multiple of the
// page size, as mmap offsets must be).
const mapWindow = 8 << 20

// hashMapped hashes f's first size bytes through mmap windows. The file
// cannot change under it by the hand-off's writer (Commit's lease check),
// but a process of the same user could still truncate it by name: the
// fault that would then kill the process is turned into an error instead
// (debug.SetPanicOnFault, this goroutine only). mapped is false when the
// first mapping could not be made (nothing hashed yet: use pread).
func hashMapped(f *os.File, size int64) (sum string, mapped bool, err error) {
	fd := int(f.Fd())
	h := xxh3.New128()
	var cur []byte
	defer func() {
		if cur != nil {
			unix.Munmap(cur)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			sum, err = "", fmt.Errorf("the file changed while it was hashed: %v", r)
		}
	}()
	for off := int64(0); off < size; off += mapWindow {
		n := min(size-off, mapWindow)
		data, merr := unix.Mmap(fd, off, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if merr != nil {
			if !mapped {
				return "", false, nil
			}
			return "", true, fmt.Errorf("mmap of a temp file: %w", merr)
		}
		mapped, cur = true, data
		h.Write(data)
		cur = nil
		unix.Munmap(data)
	}
	b := h.Sum128().Bytes()
	return hex.EncodeToString(b[:]), true, nil
}

// hashRead is hashFile with pread.
func hashRead(f *os.File, size int64) (string, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := xxh3.New128()
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), *bp)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("read %d of %d bytes", n, size)
	}
	b := h.Sum128().Bytes()
	return hex.EncodeToString(b[:]), nil
}

func validETag(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func timespecUTC(t unix.Timespec) time.Time { return time.Unix(t.Sec, t.Nsec).UTC() }
