// Package lhv1 encodes and decodes LHV1, the snapshot file format of a
// vectord index (specified in docs/LHV1.md): a fixed header, four sections
// (vectors, nodes, metadata, graph) and a trailing CRC32C.
//
// vectord calls Encode to write a snapshot to storage and Decode to load one
// at start, then replays its write-ahead log (package wal) from the
// snapshot's Seq on. Both stream: Encode writes through a buffer to an
// io.Writer and Decode reads from an io.Reader straight into the index's
// storage, so neither needs a second copy of a large index in memory.
//
// Decode rejects truncated, corrupted or unsupported files with an
// errs.Invalid error wrapping ErrCorrupt (or ErrVersion), saying where it
// broke. Encode returns the writer's errors as errs.Internal.
package lhv1

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector/hnsw"
)

// Format constants.
const (
	Magic     = "LHV1"
	Version   = 1  // the version this build writes; it reads versions 1..Version
	HeaderLen = 64 // bytes of the version-1 header
	trailer   = "LHVE"
)

// Section tags, in file order.
const (
	tagVectors  = "VECS"
	tagNodes    = "NODE"
	tagMetadata = "META"
	tagGraph    = "GRPH"
)

// Errors wrapped by Decode's errors.
var (
	ErrCorrupt = errors.New("corrupt LHV1 file")
	ErrVersion = errors.New("unsupported LHV1 version")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const noEntry = ^uint32(0)

// Encode writes idx as an LHV1 file to w. It holds idx's read lock while it
// writes (searches go on; upserts wait), so w should be a file or a fast
// stream, not a slow network peer; vectord encodes a copy instead
// (EncodeSnapshot), so its writes do not wait.
func Encode(w io.Writer, idx *hnsw.Index) error {
	err := idx.Export(func(s *hnsw.Snapshot) error { return encode(w, s) })
	if err != nil {
		return errs.E("lhv1.Encode", errs.Internal, err)
	}
	return nil
}

// EncodeSnapshot writes s, an index's state (hnsw.Index.Copy), as an LHV1
// file to w: the same bytes Encode writes for the index in that state. It
// holds no lock of the index.
func EncodeSnapshot(w io.Writer, s *hnsw.Snapshot) error {
	if err := encode(w, s); err != nil {
		return errs.E("lhv1.Encode", errs.Internal, err)
	}
	return nil
}

type encoder struct {
	bw  *bufio.Writer
	crc hash.Hash32
	buf []byte
}

func (e *encoder) write(b []byte) {
	e.bw.Write(b) // errors are sticky in bufio.Writer; checked at Flush
	e.crc.Write(b)
}

func (e *encoder) section(tag string, n uint64) {
	b := append(e.buf[:0], tag...)
	b = binary.LittleEndian.AppendUint64(b, n)
	e.write(b)
}

func encode(w io.Writer, s *hnsw.Snapshot) error {
	e := &encoder{bw: bufio.NewWriterSize(w, 1<<16), crc: crc32.New(castagnoli), buf: make([]byte, 0, 1<<16)}
	p := s.Params()
	slots := s.Slots()
	entry, ok := s.Entry()
	if !ok {
		entry = noEntry
	}

	h := make([]byte, HeaderLen)
	copy(h, Magic)
	binary.LittleEndian.PutUint16(h[4:], Version)
	binary.LittleEndian.PutUint16(h[6:], HeaderLen)
	binary.LittleEndian.PutUint32(h[8:], uint32(p.Dims))
	h[12] = p.Metric.Code()
	binary.LittleEndian.PutUint32(h[16:], uint32(p.M))
	binary.LittleEndian.PutUint32(h[20:], uint32(p.EfConstruction))
	binary.LittleEndian.PutUint64(h[24:], p.Seed)
	binary.LittleEndian.PutUint64(h[32:], uint64(slots))
	binary.LittleEndian.PutUint64(h[40:], uint64(s.Live()))
	binary.LittleEndian.PutUint32(h[48:], entry)
	binary.LittleEndian.PutUint32(h[52:], uint32(s.MaxLevel()))
	binary.LittleEndian.PutUint64(h[56:], s.Seq())
	e.write(h)

	// VECS: float32 little-endian, slot after slot.
	vecs := s.Vectors()
	e.section(tagVectors, uint64(len(vecs))*4)
	for len(vecs) > 0 {
		n := min(len(vecs), 8192)
		b := e.buf[:0]
		for _, x := range vecs[:n] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		e.write(b)
		e.buf = b
		vecs = vecs[n:]
	}

	// NODE: flags, level, uvarint id length, id.
	var size uint64
	for i := range slots {
		id := s.ID(i)
		size += 2 + uint64(uvarintLen(uint64(len(id)))+len(id))
	}
	e.section(tagNodes, size)
	b := e.buf[:0]
	for i := range slots {
		var flags byte
		if s.Deleted(i) {
			flags |= 1
		}
		id := s.ID(i)
		b = append(b, flags, byte(s.Level(i)))
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		if len(b) >= 1<<15 {
			e.write(b)
			b = b[:0]
		}
	}
	e.write(b)

	// META: uvarint length, encoded metadata (length 0: none).
	var mb []byte
	size = 0
	for i := range slots {
		if md := s.Metadata(i); len(md) > 0 {
			mb = hnsw.AppendMetadata(mb[:0], md)
			size += uint64(uvarintLen(uint64(len(mb))) + len(mb))
		} else {
			size++
		}
	}
	e.section(tagMetadata, size)
	b = b[:0]
	for i := range slots {
		mb = mb[:0]
		if md := s.Metadata(i); len(md) > 0 {
			mb = hnsw.AppendMetadata(mb, md)
		}
		b = binary.AppendUvarint(b, uint64(len(mb)))
		b = append(b, mb...)
		if len(b) >= 1<<15 {
			e.write(b)
			b = b[:0]
		}
	}
	e.write(b)

	// GRPH: per slot, layers 0..level: uvarint count, count uint32 slots.
	size = 0
	for i := range slots {
		for l := 0; l <= s.Level(i); l++ {
			n := len(s.Links(i, l))
			size += uint64(uvarintLen(uint64(n)) + 4*n)
		}
	}
	e.section(tagGraph, size)
	b = b[:0]
	for i := range slots {
		for l := 0; l <= s.Level(i); l++ {
			links := s.Links(i, l)
			b = binary.AppendUvarint(b, uint64(len(links)))
			for _, x := range links {
				b = binary.LittleEndian.AppendUint32(b, x)
			}
		}
		if len(b) >= 1<<15 {
			e.write(b)
			b = b[:0]
		}
	}
	e.write(b)
	e.buf = b

	e.write([]byte(trailer))
	e.bw.Write(binary.LittleEndian.AppendUint32(nil, e.crc.Sum32()))
	return e.bw.Flush()
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// decoder reads through a buffer, hashing exactly the bytes it consumes and
// counting them for error messages.
type decoder struct {
	br      *bufio.Reader
	crc     hash.Hash32
	off     int64
	where   string
	sectEnd int64
	buf     []byte
}

func corrupt(format string, args ...any) error {
	return errs.E("lhv1.Decode", errs.Invalid, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
}

func (d *decoder) fail(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated in %s at byte %d", d.where, d.off)
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return corrupt("%s at byte %d: %s", d.where, d.off, errs.Message(err))
	}
	return errs.E("lhv1.Decode", errs.Internal, err) // the reader failed
}

// growStep is the most full allocates ahead of the bytes it has read.
const growStep = 1 << 20

func (d *decoder) full(n int) ([]byte, error) {
	if d.sectEnd > 0 && d.off+int64(n) > d.sectEnd {
		return nil, corrupt("%s overruns its section length at byte %d", d.where, d.off)
	}
	var b []byte
	if n <= growStep || cap(d.buf) >= n {
		if cap(d.buf) < n {
			d.buf = make([]byte, n)
		}
		b = d.buf[:n]
		if _, err := io.ReadFull(d.br, b); err != nil {
			return nil, d.fail(err)
		}
	} else {
		// A length field is only as true as the bytes that follow it: grow
		// the buffer as they arrive, so a file that claims a terabyte of
		// metadata and ends costs no more memory than it has bytes.
		b = d.buf[:0]
		for len(b) < n {
			k := min(n-len(b), max(growStep, len(b)))
			b = slices.Grow(b, k)
			got, err := io.ReadFull(d.br, b[len(b):len(b)+k])
			b = b[:len(b)+got]
			if err != nil {
				return nil, d.fail(err)
			}
		}
		d.buf = b
	}
	d.crc.Write(b)
	d.off += int64(n)
	return b, nil
}

func (d *decoder) uvarint() (uint64, error) {
	var x uint64
	var s uint
	for i := 0; ; i++ {
		b, err := d.full(1)
		if err != nil {
			return 0, err
		}
		c := b[0]
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, corrupt("varint overflow in %s at byte %d", d.where, d.off)
			}
			return x | uint64(c)<<s, nil
		}
		if i == 9 {
			return 0, corrupt("varint overflow in %s at byte %d", d.where, d.off)
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
}

// bytesN reads n bytes (n already bounded by the caller).
func (d *decoder) bytesN(n uint64) ([]byte, error) {
	if d.sectEnd > 0 && uint64(d.off)+n > uint64(d.sectEnd) {
		return nil, corrupt("%s: length %d overruns its section at byte %d", d.where, n, d.off)
	}
	return d.full(int(n))
}

func (d *decoder) section(tag string) (uint64, error) {
	d.sectEnd = 0
	d.where = "section header " + tag
	b, err := d.full(12)
	if err != nil {
		return 0, err
	}
	if string(b[:4]) != tag {
		return 0, corrupt("expected section %q at byte %d, found %q", tag, d.off-12, b[:4])
	}
	n := binary.LittleEndian.Uint64(b[4:])
	if n > 1<<48 {
		return 0, corrupt("section %s length %d is absurd", tag, n)
	}
	d.where = "section " + tag
	d.sectEnd = d.off + int64(n)
	return n, nil
}

func (d *decoder) endSection() error {
	if d.off != d.sectEnd {
		return corrupt("%s ends at byte %d, its length says %d", d.where, d.off, d.sectEnd)
	}
	d.sectEnd = 0
	return nil
}

// HeaderSeq returns the log sequence number in h, the first HeaderLen bytes
// of an LHV1 file in a version this build reads (ok false otherwise). It
// reads the header alone, so it answers for a file Decode refuses as
// damaged further on; the header has no checksum of its own, so the number
// is only as true as those 8 bytes (vectord uses it to tell whether a
// restored backup is older than the snapshot it replaces, ADR-122).
func HeaderSeq(h []byte) (seq uint64, ok bool) {
	if len(h) < HeaderLen || string(h[:4]) != Magic {
		return 0, false
	}
	if ver := binary.LittleEndian.Uint16(h[4:]); ver == 0 || ver > Version || int(binary.LittleEndian.Uint16(h[6:])) < HeaderLen {
		return 0, false
	}
	return binary.LittleEndian.Uint64(h[56:]), true
}

// Decode reads one LHV1 file from r and returns the index. r is read up to
// the end of the file; bytes after the checksum are an error.
func Decode(r io.Reader) (*hnsw.Index, error) {
	d := &decoder{br: bufio.NewReaderSize(r, 1<<16), crc: crc32.New(castagnoli), where: "header"}
	h, err := d.full(8)
	if err != nil {
		return nil, err
	}
	if string(h[:4]) != Magic {
		return nil, corrupt("bad magic %q, not an LHV1 file", h[:4])
	}
	ver := binary.LittleEndian.Uint16(h[4:])
	hlen := int(binary.LittleEndian.Uint16(h[6:]))
	if ver == 0 || ver > Version {
		return nil, errs.E("lhv1.Decode", errs.Invalid, fmt.Errorf("%w %d (this build reads 1..%d)", ErrVersion, ver, Version))
	}
	if hlen < HeaderLen {
		return nil, corrupt("header length %d, version %d needs %d", hlen, ver, HeaderLen)
	}
	rest, err := d.full(hlen - 8)
	if err != nil {
		return nil, err
	}
	h = append(append([]byte(nil), h...), rest...) // fields past 64 bytes are a later minor's: ignored
	metric, ok := hnsw.MetricFromCode(h[12])
	if !ok {
		return nil, corrupt("unknown metric code %d", h[12])
	}
	p := hnsw.Params{
		Dims:           int(binary.LittleEndian.Uint32(h[8:])),
		Metric:         metric,
		M:              int(binary.LittleEndian.Uint32(h[16:])),
		EfConstruction: int(binary.LittleEndian.Uint32(h[20:])),
		Seed:           binary.LittleEndian.Uint64(h[24:]),
	}
	slots64 := binary.LittleEndian.Uint64(h[32:])
	live := binary.LittleEndian.Uint64(h[40:])
	entry := binary.LittleEndian.Uint32(h[48:])
	maxLevel := binary.LittleEndian.Uint32(h[52:])
	seq := binary.LittleEndian.Uint64(h[56:])
	if err := p.Validate(); err != nil || p.Seed == 0 {
		return nil, corrupt("bad parameters in header: %+v", p)
	}
	if slots64 >= uint64(noEntry) || live > slots64 || maxLevel > 31 {
		return nil, corrupt("bad counts in header: slots %d live %d max level %d", slots64, live, maxLevel)
	}
	slots := int(slots64)
	b, err := hnsw.NewBuilder(p, slots, entry, int(maxLevel), seq)
	if err != nil {
		return nil, corrupt("header: %s", errs.Message(err))
	}

	// VECS
	n, err := d.section(tagVectors)
	if err != nil {
		return nil, err
	}
	if n != uint64(slots)*uint64(p.Dims)*4 {
		return nil, corrupt("vector section is %d bytes, want %d slots x %d dims x 4", n, slots, p.Dims)
	}
	per := max(1, 8192/p.Dims) // vectors per read
	vec := make([]float32, 0, per*p.Dims)
	for done := 0; done < slots; {
		k := min(per, slots-done)
		raw, err := d.full(k * p.Dims * 4)
		if err != nil {
			return nil, err
		}
		vec = vec[:k*p.Dims]
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		if err := b.AddVectors(vec); err != nil {
			return nil, d.fail(err)
		}
		done += k
	}
	if err := d.endSection(); err != nil {
		return nil, err
	}

	// NODE
	if _, err := d.section(tagNodes); err != nil {
		return nil, err
	}
	levels := make([]uint8, 0, min(slots, 1<<16))
	var nlive uint64
	for i := 0; i < slots; i++ {
		fl, err := d.full(2)
		if err != nil {
			return nil, err
		}
		flags, level := fl[0], fl[1]
		if flags&^1 != 0 {
			return nil, corrupt("slot %d has unknown flags %#x", i, flags)
		}
		idLen, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		if idLen > 1024 {
			return nil, corrupt("slot %d id length %d", i, idLen)
		}
		id, err := d.bytesN(idLen)
		if err != nil {
			return nil, err
		}
		if err := b.AddNode(string(id), int(level), flags&1 != 0); err != nil {
			return nil, d.fail(err)
		}
		if flags&1 == 0 {
			nlive++
		}
		levels = append(levels, level)
	}
	if err := d.endSection(); err != nil {
		return nil, err
	}
	if nlive != live {
		return nil, corrupt("header says %d live items, nodes have %d", live, nlive)
	}

	// META
	if _, err := d.section(tagMetadata); err != nil {
		return nil, err
	}
	for i := 0; i < slots; i++ {
		ml, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		if ml == 0 {
			continue
		}
		raw, err := d.bytesN(ml)
		if err != nil {
			return nil, err
		}
		md, used, err := hnsw.DecodeMetadata(raw)
		if err != nil || used != len(raw) {
			return nil, corrupt("slot %d metadata is malformed", i)
		}
		if err := b.SetMetadata(i, md); err != nil {
			return nil, d.fail(err)
		}
	}
	if err := d.endSection(); err != nil {
		return nil, err
	}

	// GRPH
	if _, err := d.section(tagGraph); err != nil {
		return nil, err
	}
	links := make([]uint32, 0, 2*p.M)
	for i := 0; i < slots; i++ {
		for l := 0; l <= int(levels[i]); l++ {
			cnt, err := d.uvarint()
			if err != nil {
				return nil, err
			}
			if cnt > uint64(2*p.M) {
				return nil, corrupt("slot %d layer %d has %d links", i, l, cnt)
			}
			raw, err := d.bytesN(cnt * 4)
			if err != nil {
				return nil, err
			}
			links = links[:cnt]
			for j := range links {
				links[j] = binary.LittleEndian.Uint32(raw[4*j:])
			}
			if err := b.SetLinks(i, l, links); err != nil {
				return nil, d.fail(err)
			}
		}
	}
	if err := d.endSection(); err != nil {
		return nil, err
	}

	d.where = "trailer"
	t, err := d.full(4)
	if err != nil {
		return nil, err
	}
	if string(t) != trailer {
		return nil, corrupt("bad trailer %q", t)
	}
	want := d.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(d.br, sum[:]); err != nil {
		return nil, d.fail(err)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, corrupt("checksum mismatch: file says %08x, content hashes to %08x", got, want)
	}
	if _, err := d.br.ReadByte(); err != io.EOF {
		if err == nil {
			return nil, corrupt("trailing data after the checksum")
		}
		return nil, d.fail(err)
	}
	idx, err := b.Finish()
	if err != nil {
		return nil, corrupt("%s", errs.Message(err))
	}
	return idx, nil
}
