package embed

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Cache is a bounded LRU of vectors keyed by (model, text), sharded to keep
// the hit path uncontended. The budget counts text, model and vector bytes
// plus a fixed overhead per entry. Get and Put copy vectors, so callers may
// modify what they hold. A nil *Cache is a valid, always-missing cache.
type Cache struct {
	shards [cacheShards]cacheShard
	seed   maphash.Seed
	hits   atomic.Int64
	misses atomic.Int64
}

const (
	cacheShards   = 16
	entryOverhead = 96
)

type cacheKey struct{ model, text string }

type cacheEntry struct {
	key        cacheKey
	vec        []float32
	prev, next *cacheEntry
}

type cacheShard struct {
	mu    sync.Mutex
	m     map[cacheKey]*cacheEntry
	head  cacheEntry // sentinel: head.next is the most recent
	bytes int64
	limit int64
}

// NewCache returns a cache holding about maxBytes.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[cacheKey]*cacheEntry)
		s.head.next, s.head.prev = &s.head, &s.head
		s.limit = maxBytes / cacheShards
	}
	return c
}

func (c *Cache) shard(model, text string) *cacheShard {
	h := maphash.String(c.seed, text) ^ uint64(len(model))*0x9e3779b97f4a7c15
	return &c.shards[h%cacheShards]
}

func size(model, text string, vec []float32) int64 {
	return int64(len(model)+len(text)+4*len(vec)) + entryOverhead
}

// Get returns a copy of the cached vector or nil.
func (c *Cache) Get(model, text string) []float32 {
	if c == nil {
		return nil
	}
	s := c.shard(model, text)
	s.mu.Lock()
	e, ok := s.m[cacheKey{model, text}]
	var out []float32
	if ok {
		s.unlink(e)
		s.pushFront(e)
		out = make([]float32, len(e.vec))
		copy(out, e.vec)
	}
	s.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return out
}

// Put stores a copy of vec. Entries larger than a shard's budget are not kept.
func (c *Cache) Put(model, text string, vec []float32) {
	if c == nil {
		return
	}
	s := c.shard(model, text)
	sz := size(model, text, vec)
	if sz > s.limit {
		return
	}
	v := make([]float32, len(vec))
	copy(v, vec)
	k := cacheKey{model, text}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		s.bytes += 4 * int64(len(v)-len(e.vec))
		e.vec = v
		s.unlink(e)
		s.pushFront(e)
	} else {
		e := &cacheEntry{key: k, vec: v}
		s.m[k] = e
		s.pushFront(e)
		s.bytes += sz
	}
	for s.bytes > s.limit {
		old := s.head.prev
		s.unlink(old)
		delete(s.m, old.key)
		s.bytes -= size(old.key.model, old.key.text, old.vec)
	}
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}

// CacheStats are counters of a Cache.
type CacheStats struct {
	Entries int
	Bytes   int64
	Hits    int64
	Misses  int64
}

// Stats returns the current counters.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	st := CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Entries += len(s.m)
		st.Bytes += s.bytes
		s.mu.Unlock()
	}
	return st
}
