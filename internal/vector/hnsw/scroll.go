package hnsw

import (
	"slices"
	"strings"

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
// The ids in order are kept sorted from the first Scroll after a change of
// the id set (one sort, then O(log n + limit) per page; metadata-only
// changes keep it). A malformed filter or limit <= 0 -> errs.Invalid.
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
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ids := ix.sortedIDs()
	i, _ := slices.BinarySearch(ids, after)
	if i < len(ids) && ids[i] == after {
		i++
	}
	out := make([]Item, 0, min(limit, len(ids)-i))
	for ; i < len(ids); i++ {
		s := ix.byID[ids[i]]
		md := ix.meta[s]
		if cf != nil && !cf.matches(md) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		it := Item{ID: ids[i], Metadata: md}
		if withVector {
			it.Vector = append([]float32(nil), ix.vec(s)...)
		}
		out = append(out, it)
	}
	return out, false, nil
}

// sortedIDs is the live ids in order, rebuilt when the id set changed
// since the last call. The read lock (at least) is held; idsMu orders
// concurrent readers' rebuilds.
func (ix *Index) sortedIDs() []string {
	ix.idsMu.Lock()
	defer ix.idsMu.Unlock()
	if ix.idsSorted != nil && ix.idsGen == ix.gen {
		return ix.idsSorted
	}
	ids := make([]string, 0, len(ix.byID))
	for id := range ix.byID {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, strings.Compare)
	ix.idsSorted, ix.idsGen = ids, ix.gen
	return ids
}
