package hnsw

import (
	"math"
	"slices"
)

// cand is a node with its distance to the current query.
type cand struct {
	d  float32
	id uint32
}

func cmpCand(a, b cand) int {
	switch {
	case a.d < b.d:
		return -1
	case a.d > b.d:
		return 1
	}
	return int(a.id) - int(b.id)
}

// minHeap and maxHeap are hand-rolled binary heaps (no interface calls).
type minHeap []cand

func (h *minHeap) push(c cand) {
	a := append(*h, c)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d <= c.d {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = c
	*h = a
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].d < a[l].d {
			l = r
		}
		if last.d <= a[l].d {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

type maxHeap []cand

func (h *maxHeap) push(c cand) {
	a := append(*h, c)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d >= c.d {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = c
	*h = a
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].d > a[l].d {
			l = r
		}
		if last.d >= a[l].d {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// searchCtx is the per-search scratch: a visited set with generation
// counters (cleared only when the counter wraps), heaps, buffers. Pooled.
type searchCtx struct {
	marks []uint16
	gen   uint16
	cands minHeap
	top   maxHeap
	out   []cand
	ids   []uint32
	dists []float32
	q     []float32
	bits  []uint64
}

// begin starts a new traversal over n slots.
func (c *searchCtx) begin(n int) {
	if len(c.marks) < n {
		c.marks = make([]uint16, n+n/8+64)
		c.gen = 0
	}
	c.gen++
	if c.gen == 0 {
		clear(c.marks)
		c.gen = 1
	}
	c.cands = c.cands[:0]
	c.top = c.top[:0]
}

func (ix *Index) getCtx() *searchCtx  { return ix.pool.Get().(*searchCtx) }
func (ix *Index) putCtx(c *searchCtx) { ix.pool.Put(c) }

// greedy walks layer l from ep towards q one best neighbour at a time. The
// slot excl (a node being re-linked) is never chosen.
func (ix *Index) greedy(q []float32, ep uint32, epd float32, l int, excl uint32) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		for _, n := range ix.neighbors(ep, l) {
			if n == excl {
				continue
			}
			if d := ix.distance(q, ix.vec(n)); d < epd {
				ep, epd, changed = n, d, true
			}
		}
	}
	return ep, epd
}

// searchLayer is the HNSW beam search on layer l from ep, keeping the ef
// closest admissible nodes. A node is admissible when it is not a tombstone,
// not excl, and (with filter bits) in the filter. Non-admissible nodes are
// still traversed. The result is left in c.out sorted closest first.
func (ix *Index) searchLayer(c *searchCtx, q []float32, ep uint32, epd float32, ef, l int, excl uint32, bits []uint64) []cand {
	c.begin(len(ix.ids))
	marks, gen := c.marks, c.gen
	deleted := ix.deleted
	marks[ep] = gen
	lower := float32(math.Inf(1))
	if ep != excl && !deleted[ep] && (bits == nil || bits[ep>>6]&(1<<(ep&63)) != 0) {
		c.top.push(cand{epd, ep})
		lower = epd
	}
	c.cands.push(cand{epd, ep})
	for len(c.cands) > 0 {
		cur := c.cands.pop()
		if cur.d > lower && len(c.top) >= ef {
			break
		}
		var nb []uint32
		if l == 0 {
			o := int(cur.id) * (ix.m0 + 1)
			blk := ix.link0[o : o+ix.m0+1 : o+ix.m0+1]
			nb = blk[1 : 1+blk[0]]
		} else {
			nb = ix.neighbors(cur.id, l)
		}
		ids := c.ids[:0]
		for _, n := range nb {
			if marks[n] != gen {
				marks[n] = gen
				ids = append(ids, n)
			}
		}
		if len(ids) == 0 {
			continue
		}
		if cap(c.dists) < len(ids) {
			c.dists = make([]float32, len(ids), 2*len(ids))
		}
		dists := c.dists[:len(ids)]
		ix.distances(q, ids, dists)
		for i, n := range ids {
			d := dists[i]
			if len(c.top) < ef || d < lower {
				c.cands.push(cand{d, n})
				if n != excl && !deleted[n] && (bits == nil || bits[n>>6]&(1<<(n&63)) != 0) {
					c.top.push(cand{d, n})
					if len(c.top) > ef {
						c.top.pop()
					}
					lower = c.top[0].d
				}
			}
		}
		c.ids = ids
	}
	out := c.out[:0]
	for len(c.top) > 0 {
		out = append(out, c.top.pop())
	}
	slices.Reverse(out)
	c.out = out
	return out
}

// selectNeighbors is the HNSW paper's heuristic (hnswlib's
// getNeighborsByHeuristic2): walk candidates closest first and keep one only
// if it is closer to the base than to every neighbour kept so far, up to m.
// cands must be sorted closest first; the result is written to dst.
func (ix *Index) selectNeighbors(cands []cand, m int, dst []cand) []cand {
	dst = dst[:0]
	if len(cands) <= m {
		return append(dst, cands...)
	}
	for _, c := range cands {
		if len(dst) >= m {
			break
		}
		vc := ix.vec(c.id)
		good := true
		for _, r := range dst {
			if ix.distance(vc, ix.vec(r.id)) < c.d {
				good = false
				break
			}
		}
		if good {
			dst = append(dst, c)
		}
	}
	return dst
}

// link connects slot s (vector, level and id in place) into the graph. For
// a reused slot its old links are replaced. The write lock is held.
func (ix *Index) link(s uint32) {
	q := ix.vec(s)
	L := int(ix.levels[s])
	if ix.entry == none {
		ix.entry, ix.maxLevel = s, L
		for l := 0; l <= L; l++ {
			ix.block(s, l)[0] = 0
		}
		return
	}
	ep := ix.entry
	epd := float32(math.Inf(1))
	if ep != s {
		epd = ix.distance(q, ix.vec(ep))
	}
	for l := ix.maxLevel; l > L; l-- {
		ep, epd = ix.greedy(q, ep, epd, l, s)
	}
	c := ix.wctx
	for l := min(L, ix.maxLevel); l >= 0; l-- {
		found := ix.searchLayer(c, q, ep, epd, ix.p.EfConstruction, l, s, nil)
		ix.wscr = ix.selectNeighbors(found, ix.m, ix.wscr)
		blk := ix.block(s, l)
		blk[0] = uint32(len(ix.wscr))
		for i, n := range ix.wscr {
			blk[1+i] = n.id
		}
		for _, n := range ix.wscr {
			ix.addLink(n.id, l, s, n.d)
		}
		if len(found) > 0 {
			ep, epd = found[0].id, found[0].d
		}
	}
	for l := ix.maxLevel + 1; l <= L; l++ {
		ix.block(s, l)[0] = 0
	}
	if L > ix.maxLevel {
		ix.entry, ix.maxLevel = s, L
	}
}

// addLink adds s to n's list on layer l (d = distance(n, s)); a full list is
// re-selected with the heuristic over its links plus s.
func (ix *Index) addLink(n uint32, l int, s uint32, d float32) {
	ix.markDirty(n)
	blk := ix.block(n, l)
	cnt := int(blk[0])
	for _, x := range blk[1 : 1+cnt] {
		if x == s {
			return
		}
	}
	if cnt < ix.maxLinks(l) {
		blk[1+cnt] = s
		blk[0]++
		return
	}
	vn := ix.vec(n)
	cs := append(ix.wscr2[:0], cand{d, s})
	for _, x := range blk[1 : 1+cnt] {
		cs = append(cs, cand{ix.distance(vn, ix.vec(x)), x})
	}
	slices.SortFunc(cs, cmpCand)
	sel := ix.selectNeighbors(cs, ix.maxLinks(l), ix.wscr3)
	blk[0] = uint32(len(sel))
	for i, x := range sel {
		blk[1+i] = x.id
	}
	ix.wscr2, ix.wscr3 = cs, sel
}
