package hnsw

import (
	"math"
	"math/rand/v2"

	"lakehouse-go/internal/errs"
)

// Snapshot is a read-only view of an index's internal state for
// serialisation (the lhv1 package). It is valid only inside the Export
// callback; slices it returns are shared with the index and must not be
// modified or kept.
type Snapshot struct{ ix *Index }

// Export calls fn with a consistent view of the index, holding the read lock
// (writers wait; searches continue) until fn returns.
func (ix *Index) Export(fn func(s *Snapshot) error) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return fn(&Snapshot{ix})
}

// Params returns the index parameters (Capacity zero).
func (s *Snapshot) Params() Params { p := s.ix.p; p.Capacity = 0; return p }

// Slots is the number of slots: live items plus tombstones.
func (s *Snapshot) Slots() int { return len(s.ix.ids) }

// Live is the number of live items.
func (s *Snapshot) Live() int { return len(s.ix.byID) }

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
			return errs.Errorf(op, errs.Invalid, "slot %s has an empty metadata field name", itoa(slot))
		}
		if v == nil {
			delete(md, k) // as cleanMetadata: no value, the field is absent
			continue
		}
		nv, ok := normScalar(v)
		if !ok {
			return errs.Errorf(op, errs.Invalid, "slot %s metadata field %q %s", itoa(slot), k, scalarProblem(v))
		}
		if nv != v {
			md[k] = nv
		}
	}
	if len(md) == 0 {
		md = nil
	}
	if old := ix.meta[slot]; old != nil {
		ix.post.remove(uint32(slot), old)
	}
	ix.meta[slot] = md
	ix.post.add(uint32(slot), md)
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
