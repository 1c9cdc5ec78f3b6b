package observer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// persistQueue is how many ingested batches may wait for the persistor
// before new ones are dropped from disk (they stay in the ring).
const persistQueue = 4096

// maxLineBytes bounds one ops.jsonl line on reload; longer lines are corrupt.
const maxLineBytes = 1 << 20

// persistor appends ingested batches to ops.jsonl from one goroutine, off
// the request path (ADR-052): Ingest only enqueues. When the file passes
// maxLines lines it is compacted to its last keepLines lines by an atomic
// rewrite (temp file, fsync, rename, fsync dir). Lines are flushed to the OS
// after every drained burst and fsynced on compaction and Close: a process
// crash loses at most the queue; a power loss at most the unsynced tail.
type persistor struct {
	path      string
	keepLines int
	maxLines  int
	log       *slog.Logger

	q       chan []Event
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once

	f     *os.File
	w     *bufio.Writer
	lines int // whole lines in the file and in w

	// size is the file's length up to its last whole flushed line; inW and
	// linesInW are what w holds beyond it (a failed flush loses them).
	size     int64
	inW      int64
	linesInW int

	dropped  atomic.Int64 // events not persisted (queue full or write error)
	errLogAt atomic.Int64
	onDrop   func(n int)
}

// loadResult is what reloading ops.jsonl found.
type loadResult struct {
	events  []Event // the last keep valid events, oldest first
	lines   int     // complete lines left in the file
	corrupt int     // complete lines that did not parse or validate (skipped)
	future  int     // valid events dated more than MaxClockSkew after now (skipped)
	old     int     // valid events that ended more than MaxEventAge before the newest kept one (skipped)
	torn    bool    // an unterminated last line was cut off
}

// loadTail reads path (missing = empty), cuts an unterminated last line
// (a crash mid-append) by truncating the file to its last newline, skips
// lines that are not a valid event, and keeps the last keep events. An
// event more than MaxClockSkew after now (written before that bound, or
// before the clock stepped back) is skipped too: it would set every
// /stats "to" until it left the ring. So is a kept event that ended more
// than MaxEventAge before the newest kept event ended (one accepted before
// that bound, from 1970 say, would set every "from"). The newest event,
// not the clock, is the reference: after observerd was down for more than
// MaxEventAge, the last operations before the outage still fill the ring.
func loadTail(path string, keep int, now time.Time) (loadResult, error) {
	var res loadResult
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer f.Close()
	evs := make([]Event, 0, min(keep, 4096))
	start := 0 // ring start within evs once it reached keep
	r := bufio.NewReaderSize(f, 256<<10)
	var good int64 // offset after the last complete line
	for {
		line, n, err := readLine(r, maxLineBytes)
		if errors.Is(err, io.EOF) {
			if n > 0 {
				res.torn = true
			}
			break
		}
		if err != nil {
			return res, err
		}
		good += n
		res.lines++
		var e Event
		if line == nil || decodeEvent(line, &e) != nil { // nil: longer than maxLineBytes
			res.corrupt++
			continue
		}
		if len(validateFields(&e, false)) > 0 || e.TS.IsZero() {
			res.corrupt++
			continue
		}
		if e.TS.After(now.Add(MaxClockSkew)) {
			res.future++
			continue
		}
		e.TS = e.TS.UTC() // lines written before ADR-111 may hold an offset
		if len(evs) < keep {
			evs = append(evs, e)
		} else {
			evs[start] = e
			start = (start + 1) % keep
		}
	}
	if res.torn {
		if err := f.Truncate(good); err != nil {
			return res, fmt.Errorf("cut torn last line of %s: %w", path, err)
		}
	}
	evs = append(evs[start:], evs[:start]...)
	var newest time.Time
	for i := range evs {
		if end := eventEnd(&evs[i]); end.After(newest) {
			newest = end
		}
	}
	res.events = evs[:0]
	for i := range evs {
		if eventEnd(&evs[i]).Before(newest.Add(-MaxEventAge)) {
			res.old++
			continue
		}
		res.events = append(res.events, evs[i])
	}
	return res, nil
}

// decodeEvent decodes one ops.jsonl line, keeping attrs numbers exact
// (json.Number), as ingest does.
func decodeEvent(line []byte, e *Event) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(e); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the event")
	}
	return nil
}

// readLine returns the next line including its '\n' and the bytes it took
// from r; at EOF it returns the unterminated rest (possibly empty) with
// io.EOF. Lines of any length are read (a corrupt huge line must not stop
// the reload), but one longer than max is skipped, not kept: line is nil
// and only n tells its length (a damaged ops.jsonl with a line of a few
// GB made the reload hold all of it in memory to call it corrupt).
func readLine(r *bufio.Reader, max int) (line []byte, n int64, err error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		n += int64(len(chunk))
		if n <= int64(max) {
			buf = append(buf, chunk...)
		} else {
			buf = nil
		}
		if err == nil {
			return buf, n, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, n, err
		}
	}
}

func newPersistor(path string, keepLines, lines int, log *slog.Logger) (*persistor, error) {
	p, err := openPersistor(path, keepLines, lines, log)
	if err != nil {
		return nil, err
	}
	go p.loop()
	return p, nil
}

// openPersistor is newPersistor without its goroutine.
func openPersistor(path string, keepLines, lines int, log *slog.Logger) (*persistor, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &persistor{
		path: path, keepLines: keepLines, maxLines: 2 * keepLines, log: log,
		q: make(chan []Event, persistQueue), stop: make(chan struct{}), done: make(chan struct{}),
		f: f, w: bufio.NewWriterSize(f, 64<<10), lines: lines, size: st.Size(),
	}
	return p, nil
}

// enqueue hands a batch to the persistor without waiting; a full queue
// drops the batch from disk (and counts it).
func (p *persistor) enqueue(evs []Event) {
	select {
	case <-p.stop:
		p.drop(len(evs))
		return
	default:
	}
	select {
	case p.q <- evs:
	default:
		p.drop(len(evs))
	}
}

func (p *persistor) drop(n int) {
	p.dropped.Add(int64(n))
	if p.onDrop != nil {
		p.onDrop(n)
	}
}

func (p *persistor) loop() {
	defer close(p.done)
	for {
		select {
		case b := <-p.q:
			p.write(b)
			p.drain()
		case <-p.stop:
			p.drain()
			p.finish()
			return
		}
	}
}

// drain writes whatever else is queued and flushes.
func (p *persistor) drain() {
	for {
		select {
		case b := <-p.q:
			p.write(b)
			continue
		default:
		}
		break
	}
	if err := p.flush(); err != nil {
		p.fail("flush", err, 0)
	}
}

// flush writes w out. When the OS refuses (a full disk), what w held is
// lost and counted, and the file is cut back to its last whole line, so
// the next write does not glue an event onto half of one (both would be
// unreadable on reload; the file was left with a torn line in the middle).
func (p *persistor) flush() error {
	err := p.w.Flush()
	if err == nil {
		p.size += p.inW
		p.inW, p.linesInW = 0, 0
		return nil
	}
	p.cut()
	return err
}

// cut drops what w holds and truncates the file to p.size.
func (p *persistor) cut() {
	p.drop(p.linesInW)
	p.lines -= p.linesInW
	p.inW, p.linesInW = 0, 0
	p.w.Reset(p.f)
	if err := p.f.Truncate(p.size); err != nil {
		p.fail("truncate", err, 0)
	}
}

func (p *persistor) write(evs []Event) {
	var line bytes.Buffer
	for i := range evs {
		line.Reset()
		if err := json.NewEncoder(&line).Encode(&evs[i]); err != nil { // Encode adds '\n'
			p.fail("encode", err, 1)
			continue
		}
		if p.w.Available() < line.Len() && p.w.Buffered() > 0 {
			// Flush whole lines only: w's own flush of a full buffer
			// would write part of this one.
			if err := p.flush(); err != nil {
				p.fail("write", err, len(evs)-i)
				return
			}
		}
		if _, err := p.w.Write(line.Bytes()); err != nil {
			p.cut()
			p.fail("write", err, len(evs)-i)
			return
		}
		p.inW += int64(line.Len())
		p.linesInW++
		p.lines++
	}
	// Compact per batch: the file never exceeds 2*keepLines + one batch.
	if p.lines > p.maxLines {
		if err := p.flush(); err != nil {
			p.fail("flush", err, 0)
			return
		}
		if err := p.compact(); err != nil {
			p.fail("compact", err, 0)
		}
	}
}

// fail logs a persistence problem at most once a minute and counts lost events.
func (p *persistor) fail(what string, err error, lost int) {
	if lost > 0 {
		p.drop(lost)
	}
	now := time.Now().Unix()
	if last := p.errLogAt.Load(); now-last >= 60 && p.errLogAt.CompareAndSwap(last, now) {
		p.log.Error("ops.jsonl "+what+" failed (logged once a minute)", "op", "observer.persist", "path", p.path, "err", err.Error())
	}
}

// compact rewrites the file with its last keepLines complete lines.
func (p *persistor) compact() error {
	src, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer src.Close()
	keep := make([][]byte, 0, p.keepLines)
	start := 0
	r := bufio.NewReaderSize(src, 256<<10)
	for {
		line, _, err := readLine(r, maxLineBytes)
		if errors.Is(err, io.EOF) {
			break // an unterminated tail cannot exist here: a failed flush is cut
		}
		if err != nil {
			return err
		}
		if line == nil {
			continue // longer than any event: damage the reload skipped
		}
		if len(keep) < p.keepLines {
			keep = append(keep, line)
		} else {
			keep[start] = line
			start = (start + 1) % p.keepLines
		}
	}
	keep = append(keep[start:], keep[:start]...)
	tmp := p.path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 256<<10)
	for _, l := range keep {
		w.Write(l)
	}
	err = errors.Join(w.Flush(), out.Sync(), out.Close())
	if err == nil {
		err = os.Rename(tmp, p.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(p.path))
	nf, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.f.Close()
	p.f = nf
	p.w.Reset(nf)
	p.lines = len(keep)
	p.size = 0
	for _, l := range keep {
		p.size += int64(len(l))
	}
	return nil
}

func (p *persistor) finish() {
	if err := errors.Join(p.flush(), p.f.Sync(), p.f.Close()); err != nil {
		p.fail("close", err, 0)
	}
}

// close stops the persistor after writing everything queued, bounded by ctx.
func (p *persistor) close(ctx context.Context) error {
	p.stopped.Do(func() { close(p.stop) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ops.jsonl flush: %w", ctx.Err())
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
