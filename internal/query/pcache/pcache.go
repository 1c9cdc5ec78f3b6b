// Package pcache is queryd's local cache of Parquet objects for backends
// DuckDB cannot read directly (S3: httpfs cannot be installed offline). An
// entry is keyed by (object key, etag), so a replaced object is a new entry
// and a stale copy is never served. The cache is bounded in bytes with LRU
// eviction; entries pinned by a running query are never evicted (the bound
// can be exceeded while they are). Files survive restarts: Open indexes the
// directory, oldest modification first. queryd (query/queryd) is its caller.
package pcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/errs"
)

// Fetch writes the object's bytes to w.
type Fetch func(ctx context.Context, w io.Writer) (int64, error)

// Cache is a directory of cached objects.
type Cache struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // front = most recently used
	size    int64
	loading map[string]*loadCall

	// Stats.
	Hits, Misses, Evictions int64
}

type entry struct {
	id   string
	path string
	size int64
	pins int
	elem *list.Element
}

type loadCall struct {
	done chan struct{}
	err  error
	// left: the download ended because its caller's ctx did (a query
	// cancelled, a client gone), not because of the object store.
	left bool
}

// Open indexes dir (created if missing) with a bound of maxBytes (<= 0: no bound).
func Open(dir string, maxBytes int64) (*Cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, errs.E("pcache.Open", errs.Internal, err)
	}
	c := &Cache{dir: dir, maxBytes: maxBytes, entries: map[string]*entry{}, lru: list.New(), loading: map[string]*loadCall{}}
	// Leftover partial downloads.
	if tmps, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, t := range tmps {
			os.Remove(filepath.Join(dir, "tmp", t.Name()))
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, errs.E("pcache.Open", errs.Internal, err)
	}
	type found struct {
		id   string
		size int64
		mod  time.Time
	}
	var fs []found
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".parquet") || de.IsDir() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		fs = append(fs, found{strings.TrimSuffix(name, ".parquet"), info.Size(), info.ModTime()})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.Before(fs[j].mod) })
	for _, f := range fs {
		e := &entry{id: f.id, path: filepath.Join(dir, f.id+".parquet"), size: f.size}
		e.elem = c.lru.PushFront(e)
		c.entries[f.id] = e
		c.size += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// Dir is the cache directory (queryd adds it to DuckDB's allowed_directories).
func (c *Cache) Dir() string { return c.dir }

// Size is the bytes currently cached.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// ID is the entry id of (key, etag).
func ID(key, etag string) string {
	h := sha256.Sum256([]byte(key + "\x00" + etag))
	return hex.EncodeToString(h[:16])
}

// Path is where (key, etag) lives once acquired.
func (c *Cache) Path(key, etag string) string { return filepath.Join(c.dir, ID(key, etag)+".parquet") }

// Acquire returns the local path of (key, etag), downloading it with fetch
// on a miss (concurrent callers share one download; when the caller
// downloading leaves, by its ctx, one of those waiting downloads instead),
// and pins it until release is called. Errors: those of fetch; Internal.
func (c *Cache) Acquire(ctx context.Context, key, etag string, fetch Fetch) (path string, release func(), err error) {
	return c.AcquireSize(ctx, key, etag, -1, fetch)
}

// AcquireSize is Acquire for an object of size bytes (-1: unknown). A
// cached file of another size (cut by a crash before its data reached the
// disk: downloads are not fsynced) is fetched again, and a download of
// another size is refused (Unavailable) rather than cached.
func (c *Cache) AcquireSize(ctx context.Context, key, etag string, size int64, fetch Fetch) (path string, release func(), err error) {
	id := ID(key, etag)
	for {
		c.mu.Lock()
		if e, ok := c.entries[id]; ok && size >= 0 && e.size != size {
			// Forget it; the download below renames a whole copy over it
			// (a query still reading the old file keeps its descriptor).
			c.lru.Remove(e.elem)
			delete(c.entries, id)
			c.size -= e.size
		}
		if e, ok := c.entries[id]; ok {
			e.pins++
			c.lru.MoveToFront(e.elem)
			c.Hits++
			c.mu.Unlock()
			return e.path, c.releaser(e), nil
		}
		if call, ok := c.loading[id]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return "", nil, ctx.Err()
			}
			if call.err != nil && !call.left {
				return "", nil, call.err
			}
			// An entry now (unless evicted already), or the caller that
			// downloaded left: the loop loads again, this caller's own
			// download.
			continue
		}
		call := &loadCall{done: make(chan struct{})}
		c.loading[id] = call
		c.Misses++
		c.mu.Unlock()

		got, err := c.download(ctx, id, size, fetch)
		c.mu.Lock()
		delete(c.loading, id)
		call.err, call.left = err, err != nil && ctx.Err() != nil
		close(call.done)
		if err != nil {
			c.mu.Unlock()
			return "", nil, err
		}
		e := &entry{id: id, path: filepath.Join(c.dir, id+".parquet"), size: got, pins: 1}
		e.elem = c.lru.PushFront(e)
		c.entries[id] = e
		c.size += got
		c.evictLocked()
		c.mu.Unlock()
		return e.path, c.releaser(e), nil
	}
}

func (c *Cache) releaser(e *entry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			e.pins--
			c.evictLocked()
			c.mu.Unlock()
		})
	}
}

func (c *Cache) download(ctx context.Context, id string, size int64, fetch Fetch) (int64, error) {
	f, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), id+".*")
	if err != nil {
		return 0, errs.E("pcache", errs.Internal, err)
	}
	tmp := f.Name()
	n, err := fetch(ctx, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && size >= 0 && n != size {
		err = errs.Errorf("pcache", errs.Unavailable, "the object store sent %d bytes of an object of %d", n, size)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, id+".parquet")); err != nil {
		os.Remove(tmp)
		return 0, errs.E("pcache", errs.Internal, err)
	}
	return n, nil
}

// evictLocked removes least recently used unpinned entries while over the bound.
func (c *Cache) evictLocked() {
	if c.maxBytes <= 0 {
		return
	}
	for el := c.lru.Back(); el != nil && c.size > c.maxBytes; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.pins == 0 {
			c.lru.Remove(el)
			delete(c.entries, e.id)
			c.size -= e.size
			c.Evictions++
			os.Remove(e.path)
		}
		el = prev
	}
}

// String summarises the cache for logs.
func (c *Cache) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("pcache %s: %d entries, %d bytes (max %d), hits %d, misses %d, evictions %d",
		c.dir, len(c.entries), c.size, c.maxBytes, c.Hits, c.Misses, c.Evictions)
}

// Stats are the cache's counters and size, read under its lock (for
// queryd's metrics).
type Stats struct {
	Hits, Misses, Evictions, Bytes int64
	Entries                        int
}

// Stats reads them.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.Hits, Misses: c.Misses, Evictions: c.Evictions, Bytes: c.size, Entries: len(c.entries)}
}
