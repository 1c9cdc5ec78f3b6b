package hnsw

import (
	"slices"

	"lakehouse-go/internal/errs"
)

// Scroll returns up to limit live items whose ids come after after (in
// byte order of the ids; "" starts at the first), that match filter, in id
// order, and whether more such items follow the last one returned. Vectors
// are copied only with withVector (for cosine, the normalised vector, as
// Get); Metadata is shared with the index: do not modify it.
//
// A walk that passes each page's last id as the next page's after returns
// every item that is live for the whole walk exactly once, whatever is
// upserted or deleted meanwhile: a page is read under the read lock from
// one state of the index, and the pages cover the disjoint id intervals
// (after, last] one after the other. Items upserted or deleted during the
// walk are returned or not depending on where the walk is.
//
// The live ids are kept in order (an idOrder) from the first Scroll on:
// that one sorts them, outside the index's lock; from then on each upsert
// of a new id or delete updates the order in O(log n + chunk), so a page
// costs O(log n + the items it passes), however much was written since
// the last one. A malformed filter or limit <= 0 -> errs.Invalid.
func (ix *Index) Scroll(after string, limit int, filter Filter, withVector bool) ([]Item, bool, error) {
	const op = "hnsw.Scroll"
	if limit <= 0 {
		return nil, false, errs.Errorf(op, errs.Invalid, "limit must be positive, got %d", limit)
	}
	var cf compiledFilter
	if len(filter) > 0 {
		var err error
		if cf, err = compileFilter(op, filter); err != nil {
			return nil, false, err
		}
	}
	ix.buildOrder()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	o := ix.order
	var out []Item
	for c, j := o.seek(after); c < len(o.chunks); c, j = c+1, 0 {
		for _, id := range o.chunks[c][j:] {
			s := ix.byID[id]
			md := ix.meta[s]
			if cf != nil && !cf.matches(md) {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			if out == nil {
				out = make([]Item, 0, min(limit, o.n))
			}
			it := Item{ID: id, Metadata: md}
			if withVector {
				it.Vector = append([]float32(nil), ix.vec(s)...)
			}
			out = append(out, it)
		}
	}
	if out == nil {
		out = []Item{}
	}
	return out, false, nil
}

// buildOrder makes ix.order once, the first time a Scroll needs it. The
// live ids are copied under the read lock (a pass over the slots) and
// sorted with no lock held; the writes made meanwhile are logged by the
// writers (orderLog) and applied under the write lock, which then installs
// the order for the writers to keep. orderMu makes one Scroll build it while
// the others wait; it is taken before mu, never while mu is held.
func (ix *Index) buildOrder() {
	if ix.orderReady.Load() {
		return
	}
	ix.orderMu.Lock()
	defer ix.orderMu.Unlock()
	ix.mu.RLock()
	if ix.order != nil {
		ix.mu.RUnlock()
		return
	}
	ids := make([]string, 0, len(ix.byID))
	for _, id := range ix.ids {
		if id != "" {
			ids = append(ids, id)
		}
	}
	// orderLog's writers hold the write lock; this read lock orders them
	// after this store.
	ix.orderLogging = true
	ix.mu.RUnlock()

	slices.Sort(ids)
	o := newIDOrder(ids)
	if orderSorted != nil {
		orderSorted(ix)
	}

	ix.mu.Lock()
	for _, ch := range ix.orderLog {
		if ch.add {
			o.insert(ch.id)
		} else {
			o.remove(ch.id)
		}
	}
	ix.order, ix.orderLog, ix.orderLogging = o, nil, false
	ix.orderReady.Store(true)
	ix.mu.Unlock()
}

// orderSorted, when not nil, is called by buildOrder after the sort, no
// lock held: tests write there as a writer between the two locks would.
var orderSorted func(ix *Index)

// orderChange is one change of the id set logged while buildOrder sorts.
type orderChange struct {
	id  string
	add bool
}

// idAdded and idRemoved keep the id order (or the log of a build under
// way) with the id set; the write lock is held.
func (ix *Index) idAdded(id string) {
	switch {
	case ix.order != nil:
		ix.order.insert(id)
	case ix.orderLogging:
		ix.orderLog = append(ix.orderLog, orderChange{id: id, add: true})
	}
}

func (ix *Index) idRemoved(id string) {
	switch {
	case ix.order != nil:
		ix.order.remove(id)
	case ix.orderLogging:
		ix.orderLog = append(ix.orderLog, orderChange{id: id})
	}
}

// chunkMax bounds an idOrder chunk: an insert or remove moves at most this
// many string headers (8 KiB), a chunk is split above it.
const chunkMax = 512

// idOrder is a set of ids in byte order: sorted chunks of 1..chunkMax ids,
// every id of a chunk before every id of the next. Writers change it under
// the index's write lock, Scroll reads it under the read lock.
type idOrder struct {
	chunks [][]string
	n      int
}

// newIDOrder makes an order of sorted, distinct ids, chunks three-quarters
// full so the first inserts do not split them.
func newIDOrder(ids []string) *idOrder {
	o := &idOrder{n: len(ids)}
	const fill = chunkMax * 3 / 4
	o.chunks = make([][]string, 0, (len(ids)+fill-1)/fill)
	for len(ids) > 0 {
		k := min(fill, len(ids))
		o.chunks = append(o.chunks, append(make([]string, 0, chunkMax+1), ids[:k]...))
		ids = ids[k:]
	}
	return o
}

// chunkOf is the chunk that holds id or would: the last whose first id is
// not after id (0 if none is).
func (o *idOrder) chunkOf(id string) int {
	lo, hi := 0, len(o.chunks) // chunks[:lo] start <= id, chunks[hi:] start > id
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if o.chunks[m][0] <= id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// seek is the position (chunk, index) of the first id after after;
// chunk == len(chunks) when there is none.
func (o *idOrder) seek(after string) (int, int) {
	if len(o.chunks) == 0 {
		return 0, 0
	}
	c := o.chunkOf(after)
	j, found := slices.BinarySearch(o.chunks[c], after)
	if found {
		j++
	}
	if j == len(o.chunks[c]) {
		return c + 1, 0
	}
	return c, j
}

// insert adds id (nothing if it is there).
func (o *idOrder) insert(id string) {
	if len(o.chunks) == 0 {
		o.chunks = append(o.chunks, append(make([]string, 0, chunkMax+1), id))
		o.n = 1
		return
	}
	c := o.chunkOf(id)
	ch := o.chunks[c]
	j, found := slices.BinarySearch(ch, id)
	if found {
		return
	}
	ch = slices.Insert(ch, j, id)
	o.n++
	if len(ch) <= chunkMax {
		o.chunks[c] = ch
		return
	}
	h := len(ch) / 2
	right := append(make([]string, 0, chunkMax+1), ch[h:]...)
	clear(ch[h:])
	o.chunks[c] = ch[:h]
	o.chunks = slices.Insert(o.chunks, c+1, right)
}

// remove takes id out (nothing if it is not there). A chunk left empty
// goes; one left under a quarter full takes in its next neighbour when
// both fit in one.
func (o *idOrder) remove(id string) {
	if len(o.chunks) == 0 {
		return
	}
	c := o.chunkOf(id)
	ch := o.chunks[c]
	j, found := slices.BinarySearch(ch, id)
	if !found {
		return
	}
	ch = slices.Delete(ch, j, j+1)
	o.n--
	o.chunks[c] = ch
	switch {
	case len(ch) == 0:
		o.chunks = slices.Delete(o.chunks, c, c+1)
	case len(ch) < chunkMax/4 && c+1 < len(o.chunks) && len(ch)+len(o.chunks[c+1]) <= chunkMax:
		o.chunks[c] = append(ch, o.chunks[c+1]...)
		o.chunks = slices.Delete(o.chunks, c+1, c+2)
	}
}
