package local

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Temp files made ahead of need. Creating a file right after the fsyncs of
// the previous write waits on the file system's journal for the new inode
// (0.17-0.20 ms on the dev VM's ext4, a fifth of a 1 MiB PUT); renaming an
// existing file in the same directory takes 0.02 ms. So a write takes a
// spare made in the meantime ("spare-*" in tmp/) and renames it to its
// "put-*" name (so a put-* file is always a write in progress, as before),
// and the pool is refilled in the background. Spares are removed at start
// like any leftover of tmp/, and by Close.

// spareCount is how many spares wait ready.
const spareCount = 2

// tempMode is how every temp file of a write is opened: write-only and
// append-only (the local Put and the short-circuit writer both only
// append; see BeginWrite).
const tempMode = unix.O_WRONLY | unix.O_APPEND

type spare struct {
	fd     int
	suffix string // the name after "spare-"
}

type spares struct {
	ready chan spare
	want  chan struct{} // capacity 1: "one was taken, refill"
	stop  chan struct{}
	once  sync.Once // closes stop
	done  chan struct{}
}

func (s *Store) startSpares() {
	p := &spares{ready: make(chan spare, spareCount), want: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.sp = p
	go s.fillSpares(p)
	p.wantMore()
}

func (p *spares) wantMore() {
	select {
	case p.want <- struct{}{}:
	default:
	}
}

func (s *Store) fillSpares(p *spares) {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-p.want:
		}
		for len(p.ready) < cap(p.ready) {
			fd, suffix, err := s.openTemp("spare-")
			if err != nil {
				break // tried again after the next take, which makes its own
			}
			select {
			case p.ready <- spare{fd, suffix}:
			default:
				s.dropSpare(spare{fd, suffix})
			}
		}
	}
}

func (s *Store) dropSpare(sp spare) {
	unix.Close(sp.fd)
	os.Remove(filepath.Join(s.tmp, "spare-"+sp.suffix))
}

// stopSpares stops the refill and removes the spares still waiting (a
// write racing with it may still take one: it is renamed put-*, as usual).
func (s *Store) stopSpares() {
	p := s.sp
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
	for {
		select {
		case sp := <-p.ready:
			s.dropSpare(sp)
		default:
			return
		}
	}
}

// readySpare takes a spare from the pool when one is waiting (and asks
// for a refill either way).
func (s *Store) readySpare() (spare, bool) {
	p := s.sp
	if p == nil {
		return spare{}, false
	}
	defer p.wantMore()
	select {
	case sp := <-p.ready:
		return sp, true
	default:
		return spare{}, false
	}
}

// newSpare returns a temp file for a spare handed out ahead of its write
// (BeginSpare): one of the pool's, keeping its spare-* name (it is not a
// write in progress until Write.Claim), or a new one.
func (s *Store) newSpare() (*os.File, error) {
	if sp, ok := s.readySpare(); ok {
		return os.NewFile(uintptr(sp.fd), filepath.Join(s.tmp, "spare-"+sp.suffix)), nil
	}
	return s.createTemp("spare-")
}

// newTemp returns a new temp file tmp/put-* opened with tempMode: a spare
// when one is ready (renamed, its times set to now so that an object
// written with no bytes is not dated when the spare was made), else a new
// file.
func (s *Store) newTemp() (*os.File, error) {
	if sp, ok := s.readySpare(); ok {
		name := filepath.Join(s.tmp, "put-"+sp.suffix)
		// NOREPLACE: never over another write's put-* of the same name.
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(s.tmp, "spare-"+sp.suffix), unix.AT_FDCWD, name, unix.RENAME_NOREPLACE)
		if err == nil {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, name, nil, 0)
			return os.NewFile(uintptr(sp.fd), name), nil
		}
		s.dropSpare(sp)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// A file system without RENAME_NOREPLACE: no spares.
			s.log.Info("temp files are not made ahead here (no RENAME_NOREPLACE)", "op", "spare", "dir", s.tmp, "err", err.Error())
			s.stopSpares()
		}
	}
	return s.createTemp("put-")
}

// createTemp is openTemp as an *os.File.
func (s *Store) createTemp(prefix string) (*os.File, error) {
	fd, suffix, err := s.openTemp(prefix)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(s.tmp, prefix+suffix)), nil
}

// openTemp creates tmp/<prefix><random> with tempMode, with open(2):
// os.OpenFile would try (and fail) to register a regular file with the
// poller, four fcntl calls and an epoll_ctl per write. The random part
// also names the put-* file a spare becomes.
func (s *Store) openTemp(prefix string) (fd int, suffix string, err error) {
	for range 100 {
		suffix = strconv.FormatUint(rand.Uint64(), 36)
		fd, err = unix.Open(filepath.Join(s.tmp, prefix+suffix), tempMode|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return fd, suffix, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return -1, "", &fs.PathError{Op: "open", Path: filepath.Join(s.tmp, prefix+suffix), Err: err}
		}
	}
	return -1, "", &fs.PathError{Op: "createtemp", Path: s.tmp, Err: fs.ErrExist}
}
