// Package journal is pathwayd's append-only JSON-lines log (state.jsonl)
// with group commit: Enqueue hands complete lines to one committer
// goroutine, which writes everything pending with one write, fsyncs once,
// and then releases every waiter of that group (ADR-055). Open replays the
// file line by line, cuts a torn last line (a crash mid-append: bytes after
// the last newline) by truncating the file, and refuses a damaged line
// before it, naming the line. Used only by package pathway.
package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"lakehouse-go/internal/shared"
)

// maxGroupBytes bounds one group's write; more pending lines wait for the next.
const maxGroupBytes = 4 << 20

// MaxLineBytes bounds one line on replay. pathwayd's longest record (a
// trace step of 1 MiB input and output, JSON escapes at most sixfold, and
// 16 KiB of metadata) is under 7 MiB; a longer complete line is damage,
// refused holding at most MaxLineBytes of it in memory, and a longer torn
// tail is cut the same way (a damaged file of a few GB made the replay
// read it whole).
const MaxLineBytes = 16 << 20

// ErrClosed is returned by Wait for lines enqueued after Close.
var ErrClosed = errors.New("journal closed")

// Info describes what Open found.
type Info struct {
	Lines     int   // complete lines replayed (blank lines included)
	Size      int64 // bytes kept
	TornBytes int64 // bytes of an unterminated last line that was cut (0 = none)
}

// Stats are the committer's counters.
type Stats struct {
	Groups  int64 // fsyncs
	Entries int64 // Enqueue calls committed
}

// WriteSyncer is what the committer writes each group to and fsyncs: the
// open state.jsonl, or a test's wrapper of it (OpenWith).
type WriteSyncer interface {
	Write(p []byte) (int, error)
	Sync() error
}

// Journal is an open log. Safe for concurrent use.
type Journal struct {
	path string
	f    *os.File
	lock *shared.DirLock // path+".lock", held until Close
	w    WriteSyncer     // f, or what OpenWith's wrap made of it
	reqs chan *Ticket
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error

	seq      int64        // the last Enqueue's sequence number (under mu)
	finished atomic.Int64 // every entry up to this sequence number is done

	// failed is the write or fsync error that refuses every later entry
	// until Reset; good is the file's size after the last durable group.
	failed atomic.Pointer[error]
	good   atomic.Int64

	groups, entries atomic.Int64
}

// Ticket is one enqueued entry; Wait blocks until it is durable or failed.
type Ticket struct {
	data []byte
	done chan struct{}
	err  error
	seq  int64 // 0: refused at Enqueue (closed)
	j    *Journal
}

// Done reports, without blocking, whether the entry is durable or failed
// (Err). Every ticket of a group is done from the same moment, before any
// Wait of the group returns, and groups are done in Enqueue order.
func (t *Ticket) Done() bool {
	return t.seq == 0 || t.seq <= t.j.finished.Load()
}

// Err is Wait's result once Done reports true.
func (t *Ticket) Err() error { return t.err }

// Wait blocks until the entry's group is written and fsynced, and returns
// nil, the write/fsync error (sticky: after one failure every later entry
// fails too, until Reset), or ErrClosed.
func (t *Ticket) Wait() error {
	<-t.done
	return t.err
}

// Open replays path (created if missing, with its directory) calling fn for
// each complete line (1-based number, without the '\n'). A torn last line is
// cut from the file. An fn error for a line that is not the last stops Open
// with an error naming the line.
func Open(path string, fn func(line int, data []byte) error) (*Journal, Info, error) {
	return OpenWith(path, fn, nil)
}

// OpenWith is Open with the committer's writes and fsyncs going through
// wrap(file) when wrap is not nil: the seam through which tests make the
// disk fail or stall.
//
// The journal is single-writer: Open takes the lock file path+".lock"
// (shared.LockFile) before reading, and Close releases it, so a second
// Open of path (a second pathwayd on the same data_dir, or a restart
// while the old one still runs) fails with an error wrapping
// shared.ErrLocked that names the directory and the holder's pid, instead
// of interleaving its lines with the first one's or cutting what it
// takes for a torn line while the other writes it.
func OpenWith(path string, fn func(line int, data []byte) error, wrap func(WriteSyncer) WriteSyncer) (j *Journal, info Info, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, info, err
	}
	lock, err := shared.LockFile(path + ".lock")
	if err != nil {
		return nil, info, err
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, info, err
	}
	info, err = replay(f, path, fn)
	if err != nil {
		f.Close()
		return nil, info, err
	}
	if info.TornBytes > 0 {
		if err := f.Truncate(info.Size); err != nil {
			f.Close()
			return nil, info, fmt.Errorf("cut torn last line of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, info, err
		}
	}
	if _, err := f.Seek(info.Size, io.SeekStart); err != nil {
		f.Close()
		return nil, info, err
	}
	syncDir(filepath.Dir(path))
	var w WriteSyncer = f
	if wrap != nil {
		w = wrap(f)
	}
	j = &Journal{path: path, f: f, lock: lock, w: w, reqs: make(chan *Ticket, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	j.good.Store(info.Size)
	go j.commit()
	return j, info, nil
}

// Replay reads r as the journal would on Open, without modifying anything:
// it calls fn for each complete line and reports an unterminated tail as
// TornBytes. Used by Open and by the fuzz test of the parser.
func Replay(r io.Reader, name string, fn func(line int, data []byte) error) (Info, error) {
	return replay(r, name, fn)
}

func replay(r io.Reader, name string, fn func(line int, data []byte) error) (Info, error) {
	var info Info
	br := bufio.NewReaderSize(r, 256<<10)
	var line []byte
	for {
		line = line[:0]
		var err error
		var n int64 // the line's length; only the first MaxLineBytes are kept
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			if n += int64(len(chunk)); n <= MaxLineBytes {
				if cap(line)-len(line) < len(chunk) { // double: append grows big slices by 1.25, allocating 5x the line
					line = append(make([]byte, 0, max(2*cap(line), len(line)+len(chunk))), line...)
				}
				line = append(line, chunk...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			info.TornBytes = n
			return info, nil
		}
		if err != nil {
			return info, err
		}
		info.Lines++
		if n > MaxLineBytes {
			return info, fmt.Errorf("%s line %d is damaged (%d bytes, longer than any record: at most %d); it is not a torn last line, so pathwayd refuses to guess: repair or remove that line, then restart", name, info.Lines, n, MaxLineBytes)
		}
		if data := bytes.TrimSpace(line); len(data) > 0 {
			if ferr := fn(info.Lines, data); ferr != nil {
				return info, fmt.Errorf("%s line %d is damaged (%v); it is not a torn last line, so pathwayd refuses to guess: repair or remove that line, then restart", name, info.Lines, ferr)
			}
		}
		info.Size += n
	}
}

// Enqueue queues data (one or more complete lines, each ending in '\n') for
// the next group. Entries are written in Enqueue order.
func (j *Journal) Enqueue(data []byte) *Ticket {
	t := &Ticket{data: data, done: make(chan struct{}), j: j}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		t.err = ErrClosed
		close(t.done)
		return t
	}
	j.seq++
	t.seq = j.seq
	j.reqs <- t // under mu: Close cannot close the queue mid-send
	return t
}

// Append is Enqueue + Wait.
func (j *Journal) Append(data []byte) error { return j.Enqueue(data).Wait() }

func (j *Journal) commit() {
	defer close(j.done)
	group := make([]*Ticket, 0, 256)
	var buf []byte
	for {
		t, ok := <-j.reqs
		if !ok {
			return
		}
		group = append(group[:0], t)
		buf = append(buf[:0], t.data...)
	more:
		for len(buf) < maxGroupBytes {
			select {
			case t, ok := <-j.reqs:
				if !ok {
					break more
				}
				group = append(group, t)
				buf = append(buf, t.data...)
			default:
				break more
			}
		}
		var err error
		if f := j.failed.Load(); f != nil {
			err = *f
		} else {
			if _, err = j.w.Write(buf); err == nil {
				err = j.w.Sync()
			}
			if err != nil {
				err = fmt.Errorf("write %s: %w (later writes are refused until the journal is reset)", j.path, err)
				j.failed.Store(&err)
			} else {
				j.good.Add(int64(len(buf)))
			}
			j.groups.Add(1)
			j.entries.Add(int64(len(group)))
		}
		for _, t := range group {
			t.err = err
		}
		j.finished.Store(group[len(group)-1].seq) // the whole group is Done at once
		for _, t := range group {
			close(t.done)
		}
		if cap(buf) > 2*maxGroupBytes {
			buf = nil
		}
	}
}

// Failed is the write or fsync error that refuses entries until Reset, or
// nil.
func (j *Journal) Failed() error {
	if f := j.failed.Load(); f != nil {
		return *f
	}
	return nil
}

// Reset makes a failed journal take entries again — the disk had no space
// and now has — by cutting the file back to the end of the last durable
// group (what a failed group wrote, whole lines included, was never
// acknowledged), fsyncing, and clearing the failure. Cutting to a length
// already fsynced is safe after a failed fsync too: only the failed group's
// bytes lie beyond it. Every entry enqueued so far must be done (else an
// error and nothing changes); the caller keeps new entries from being
// decided against the refused ones (pathwayd: under its store lock, with no
// write pending). If the cut fails the journal stays failed.
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if j.failed.Load() == nil {
		return nil
	}
	if j.seq != j.finished.Load() {
		return errors.New("journal reset with entries in flight")
	}
	good := j.good.Load()
	if err := j.f.Truncate(good); err != nil {
		return fmt.Errorf("reset %s: %w", j.path, err)
	}
	if _, err := j.f.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("reset %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("reset %s: %w", j.path, err)
	}
	j.failed.Store(nil)
	return nil
}

// Stats returns the committer's counters.
func (j *Journal) Stats() Stats { return Stats{Groups: j.groups.Load(), Entries: j.entries.Load()} }

// Close commits everything enqueued so far and closes the file, cut back
// to its last durable group if groups were refused since. Later Enqueues
// fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		close(j.reqs)
	}
	j.mu.Unlock()
	<-j.done
	j.closeOnce.Do(func() {
		if j.failed.Load() != nil {
			// What refused groups left (whole lines among them) was never
			// acknowledged: a restart must not replay it.
			if err := j.f.Truncate(j.good.Load()); err == nil {
				j.f.Sync()
			}
		}
		j.closeErr = j.f.Close()
		j.lock.Unlock() // after the file: no write of this journal can follow
	})
	return j.closeErr
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
