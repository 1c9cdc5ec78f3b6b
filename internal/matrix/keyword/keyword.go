// Package keyword is matrixd's keyword index: a compact in-memory inverted
// index scored with Okapi BM25 (k1 = 1.2, b = 0.75), one per dataset,
// persisted as one LHKW file written atomically (temp file, fsync, rename,
// fsync of the directory), so a restart of matrixd loses nothing that was
// saved and a crash never leaves a torn file.
//
// Text analysis (Analyze): the built-in embedder's tokenizer
// (embed/builtin/token: lowercase runs of letters, digits and apostrophes),
// trailing "'s" dropped, a small English stop-word list removed, and the
// "S-stemmer" (Harman 1991: ies->y, es->e, s->"" with its exceptions), so
// "drivers" finds "driver" without the surprises of a full Porter stemmer.
//
// Documents are keyed by the caller's id (a dataset row id). Add with an id
// already present replaces that document; Delete removes it. Each document
// keeps TextSum of the text it was indexed with, so a caller holding
// several candidate texts for an id can tell which one the index holds. Removed
// documents leave their postings behind until the next Save/Load, which
// compacts. Safe for concurrent use: searches share a read lock, writes
// take the write lock per document batch.
package keyword

import (
	"container/heap"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"sync"

	"lakehouse-go/internal/embed/builtin/token"
)

// BM25 parameters.
const (
	K1 = 1.2
	B  = 0.75
)

const deletedLen = math.MaxUint32

type posting struct {
	doc uint32
	tf  uint32
}

// Index is a BM25 inverted index.
type Index struct {
	mu       sync.RWMutex
	ids      []string // doc -> id
	lens     []uint32 // doc -> token count; deletedLen when removed
	sums     []uint64 // doc -> TextSum of its text; 0 = unknown (an LHKW1 file)
	byID     map[string]uint32
	post     map[string][]posting // term -> postings, doc ascending
	live     int
	totalLen int64
}

// New returns an empty index.
func New() *Index {
	return &Index{byID: map[string]uint32{}, post: map[string][]posting{}}
}

// Len is the number of live documents.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Has reports whether id is indexed.
func (ix *Index) Has(id string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.byID[id]
	return ok
}

// IDs calls fn for every live id (under the read lock: fn must not call ix).
func (ix *Index) IDs(fn func(id string)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for d, id := range ix.ids {
		if ix.lens[d] != deletedLen {
			fn(id)
		}
	}
}

// TextSum is the digest of a document's text that the index keeps (64-bit
// FNV-1a, never 0): equal texts have equal sums, and two different texts
// of one id collide with probability 2^-64.
func TextSum(text string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}

// TextSum returns the TextSum of the text id was indexed with; ok is false
// when id is not indexed or was loaded from a file written before sums were
// kept (LHKW1).
func (ix *Index) TextSum(id string) (sum uint64, ok bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	d, ok := ix.byID[id]
	if !ok || ix.sums[d] == 0 {
		return 0, false
	}
	return ix.sums[d], true
}

// Doc is one document to add.
type Doc struct {
	ID   string
	Text string
}

// Add indexes docs; a doc whose id is present replaces the old one.
func (ix *Index) Add(docs []Doc) {
	a := analyzer{}
	tfs := make(map[string]uint32)
	type prepared struct {
		id    string
		terms []string
		tf    []uint32
		n     uint32
		sum   uint64
	}
	pre := make([]prepared, len(docs))
	for i, d := range docs {
		clear(tfs)
		var n uint32
		a.each(d.Text, func(t string) {
			tfs[t]++
			n++
		})
		p := prepared{id: d.ID, n: n, sum: TextSum(d.Text), terms: make([]string, 0, len(tfs)), tf: make([]uint32, 0, len(tfs))}
		for t, c := range tfs {
			p.terms = append(p.terms, t)
			p.tf = append(p.tf, c)
		}
		pre[i] = p
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, p := range pre {
		ix.deleteLocked(p.id)
		doc := uint32(len(ix.ids))
		ix.ids = append(ix.ids, p.id)
		ix.lens = append(ix.lens, p.n)
		ix.sums = append(ix.sums, p.sum)
		ix.byID[p.id] = doc
		ix.live++
		ix.totalLen += int64(p.n)
		for j, t := range p.terms {
			ix.post[t] = append(ix.post[t], posting{doc: doc, tf: p.tf[j]})
		}
	}
}

// Delete removes ids; it returns how many were present.
func (ix *Index) Delete(ids []string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for _, id := range ids {
		if ix.deleteLocked(id) {
			n++
		}
	}
	return n
}

func (ix *Index) deleteLocked(id string) bool {
	d, ok := ix.byID[id]
	if !ok {
		return false
	}
	delete(ix.byID, id)
	ix.totalLen -= int64(ix.lens[d])
	ix.lens[d] = deletedLen
	ix.live--
	return true
}

// Hit is one search result.
type Hit struct {
	ID    string
	Score float64
}

// Search returns the k best documents for query by BM25, best first (ties
// by id, as vectord orders its ties, so the order does not depend on the
// order the documents were indexed in). allow, when non-nil, restricts the candidates.
func (ix *Index) Search(query string, k int, allow func(id string) bool) []Hit {
	if k <= 0 {
		return nil
	}
	terms := map[string]int{}
	analyzer{}.each(query, func(t string) { terms[t]++ })
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.live == 0 || len(terms) == 0 {
		return nil
	}
	n := float64(ix.live)
	avg := float64(ix.totalLen) / n
	if avg == 0 {
		avg = 1
	}
	// Terms are scored in sorted order: a float sum depends on the order
	// of its terms, and a map's order changes from call to call, which
	// made the same query on the same index score a document differently
	// in the last bit (and could swap two near-tied hits).
	order := make([]string, 0, len(terms))
	for t := range terms {
		order = append(order, t)
	}
	sort.Strings(order)
	scores := map[uint32]float64{}
	for _, t := range order {
		qtf := terms[t]
		ps := ix.post[t]
		if len(ps) == 0 {
			continue
		}
		// df counts live documents only (replaced or deleted ones leave
		// postings behind until the next Save), so scores do not change
		// across a save and reload.
		live := 0
		for _, p := range ps {
			if ix.lens[p.doc] != deletedLen {
				live++
			}
		}
		if live == 0 {
			continue
		}
		df := float64(live)
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for _, p := range ps {
			l := ix.lens[p.doc]
			if l == deletedLen {
				continue
			}
			tf := float64(p.tf)
			scores[p.doc] += float64(qtf) * idf * tf * (K1 + 1) / (tf + K1*(1-B+B*float64(l)/avg))
		}
	}
	h := &hitHeap{}
	for d, s := range scores {
		if allow != nil && !allow(ix.ids[d]) {
			continue
		}
		c := cand{doc: d, score: s, id: ix.ids[d]}
		if h.Len() < k {
			heap.Push(h, c)
		} else if better(c, (*h)[0]) {
			(*h)[0] = c
			heap.Fix(h, 0)
		}
	}
	out := make([]Hit, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		c := heap.Pop(h).(cand)
		out[i] = Hit{ID: ix.ids[c.doc], Score: c.score}
	}
	return out
}

type cand struct {
	doc   uint32
	score float64
	id    string
}

func better(a, b cand) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id
}

// hitHeap is a min-heap: the worst kept candidate on top.
type hitHeap []cand

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(cand)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Terms returns the sorted terms of the index (for tests).
func (ix *Index) Terms() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]string, 0, len(ix.post))
	for t := range ix.post {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Analyze returns the index terms of s (see the package comment).
func Analyze(s string) []string {
	var out []string
	analyzer{}.each(s, func(t string) { out = append(out, t) })
	return out
}

type analyzer struct{}

func (analyzer) each(s string, fn func(string)) {
	var tk token.Tokenizer
	tk.Reset(s)
	for {
		tok, ok := tk.Next()
		if !ok {
			return
		}
		w := string(tok)
		w = strings.TrimSuffix(w, "'s")
		w = strings.Trim(w, "'")
		if w == "" || stopwords[w] {
			continue
		}
		fn(stem(w))
	}
}

// stem is the S-stemmer (Harman 1991).
func stem(w string) string {
	n := len(w)
	if n < 4 || w[n-1] != 's' {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && !strings.HasSuffix(w, "eies") && !strings.HasSuffix(w, "aies"):
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "aes") && !strings.HasSuffix(w, "ees") && !strings.HasSuffix(w, "oes"):
		return w[:n-1]
	case !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "ss"):
		return w[:n-1]
	}
	return w
}

var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from has have he her his i if in into is it its
		of on or our she so than that the their them then there these they this to was were which who will with you your`) {
		m[w] = true
	}
	return m
}()
