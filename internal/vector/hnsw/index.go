package hnsw

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"lakehouse-go/internal/errs"
)

const none = ^uint32(0)

// Item is one vector with its id and metadata.
type Item struct {
	ID       string    `json:"id"`
	Vector   []float32 `json:"vector"`
	Metadata Metadata  `json:"metadata,omitempty"`
}

// Result is one search hit. Score is the cosine similarity (cosine), the
// inner product (dot) or the squared Euclidean distance (l2); results come
// best first (highest cosine or dot, lowest l2), equal scores in id order.
// Metadata is shared with the index: do not modify it.
type Result struct {
	ID       string   `json:"id"`
	Score    float32  `json:"score"`
	Metadata Metadata `json:"metadata,omitempty"`
}

// Stats describes an index.
type Stats struct {
	Params      Params `json:"params"`
	Count       int    `json:"count"`        // live items
	Deleted     int    `json:"deleted"`      // tombstones awaiting reuse
	Slots       int    `json:"slots"`        // Count + Deleted
	MaxLevel    int    `json:"max_level"`    // top layer of the graph
	MemoryBytes int64  `json:"memory_bytes"` // estimate of the heap the index holds
}

// Index is an HNSW index. See the package doc for its concurrency contract.
type Index struct {
	mu sync.RWMutex

	p         Params
	metric    metricCode
	dims      int
	m, m0     int     // max links: upper layers, layer 0
	levelMult float64 // 1/ln(M)
	rng       *rand.Rand

	vecs     []float32 // slot*dims
	ids      []string  // "" for a tombstone
	meta     []Metadata
	levels   []uint8
	deleted  []bool
	link0    []uint32 // slot*(m0+1): count, then up to m0 links
	upperOff []uint32 // per slot: offset into upper, or none
	upper    []uint32 // per slot with level L>0: L blocks of (m+1)

	byID     map[string]uint32
	free     []uint32 // tombstoned slots to reuse, LIFO
	entry    uint32   // none when empty
	maxLevel int
	post     postings
	seq      uint64

	// ranges is the range index of each field a range search asked for
	// (rangeindex.go), nil until then; the writers keep them (under mu).
	// While one is built (under rangeMu, taken before mu) the writers log
	// their changes of its field's numbers in rangeLog.
	rangeMu  sync.Mutex
	ranges   map[string]*numIndex
	rangeLog map[string]*[]numChange

	// While a Copy runs, copying marks each slot a writer changes in
	// dirty (a bitmap), so Copy's last step copies it again.
	copying bool
	dirty   []uint64
	copyMu  sync.Mutex // one Copy at a time

	// order is the live ids in byte order for Scroll, nil until the first
	// Scroll builds it (buildOrder, one at a time under orderMu, taken
	// before mu); from then on the writers keep it (under mu), and while it
	// is being built they log their changes of the id set in orderLog.
	orderMu      sync.Mutex
	orderReady   atomic.Bool
	order        *idOrder
	orderLogging bool
	orderLog     []orderChange

	pool  sync.Pool // *searchCtx
	wctx  *searchCtx
	wscr  []cand // scratch for the writer
	wscr2 []cand
	wscr3 []cand
}

// New creates an empty index. Zero fields of p take the defaults of
// Params.WithDefaults. Invalid params -> errs.Invalid.
func New(p Params) (*Index, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ix := &Index{
		p:         p,
		metric:    metricCode(p.Metric.Code()),
		dims:      p.Dims,
		m:         p.M,
		m0:        2 * p.M,
		levelMult: 1 / math.Log(float64(p.M)),
		rng:       rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)),
		byID:      make(map[string]uint32),
		entry:     none,
		post:      make(postings),
	}
	ix.pool.New = func() any { return &searchCtx{} }
	ix.wctx = &searchCtx{}
	if p.Capacity > 0 {
		ix.reserve(p.Capacity)
	}
	return ix, nil
}

// Params returns the index's parameters (with defaults applied).
func (ix *Index) Params() Params { return ix.p }

// Reserve grows storage for n items in total, so a bulk load does not copy
// the vector slab as it grows.
func (ix *Index) Reserve(n int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.reserve(n)
}

func (ix *Index) reserve(n int) {
	if n <= len(ix.ids) {
		return
	}
	grow := func(s []float32, n int) []float32 {
		if cap(s) >= n {
			return s
		}
		t := make([]float32, len(s), n)
		copy(t, s)
		return t
	}
	ix.vecs = grow(ix.vecs, n*ix.dims)
	if cap(ix.link0) < n*(ix.m0+1) {
		t := make([]uint32, len(ix.link0), n*(ix.m0+1))
		copy(t, ix.link0)
		ix.link0 = t
	}
	if cap(ix.ids) < n {
		ix.ids = append(make([]string, 0, n), ix.ids...)
		ix.meta = append(make([]Metadata, 0, n), ix.meta...)
		ix.levels = append(make([]uint8, 0, n), ix.levels...)
		ix.deleted = append(make([]bool, 0, n), ix.deleted...)
		ix.upperOff = append(make([]uint32, 0, n), ix.upperOff...)
	}
	// upper layers hold about 1/(M-1) blocks per item
	if want := n / (ix.m - 1) * (ix.m + 1) * 11 / 10; cap(ix.upper) < want {
		t := make([]uint32, len(ix.upper), want)
		copy(t, ix.upper)
		ix.upper = t
	}
}

// Len is the number of live items.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

// Seq is the caller's log position last recorded with SetSeq (vectord stores
// the WAL sequence number of the last applied record here); LHV1 persists it.
func (ix *Index) Seq() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.seq
}

// SetSeq records the caller's log position. Call it after the operation with
// that position has been applied, so a snapshot never claims more than it has.
func (ix *Index) SetSeq(seq uint64) {
	ix.mu.Lock()
	ix.seq = seq
	ix.mu.Unlock()
}

// Stats returns counts, parameters and a memory estimate.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := Stats{
		Params:   ix.p,
		Count:    len(ix.byID),
		Deleted:  len(ix.free),
		Slots:    len(ix.ids),
		MaxLevel: ix.maxLevel,
	}
	if ix.entry == none {
		st.MaxLevel = 0
	}
	st.Params.Capacity = 0
	mem := int64(cap(ix.vecs))*4 + int64(cap(ix.link0))*4 + int64(cap(ix.upper))*4 +
		int64(cap(ix.upperOff))*4 + int64(cap(ix.levels)) + int64(cap(ix.deleted)) +
		int64(cap(ix.ids))*16 + int64(cap(ix.meta))*8 + int64(cap(ix.free))*4
	for _, id := range ix.ids {
		mem += int64(len(id))
	}
	mem += int64(len(ix.byID)) * 40 // map entry: key header, value, bucket overhead
	for _, md := range ix.meta {
		if md != nil {
			mem += 48
			for k, v := range md {
				mem += int64(len(k)) + 40
				if s, ok := v.(string); ok {
					mem += int64(len(s))
				}
			}
		}
	}
	for _, vals := range ix.post {
		for k, l := range vals {
			mem += int64(len(k)) + 48 + int64(cap(l))*4
		}
	}
	for k, x := range ix.ranges {
		mem += int64(len(k)) + 48 + x.memory()
	}
	st.MemoryBytes = mem
	return st
}

// Get returns a copy of the stored item (for cosine, the normalised vector).
func (ix *Index) Get(id string) (Item, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.byID[id]
	if !ok {
		return Item{}, false
	}
	return Item{ID: id, Vector: append([]float32(nil), ix.vec(s)...), Metadata: ix.meta[s]}, true
}

type prepared struct {
	id   string
	vec  []float32
	meta Metadata
}

// Upsert inserts items, replacing any item with the same id. The whole batch
// is validated first: wrong dims, NaN/Inf values, an all-zero vector under
// cosine, empty or over-long ids, a repeated id, or non-scalar metadata ->
// errs.Invalid and nothing changes. Items are then applied one at a time,
// each atomically for concurrent searches.
func (ix *Index) Upsert(items []Item) error {
	const op = "hnsw.Upsert"
	if len(items) == 0 {
		return nil
	}
	prep := make([]prepared, len(items))
	seen := make(map[string]struct{}, len(items))
	slab := make([]float32, len(items)*ix.dims)
	for i, it := range items {
		md, err := checkItem(op, i, &it, ix.dims, ix.p.Metric, seen)
		if err != nil {
			return err
		}
		v := slab[i*ix.dims : (i+1)*ix.dims : (i+1)*ix.dims]
		if ix.metric == metricCosine {
			normalizeInto(v, it.Vector)
		} else {
			copy(v, it.Vector)
		}
		prep[i] = prepared{id: it.ID, vec: v, meta: md}
	}
	for i := range prep {
		ix.mu.Lock()
		ix.upsertLocked(&prep[i])
		ix.mu.Unlock()
	}
	return nil
}

// Delete removes the items with these ids and returns how many existed.
// An empty id -> errs.Invalid (and nothing is deleted).
func (ix *Index) Delete(ids []string) (int, error) {
	for i, id := range ids {
		if id == "" {
			return 0, errs.Errorf("hnsw.Delete", errs.Invalid, "id %d is empty", i)
		}
	}
	n := 0
	for _, id := range ids {
		ix.mu.Lock()
		if s, ok := ix.byID[id]; ok {
			ix.tombstone(s)
			n++
		}
		ix.mu.Unlock()
	}
	return n, nil
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	return string(b[p:])
}

func (ix *Index) vec(s uint32) []float32 {
	o := int(s) * ix.dims
	return ix.vecs[o : o+ix.dims : o+ix.dims]
}

// neighbors returns the links of slot s on layer l.
func (ix *Index) neighbors(s uint32, l int) []uint32 {
	blk := ix.block(s, l)
	return blk[1 : 1+blk[0]]
}

// block returns the [count, links...] block of slot s on layer l.
func (ix *Index) block(s uint32, l int) []uint32 {
	if l == 0 {
		o := int(s) * (ix.m0 + 1)
		return ix.link0[o : o+ix.m0+1 : o+ix.m0+1]
	}
	o := int(ix.upperOff[s]) + (l-1)*(ix.m+1)
	return ix.upper[o : o+ix.m+1 : o+ix.m+1]
}

func (ix *Index) maxLinks(l int) int {
	if l == 0 {
		return ix.m0
	}
	return ix.m
}

func (ix *Index) tombstone(s uint32) {
	ix.markDirty(s)
	delete(ix.byID, ix.ids[s])
	ix.idRemoved(ix.ids[s])
	ix.metaRemoved(s, ix.meta[s])
	ix.ids[s] = ""
	ix.meta[s] = nil
	ix.deleted[s] = true
	ix.free = append(ix.free, s)
}

func (ix *Index) randomLevel() int {
	l := int(-math.Log(1-ix.rng.Float64()) * ix.levelMult)
	return min(l, maxLvl)
}

// upsertLocked applies one prepared item; the write lock is held.
func (ix *Index) upsertLocked(it *prepared) {
	if s, ok := ix.byID[it.id]; ok {
		if slices.Equal(ix.vec(s), it.vec) { // metadata-only update: the graph stays
			ix.markDirty(s)
			ix.metaRemoved(s, ix.meta[s])
			ix.meta[s] = it.meta
			ix.metaAdded(s, it.meta)
			return
		}
		ix.tombstone(s) // LIFO: the slot is reused just below
	}
	var s uint32
	if n := len(ix.free); n > 0 {
		s = ix.free[n-1]
		ix.free = ix.free[:n-1]
		ix.deleted[s] = false
		copy(ix.vec(s), it.vec)
	} else {
		s = uint32(len(ix.ids))
		lvl := ix.randomLevel()
		ix.vecs = append(ix.vecs, it.vec...)
		ix.ids = append(ix.ids, "")
		ix.meta = append(ix.meta, nil)
		ix.levels = append(ix.levels, uint8(lvl))
		ix.deleted = append(ix.deleted, false)
		ix.link0 = append(ix.link0, make([]uint32, ix.m0+1)...)
		if lvl > 0 {
			ix.upperOff = append(ix.upperOff, uint32(len(ix.upper)))
			ix.upper = append(ix.upper, make([]uint32, lvl*(ix.m+1))...)
		} else {
			ix.upperOff = append(ix.upperOff, none)
		}
	}
	ix.markDirty(s)
	ix.ids[s] = it.id
	ix.meta[s] = it.meta
	ix.byID[it.id] = s
	ix.idAdded(it.id)
	ix.metaAdded(s, it.meta)
	ix.link(s)
}
