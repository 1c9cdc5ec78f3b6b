package keyword

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
	"sort"
)

// LHKW2 file layout (all integers unsigned LEB128 varints unless noted):
//
//	magic "LHKW" | version byte 2
//	ndocs | per doc: len(id) id-bytes, token count, TextSum (8 bytes little endian)
//	nterms | per term (sorted): len(term) term-bytes, npostings, per posting: doc delta, tf
//	CRC-32C (Castagnoli) of everything before it, 4 bytes little endian
//
// Only live documents are written, renumbered densely: Save compacts.
// LHKW1 (version byte 1) is the same without TextSum; it still loads, its
// documents' sums unknown until they are added again.
const (
	magic   = "LHKW"
	version = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes the index to path atomically: a temp file in the same
// directory, fsync, rename over path, fsync of the directory.
func (ix *Index) Save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	if err := ix.encode(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := f.Write(sum[:]); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (ix *Index) encode(w *bufio.Writer) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var buf [binary.MaxVarintLen64]byte
	put := func(x uint64) { w.Write(buf[:binary.PutUvarint(buf[:], x)]) }
	putS := func(s string) { put(uint64(len(s))); w.WriteString(s) }
	w.WriteString(magic)
	w.WriteByte(version)
	remap := make([]uint32, len(ix.ids))
	put(uint64(ix.live))
	var next uint32
	for d, id := range ix.ids {
		if ix.lens[d] == deletedLen {
			remap[d] = deletedLen
			continue
		}
		remap[d] = next
		next++
		putS(id)
		put(uint64(ix.lens[d]))
		var sum [8]byte
		binary.LittleEndian.PutUint64(sum[:], ix.sums[d])
		w.Write(sum[:])
	}
	terms := make([]string, 0, len(ix.post))
	for t, ps := range ix.post {
		for _, p := range ps {
			if remap[p.doc] != deletedLen {
				terms = append(terms, t)
				break
			}
		}
	}
	sort.Strings(terms)
	put(uint64(len(terms)))
	for _, t := range terms {
		ps := ix.post[t]
		n := 0
		for _, p := range ps {
			if remap[p.doc] != deletedLen {
				n++
			}
		}
		putS(t)
		put(uint64(n))
		var prev uint32
		for _, p := range ps {
			d := remap[p.doc]
			if d == deletedLen {
				continue
			}
			put(uint64(d - prev))
			put(uint64(p.tf))
			prev = d
		}
	}
	return nil
}

// ErrCorrupt is returned by Load for a file that is not a whole LHKW1 or
// LHKW2 file.
var ErrCorrupt = errors.New("keyword index file is corrupt")

// Load reads an index written by Save. A missing file is os.ErrNotExist; a
// torn or altered one is ErrCorrupt.
func Load(path string) (*Index, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ix, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ix, nil
}

// decode parses a whole LHKW1 or LHKW2 file.
func decode(b []byte) (*Index, error) {
	if len(b) < len(magic)+1+4 || string(b[:4]) != magic {
		return nil, fmt.Errorf("%w (bad magic)", ErrCorrupt)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w (checksum mismatch)", ErrCorrupt)
	}
	v := body[4]
	if v != 1 && v != version {
		return nil, fmt.Errorf("unsupported version %d", v)
	}
	r := &reader{b: body[5:]}
	ix := New()
	ndocs := r.uint()
	if ndocs > uint64(len(r.b)) {
		return nil, ErrCorrupt
	}
	ix.ids = make([]string, 0, ndocs)
	ix.lens = make([]uint32, 0, ndocs)
	ix.sums = make([]uint64, 0, ndocs)
	for i := uint64(0); i < ndocs && r.err == nil; i++ {
		id := r.str()
		n := r.uint()
		if n >= deletedLen { // a count Save never writes: deletedLen marks a removed document
			r.err = ErrCorrupt
			break
		}
		l := uint32(n)
		var sum uint64 // LHKW1: unknown
		if v >= 2 {
			sum = r.u64()
		}
		ix.byID[id] = uint32(len(ix.ids))
		ix.ids = append(ix.ids, id)
		ix.lens = append(ix.lens, l)
		ix.sums = append(ix.sums, sum)
		ix.totalLen += int64(l)
	}
	ix.live = len(ix.ids)
	nterms := r.uint()
	for i := uint64(0); i < nterms && r.err == nil; i++ {
		t := r.str()
		n := r.uint()
		if n > uint64(len(r.b)) {
			r.err = ErrCorrupt
			break
		}
		ps := make([]posting, n)
		var d uint64
		for j := range ps {
			delta := r.uint()
			d += delta
			tf := r.uint()
			// Save writes each term's documents once each, ascending, with
			// a count that fits 32 bits.
			if delta >= ndocs || d >= ndocs || j > 0 && delta == 0 || tf > math.MaxUint32 {
				r.err = ErrCorrupt
				break
			}
			ps[j] = posting{doc: uint32(d), tf: uint32(tf)}
		}
		ix.post[t] = ps
	}
	if r.err != nil || len(r.b) != 0 || len(ix.byID) != len(ix.ids) {
		return nil, ErrCorrupt
	}
	return ix, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrCorrupt
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = ErrCorrupt
		return 0
	}
	x := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return x
}

func (r *reader) str() string {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = ErrCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
