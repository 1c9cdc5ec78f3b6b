package ingestd

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lakehouse-go/internal/storage"
)

// Storing while converting (ADR-138). DuckDB writes each Parquet part file
// front to back; storing it only after the conversion made storaged copy it
// and then wait for the whole of it to reach the disk (the fsync that makes
// it durable). A streamStore instead starts a create-only Put of each part
// file as it appears, fed by a reader that follows the growing file, so the
// copy and the disk writes overlap the conversion. Nothing becomes visible
// early: the reader holds back the end of its file until release, which
// ingest calls only after the conversion succeeded and the pending marker
// is written, and only for the files the conversion reported, one at a time
// in order (as it stores them otherwise); then it reads
// the rest, checks that the file is the one it followed (same inode, the
// reported size) and that what it sent is what the file holds (CRC-32C of
// both), and only then lets the Put end — a Put whose body fails is never
// published (storaged removes its temp file). Any other outcome (a file the
// conversion dropped or rewrote, a mismatch, an error) aborts that Put, and
// ingest stores the file the usual way.

// tailPoll is how long a follower waits for its file to grow.
const tailPoll = 20 * time.Millisecond

// maxFollowed bounds the files of one ingest followed at once: each holds
// a storaged connection, a descriptor on both sides and a temp file until
// the conversion ends. An ingest of more part files stores the rest the
// usual way, after the conversion.
const maxFollowed = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errTailAborted = errors.New("ingest: streamed store aborted")

type streamStore struct {
	s      *Server
	name   string
	id     string
	outDir string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	tails    map[string]*tail // by file path
	followed int              // len(tails), read by scan alone
	released bool
	watchEnd chan struct{}
	wg       sync.WaitGroup
}

// tail is one part file followed into one Put.
type tail struct {
	ctx  context.Context
	path string
	key  string
	f    *os.File
	ino  uint64
	off  int64
	crc  uint32

	// final is sent the file's reported size by stored (-1: abort); once.
	final chan int64
	size  int64 // once final has answered; 0 before
	got   bool

	done chan struct{} // closed when the Put returned
	err  error         // the Put's error (nil: stored)
}

// startStreamStore watches outDir for the part files of ingest id.
func (s *Server) startStreamStore(ctx context.Context, name, id, outDir string) *streamStore {
	ctx, cancel := context.WithCancel(ctx)
	ss := &streamStore{s: s, name: name, id: id, outDir: outDir, ctx: ctx, cancel: cancel,
		tails: map[string]*tail{}, watchEnd: make(chan struct{})}
	go ss.watch()
	return ss
}

func (ss *streamStore) watch() {
	defer close(ss.watchEnd)
	t := time.NewTicker(tailPoll)
	defer t.Stop()
	for {
		ss.scan()
		select {
		case <-ss.ctx.Done():
			return
		case <-t.C:
		}
		ss.mu.Lock()
		rel := ss.released
		ss.mu.Unlock()
		if rel {
			return
		}
	}
}

// scan starts a follower for each new part file.
func (ss *streamStore) scan() {
	des, err := os.ReadDir(ss.outDir)
	if err != nil {
		return
	}
	for _, de := range des {
		n, ok := partNumber(de.Name())
		if !ok {
			continue
		}
		path := filepath.Join(ss.outDir, de.Name())
		ss.mu.Lock()
		old := ss.tails[path]
		stop := ss.released || ss.ctx.Err() != nil
		ss.mu.Unlock()
		if stop {
			return
		}
		if old != nil {
			// The same name again is a file of a re-run of the
			// conversion (it removes its output first): follow the new one.
			var st syscall.Stat_t
			if syscall.Stat(path, &st) != nil || st.Ino == old.ino {
				continue
			}
		} else if ss.followed >= maxFollowed {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			continue
		}
		tl := &tail{ctx: ss.ctx, path: path, key: partKey(ss.name, ss.id, n), f: f, ino: st.Ino,
			final: make(chan int64, 1), done: make(chan struct{})}
		ss.mu.Lock()
		if ss.released || ss.ctx.Err() != nil {
			ss.mu.Unlock()
			f.Close()
			return
		}
		if old != nil {
			old.final <- -1 // never told its size: its buffer is free
		}
		ss.tails[path] = tl
		if old == nil {
			ss.followed++
		}
		ss.wg.Add(1)
		ss.mu.Unlock()
		go func() {
			defer ss.wg.Done()
			defer close(tl.done)
			defer tl.f.Close()
			_, tl.err = ss.s.opts.Store.Put(ss.ctx, tl.key, tl, -1, storage.PutOptions{CreateOnly: true, ContentType: parquetType})
		}()
	}
}

// partNumber reads DuckDB's part file name part_N.parquet.
func partNumber(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "part_")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".parquet")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// partKey is the key of an ingest's part file n.
func partKey(name, id string, n int) string {
	return fmt.Sprintf("%s%s/%s/part-%05d.parquet", DataPrefix, name, id, n)
}

// Read follows the file: it answers what the file holds past what was
// read, waits while the file has nothing more (the conversion still
// writing), and ends only once release gave the final size and the file
// checked out.
func (t *tail) Read(p []byte) (int, error) {
	for {
		if t.got && t.off >= t.size {
			return 0, t.verify()
		}
		q := p
		if t.got {
			q = p[:min(int64(len(p)), t.size-t.off)]
		}
		n, err := t.f.ReadAt(q, t.off)
		if n > 0 {
			t.crc = crc32.Update(t.crc, castagnoli, q[:n])
			t.off += int64(n)
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if t.got {
			return 0, fmt.Errorf("%w: %s ends at %d bytes, reported %d", errTailAborted, t.path, t.off, t.size)
		}
		select {
		case size := <-t.final:
			if size < 0 {
				return 0, errTailAborted
			}
			t.size, t.got = size, true
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		case <-time.After(tailPoll):
		}
	}
}

// verify checks, at the end, that the path still names the file followed
// and that the file holds the bytes sent (DuckDB writes front to back; a
// file rewritten in place would differ here).
func (t *tail) verify() error {
	var st syscall.Stat_t
	if err := syscall.Stat(t.path, &st); err != nil || st.Ino != t.ino || st.Size != t.size {
		return fmt.Errorf("%w: %s was replaced or changed size", errTailAborted, t.path)
	}
	h := crc32.New(castagnoli)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(h, io.NewSectionReader(t.f, 0, t.size), *bp)
	if err != nil || n != t.size || h.Sum32() != t.crc {
		return fmt.Errorf("%w: %s changed behind its follower", errTailAborted, t.path)
	}
	return io.EOF
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// release ends the watching: the files written since the last look (a
// short conversion's, all of them) are followed too, and the followers of
// files not in keys (path -> the key ingest stores it under: a file the
// conversion dropped or replaced) are aborted. The rest wait for stored.
func (ss *streamStore) release(keys map[string]string) {
	ss.mu.Lock()
	ss.released = true
	ss.mu.Unlock()
	<-ss.watchEnd
	ss.mu.Lock()
	ss.released = false
	ss.mu.Unlock()
	ss.scan()
	ss.mu.Lock()
	ss.released = true
	tails := ss.tails
	ss.mu.Unlock()
	for path, tl := range tails {
		if keys[path] != tl.key {
			tl.final <- -1
			delete(tails, path)
		}
	}
}

// stored lets the follower of path run to the file's reported size and
// says whether it stored the file under key; false: store it the usual
// way (its Put was aborted: nothing of it is visible). One file at a time,
// in order, as the usual way stores them.
func (ss *streamStore) stored(path, key string, size int64) bool {
	ss.mu.Lock()
	tl := ss.tails[path]
	ss.mu.Unlock()
	if tl == nil || tl.key != key {
		return false
	}
	tl.final <- size
	<-tl.done
	if tl.err != nil {
		ss.s.log.Debug("streamed store not used", "op", "ingest", "key", key, "err", tl.err.Error())
		return false
	}
	return true
}

// abort stops every follower that has not ended and waits for their Puts.
func (ss *streamStore) abort() {
	ss.mu.Lock()
	ss.released = true
	tails := ss.tails
	ss.mu.Unlock()
	ss.cancel()
	<-ss.watchEnd
	for _, tl := range tails {
		select {
		case tl.final <- -1: // never told its size: its buffer is free
		default:
		}
	}
	ss.wg.Wait()
}
