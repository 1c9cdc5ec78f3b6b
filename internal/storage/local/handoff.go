package local

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
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

// Root returns an O_PATH descriptor of the object directory (data/) and its
// absolute path, for a client that opens objects itself (direct reads,
// ADR-015): it can open files beneath the directory, with its own uid's
// permissions, and nothing else — no tmp/, no way up. The caller closes it
// once it is handed over.
func (s *Store) Root() (*os.File, string, error) {
	fd, err := unix.FcntlInt(uintptr(s.dataFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, "", errs.E("local.root", errs.Unavailable, "local storage: cannot duplicate the object directory's descriptor", err)
	}
	return os.NewFile(uintptr(fd), s.data), s.data, nil
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
	ctype      string // Content-Type (SetContentType), "" for none
	done       bool
	reported   int64     // bytes the writer reported written (Progress)
	fl         *follower // hashes the file as the writer goes (started on demand)
}

// BeginWrite validates key with the local backend's rules and creates a
// temp file for it in tmp/ (the directory Put uses, so the start-up cleanup
// covers leftovers). It returns the Write and a write-only, append-only
// (O_APPEND: bytes written cannot be overwritten through it) fd of the temp
// file for the writer; the caller closes that fd once it is handed over.
// Errors: Invalid (bad key), Conflict with 412 (createOnly and the key
// exists: before anything is written), Unavailable.
func (s *Store) BeginWrite(key string, createOnly bool) (*Write, *os.File, error) {
	final, err := ObjectPath(s.dir, key)
	if err != nil {
		return nil, nil, err
	}
	if createOnly && s.exists(key) { // before the client writes; Commit's link(2) still decides
		return nil, nil, exists("local.create", key)
	}
	w, wf, err := s.beginWrite(s.newTemp)
	if err != nil {
		return nil, nil, err
	}
	w.key, w.final, w.createOnly = key, final, createOnly
	return w, wf, nil
}

// BeginSpare is BeginWrite for a key not known yet (a spare handed to a
// client ahead of its next write, ADR-015): its file keeps a spare-* name
// until Claim, and Name gives it a key before Commit.
func (s *Store) BeginSpare() (*Write, *os.File, error) {
	return s.beginWrite(s.newSpare)
}

// Claim marks a spare's write as begun: its file is renamed put-* (what a
// write in progress is called in tmp/). A failed rename keeps the old
// name, which works as well.
func (w *Write) Claim() {
	dir, base := filepath.Split(w.tmp)
	suffix, ok := strings.CutPrefix(base, "spare-")
	if !ok {
		return
	}
	name := filepath.Join(dir, "put-"+suffix)
	if unix.Renameat2(unix.AT_FDCWD, w.tmp, unix.AT_FDCWD, name, unix.RENAME_NOREPLACE) == nil {
		w.tmp = name
	}
}

// SetContentType sets the Content-Type the object is published with
// (storage.ValidateContentType; Invalid otherwise). Before Commit.
func (w *Write) SetContentType(ct string) error {
	if err := storage.ValidateContentType(ct); err != nil {
		return err
	}
	w.ctype = ct
	return nil
}

// Name sets the key of a write begun with BeginSpare. Errors: Invalid (bad
// key, or the write already has one).
func (w *Write) Name(key string, createOnly bool) error {
	if w.key != "" {
		return errs.Errorf("local.commit", errs.Invalid, "the write already has key %q", w.key)
	}
	final, err := ObjectPath(w.s.dir, key)
	if err != nil {
		return err
	}
	w.key, w.final, w.createOnly = key, final, createOnly
	return nil
}

func (s *Store) beginWrite(newTemp func() (*os.File, error)) (*Write, *os.File, error) {
	const op = "local.create"
	wf, err := newTemp()
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
	w := &Write{s: s, tmp: wf.Name(), f: os.NewFile(uintptr(fd), wf.Name())}
	return w, wf, nil
}

// Key is the object key the write will publish ("" for a spare not named
// yet).
func (w *Write) Key() string { return w.key }

// Abort removes the temp file; nothing becomes visible. Safe to call after
// Commit (it does nothing then) and more than once.
func (w *Write) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.fl != nil {
		w.fl.cancel() // before the close: it reads through w.f
	}
	w.f.Close()
	os.Remove(w.tmp)
}

// ErrStillOpen is the cause of Commit's error when the writer still holds
// a writable fd of the temp file.
var ErrStillOpen = errors.New("the temp file is still open for writing: close it before commit")

// ProgressEvery is how often (in bytes written) storaged asks a hand-off
// writer to report its progress (Progress), so that the hash is computed
// while the writer writes instead of after it.
const ProgressEvery = 4 << 20

// Progress records that the writer has written the file's first n bytes
// (through its append-only fd): storaged hashes them now, on another
// goroutine, while the writer goes on. n never goes down. Errors: Invalid.
func (w *Write) Progress(n int64) error {
	const op = "local.progress"
	if w.done {
		return errs.E(op, errs.Invalid, "no write in progress")
	}
	if n < w.reported {
		return errs.Errorf(op, errs.Invalid, "progress went back from %d to %d bytes", w.reported, n)
	}
	w.reported = n
	w.follow().advance(n, false)
	return nil
}

func (w *Write) follow() *follower {
	if w.fl == nil {
		w.fl = startFollower(w.f)
	}
	return w.fl
}

// Commit publishes the temp file as the object if it is what the writer
// claims: size bytes (fstat) and, when etag is not "", that xxh3-128.
// storaged reads and hashes the file itself and never trusts a claim (its
// hash is the object's etag): the bytes the writer reported (Progress)
// were hashed while it wrote, the rest is hashed now, concurrently with
// the fsync. The writer must have closed every writable
// fd of the file (checked with a read lease, which the kernel refuses
// while a writer is open), so the bytes cannot change after publishing;
// before, the writer's fd was append-only, so bytes already hashed could
// not be overwritten through it (ADR-015 states what a writer of the same
// user could still do, and why that is the same trust as today's files).
// On any error the temp file is removed and nothing is visible.
// Errors: Invalid (size or etag mismatch, a writer still open, a malformed
// etag), Conflict 412 (create-only and the key exists), Unavailable.
func (w *Write) Commit(ctx context.Context, size int64, etag string) (storage.ObjectInfo, error) {
	const op = "local.commit"
	if w.done {
		return storage.ObjectInfo{}, errs.E(op, errs.Invalid, "no write in progress")
	}
	defer w.Abort() // after a publish the temp name is gone; Abort only closes
	if w.key == "" {
		return storage.ObjectInfo{}, errs.E(op, errs.Invalid, "commit of a spare temp file without a key")
	}
	if etag != "" && !validETag(etag) {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "etag %q: want 32 lowercase hex digits (xxh3-128), or none", etag)
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
	if size == 0 {
		// No write dated the file: it is new now, not when it was made
		// (a spare may wait a while for its write).
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, w.tmp, nil, 0)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: fstat of a temp file", err)
	}
	if st.Size != size {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "the file has %d bytes, the commit declares %d", st.Size, size)
	}
	if w.reported > size {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "progress reported %d bytes, the commit declares %d", w.reported, size)
	}
	// A claimed etag goes into the xattr before the fsync so that one
	// fsync covers data and xattr; a mismatch below removes the file anyway.
	// Without a claim the xattr is set once the hash is known, after the
	// file's fsync and before the rename: the directory fsync that makes
	// the rename durable commits it with the rename on a journalling file
	// system, and the xattr is only a cache — a file found without it
	// after a crash is hashed on read (ADR-010), never given a wrong etag.
	// A Content-Type is not a cache: it goes in before the fsync, with the
	// claimed etag or, without one, alone ("\n" + type; a crash before the
	// etag is added leaves a file that is hashed on read and keeps it).
	if etag != "" || w.ctype != "" {
		_ = unix.Fsetxattr(fd, ETagXattr, storage.LocalMetaValue(etag, w.ctype), 0)
	}
	fl := w.follow()
	fl.advance(size, true)
	syncErr := unix.Fsync(fd)
	sum, hashErr := fl.wait()
	if errors.Is(hashErr, errChanged) {
		return storage.ObjectInfo{}, errs.E(op, errs.Invalid, "the temp file holds fewer bytes than were reported written: refused", hashErr)
	}
	if hashErr != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: reading a temp file back", hashErr)
	}
	if etag != "" && sum != etag {
		return storage.ObjectInfo{}, errs.Errorf(op, errs.Invalid, "the file's xxh3-128 is %s, the commit declares %s: refused", sum, etag)
	}
	if syncErr != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Unavailable, "local storage: fsync failed", syncErr)
	}
	if etag == "" {
		_ = unix.Fsetxattr(fd, ETagXattr, storage.LocalMetaValue(sum, w.ctype), 0)
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, errs.E(op, err)
	}
	w.done = true
	w.f.Close()
	if err := w.s.publish(op, w.key, w.tmp, w.final, w.createOnly, ""); err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: w.key, Size: size, ETag: sum, Modified: timespecUTC(st.Mtim), Path: w.final, ContentType: storage.ContentTypeOf(w.ctype)}, nil
}

// follower hashes a file from its start up to a target offset that only
// grows (the bytes a writer has reported written), on its own goroutine,
// until told the final size (or to stop).
type follower struct {
	f      *os.File
	target atomic.Int64
	final  atomic.Bool // target is the file's size: finish after it
	stop   atomic.Bool
	hashed atomic.Int64  // bytes hashed so far
	wake   chan struct{} // capacity 1: "target or final changed"
	done   chan struct{} // closed when the goroutine has exited
	sum    string        // set before done is closed
	err    error
}

func startFollower(f *os.File) *follower {
	fl := &follower{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go fl.run()
	return fl
}

func (fl *follower) advance(n int64, final bool) {
	fl.target.Store(n)
	if final {
		fl.final.Store(true) // after target: a reader that sees final sees n
	}
	select {
	case fl.wake <- struct{}{}:
	default:
	}
}

// wait returns the hash once the final target is hashed.
func (fl *follower) wait() (string, error) {
	<-fl.done
	return fl.sum, fl.err
}

// cancel stops the goroutine (at the next window) and waits for it: the
// file may be closed after cancel returns.
func (fl *follower) cancel() {
	fl.stop.Store(true)
	fl.advance(fl.target.Load(), false)
	<-fl.done
}

var (
	errStopped = errors.New("hashing stopped")
	// errChanged: the file was shorter than the span hashed (a writer
	// reported bytes it had not written, or the file was truncated).
	errChanged = errors.New("the file changed while it was hashed")
)

func (fl *follower) run() {
	defer close(fl.done)
	h := xxh3.New128()
	var pos int64
	for {
		final := fl.final.Load()
		if t := fl.target.Load(); pos < t {
			if err := hashSpan(h, fl.f, pos, t, &fl.stop); err != nil {
				fl.err = err
				return
			}
			pos = t
			fl.hashed.Store(pos)
			continue
		}
		if final {
			b := h.Sum128().Bytes()
			fl.sum = hex.EncodeToString(b[:])
			return
		}
		if fl.stop.Load() {
			fl.err = errStopped
			return
		}
		<-fl.wake
	}
}

// mapWindow is how much of the file one mapping covers.
const mapWindow = 8 << 20

var pageSize = int64(unix.Getpagesize())

// hashSpan feeds bytes [from, to) of f to h, in place through read-only
// shared mappings of at most mapWindow bytes (no copy out of the page
// cache, which was most of a big socket PUT's commit; the window keeps
// storaged's mapped memory small), or with pread where a mapping cannot be
// made. The hand-off's writer cannot shrink the file through its fd
// without Commit noticing, but a process of the same user could still
// truncate it by name: the fault that would then kill the process is
// turned into an error instead (debug.SetPanicOnFault, this goroutine
// only). stop, if set, is checked between windows.
func hashSpan(h *xxh3.Hasher128, f *os.File, from, to int64, stop *atomic.Bool) (err error) {
	fd := int(f.Fd())
	var cur []byte
	defer func() {
		if cur != nil {
			unix.Munmap(cur)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errChanged, r)
		}
	}()
	for from < to {
		if stop != nil && stop.Load() {
			return errStopped
		}
		base := from &^ (pageSize - 1) // mmap offsets are page-aligned
		n := min(to-base, mapWindow)
		data, merr := unix.Mmap(fd, base, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if merr != nil {
			return hashRead(h, f, from, to)
		}
		cur = data
		h.Write(data[from-base:])
		cur = nil
		unix.Munmap(data)
		from = base + n
	}
	return nil
}

// hashRead is hashSpan with pread.
func hashRead(h *xxh3.Hasher128, f *os.File, from, to int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, from, to-from), *bp)
	if err != nil {
		return err
	}
	if n != to-from {
		return fmt.Errorf("%w: read %d of %d bytes", errChanged, n, to-from)
	}
	return nil
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
