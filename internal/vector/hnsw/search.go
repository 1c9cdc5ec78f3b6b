package hnsw

import (
	"math"
	"slices"
	"strings"

	"lakehouse-go/internal/errs"
)

// Search returns the k items closest to q, best first. ef is the beam width
// (at least k is used; 0 means max(k, 64)). With a non-empty filter only
// matching items are returned, and fewer than k only when fewer than k items
// match; without one, fewer than k only when fewer than k are live. Wrong dims, NaN/Inf, k <= 0, ef < 0 or a malformed filter ->
// errs.Invalid.
func (ix *Index) Search(q []float32, k, ef int, filter Filter) ([]Result, error) {
	const op = "hnsw.Search"
	if k <= 0 {
		return nil, errs.Errorf(op, errs.Invalid, "k must be positive, got %d", k)
	}
	if ef < 0 || ef > MaxEf {
		return nil, errs.Errorf(op, errs.Invalid, "ef must be between 0 and %d, got %d", MaxEf, ef)
	}
	if k > MaxEf {
		return nil, errs.Errorf(op, errs.Invalid, "k must be at most %d, got %d", MaxEf, k)
	}
	if err := checkVector(op, q, ix.dims, ix.p.Metric, "query vector"); err != nil {
		return nil, err
	}
	var cf compiledFilter
	if len(filter) > 0 {
		var err error
		if cf, err = compileFilter(op, filter); err != nil {
			return nil, err
		}
	}
	if ef == 0 {
		ef = max(k, 64)
	}
	ef = max(ef, k)

	c := ix.getCtx()
	defer ix.putCtx(c)
	if cap(c.q) < ix.dims {
		c.q = make([]float32, ix.dims)
	}
	qq := c.q[:ix.dims]
	if ix.metric == metricCosine {
		normalizeInto(qq, q)
	} else {
		copy(qq, q)
	}

	if cf.hasRange() {
		ix.buildRanges(cf) // the first range search over a field indexes it
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.byID) == 0 {
		return []Result{}, nil
	}
	var found []cand
	if cf == nil {
		found = ix.searchGraph(c, qq, ef, nil)
		if len(found) < min(k, len(ix.byID)) {
			found = ix.searchShort(c, qq, k, ef)
		}
	} else {
		found = ix.searchFiltered(c, qq, k, ef, cf)
	}
	ix.orderTies(found)
	if len(found) > k {
		found = found[:k]
	}
	out := make([]Result, len(found))
	for i, f := range found {
		out[i] = Result{ID: ix.ids[f.id], Score: ix.score(f.d), Metadata: ix.meta[f.id]}
	}
	return out, nil
}

// searchGraph descends the layers and beam-searches layer 0.
func (ix *Index) searchGraph(c *searchCtx, q []float32, ef int, bits []uint64) []cand {
	ep := ix.entry
	epd := ix.distance(q, ix.vec(ep))
	for l := ix.maxLevel; l > 0; l-- {
		ep, epd = ix.greedy(q, ep, epd, l, none)
	}
	return ix.searchLayer(c, q, ep, epd, ef, 0, none, bits)
}

// exactThreshold is the size of matching set below which an exact scan is
// cheaper than a filtered graph search. The graph search computes about
// 32*ef distances unfiltered and 1/selectivity times that filtered, so the
// scan wins while matches^2 < 32*ef*n.
func exactThreshold(ef, n int) int {
	return int(math.Sqrt(32 * float64(ef) * float64(n)))
}

// searchFiltered answers a filtered search: an exact scan over the matching
// slots when the filter is selective, else a graph search that only admits
// matches, widening ef and finally scanning if the graph yields too few.
func (ix *Index) searchFiltered(c *searchCtx, q []float32, k, ef int, cf compiledFilter) []cand {
	matches := ix.match(cf)
	if len(matches) == 0 {
		return nil
	}
	want := min(k, len(matches))
	if len(matches) > exactThreshold(ef, len(ix.ids)) {
		words := (len(ix.ids) + 63) / 64
		if cap(c.bits) < words {
			c.bits = make([]uint64, words)
		}
		bits := c.bits[:words]
		clear(bits)
		for _, s := range matches {
			bits[s>>6] |= 1 << (s & 63)
		}
		for e := ef; e <= 4*ef && e <= MaxEf; e *= 2 {
			if found := ix.searchGraph(c, q, e, bits); len(found) >= want {
				return found
			}
		}
	}
	return ix.scan(c, q, k, matches)
}

// searchShort answers an unfiltered search whose beam came back with
// fewer than k items while more are live: the graph does not reach them
// from the entry point (many identical vectors: the neighbour heuristic
// keeps few links among them, and a cluster of them can end up cut off).
// Wider beams first, then an exact scan of every live item — a search
// returns min(k, live) items.
func (ix *Index) searchShort(c *searchCtx, q []float32, k, ef int) []cand {
	want := min(k, len(ix.byID))
	for e := 2 * ef; e <= 4*ef && e <= MaxEf; e *= 2 {
		if found := ix.searchGraph(c, q, e, nil); len(found) >= want {
			return found
		}
	}
	slots := make([]uint32, 0, len(ix.byID))
	for s := range ix.ids {
		if !ix.deleted[s] {
			slots = append(slots, uint32(s))
		}
	}
	return ix.scan(c, q, k, slots)
}

// scan is the exact search over the given live slots.
func (ix *Index) scan(c *searchCtx, q []float32, k int, slots []uint32) []cand {
	top := c.top[:0]
	// ties holds items whose distance equalled the k-th best when they
	// were met or pushed out, so that a tie at the cut is decided by id
	// (orderTies), not by scan order.
	var ties []cand
	for _, s := range slots {
		d := ix.distance(q, ix.vec(s))
		if len(top) < k {
			top.push(cand{d, s})
		} else if d < top[0].d {
			ties = append(ties, top[0])
			top[0] = cand{d, s}
			top.push(top.pop()) // re-heapify; cheap relative to the distance
		} else if d == top[0].d {
			ties = append(ties, cand{d, s})
		}
	}
	out := c.out[:0]
	for len(top) > 0 {
		out = append(out, top.pop())
	}
	slices.Reverse(out)
	if n := len(out); n == k && len(ties) > 0 {
		last := out[n-1].d
		for _, t := range ties {
			if t.d == last {
				out = append(out, t)
			}
		}
		ix.orderTies(out) // out[n:] are all at the cut's distance
		out = out[:k]
	}
	c.top, c.out = top, out
	return out
}

// ExactSearch is the brute-force answer over all live items (ground truth
// for tests and benchmarks); same contract as Search without ef.
func (ix *Index) ExactSearch(q []float32, k int, filter Filter) ([]Result, error) {
	const op = "hnsw.ExactSearch"
	if k <= 0 {
		return nil, errs.Errorf(op, errs.Invalid, "k must be positive, got %d", k)
	}
	if err := checkVector(op, q, ix.dims, ix.p.Metric, "query vector"); err != nil {
		return nil, err
	}
	var cf compiledFilter
	if len(filter) > 0 {
		var err error
		if cf, err = compileFilter(op, filter); err != nil {
			return nil, err
		}
	}
	qq := make([]float32, ix.dims)
	if ix.metric == metricCosine {
		normalizeInto(qq, q)
	} else {
		copy(qq, q)
	}
	c := &searchCtx{}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var slots []uint32
	if cf != nil {
		slots = ix.match(cf)
	} else {
		slots = make([]uint32, 0, len(ix.byID))
		for s := range ix.ids {
			if !ix.deleted[s] {
				slots = append(slots, uint32(s))
			}
		}
	}
	found := ix.scan(c, qq, k, slots)
	ix.orderTies(found)
	out := make([]Result, len(found))
	for i, f := range found {
		out[i] = Result{ID: ix.ids[f.id], Score: ix.score(f.d), Metadata: ix.meta[f.id]}
	}
	return out, nil
}

// orderTies sorts each run of equal distances in found (sorted by
// distance) by id, so hits with the same score come in id order whichever
// path found them (graph beam, filtered beam, exact scan) and wherever
// their slots lie. Without it the order of a tie depended on heap order:
// an unfiltered search and a filter matching everything listed three
// copies of one vector differently.
func (ix *Index) orderTies(found []cand) {
	for i := 0; i < len(found); {
		j := i + 1
		for j < len(found) && found[j].d == found[i].d {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(found[i:j], func(a, b cand) int { return strings.Compare(ix.ids[a.id], ix.ids[b.id]) })
		}
		i = j
	}
}
