// Package wal is vectord's write-ahead log: every acknowledged upsert or
// delete is appended here, and fsynced, before vectord answers; on start
// vectord loads the latest LHV1 snapshot and replays the records after the
// snapshot's sequence number. After a new snapshot is stored,
// TruncateThrough drops the records it covers.
//
// File layout (little-endian):
//
//	header  24 bytes: "LHW1", u16 version (1), u16 0, u64 base seq,
//	        u32 CRC32C of the first 16 bytes, u32 0
//	frame   u32 payload length, u32 CRC32C(payload), payload
//	payload u64 seq, u8 op, uvarint+bytes index name, op body (see encode)
//
// Sequence numbers are assigned by Append, strictly increasing from the
// header's base seq. A crash can leave a torn last frame (short, or with a
// CRC that does not match); Open and Replay detect it and stop there, and
// Open cuts it off. A bad frame followed by a valid one is corruption, not
// a torn tail: Open and Replay refuse it (errs.Internal wrapping ErrCorrupt)
// rather than silently dropping acknowledged records. ReplayDamaged and
// OpenDamaged instead report such a frame (Damage) and go on after it, so a
// caller can hold back what the lost record may have changed and keep the
// rest; the damaged bytes stay in the file until TruncateThrough passes them.
//
// Concurrency: Append is safe from many goroutines; concurrent appends
// share one fsync (group commit).
package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector/hnsw"
)

// Op is a record's operation.
type Op uint8

// Operations. OpUpsert carries Items, OpDelete IDs; OpCreate and OpDrop
// carry caller-defined Data (vectord: the index params as JSON).
const (
	OpUpsert Op = 1
	OpDelete Op = 2
	OpCreate Op = 3
	OpDrop   Op = 4
)

// Record is one logged operation on one index.
type Record struct {
	Seq   uint64 // assigned by Append
	Op    Op
	Index string
	Items []hnsw.Item // OpUpsert
	IDs   []string    // OpDelete
	Data  []byte      // OpCreate, OpDrop
}

const (
	magic      = "LHW1"
	version    = 1
	headerLen  = 24
	frameHdr   = 8
	MaxPayload = 256 << 20 // bytes in one record
)

// ErrCorrupt is wrapped by errors about a damaged log (not a torn tail).
var ErrCorrupt = errors.New("corrupt write-ahead log")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WAL is an open log, appending at its end.
type WAL struct {
	path string

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	size    int64 // physical file size
	written int64 // logical bytes ever appended (monotonic across truncations)
	durable int64 // logical bytes known fsynced
	syncing bool
	next    uint64 // seq of the next record
	err     error  // sticky: a failed write or sync poisons the log
	closed  bool
	// skipDamaged (OpenDamaged): TruncateThrough steps over damaged frames.
	skipDamaged bool
	// While TruncateThrough renames its rewrite over the log, appends go
	// to both files (mirror, msize bytes) and a sync covers both, so an
	// acknowledged record is durable under whichever name a crash leaves.
	mirror *os.File
	msize  int64
	// retired are files a running sync still uses, closed by it.
	retired []*os.File
	// tmu: one TruncateThrough at a time.
	tmu sync.Mutex
}

// Damage is a damaged frame in the middle of the log, followed by a valid
// one: its bytes [Offset, Offset+Bytes) and the records it held, seqs
// FirstSeq..NextSeq-1 (which index they were for is unknown: the checksum
// covers the index name too).
type Damage struct {
	Offset, Bytes     int64
	FirstSeq, NextSeq uint64
}

// Info describes what a scan of the log found.
type Info struct {
	Records   int    // valid records
	FirstSeq  uint64 // 0 when there are none
	LastSeq   uint64 // 0 when there are none
	BaseSeq   uint64 // the header's base seq
	ValidEnd  int64  // byte offset after the last valid frame
	TornBytes int64  // bytes after ValidEnd (a torn tail), cut by Open
	Damaged   int    // damaged frames stepped over (ReplayDamaged, OpenDamaged)
}

// Open opens or creates the log at path, cuts a torn tail, and positions
// appends after the last valid record.
func Open(path string) (*WAL, error) { return open(path, false) }

// OpenDamaged is Open for a log with damaged frames in its middle (see
// ReplayDamaged): they are kept, appends go after the last valid record,
// and TruncateThrough drops a damaged frame only once seq passes every
// record it held.
func OpenDamaged(path string) (*WAL, error) { return open(path, true) }

func open(path string, skipDamaged bool) (*WAL, error) {
	const op = "wal.Open"
	sweepTemp(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, errs.E(op, errs.Internal, err)
	}
	if st.Size() == 0 {
		if err := writeHeader(f, 1); err != nil {
			f.Close()
			return nil, errs.E(op, errs.Internal, err)
		}
		if err := syncDir(path); err != nil {
			f.Close()
			return nil, errs.E(op, errs.Internal, err)
		}
	}
	var onDamage func(Damage) error
	if skipDamaged {
		onDamage = func(Damage) error { return nil }
	}
	info, err := scan(f, nil, onDamage)
	if err != nil {
		f.Close()
		return nil, err
	}
	if info.TornBytes > 0 {
		if err := f.Truncate(info.ValidEnd); err != nil {
			f.Close()
			return nil, errs.E(op, errs.Internal, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, errs.E(op, errs.Internal, err)
		}
	}
	if _, err := f.Seek(info.ValidEnd, io.SeekStart); err != nil {
		f.Close()
		return nil, errs.E(op, errs.Internal, err)
	}
	w := &WAL{path: path, f: f, size: info.ValidEnd, next: max(info.BaseSeq, info.LastSeq+1), skipDamaged: skipDamaged}
	w.cond = sync.NewCond(&w.mu)
	return w, nil
}

// sweepTemp removes path.tmp, the rewrite TruncateThrough writes and
// renames over path, when a process killed before the rename left it: the
// log at path is whole without it (the rename is the rewrite's only step
// that changes the log). It stayed until the next rewrite truncated it, a
// copy of the log's tail meanwhile. Removed only when it cannot be the log:
// path exists, and path.tmp is a regular file (not a symlink) that is not
// path's file (not a hard link to it, which the rewrite's O_TRUNC would
// also have emptied). Without a log at path it is kept: it may be all that
// is left of one, for the operator to look at. The caller holds the log's
// directory (vectord's lock), so no rewrite of its own is under way.
func sweepTemp(path string) {
	live, err := os.Stat(path)
	if err != nil {
		return
	}
	tmp := path + ".tmp"
	fi, err := os.Lstat(tmp)
	if err != nil || !fi.Mode().IsRegular() || os.SameFile(live, fi) {
		return
	}
	os.Remove(tmp)
}

// Replay calls fn for every valid record of the log at path, in order, and
// stops at a torn tail (which it reports but does not cut). A missing file
// replays nothing. An error from fn stops the replay and is returned.
func Replay(path string, fn func(rec Record) error) (Info, error) {
	return replay(path, fn, nil)
}

// ReplayDamaged is Replay that steps over a damaged frame followed by a
// valid one (which Replay refuses): damaged gets it, in order between the
// records before and after it, and the replay goes on. An error from
// damaged stops the replay and is returned. A damaged header or a
// damaged last frame (a torn tail) are as in Replay.
func ReplayDamaged(path string, fn func(rec Record) error, damaged func(Damage) error) (Info, error) {
	if damaged == nil {
		damaged = func(Damage) error { return nil }
	}
	return replay(path, fn, damaged)
}

func replay(path string, fn func(rec Record) error, damaged func(Damage) error) (Info, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, nil
	}
	if err != nil {
		return Info{}, errs.E("wal.Replay", errs.Internal, err)
	}
	defer f.Close()
	if fn == nil {
		fn = func(Record) error { return nil }
	}
	return scan(f, fn, damaged)
}

// header is the log's header with base seq base.
func header(base uint64) []byte {
	h := make([]byte, headerLen)
	copy(h, magic)
	binary.LittleEndian.PutUint16(h[4:], version)
	binary.LittleEndian.PutUint64(h[8:], base)
	binary.LittleEndian.PutUint32(h[16:], crc32.Checksum(h[:16], castagnoli))
	return h
}

func writeHeader(f *os.File, base uint64) error {
	if _, err := f.WriteAt(header(base), 0); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func corrupt(format string, args ...any) error {
	return errs.E("wal", errs.Internal, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
}

// scan reads the log from the start; fn (if non-nil) gets each valid
// record; onDamage (if non-nil) each damaged frame followed by a valid one,
// which is then stepped over (refused as ErrCorrupt without onDamage).
func scan(f *os.File, fn func(Record) error, onDamage func(Damage) error) (Info, error) {
	var info Info
	st, err := f.Stat()
	if err != nil {
		return info, errs.E("wal", errs.Internal, err)
	}
	size := st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<16)
	h := make([]byte, headerLen)
	if _, err := io.ReadFull(r, h); err != nil {
		return info, corrupt("%s: header truncated", f.Name())
	}
	if string(h[:4]) != magic || binary.LittleEndian.Uint32(h[16:]) != crc32.Checksum(h[:16], castagnoli) {
		return info, corrupt("%s: bad header", f.Name())
	}
	if v := binary.LittleEndian.Uint16(h[4:]); v != version {
		return info, corrupt("%s: unsupported version %d", f.Name(), v)
	}
	info.BaseSeq = binary.LittleEndian.Uint64(h[8:])
	off := int64(headerLen)
	expect := info.BaseSeq
	var payload []byte
	for {
		info.ValidEnd = off
		rec, n, ok := readFrame(r, &payload, size-off)
		if !ok && onDamage != nil {
			if next, nextSeq, ok := validFrameAfterBad(f, off, size, expect); ok {
				d := Damage{Offset: off, Bytes: next - off, FirstSeq: expect, NextSeq: nextSeq}
				if err := onDamage(d); err != nil {
					return info, err
				}
				info.Damaged++
				off, expect = next, nextSeq
				r.Reset(io.NewSectionReader(f, off, size-off))
				continue
			}
		}
		if !ok {
			break
		}
		if rec.Seq < expect {
			break // a stale frame: treat like a bad one
		}
		if fn != nil {
			if err := fn(rec); err != nil {
				return info, err
			}
		}
		if info.Records == 0 {
			info.FirstSeq = rec.Seq
		}
		info.Records++
		info.LastSeq = rec.Seq
		expect = rec.Seq + 1
		off += n
	}
	info.ValidEnd = off
	info.TornBytes = size - off
	if _, _, ok := validFrameAfterBad(f, off, size, expect); info.TornBytes > 0 && ok {
		return info, corrupt("%s: damaged record at byte %d followed by valid records", f.Name(), off)
	}
	return info, nil
}

// validFrameAfterBad reports whether a valid frame with a seq >= expect
// follows the bad frame at off: damage in the middle of the log rather
// than a torn tail. next is that frame's offset, seq its seq. The bad
// frame's length is tried first; if the length itself is damaged (it
// points nowhere valid), the bytes after off are searched for the next
// valid frame (resync) — without that, a damaged length cut every record
// after it as if it were a torn tail, acknowledged ones included.
func validFrameAfterBad(f io.ReaderAt, off, size int64, expect uint64) (next int64, seq uint64, ok bool) {
	var hdr [frameHdr]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return 0, 0, false
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	next = off + frameHdr + n
	if n >= 9 && n <= MaxPayload && next < size {
		r := bufio.NewReader(io.NewSectionReader(f, next, size-next))
		var payload []byte
		if rec, _, ok := readFrame(r, &payload, size-next); ok && rec.Seq >= expect {
			return next, rec.Seq, true
		}
	}
	return resync(f, off, size, expect)
}

// minFrame is the smallest frame Append writes: header, seq, op, an empty
// index name's length, one byte of op body.
const minFrame = frameHdr + 8 + 1 + 1 + 1

// resync searches the bytes after the bad frame at off for the first valid
// frame: a plausible length, a seq no lower than expect and no higher than
// the number of frames the bytes skipped could have held, then its
// checksum and decoding. One pass over the bytes, in 1 MiB windows.
func resync(f io.ReaderAt, off, size int64, expect uint64) (next int64, seq uint64, ok bool) {
	const window = 1 << 20
	buf := make([]byte, window+16)
	var payload []byte
	for base := off + 1; base+minFrame <= size; base += window {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), size-base)], base)
		if err != nil && err != io.EOF {
			return 0, 0, false
		}
		for i := 0; i < window && i+16 <= m; i++ {
			pos := base + int64(i)
			n := int64(binary.LittleEndian.Uint32(buf[i:]))
			if n < 9 || n > MaxPayload || pos+frameHdr+n > size {
				continue
			}
			sq := binary.LittleEndian.Uint64(buf[i+frameHdr:])
			if sq < expect || sq-expect > uint64((pos-off)/minFrame)+1 {
				continue
			}
			r := bufio.NewReader(io.NewSectionReader(f, pos, size-pos))
			if rec, _, ok := readFrame(r, &payload, size-pos); ok && rec.Seq == sq {
				return pos, sq, true
			}
		}
	}
	return 0, 0, false
}

// readFrame reads one frame; ok is false for a short, oversized or
// mismatching frame. n is the frame's size in bytes.
func readFrame(r *bufio.Reader, buf *[]byte, remaining int64) (Record, int64, bool) {
	var hdr [frameHdr]byte
	if remaining < frameHdr {
		return Record{}, 0, false
	}
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Record{}, 0, false
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	if n < 9 || n > MaxPayload || n > remaining-frameHdr {
		return Record{}, 0, false
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	p := (*buf)[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		return Record{}, 0, false
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return Record{}, 0, false
	}
	rec, err := decode(p)
	if err != nil {
		return Record{}, 0, false
	}
	return rec, frameHdr + n, true
}

// Append logs rec, assigning and returning its Seq, and returns once the
// record is durable (fsynced). Concurrent appends share fsyncs. A record
// that cannot be encoded -> errs.Invalid; an I/O failure -> errs.Internal:
// a failed write leaves nothing of the record and the log appends again
// (a full disk), a failed fsync makes the log refuse appends until
// reopened (Err).
func (w *WAL) Append(rec *Record) (uint64, error) {
	const op = "wal.Append"
	body, err := encodeBody(rec)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errs.E(op, errs.Internal, errors.New("log is closed"))
	}
	if w.err != nil {
		return 0, errs.E(op, errs.Internal, w.err)
	}
	seq := w.next
	frame := make([]byte, frameHdr+8, frameHdr+8+len(body))
	binary.LittleEndian.PutUint64(frame[frameHdr:], seq)
	frame = append(frame, body...)
	p := frame[frameHdr:]
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(p, castagnoli))
	if err := w.write(frame); err != nil {
		return 0, errs.E(op, errs.Internal, err)
	}
	w.next++
	w.size += int64(len(frame))
	if w.mirror != nil {
		w.msize += int64(len(frame))
	}
	w.written += int64(len(frame))
	mine := w.written
	for w.durable < mine {
		if w.err != nil {
			return 0, errs.E(op, errs.Internal, w.err)
		}
		if w.syncing {
			w.cond.Wait()
			continue
		}
		// lead a group commit covering everything written so far
		w.syncing = true
		target := w.written
		f, m := w.f, w.mirror
		w.mu.Unlock()
		err := f.Sync()
		if err == nil && m != nil {
			err = m.Sync()
		}
		w.mu.Lock()
		w.syncing = false
		for _, r := range w.retired {
			r.Close()
		}
		w.retired = nil
		if err != nil {
			w.err = err
			w.cutRefused()
		} else if target > w.durable {
			w.durable = target
		}
		w.cond.Broadcast()
	}
	rec.Seq = seq
	return seq, nil
}

// write writes frame at the log's end, and at the mirror's while one is
// set (w.mu held). A full disk (ENOSPC, EFBIG) refuses the record: what
// was written of it is cut and the log takes the next append once the
// disk does — the records before it are whole, their fsync unaffected. If
// the cut fails too, the log refuses appends until reopened.
func (w *WAL) write(frame []byte) error {
	_, err := w.f.Write(frame)
	if err == nil && w.mirror != nil {
		_, err = w.mirror.Write(frame)
	}
	if err == nil {
		return nil
	}
	if cerr := cutTo(w.f, w.size); cerr != nil {
		w.err = err
	}
	if w.mirror != nil {
		if cerr := cutTo(w.mirror, w.msize); cerr != nil {
			w.err = err
		}
	}
	return err
}

// cutTo truncates f to size and puts its offset there.
func cutTo(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	_, err := f.Seek(size, io.SeekStart)
	return err
}

// cutRefused cuts the log back to the end of its last durable record after
// a failed fsync (w.mu held, no sync running). Every record past it is
// refused: its writer gets the error. Without the cut the refused records
// stayed in the file — in the page cache at least — and a restart, which
// is what the error asks for, replayed writes that had been answered 503.
// Cutting to a length already fsynced is safe after a failed fsync. If the
// cut fails too (a file system gone read-only) a restart may still find
// them; nothing better can be done without the disk.
func (w *WAL) cutRefused() {
	refused := w.written - w.durable
	keep := w.size - refused
	if keep < headerLen || keep > w.size {
		return
	}
	if w.mirror != nil {
		if mkeep := w.msize - refused; mkeep >= headerLen && mkeep <= w.msize && w.mirror.Truncate(mkeep) == nil {
			w.msize = mkeep
		}
	}
	if err := w.f.Truncate(keep); err != nil {
		return
	}
	w.size, w.written = keep, w.durable
}

// Err is the failure that makes the log refuse appends until reopened
// (a failed fsync), or nil.
func (w *WAL) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// NextSeq is the seq the next Append will assign.
func (w *WAL) NextSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Advance makes the next Append's seq at least next (nothing when it is
// already): a snapshot may cover seqs this log never assigned (one
// restored from another history, a log lost with its directory), and a
// record with a seq it covers would be skipped at replay as covered. Seqs
// stay strictly increasing; the format allows the gap.
func (w *WAL) Advance(next uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if next > w.next {
		w.next = next
	}
}

// truncHook, when set (tests), runs in TruncateThrough with no lock held:
// "sync" before the rewrite's fsync, "dirsync" after its rename, before
// the directory's fsync.
var truncHook func(stage string)

// TruncateThrough drops every record with Seq <= seq (call it once a
// snapshot covering them is durable). It rewrites the remaining tail to a
// new file and renames it over the log. Appends go on meanwhile: the tail
// is copied and fsynced with no lock held; then, under the lock, the
// records appended since are copied too and appends go to both files
// until the rename and the directory's fsync are done (a sync covers both
// files), so a kill at any point leaves, under the log's name, a log that
// holds every acknowledged record once.
func (w *WAL) TruncateThrough(seq uint64) error {
	const op = "wal.TruncateThrough"
	w.tmu.Lock()
	defer w.tmu.Unlock()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errs.E(op, errs.Internal, errors.New("log is closed"))
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return errs.E(op, errs.Internal, err)
	}
	// Appends only add bytes after end; the bytes before it stay as they
	// are while no lock is held (a failed append cuts back to its own
	// start, a failed fsync poisons the log, checked before the swap).
	f, end, next := w.f, w.size, w.next
	w.mu.Unlock()

	// find the first frame to keep
	keep := int64(-1)
	base := max(seq+1, next) // nothing kept: the next append's seq
	off := int64(headerLen)
	var h [headerLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return errs.E(op, errs.Internal, err)
	}
	expect := binary.LittleEndian.Uint64(h[8:]) // the seq the next frame holds
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 1<<16)
	var buf []byte
	for off < end {
		rec, n, ok := readFrame(r, &buf, end-off)
		if !ok && w.skipDamaged {
			// A damaged frame (OpenDamaged): dropped once seq passes every
			// record it held, else kept from here.
			if next, nextSeq, ok := validFrameAfterBad(f, off, end, expect); ok {
				if nextSeq-1 > seq {
					keep, base = off, expect
					break
				}
				off, expect = next, nextSeq
				r.Reset(io.NewSectionReader(f, off, end-off))
				continue
			}
		}
		if !ok {
			return corrupt("%s: unreadable record at byte %d during truncation", w.path, off)
		}
		if rec.Seq > seq {
			keep, base = off, rec.Seq
			break
		}
		off += n
		expect = rec.Seq + 1
	}
	tmp := w.path + ".tmp"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return errs.E(op, errs.Internal, err)
	}
	fail := func(err error) error {
		nf.Close()
		os.Remove(tmp)
		return errs.E(op, errs.Internal, err)
	}
	size := int64(headerLen)
	if _, err := nf.WriteAt(header(base), 0); err != nil {
		return fail(err)
	}
	if keep >= 0 {
		n, err := io.Copy(io.NewOffsetWriter(nf, headerLen), io.NewSectionReader(f, keep, end-keep))
		if err != nil {
			return fail(err)
		}
		size += n
	}
	if truncHook != nil {
		truncHook("sync")
	}
	if err := nf.Sync(); err != nil {
		return fail(err)
	}

	// Under the lock: copy what was appended since end and mirror appends.
	w.mu.Lock()
	if w.closed || w.err != nil {
		err := w.err
		if err == nil {
			err = errors.New("log is closed")
		}
		w.mu.Unlock()
		return fail(err)
	}
	if w.size > end {
		if keep < 0 && next < base {
			// every record before end was dropped; the first kept one is
			// the first appended since, with seq next
			if _, err := nf.WriteAt(header(next), 0); err != nil {
				w.mu.Unlock()
				return fail(err)
			}
		}
		n, err := io.Copy(io.NewOffsetWriter(nf, size), io.NewSectionReader(w.f, end, w.size-end))
		if err != nil {
			w.mu.Unlock()
			return fail(err)
		}
		size += n
	}
	if _, err := nf.Seek(size, io.SeekStart); err != nil {
		w.mu.Unlock()
		return fail(err)
	}
	w.mirror, w.msize = nf, size
	w.mu.Unlock()

	// unmirror stops the mirror without the swap; nf is closed by the
	// sync that uses it, if one runs.
	unmirror := func() {
		w.mu.Lock()
		w.mirror = nil
		if w.syncing {
			w.retired = append(w.retired, nf)
		} else {
			nf.Close()
		}
		w.mu.Unlock()
	}
	// The records copied above may have been acknowledged (fsynced in the
	// old file only): durable in nf before the name points at it.
	err = nf.Sync()
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		unmirror()
		os.Remove(tmp)
		return errs.E(op, errs.Internal, err)
	}
	if truncHook != nil {
		truncHook("dirsync")
	}
	derr := syncDir(w.path)

	w.mu.Lock()
	defer w.mu.Unlock()
	if derr != nil {
		// The rename may or may not be durable; reopen to know. Both files
		// hold every record; those not yet durable are refused and cut.
		for w.syncing {
			w.cond.Wait()
		}
		if w.err == nil {
			w.err = derr
			w.cutRefused()
			w.cond.Broadcast()
		}
		return errs.E(op, errs.Internal, derr)
	}
	old := w.f
	w.f, w.size, w.mirror = nf, w.msize, nil
	if w.closed {
		// Close closed the old file; the log's name holds every record.
		nf.Close()
		return nil
	}
	if w.syncing {
		w.retired = append(w.retired, old)
	} else {
		old.Close()
	}
	return nil
}

// Close closes the log. Appends after Close fail.
func (w *WAL) Close() error {
	// A TruncateThrough under way ends first: its rename must not land
	// after Close returned, when the log may be opened again in this
	// process (a restarted Store) and appended to through the old file.
	w.tmu.Lock()
	defer w.tmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.syncing {
		w.cond.Wait()
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		return errs.E("wal.Close", errs.Internal, err)
	}
	return nil
}

// encodeBody encodes everything after the seq: op, index, op body.
//
//	OpUpsert: uvarint n, then per item: uvarint+bytes id, uvarint dims,
//	          dims float32, uvarint+bytes metadata (hnsw.AppendMetadata)
//	OpDelete: uvarint n, then per id uvarint+bytes
//	OpCreate, OpDrop: uvarint+bytes data
func encodeBody(rec *Record) ([]byte, error) {
	const op = "wal.Append"
	b := []byte{byte(rec.Op)}
	b = appendString(b, rec.Index)
	switch rec.Op {
	case OpUpsert:
		b = binary.AppendUvarint(b, uint64(len(rec.Items)))
		var mb []byte
		for _, it := range rec.Items {
			b = appendString(b, it.ID)
			b = binary.AppendUvarint(b, uint64(len(it.Vector)))
			for _, x := range it.Vector {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
			}
			mb = mb[:0]
			if len(it.Metadata) > 0 {
				mb = hnsw.AppendMetadata(mb, it.Metadata)
			}
			b = appendString(b, string(mb))
		}
	case OpDelete:
		b = binary.AppendUvarint(b, uint64(len(rec.IDs)))
		for _, id := range rec.IDs {
			b = appendString(b, id)
		}
	case OpCreate, OpDrop:
		b = appendString(b, string(rec.Data))
	default:
		return nil, errs.Errorf(op, errs.Invalid, "unknown op %d", rec.Op)
	}
	if len(b)+8 > MaxPayload {
		return nil, errs.Errorf(op, errs.TooLarge, "the change takes %d bytes in vectord's write-ahead log (4 bytes per vector value, plus ids and metadata); one change is at most %d bytes (%d MiB)", len(b)+8, MaxPayload, MaxPayload>>20)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShort = errors.New("short record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func decode(p []byte) (Record, error) {
	rec := Record{Seq: binary.LittleEndian.Uint64(p), Op: Op(p[8])}
	r := &reader{b: p[9:]}
	rec.Index = string(r.bytes())
	switch rec.Op {
	case OpUpsert:
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return rec, errShort
		}
		rec.Items = make([]hnsw.Item, 0, n)
		for range n {
			it := hnsw.Item{ID: string(r.bytes())}
			d := r.uvarint()
			if r.err != nil || d > uint64(len(r.b))/4 {
				return rec, errShort
			}
			it.Vector = make([]float32, d)
			for i := range it.Vector {
				it.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*i:]))
			}
			r.b = r.b[4*d:]
			if mb := r.bytes(); len(mb) > 0 {
				md, used, err := hnsw.DecodeMetadata(mb)
				if err != nil || used != len(mb) {
					return rec, errShort
				}
				it.Metadata = md
			}
			rec.Items = append(rec.Items, it)
		}
	case OpDelete:
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return rec, errShort
		}
		rec.IDs = make([]string, 0, n)
		for range n {
			rec.IDs = append(rec.IDs, string(r.bytes()))
		}
	case OpCreate, OpDrop:
		rec.Data = append([]byte(nil), r.bytes()...)
	default:
		return rec, errShort
	}
	if r.err != nil || len(r.b) != 0 {
		return rec, errShort
	}
	return rec, nil
}
