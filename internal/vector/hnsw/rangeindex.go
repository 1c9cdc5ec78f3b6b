package hnsw

import (
	"math/bits"
	"slices"
)

// A range index is a field's numbers with their slots in
// (number, slot) order, so a range filter finds its matching slots by two
// binary searches instead of reading every distinct number of the field
// (rangeSet). It lives in memory only, like the value keys: LHV1 and the
// log do not know it.
//
//   - A field gets one on the first range search over it once the field
//     has rangeIndexMin distinct values (a field of a few values is
//     answered as well by merging their posting lists): buildRange copies
//     the field's numbers under the read lock, sorts them with no lock
//     held, and installs the index under the write lock after applying the
//     writes logged meanwhile (as buildOrder does for scroll's id order).
//   - From then on the writers keep it under the write lock they hold: an
//     upsert or delete moves at most numChunkMax entries of one chunk.
//   - It goes when the field has no value left on any item (its postings
//     go), so there are never more of them than fields.
//   - A search reads it under the read lock; where a field has none, the
//     field's values are scanned as before. The matching set is the same
//     either way (TestRangeIndexMatchesScan, FuzzRangeIndex).
//
// Memory: 12 bytes per number of an indexed field (float64 + uint32 slot),
// about 16 allocated right after a build (chunks three-quarters full, room
// for one more), counted in Stats.MemoryBytes.

// rangeIndexMin is the number of distinct values (of any type) a field
// needs before a range search builds its index; a var for tests.
var rangeIndexMin = 64

// numChunkMax bounds a chunk: an insert or remove moves at most this many
// entries (6 KiB); a chunk is split above it.
const numChunkMax = 512

// numIndex is a set of (number, slot) pairs in order: sorted chunks of
// 1..numChunkMax pairs, every pair of a chunk before every pair of the
// next. -0 is kept as +0 (they are equal in every comparison a range
// makes, as in the value keys).
type numIndex struct {
	chunks []numChunk
	n      int
}

type numChunk struct {
	v []float64
	s []uint32
}

// numPair is one (number, slot) pair of a build.
type numPair struct {
	v float64
	s uint32
}

func cmpPair(av float64, as uint32, bv float64, bs uint32) int {
	switch {
	case av < bv:
		return -1
	case av > bv:
		return 1
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

func newNumChunk() numChunk {
	return numChunk{v: make([]float64, 0, numChunkMax+1), s: make([]uint32, 0, numChunkMax+1)}
}

// newNumIndex makes an index of pairs sorted by (v, s), distinct.
func newNumIndex(ps []numPair) *numIndex {
	x := &numIndex{n: len(ps)}
	const fill = numChunkMax * 3 / 4
	x.chunks = make([]numChunk, 0, (len(ps)+fill-1)/fill)
	for len(ps) > 0 {
		k := min(fill, len(ps))
		c := newNumChunk()
		for _, p := range ps[:k] {
			c.v = append(c.v, p.v)
			c.s = append(c.s, p.s)
		}
		x.chunks = append(x.chunks, c)
		ps = ps[k:]
	}
	return x
}

// chunkOf is the chunk that holds (v, s) or would: the last whose first
// pair is not after it (0 if none is).
func (x *numIndex) chunkOf(v float64, s uint32) int {
	lo, hi := 0, len(x.chunks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c := x.chunks[m]; cmpPair(c.v[0], c.s[0], v, s) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// find is the position of (v, s) in chunk c, or where it would go.
func (c *numChunk) find(v float64, s uint32) (int, bool) {
	lo, hi := 0, len(c.v)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cmpPair(c.v[m], c.s[m], v, s) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(c.v) && c.v[lo] == v && c.s[lo] == s
}

// insert adds (v, s) (nothing if it is there).
func (x *numIndex) insert(v float64, s uint32) {
	if v == 0 {
		v = 0 // -0 as +0
	}
	if len(x.chunks) == 0 {
		c := newNumChunk()
		c.v, c.s = append(c.v, v), append(c.s, s)
		x.chunks, x.n = append(x.chunks, c), 1
		return
	}
	ci := x.chunkOf(v, s)
	c := &x.chunks[ci]
	j, found := c.find(v, s)
	if found {
		return
	}
	c.v, c.s = slices.Insert(c.v, j, v), slices.Insert(c.s, j, s)
	x.n++
	if len(c.v) <= numChunkMax {
		return
	}
	h := len(c.v) / 2
	right := newNumChunk()
	right.v, right.s = append(right.v, c.v[h:]...), append(right.s, c.s[h:]...)
	c.v, c.s = c.v[:h], c.s[:h]
	x.chunks = slices.Insert(x.chunks, ci+1, right)
}

// remove takes (v, s) out (nothing if it is not there). A chunk left empty
// goes; one left under a quarter full takes in its next neighbour when both
// fit in one.
func (x *numIndex) remove(v float64, s uint32) {
	if len(x.chunks) == 0 {
		return
	}
	if v == 0 {
		v = 0
	}
	ci := x.chunkOf(v, s)
	c := &x.chunks[ci]
	j, found := c.find(v, s)
	if !found {
		return
	}
	c.v, c.s = slices.Delete(c.v, j, j+1), slices.Delete(c.s, j, j+1)
	x.n--
	switch {
	case len(c.v) == 0:
		x.chunks = slices.Delete(x.chunks, ci, ci+1)
	case len(c.v) < numChunkMax/4 && ci+1 < len(x.chunks) && len(c.v)+len(x.chunks[ci+1].v) <= numChunkMax:
		nx := x.chunks[ci+1]
		c.v, c.s = append(c.v, nx.v...), append(c.s, nx.s...)
		x.chunks = slices.Delete(x.chunks, ci+1, ci+2)
	}
}

// search is the first position (chunk, index) whose number has pred, for a
// pred that is false and then true along the order; chunk == len(chunks)
// when none has.
func (x *numIndex) search(pred func(float64) bool) (int, int) {
	lo, hi := 0, len(x.chunks) // chunks[:lo] end without pred, chunks[hi:] end with it
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c := x.chunks[m]; pred(c.v[len(c.v)-1]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == len(x.chunks) {
		return lo, 0
	}
	c := x.chunks[lo]
	j, e := 0, len(c.v)
	for j < e {
		m := int(uint(j+e) >> 1)
		if pred(c.v[m]) {
			e = m
		} else {
			j = m + 1
		}
	}
	return lo, j
}

// set is the sorted slots (of n slots) whose number lies in r: the same
// set rangeSet finds from the field's value keys.
func (x *numIndex) set(r *Range, n int) []uint32 {
	lower := func(v float64) bool { return (r.Gt == nil || v > *r.Gt) && (r.Gte == nil || v >= *r.Gte) }
	upper := func(v float64) bool { return (r.Lt == nil || v < *r.Lt) && (r.Lte == nil || v <= *r.Lte) }
	c0, j0 := x.search(lower)
	c1, j1 := x.search(func(v float64) bool { return !upper(v) })
	if c1 < c0 || c1 == c0 && j1 <= j0 {
		return nil
	}
	// each[fn] calls fn with the slots of the segment [c0 j0, c1 j1).
	each := func(fn func([]uint32)) {
		for c := c0; c <= c1 && c < len(x.chunks); c++ {
			s := x.chunks[c].s
			lo, hi := 0, len(s)
			if c == c0 {
				lo = j0
			}
			if c == c1 {
				hi = j1
			}
			fn(s[lo:hi])
		}
	}
	cnt := 0
	each(func(s []uint32) { cnt += len(s) })
	out := make([]uint32, 0, cnt)
	if cnt*bits.Len(uint(cnt)) < n/16 {
		// few: a sort costs less than a bitset of every slot
		each(func(s []uint32) { out = append(out, s...) })
		slices.Sort(out)
		return out
	}
	words := make([]uint64, (n+63)/64)
	each(func(ss []uint32) {
		for _, s := range ss {
			words[s>>6] |= 1 << (s & 63)
		}
	})
	for w, b := range words {
		for b != 0 {
			out = append(out, uint32(w*64+bits.TrailingZeros64(b)))
			b &= b - 1
		}
	}
	return out
}

// memory is the heap the index holds.
func (x *numIndex) memory() int64 {
	m := int64(cap(x.chunks)) * 48
	for _, c := range x.chunks {
		m += int64(cap(c.v))*8 + int64(cap(c.s))*4
	}
	return m
}

// numChange is one write logged for a range index being built.
type numChange struct {
	v   float64
	s   uint32
	add bool
}

// metaAdded and metaRemoved keep the postings and the range indexes (or the
// logs of those being built) with slot s's metadata md; the write lock is
// held. metaRemoved is called while ix.meta[s] is still md.
func (ix *Index) metaAdded(s uint32, md Metadata) {
	ix.post.add(s, md)
	if len(ix.ranges) == 0 && len(ix.rangeLog) == 0 {
		return
	}
	for k, v := range md {
		f, ok := v.(float64)
		if !ok {
			continue
		}
		if x := ix.ranges[k]; x != nil {
			x.insert(f, s)
		} else if lg := ix.rangeLog[k]; lg != nil {
			*lg = append(*lg, numChange{v: f, s: s, add: true})
		}
	}
}

func (ix *Index) metaRemoved(s uint32, md Metadata) {
	ix.post.remove(s, md)
	if len(ix.ranges) == 0 && len(ix.rangeLog) == 0 {
		return
	}
	for k, v := range md {
		if _, live := ix.post[k]; !live {
			delete(ix.ranges, k) // no item has the field any more
		}
		f, ok := v.(float64)
		if !ok {
			continue
		}
		if x := ix.ranges[k]; x != nil {
			x.remove(f, s)
		} else if lg := ix.rangeLog[k]; lg != nil {
			*lg = append(*lg, numChange{v: f, s: s})
		}
	}
}

// hasRange reports whether cf has a range field.
func (cf compiledFilter) hasRange() bool {
	for _, f := range cf {
		if f.rng != nil {
			return true
		}
	}
	return false
}

// buildRanges builds the range index of each range field of cf that lacks
// one and has rangeIndexMin distinct values. No lock may be held.
func (ix *Index) buildRanges(cf compiledFilter) {
	var need []string
	ix.mu.RLock()
	for _, f := range cf {
		if f.rng != nil && ix.ranges[f.name] == nil && len(ix.post[f.name]) >= max(rangeIndexMin, 1) {
			need = append(need, f.name)
		}
	}
	ix.mu.RUnlock()
	for _, name := range need {
		ix.buildRange(name)
	}
}

// rangeSorted, when not nil, is called by buildRange after the sort, no
// lock held: tests write there as a writer between the two locks would.
var rangeSorted func(ix *Index)

// buildRange builds field's range index: the pairs are copied under the
// read lock (from the field's value keys and posting lists), sorted with
// no lock held, and installed under the write lock after the writes
// logged meanwhile are applied. rangeMu makes one build at a time; it is
// taken before mu, never while mu is held.
func (ix *Index) buildRange(field string) {
	ix.rangeMu.Lock()
	defer ix.rangeMu.Unlock()
	ix.mu.RLock()
	vals := ix.post[field]
	if ix.ranges[field] != nil || vals == nil {
		ix.mu.RUnlock()
		return
	}
	total := 0
	for k, l := range vals {
		if len(k) == 9 && k[0] == 'n' {
			total += len(l)
		}
	}
	ps := make([]numPair, 0, total)
	for k, l := range vals {
		if v, ok := keyNum(k); ok {
			for _, s := range l {
				ps = append(ps, numPair{v, s})
			}
		}
	}
	// The writers hold the write lock; this read lock orders them after
	// this store (as buildOrder's orderLogging).
	lg := new([]numChange)
	if ix.rangeLog == nil {
		ix.rangeLog = make(map[string]*[]numChange)
	}
	ix.rangeLog[field] = lg
	ix.mu.RUnlock()

	slices.SortFunc(ps, func(a, b numPair) int { return cmpPair(a.v, a.s, b.v, b.s) })
	x := newNumIndex(ps)
	if rangeSorted != nil {
		rangeSorted(ix)
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, ch := range *lg {
		if ch.add {
			x.insert(ch.v, ch.s)
		} else {
			x.remove(ch.v, ch.s)
		}
	}
	delete(ix.rangeLog, field)
	if _, live := ix.post[field]; !live {
		return // the field went meanwhile
	}
	if ix.ranges == nil {
		ix.ranges = make(map[string]*numIndex)
	}
	ix.ranges[field] = x
}

// match returns the sorted live slots matching cf, through the range
// indexes where they are built. The result may alias a posting list:
// callers must not modify it. The read lock is held.
func (ix *Index) match(cf compiledFilter) []uint32 {
	n := len(ix.ids)
	var acc []uint32
	for i, f := range cf {
		var set []uint32
		switch x := ix.ranges[f.name]; {
		case f.rng != nil && x != nil:
			set = x.set(f.rng, n)
		case f.rng != nil:
			set = rangeSet(ix.post[f.name], f.rng, n)
		default:
			set = keysSet(ix.post[f.name], f.keys, n)
		}
		if i == 0 {
			acc = set
		} else {
			acc = intersect(acc, set)
		}
		if len(acc) == 0 {
			return nil
		}
	}
	return acc
}
