// Package local is storaged's embedded default backend: objects as files
// under a directory ([storaged].dir, default <data_dir>/objects).
//
// Layout (ADR-010; queryd relies on it to read Parquet files directly):
//
//	<dir>/data/<key>   the object, byte for byte (key segments are directories)
//	<dir>/tmp/         writes in progress (never visible as objects)
//	<dir>/LOCK         flock held by the storaged that owns the directory
//
// Every write goes to a temp file in <dir>/tmp (hashed while streaming), gets
// its etag as the xattr user.lakehouse.etag, is fsynced, then renamed (or,
// create-only, hard-linked: link(2) fails with EEXIST atomically) into place,
// and the parent directory is fsynced. A reader never sees a partial object
// and a crash never leaves one visible; leftovers in tmp are removed when
// the next storaged takes the lock. Reads open files with openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so no key can reach outside data/.
package local

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// ETagXattr is the extended attribute holding an object's etag.
const ETagXattr = storage.LocalETagXattr

// Store is the local backend. It implements storage.Store.
type Store struct {
	dir, data, tmp string
	dataFD         int // O_PATH fd of data/, for openat2
	lock           *os.File
	log            *slog.Logger
	sp             *spares // temp files made ahead (spare.go)
	// dirs orders the making of a key's missing directories (publish's
	// slow path, shared) against Delete's removal of the directories it
	// leaves empty (exclusive): without it a Put could lose the race to
	// concurrent Deletes of sibling keys again and again (CI saw 64
	// attempts in a row lose on a slow disk). A Put whose parent exists
	// never takes it.
	dirs sync.RWMutex
	// keys serialise, per key (striped), every publish and delete, so a
	// compare-and-swap write (If-Match) checks the etag and renames as
	// one step no other write or delete of the key can come between
	// (ADR-108). storaged is the only writer of data/.
	keys [64]sync.Mutex
}

// keyLock is the mutex of key's stripe.
func (s *Store) keyLock(key string) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &s.keys[h%uint32(len(s.keys))]
}

// checkIfMatch is a compare-and-swap write's precondition: key is an
// object whose etag is ifMatch, or any object for "*". NotFound (404,
// as S3 answers) without one, Conflict 412 for another etag.
// nothing is what the 412 says was left undone ("nothing written").
func (s *Store) checkIfMatch(op, key, ifMatch, nothing string) error {
	f, info, err := s.open(op, key)
	if err != nil {
		return err
	}
	f.Close()
	if ifMatch != "*" && info.ETag != ifMatch {
		return errs.E(op, errs.Conflict, errs.StatusPrecondition,
			fmt.Sprintf("object %q: its etag is not the If-Match %q: it was replaced (%s)", key, ifMatch, nothing))
	}
	return nil
}

var _ storage.Store = (*Store)(nil)

// ObjectPath is where key lives under dir (the [storaged].dir of the local
// backend). It validates key with the local backend's rules.
func ObjectPath(dir, key string) (string, error) {
	if err := checkLocalKey(key); err != nil {
		return "", err
	}
	return filepath.Join(dir, "data", filepath.FromSlash(key)), nil
}

// Open opens (creating if needed) the store under dir. log may be nil.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: abs, data: filepath.Join(abs, "data"), tmp: filepath.Join(abs, "tmp"), log: log, dataFD: -1}
	for _, d := range []string{s.data, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("local storage %s: %w", abs, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(abs, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("local storage %s: %w", abs, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		s.lock = lock
		s.cleanTmp()
	} else {
		lock.Close()
		log.Warn("another process holds the storage lock; leaving its temp files alone", "op", "open", "dir", abs)
	}
	fd, err := unix.Open(s.data, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("local storage %s: %w", abs, err)
	}
	s.dataFD = fd
	// Probe xattr support once: without it etags are recomputed on read.
	if f, err := os.CreateTemp(s.tmp, "probe-*"); err == nil {
		if err := unix.Fsetxattr(int(f.Fd()), ETagXattr, []byte("x"), 0); err != nil {
			log.Warn("filesystem has no user xattrs; etags will be recomputed on every read and Content-Types not kept", "op", "open", "dir", abs, "err", err.Error())
		}
		f.Close()
		os.Remove(f.Name())
	}
	s.startSpares()
	return s, nil
}

// Dir is the store's root directory (absolute).
func (s *Store) Dir() string { return s.dir }

// Close releases the directory lock.
func (s *Store) Close() error {
	s.stopSpares()
	if s.dataFD >= 0 {
		unix.Close(s.dataFD)
		s.dataFD = -1
	}
	if s.lock != nil {
		err := s.lock.Close()
		s.lock = nil
		return err
	}
	return nil
}

func (s *Store) cleanTmp() {
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err == nil {
			s.log.Info("removed an interrupted write", "op", "open", "file", e.Name())
		}
	}
}

// checkLocalKey is storage.ValidateLocalKey: ValidateKey plus the local
// backend's own rules.
func checkLocalKey(key string) error { return storage.ValidateLocalKey(key) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Put implements storage.Store.Put.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.ObjectInfo, error) {
	const op = "local.put"
	final, err := ObjectPath(s.dir, key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := storage.ValidateContentType(opts.ContentType); err != nil {
		return storage.ObjectInfo{}, err
	}
	if opts.ContentMD5 != "" {
		sum, err := storage.ParseContentMD5(opts.ContentMD5)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		r = storage.VerifyMD5(r, key, sum) // a mismatch fails the copy: the temp file is removed
	}
	if opts.CreateOnly && s.exists(key) {
		// Refused before the body is read; publish's link(2) still decides
		// a race with a writer that creates the key meanwhile.
		return storage.ObjectInfo{}, exists(op, key)
	}
	if opts.IfMatch != "" {
		// Refused before the body is read; publish checks again, under
		// the key's lock, where it decides.
		if err := s.checkIfMatch(op, key, opts.IfMatch, "nothing written"); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	f, err := s.newTemp()
	if err != nil {
		return storage.ObjectInfo{}, errs.OSError(op, "local storage: cannot create a temp file", err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !committed {
			os.Remove(tmp)
		}
	}()

	h := xxh3.New128()
	n, err := copyBody(ctx, f, h, r, size)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	sum := h.Sum128().Bytes()
	etag := hex.EncodeToString(sum[:])
	// The etag and the Content-Type, in one xattr, set before the fsync:
	// they go into place with the inode's rename (ADR-010, ADR-084).
	// Without user xattrs (warned at Open) reads rehash the etag and
	// answer DefaultContentType.
	_ = unix.Fsetxattr(int(f.Fd()), ETagXattr, storage.LocalMetaValue(etag, opts.ContentType), 0)
	if err := f.Sync(); err != nil {
		return storage.ObjectInfo{}, errs.OSError(op, "local storage: fsync failed", err)
	}
	st, err := f.Stat()
	if err != nil {
		return storage.ObjectInfo{}, errs.E(op, errs.Internal, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return storage.ObjectInfo{}, errs.OSError(op, "local storage: close failed", err)
	}
	f = nil

	committed = true // publish removes tmp whatever happens
	if err := s.publish(op, key, tmp, final, opts.CreateOnly, opts.IfMatch); err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: key, Size: n, ETag: etag, Modified: st.ModTime().UTC(), Path: final, ContentType: storage.ContentTypeOf(opts.ContentType)}, nil
}

// publish makes the complete, fsynced temp file tmp the object key at
// final: rename(2) over any previous version, or, create-only, link(2),
// which fails atomically when the key exists (Conflict, 412). A missing
// parent directory is created (and fsynced) on ENOENT; the parent is
// fsynced after the rename. tmp is gone when publish returns, whatever
// happened. Put and the short-circuit socket's commit (Write.Commit) both
// end here. With ifMatch (a compare-and-swap write) the key's object
// must have that etag ("*": exist) when the rename happens: checked under
// the key's lock, which every publish and Delete of the key takes.
func (s *Store) publish(op, key, tmp, final string, createOnly bool, ifMatch string) error {
	parent := filepath.Dir(final)
	// The key's lock covers the check and the rename, not the fsync of
	// the directory: writes of other keys in its stripe do not wait for it.
	mu := s.keyLock(key)
	mu.Lock()
	if ifMatch != "" {
		if err := s.checkIfMatch(op, key, ifMatch, "nothing written"); err != nil {
			mu.Unlock()
			os.Remove(tmp)
			return err
		}
	}
	// The parent usually exists: try without the lock first.
	err := s.place(tmp, final, createOnly)
	if errors.Is(err, fs.ErrNotExist) {
		// A missing parent, or a concurrent Delete removed it: make it and
		// place the file while no Delete can remove directories.
		s.dirs.RLock()
		err = s.mkdirAll(parent)
		if err == nil {
			err = s.place(tmp, final, createOnly)
		}
		s.dirs.RUnlock()
	}
	mu.Unlock()
	if err != nil {
		os.Remove(tmp)
		if createOnly && errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(final); serr == nil && fi.IsDir() {
				return s.pathErr(op, key, syscall.EISDIR)
			}
			return exists(op, key)
		}
		return s.pathErr(op, key, err)
	}
	if createOnly {
		os.Remove(tmp) // the link is the object now
	}
	if err := syncDir(parent); err != nil {
		return errs.OSError(op, "local storage: fsync of the directory failed", err)
	}
	return nil
}

// place makes tmp the file at final: link(2) create-only (fails when final
// exists), rename(2) otherwise. unix.Rename, not os.Rename: the latter
// lstats final first to refuse a directory there, which rename(2) of a file
// does itself (EISDIR).
func (s *Store) place(tmp, final string, createOnly bool) error {
	if createOnly {
		return unix.Link(tmp, final)
	}
	return unix.Rename(tmp, final)
}

// copyBody streams r into f and h (storage.CopyToFile, the write loop
// shared with the short-circuit client).
func copyBody(ctx context.Context, f *os.File, h io.Writer, r io.Reader, size int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return storage.CopyToFile(ctx, "local.put", f, h, r, size, *bp, nil)
}

// mkdirAll creates dir and missing parents under data/, fsyncing each
// parent of a directory it created so the new entries are durable.
func (s *Store) mkdirAll(dir string) error {
	if dir == s.data {
		return nil
	}
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return syscall.ENOTDIR
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs dir. Raw syscalls: os.Open would add four fcntl calls and
// a failing epoll_ctl to every write.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	err = unix.Fsync(fd)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// exists reports whether key is an object now (a regular file beneath
// data/), for the early refusal of a create-only write.
func (s *Store) exists(key string) bool {
	fd, err := storage.OpenLocalObject(s.dataFD, key)
	if err != nil {
		return false // missing, or for publish to word
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// exists is the answer to a create-only write of a key that exists.
func exists(op, key string) error {
	return errs.E(op, errs.Conflict, errs.StatusPrecondition, fmt.Sprintf("object %q already exists (create-only write)", key))
}

// pathErr maps file system errors on key's path to error kinds.
func (s *Store) pathErr(op, key string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return errs.Errorf(op, errs.Invalid, "key %q: a prefix of it is an object (the local backend keeps keys as paths)", key)
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		return errs.Errorf(op, errs.Invalid, "key %q: other keys live under it as a prefix (the local backend keeps keys as paths)", key)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return errs.Errorf(op, errs.Invalid, "key %q: too long for the file system", key)
	}
	// The OS's reason, not the path (a full disk said "no space left on
	// device: write /srv/.../objects/tmp/put-...: no space left on
	// device"); the log has the whole error.
	return errs.OSError(op, "local storage", err)
}

// open opens key's file for reading beneath data/ (no symlinks, no escape).
func (s *Store) open(op, key string) (*os.File, storage.ObjectInfo, error) {
	final, err := ObjectPath(s.dir, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	fd, err := storage.OpenLocalObject(s.dataFD, key)
	if errors.Is(err, unix.ENOSYS) {
		fd, err = unix.Open(final, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		if storage.LocalObjectMissing(err) {
			return nil, storage.ObjectInfo{}, errs.Errorf(op, errs.NotFound, "object %q not found", key)
		}
		return nil, storage.ObjectInfo{}, s.pathErr(op, key, err)
	}
	f := os.NewFile(uintptr(fd), final)
	info, err := s.stat(f, key, final)
	if err != nil {
		f.Close()
		if errors.Is(err, errNotRegular) {
			return nil, storage.ObjectInfo{}, errs.Errorf(op, errs.NotFound, "object %q not found", key)
		}
		return nil, storage.ObjectInfo{}, errs.OSError(op, "local storage: reading "+strconv.Quote(key), err)
	}
	return f, info, nil
}

var errNotRegular = errors.New("not a regular file")

// stat reads size, mtime and the etag xattr of an open object file; an
// object without the xattr (written by hand, or a file system without
// xattrs) is hashed and the xattr set when possible.
func (s *Store) stat(f *os.File, key, path string) (storage.ObjectInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if !st.Mode().IsRegular() {
		return storage.ObjectInfo{}, errNotRegular
	}
	info := storage.ObjectInfo{Key: key, Size: st.Size(), Modified: st.ModTime().UTC(), Path: path}
	etag, ct, ok := storage.LocalMeta(int(f.Fd()))
	info.ContentType = storage.ContentTypeOf(ct)
	if ok {
		info.ETag = etag
		return info, nil
	}
	h := xxh3.New128()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return storage.ObjectInfo{}, err
	}
	sum := h.Sum128().Bytes()
	info.ETag = hex.EncodeToString(sum[:])
	_ = unix.Fsetxattr(int(f.Fd()), ETagXattr, storage.LocalMetaValue(info.ETag, ct), 0) // best effort: the next read need not hash
	return info, nil
}

// Head implements storage.Store.Head.
func (s *Store) Head(ctx context.Context, key string) (storage.ObjectInfo, error) {
	f, info, err := s.open("local.head", key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	f.Close()
	return info, nil
}

// Get implements storage.Store.Get. The reader's WriteTo keeps the
// sendfile path of net/http.
func (s *Store) Get(ctx context.Context, key string, opts storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	const op = "local.get"
	f, info, err := s.open(op, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if opts.Offset < 0 || opts.Offset > info.Size {
		f.Close()
		return nil, storage.ObjectInfo{}, errs.E(op, errs.Invalid, 416, fmt.Sprintf("range not satisfiable: the object has %d bytes", info.Size))
	}
	n := info.Size - opts.Offset
	if opts.Length > 0 {
		n = min(n, opts.Length)
	}
	if opts.Offset > 0 {
		if _, err := f.Seek(opts.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, storage.ObjectInfo{}, errs.E(op, errs.Unavailable, err)
		}
	}
	return &reader{f: f, lr: io.LimitedReader{R: f, N: n}}, info, nil
}

// GetSuffix implements storage.SuffixGetter: one open, the size from its
// fstat, no second look at the path.
func (s *Store) GetSuffix(ctx context.Context, key string, n int64) (io.ReadCloser, storage.ObjectInfo, int64, error) {
	const op = "local.get"
	f, info, err := s.open(op, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, 0, err
	}
	off := max(0, info.Size-max(n, 0))
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, storage.ObjectInfo{}, 0, errs.E(op, errs.Unavailable, err)
		}
	}
	return &reader{f: f, lr: io.LimitedReader{R: f, N: info.Size - off}}, info, off, nil
}

type reader struct {
	f  *os.File
	lr io.LimitedReader
}

func (r *reader) Read(p []byte) (int, error) { return r.lr.Read(p) }

// WriteTo hands an *io.LimitedReader over the *os.File to w, so an
// http.ResponseWriter (or a TCP conn) can sendfile it.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(&r.lr)
	}
	return io.Copy(w, struct{ io.Reader }{&r.lr})
}

func (r *reader) Close() error { return r.f.Close() }

// Delete implements storage.Store.Delete: remove the file, fsync its
// directory, then remove directories left empty (best effort).
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.DeleteWith(ctx, key, storage.DeleteOptions{})
}

var _ storage.ConditionalDeleter = (*Store)(nil)

// DeleteWith implements storage.ConditionalDeleter: with opts.IfMatch the
// etag is checked and the file removed under the key's lock, which every
// publish takes around its rename, so a Put replacing the object is
// either before the check (412, the new object kept) or after the removal
// (it lands); never removed unseen (ADR-154).
func (s *Store) DeleteWith(ctx context.Context, key string, opts storage.DeleteOptions) error {
	const op = "local.delete"
	final, err := ObjectPath(s.dir, key)
	if err != nil {
		return err
	}
	if opts.IfMatch != "" {
		mu := s.keyLock(key)
		mu.Lock()
		err := s.checkIfMatch(op, key, opts.IfMatch, "nothing deleted")
		if err == nil {
			if deleteHook != nil {
				deleteHook(key)
			}
			err = os.Remove(final)
			if err != nil {
				err = s.pathErr(op, key, err)
			}
		}
		mu.Unlock()
		if err != nil {
			return err
		}
		return s.removed(op, final)
	}
	fi, err := os.Lstat(final)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return s.pathErr(op, key, err)
	}
	if fi.IsDir() {
		return nil // no object by that key, only keys under it
	}
	mu := s.keyLock(key) // not between a compare-and-swap's check and its rename
	mu.Lock()
	err = os.Remove(final)
	mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.pathErr(op, key, err)
	}
	return s.removed(op, final)
}

// deleteHook, when set (tests only), runs in a conditional delete between
// the etag check and the removal, under the key's lock.
var deleteHook func(key string)

// removed ends a delete of final's file: fsync its directory, then
// remove directories left empty (best effort).
func (s *Store) removed(op, final string) error {
	parent := filepath.Dir(final)
	if err := syncDir(parent); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.OSError(op, "local storage: fsync of the directory failed", err)
	}
	s.dirs.Lock()
	defer s.dirs.Unlock()
	for d := parent; d != s.data && strings.HasPrefix(d, s.data); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// List implements storage.Store.List. It walks data/ in key byte order
// (a directory sorts as its name + "/"), skipping subtrees that cannot hold
// keys after After with Prefix, and stops after Limit objects.
func (s *Store) List(ctx context.Context, opts storage.ListOptions) (storage.ListPage, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = storage.DefaultListLimit
	}
	limit = min(limit, storage.MaxListLimit)
	w := &walker{s: s, ctx: ctx, prefix: opts.Prefix, after: opts.After, limit: limit + 1}
	dir, keyPrefix, ok := s.prefixDir(opts.Prefix)
	if ok {
		if err := w.walk(dir, keyPrefix); err != nil && !errors.Is(err, errDone) {
			return storage.ListPage{}, err
		}
	}
	page := storage.ListPage{Objects: w.out}
	if len(page.Objects) > limit {
		page.Objects = page.Objects[:limit]
		page.Next = page.Objects[limit-1].Key
	}
	return page, nil
}

var errDone = errors.New("done")

// fullWalks, set only by tests, makes List walk from data/ whatever the
// prefix (the walk prefixDir shortens must list the same keys).
var fullWalks bool

// prefixDir is where a listing of prefix starts: the directory of the
// prefix's part up to its last "/" (every key with the prefix lies under
// it), so a listing of "_catalog/x/" reads that directory alone and not
// every dataset's beside it. ok is false when no key can have the prefix
// (a part of the path is missing, a file or a symbolic link, none of which
// the walk from data/ would descend into). A directory part that is not a
// valid key ("a//b/", "../") starts at data/, as before.
func (s *Store) prefixDir(prefix string) (dir, keyPrefix string, ok bool) {
	i := strings.LastIndexByte(prefix, '/')
	if fullWalks || i <= 0 || checkLocalKey(prefix[:i]) != nil {
		return s.data, "", true
	}
	dir = s.data
	for _, seg := range strings.Split(prefix[:i], "/") {
		dir = filepath.Join(dir, seg)
		fi, err := os.Lstat(dir)
		switch {
		case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return s.data, "", true // the walk from data/ meets it and says so
		case err != nil || !fi.IsDir():
			return "", "", false
		}
	}
	return dir, prefix[:i+1], true
}

type walker struct {
	s      *Store
	ctx    context.Context
	prefix string
	after  string
	limit  int
	out    []storage.ObjectInfo
}

// testHookWalk, set only by tests, sees every directory a listing reads.
var testHookWalk func(dir string)

func (w *walker) walk(dir, keyPrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return errs.E("local.list", err)
	}
	if testHookWalk != nil {
		testHookWalk(dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed concurrently
		}
		return errs.OSError("local.list", "local storage: listing", err)
	}
	type ent struct {
		sortKey string
		name    string
		dir     bool
	}
	list := make([]ent, 0, len(ents))
	for _, e := range ents {
		k := keyPrefix + e.Name()
		if e.IsDir() {
			list = append(list, ent{k + "/", e.Name(), true})
		} else if e.Type().IsRegular() {
			list = append(list, ent{k, e.Name(), false})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].sortKey < list[j].sortKey })
	for _, e := range list {
		k := e.sortKey
		if e.dir {
			// The subtree holds keys k...; skip it unless it can match prefix and follow after.
			if !strings.HasPrefix(k, w.prefix) && !strings.HasPrefix(w.prefix, k) {
				continue
			}
			if k <= w.after && !strings.HasPrefix(w.after, k) {
				continue
			}
			if err := w.walk(filepath.Join(dir, e.name), k); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(k, w.prefix) || k <= w.after {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue // removed or replaced concurrently
		}
		info, err := w.s.stat(f, k, f.Name())
		f.Close()
		if err != nil {
			continue
		}
		info.ContentType = "" // a listing has none (S3's neither)
		w.out = append(w.out, info)
		if len(w.out) >= w.limit {
			return errDone
		}
	}
	return nil
}
