package hnsw

import (
	"math"
	"math/bits"
	"math/rand/v2"

	"lakehouse-go/internal/errs"
)

// Snapshot is a read-only view of an index's internal state for
// serialisation (the lhv1 package). One from Export is valid only inside
// its callback (slices it returns are shared with the index); one from
// Copy is the index's state at one moment, its own, valid as long as it is
// kept. Slices it returns must not be modified.
type Snapshot struct {
	ix   *Index
	live int
}

// Export calls fn with a consistent view of the index, holding the read lock
// (writers wait; searches continue) until fn returns.
func (ix *Index) Export(fn func(s *Snapshot) error) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return fn(&Snapshot{ix, len(ix.byID)})
}

// copyChunk is how many slots Copy copies per hold of the read lock (at
// 100 dims about 2.3 MB, well under a millisecond); a var for tests.
var copyChunk = 1 << 12

// copyStepHook, when set (tests), runs between Copy's steps, no lock held.
var copyStepHook func()

// Copy returns the index's state at one moment as a Snapshot of its own
// (vectors, ids, metadata, levels, tombstones, links: what lhv1 encodes),
// so it can be encoded while writes go on. It copies copyChunk slots per
// hold of the read lock, so a writer waits at most one chunk; the slots
// writers change meanwhile are marked and copied again by the last step,
// which also copies the slots added since. hold, when not nil, is called
// just before that last step and the copy is the state at that step: a
// caller that orders its writes under a lock of its own (vectord's writer
// lock, taken in hold and released by the caller once it has read what
// goes with the copy, such as its log position) gets a copy that matches
// what it reads under that lock. The last step holds the write lock for
// the changed slots only (searches wait for it too).
//
// Metadata maps are shared with the index, not copied: the index replaces
// an item's map, never changes it. The copy costs about the index's slabs
// again (4*dims + 8*M + 33 bytes a slot, and the upper layers' links)
// until it is dropped.
func (ix *Index) Copy(hold func()) *Snapshot {
	ix.copyMu.Lock()
	defer ix.copyMu.Unlock()
	ix.mu.Lock()
	ix.copying = true
	ix.dirty = ix.dirty[:0]
	if words := len(ix.ids)/64 + 1; cap(ix.dirty) < words {
		ix.dirty = make([]uint64, 0, words+words/8+16)
	}
	f := &Index{p: ix.p, metric: ix.metric, dims: ix.dims, m: ix.m, m0: ix.m0, entry: none}
	n, nu := len(ix.ids), len(ix.upper)
	ix.mu.Unlock()
	f.growCopy(n, nu)
	for {
		if copyStepHook != nil {
			copyStepHook()
		}
		ix.mu.RLock()
		n, nu = len(ix.ids), len(ix.upper)
		room := f.copyRoom(n, nu)
		done := false
		if room {
			done = ix.copySlots(f, copyChunk)
		}
		ix.mu.RUnlock()
		if !room {
			f.growCopy(n, nu)
			continue
		}
		if done {
			break
		}
	}
	if hold != nil {
		hold()
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.copySlots(f, len(ix.ids)) // the slots added since the last step
	for w, word := range ix.dirty {
		for word != 0 {
			s := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if s < len(f.ids) {
				ix.copySlot(f, s)
			}
		}
	}
	ix.copying = false
	ix.dirty = ix.dirty[:0]
	f.entry, f.maxLevel, f.seq = ix.entry, ix.maxLevel, ix.seq
	return &Snapshot{f, len(ix.byID)}
}

// copyLockedGrowHook, when set (tests), runs when copySlots, which holds
// the index's lock, finds the copy without room for what it must add and
// so grows it there (allocates and copies tens of MB).
var copyLockedGrowHook func()

// copyRoom reports whether f, a copy being filled, has the capacity for n
// slots and nu upper-layer link words, so that copySlots allocates nothing
// while it holds the index's lock. An allocation there could stop the
// copier for a GC assist (the copy's own tens of MB of allocation are its
// debt), or copy a whole slab to grow it, while every writer, and with a
// writer queued every search, waits for the lock (ADR-143: the first
// snapshot after a start held one upsert 100-500 ms this way).
func (f *Index) copyRoom(n, nu int) bool {
	return cap(f.ids) >= n && cap(f.upper) >= nu
}

// growCopy gives f, a copy being filled, the capacity for n slots and nu
// upper-layer link words plus headroom for the slots writers add while
// the copy runs: it is called with no lock held.
func (f *Index) growCopy(n, nu int) {
	n += n/64 + 1024
	nu += nu/64 + 64*(f.m+1)
	if cap(f.ids) < n {
		f.vecs = append(make([]float32, 0, n*f.dims), f.vecs...)
		f.link0 = append(make([]uint32, 0, n*(f.m0+1)), f.link0...)
		f.ids = append(make([]string, 0, n), f.ids...)
		f.meta = append(make([]Metadata, 0, n), f.meta...)
		f.levels = append(make([]uint8, 0, n), f.levels...)
		f.deleted = append(make([]bool, 0, n), f.deleted...)
		f.upperOff = append(make([]uint32, 0, n), f.upperOff...)
	}
	if cap(f.upper) < nu {
		f.upper = append(make([]uint32, 0, nu), f.upper...)
	}
}

// copySlots appends up to k of the slots f lacks, and the upper layers'
// links added since the last call (the upper slab only grows, by appends;
// a change in place marks its slot); it reports whether f has every slot.
// The read lock is held.
func (ix *Index) copySlots(f *Index, k int) bool {
	a := len(f.ids)
	b := min(len(ix.ids), a+k)
	d, w := ix.dims, ix.m0+1
	if copyLockedGrowHook != nil && !f.copyRoom(b, len(ix.upper)) {
		copyLockedGrowHook()
	}
	f.vecs = append(f.vecs, ix.vecs[a*d:b*d]...)
	f.link0 = append(f.link0, ix.link0[a*w:b*w]...)
	f.ids = append(f.ids, ix.ids[a:b]...)
	f.meta = append(f.meta, ix.meta[a:b]...)
	f.levels = append(f.levels, ix.levels[a:b]...)
	f.deleted = append(f.deleted, ix.deleted[a:b]...)
	f.upperOff = append(f.upperOff, ix.upperOff[a:b]...)
	f.upper = append(f.upper, ix.upper[len(f.upper):]...)
	return b == len(ix.ids)
}

// copySlot copies slot s, which f has, again. The write lock is held.
func (ix *Index) copySlot(f *Index, s int) {
	d, w := ix.dims, ix.m0+1
	copy(f.vecs[s*d:(s+1)*d], ix.vecs[s*d:(s+1)*d])
	copy(f.link0[s*w:(s+1)*w], ix.link0[s*w:(s+1)*w])
	f.ids[s], f.meta[s], f.levels[s], f.deleted[s], f.upperOff[s] = ix.ids[s], ix.meta[s], ix.levels[s], ix.deleted[s], ix.upperOff[s]
	if l := int(ix.levels[s]); l > 0 {
		o := int(ix.upperOff[s])
		copy(f.upper[o:o+l*(ix.m+1)], ix.upper[o:o+l*(ix.m+1)])
	}
}

// markDirty records, while a Copy runs, that slot s changes. The write
// lock is held.
func (ix *Index) markDirty(s uint32) {
	if !ix.copying {
		return
	}
	w := int(s >> 6)
	if w >= len(ix.dirty) {
		ix.dirty = append(ix.dirty, make([]uint64, w+1-len(ix.dirty))...)
	}
	ix.dirty[w] |= 1 << (s & 63)
}

// Params returns the index parameters (Capacity zero).
func (s *Snapshot) Params() Params { p := s.ix.p; p.Capacity = 0; return p }

// Slots is the number of slots: live items plus tombstones.
func (s *Snapshot) Slots() int { return len(s.ix.ids) }

// Live is the number of live items.
func (s *Snapshot) Live() int { return s.live }

// Entry is the graph's entry slot; ok is false for an empty graph.
func (s *Snapshot) Entry() (slot uint32, ok bool) { return s.ix.entry, s.ix.entry != none }

// MaxLevel is the top layer (0 for an empty graph).
func (s *Snapshot) MaxLevel() int {
	if s.ix.entry == none {
		return 0
	}
	return s.ix.maxLevel
}

// Seq is the caller's log position (see Index.SetSeq).
func (s *Snapshot) Seq() uint64 { return s.ix.seq }

// Vectors is the vector slab: Slots()*Dims values, slot after slot (unit
// vectors for cosine).
func (s *Snapshot) Vectors() []float32 { return s.ix.vecs[:len(s.ix.ids)*s.ix.dims] }

// ID is the id at slot ("" for a tombstone).
func (s *Snapshot) ID(slot int) string { return s.ix.ids[slot] }

// Deleted reports whether slot is a tombstone.
func (s *Snapshot) Deleted(slot int) bool { return s.ix.deleted[slot] }

// Level is the top layer of slot.
func (s *Snapshot) Level(slot int) int { return int(s.ix.levels[slot]) }

// Metadata is the metadata at slot (nil when none).
func (s *Snapshot) Metadata(slot int) Metadata { return s.ix.meta[slot] }

// Links are slot's neighbours on layer l (0 <= l <= Level(slot)).
func (s *Snapshot) Links(slot, l int) []uint32 { return s.ix.neighbors(uint32(slot), l) }

// Builder reassembles an index from serialised state (the lhv1 decoder).
// Call AddVectors until Slots()*Dims values are in, AddNode once per slot in
// order, then SetMetadata / SetLinks for any slot, then Finish. Every method
// validates its input, so a corrupt file yields an error, never a broken
// index. Storage grows as data arrives, so a header that lies about its
// size cannot force a huge allocation.
type Builder struct {
	ix       *Index
	slots    int
	entry    uint32
	maxLevel int
	live     int
	nvec     int
}

const op = "hnsw.Builder"

// NewBuilder starts an index of slots slots with these params, entry slot
// (none = ^uint32(0) for an empty graph), top layer and log position.
func NewBuilder(p Params, slots int, entry uint32, maxLevel int, seq uint64) (*Builder, error) {
	p.Capacity = 0
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if slots < 0 || uint64(slots) >= uint64(none) {
		return nil, errs.Errorf(op, errs.Invalid, "slot count %d out of range", slots)
	}
	if maxLevel < 0 || maxLevel > maxLvl {
		return nil, errs.Errorf(op, errs.Invalid, "max level %d out of range", maxLevel)
	}
	if (slots == 0) != (entry == none) || (entry != none && int(entry) >= slots) {
		return nil, errs.Errorf(op, errs.Invalid, "entry point %d invalid for %d slots", entry, slots)
	}
	ix, err := New(p)
	if err != nil {
		return nil, err
	}
	ix.rng = rand.New(rand.NewPCG(p.Seed^uint64(slots), p.Seed+uint64(slots)))
	// reserve at most 64 MiB up front; the rest grows as data arrives
	perSlot := 4*p.Dims + 4*(2*p.M+1) + 64
	ix.reserve(min(slots, 1<<16, max(1, (64<<20)/perSlot)))
	ix.seq = seq
	// the id map sized as the vectors are, not grown by rehashing as ids arrive
	ix.byID = make(map[string]uint32, min(slots, 1<<16))
	return &Builder{ix: ix, slots: slots, entry: entry, maxLevel: maxLevel}, nil
}

// AddVectors appends whole vectors (len(v) a multiple of Dims).
func (b *Builder) AddVectors(v []float32) error {
	d := b.ix.dims
	if len(v)%d != 0 || b.nvec+len(v)/d > b.slots {
		return errs.Errorf(op, errs.Invalid, "vector data does not match %d slots of %d dims", b.slots, d)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return errs.Errorf(op, errs.Invalid, "vector %d has a non-finite value", b.nvec+i/d)
		}
	}
	b.ix.vecs = append(b.ix.vecs, v...)
	b.nvec += len(v) / d
	return nil
}

// AddNode appends the next slot: its id ("" for a tombstone), top layer and
// tombstone flag.
func (b *Builder) AddNode(id string, level int, deleted bool) error {
	ix := b.ix
	s := uint32(len(ix.ids))
	if int(s) >= b.slots {
		return errs.Errorf(op, errs.Invalid, "more nodes than the %d slots", b.slots)
	}
	if level < 0 || level > b.maxLevel {
		return errs.Errorf(op, errs.Invalid, "slot %d level %d above max level %d", s, level, b.maxLevel)
	}
	if deleted != (id == "") || len(id) > maxID {
		return errs.Errorf(op, errs.Invalid, "slot %d: bad id for deleted=%v", s, deleted)
	}
	if !deleted {
		if _, dup := ix.byID[id]; dup {
			return errs.Errorf(op, errs.Invalid, "slot %d: duplicate id %q", s, id)
		}
		ix.byID[id] = s
		b.live++
	} else {
		ix.free = append(ix.free, s)
	}
	ix.ids = append(ix.ids, id)
	ix.meta = append(ix.meta, nil)
	ix.levels = append(ix.levels, uint8(level))
	ix.deleted = append(ix.deleted, deleted)
	ix.link0 = append(ix.link0, make([]uint32, ix.m0+1)...)
	if level > 0 {
		ix.upperOff = append(ix.upperOff, uint32(len(ix.upper)))
		ix.upper = append(ix.upper, make([]uint32, level*(ix.m+1))...)
	} else {
		ix.upperOff = append(ix.upperOff, none)
	}
	return nil
}

// badSlotMetadata is SetMetadata's error for a slot whose metadata has a
// bad field: the first in name order (the empty name first), as
// cleanMetadata names an upsert's, so a damaged snapshot is described the
// same way on every load (a map-order pick named a different field each
// time).
func badSlotMetadata(slot int, md Metadata) error {
	bad := ""
	found := false
	for k, v := range md {
		if found && k >= bad {
			continue
		}
		if k == "" {
			bad, found = k, true
		} else if v != nil {
			if _, ok := normScalar(v); !ok {
				bad, found = k, true
			}
		}
	}
	if bad == "" {
		return errs.Errorf(op, errs.Invalid, "slot %s has an empty metadata field name", itoa(slot))
	}
	return errs.Errorf(op, errs.Invalid, "slot %s metadata field %q %s", itoa(slot), bad, scalarProblem(md[bad]))
}

// SetMetadata sets a live slot's metadata. The index keeps md (the
// decoder's own map from DecodeMetadata): it is checked as an upsert's is,
// in place rather than copied — the copy was a seventh of a load's CPU.
func (b *Builder) SetMetadata(slot int, md Metadata) error {
	ix := b.ix
	if slot < 0 || slot >= len(ix.ids) || ix.deleted[slot] {
		if len(md) == 0 {
			return nil
		}
		return errs.Errorf(op, errs.Invalid, "metadata for missing or deleted slot %d", slot)
	}
	for k, v := range md {
		if k == "" {
			return badSlotMetadata(slot, md)
		}
		if v == nil {
			delete(md, k) // as cleanMetadata: no value, the field is absent
			continue
		}
		nv, ok := normScalar(v)
		if !ok {
			return badSlotMetadata(slot, md)
		}
		if nv != v {
			md[k] = nv
		}
	}
	if len(md) == 0 {
		md = nil
	}
	if old := ix.meta[slot]; old != nil {
		ix.metaRemoved(uint32(slot), old)
	}
	ix.meta[slot] = md
	ix.metaAdded(uint32(slot), md)
	return nil
}

// SetLinks sets slot's neighbours on layer l.
func (b *Builder) SetLinks(slot, l int, links []uint32) error {
	ix := b.ix
	if slot < 0 || slot >= len(ix.ids) || l < 0 || l > int(ix.levels[slot]) {
		return errs.Errorf(op, errs.Invalid, "links for slot %d layer %d out of range", slot, l)
	}
	if len(links) > ix.maxLinks(l) {
		return errs.Errorf(op, errs.Invalid, "slot %d layer %d has %d links, max %d", slot, l, len(links), ix.maxLinks(l))
	}
	for _, n := range links {
		if int(n) >= b.slots || int(n) == slot {
			return errs.Errorf(op, errs.Invalid, "slot %d layer %d links to invalid slot %d", slot, l, n)
		}
	}
	blk := ix.block(uint32(slot), l)
	blk[0] = uint32(len(links))
	copy(blk[1:], links)
	return nil
}

// Finish checks the whole and returns the index. Links to slots whose level
// is below the layer are rejected here, once every level is known.
func (b *Builder) Finish() (*Index, error) {
	ix := b.ix
	if len(ix.ids) != b.slots || b.nvec != b.slots {
		return nil, errs.Errorf(op, errs.Invalid, "have %d nodes and %d vectors, want %d", len(ix.ids), b.nvec, b.slots)
	}
	if b.entry != none && int(ix.levels[b.entry]) != b.maxLevel {
		return nil, errs.Errorf(op, errs.Invalid, "entry slot %d is on level %d, not the max level %d", b.entry, ix.levels[b.entry], b.maxLevel)
	}
	for s := range ix.ids {
		for l := 1; l <= int(ix.levels[s]); l++ {
			for _, n := range ix.neighbors(uint32(s), l) {
				if int(ix.levels[n]) < l {
					return nil, errs.Errorf(op, errs.Invalid, "slot %d layer %d links to slot %d of level %d", s, l, n, ix.levels[n])
				}
			}
		}
	}
	ix.entry, ix.maxLevel = b.entry, b.maxLevel
	if ix.entry == none {
		ix.maxLevel = 0
	}
	// reuse low slots first, as a fresh index would
	for i, j := 0, len(ix.free)-1; i < j; i, j = i+1, j-1 {
		ix.free[i], ix.free[j] = ix.free[j], ix.free[i]
	}
	b.ix = nil
	return ix, nil
}
