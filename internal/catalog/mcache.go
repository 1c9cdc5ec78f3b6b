package catalog

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/shared"
)

// The manifest cache (ADR-131/137's open end): catalogd keeps, in its own
// data directory, the latest manifest it read or wrote of each dataset,
// with the manifest's key and the etag storaged gave it. A cold list
// (after a restart) has every latest manifest's key and etag from the key
// listing; a manifest whose key and etag match the cached entry is read
// from local disk instead of one GET through storaged. Manifests are
// written create-only and never rewritten by catalogd, so (key, etag) ->
// bytes is a pure cache: a manifest replaced behind catalogd's back (a
// catalog wiped and written again, a restore) has another etag and is read
// again. The cache is never authoritative: an entry that cannot be read,
// is cut, fails its checksum or names another key or etag is ignored (the
// manifest is fetched and the entry replaced), and deleting the directory
// costs only time.
//
// One file per dataset, named after it (dataset names are [a-z0-9_]):
//
//	"LHMC1\n"            magic, 6 bytes
//	uint16 key length, key
//	uint16 etag length, etag
//	uint32 body length, body (the manifest's bytes as storaged served them)
//	uint32 CRC-32C of everything before it
//
// big-endian; the file is exactly that long. Each write is a new temporary
// file renamed over the entry (no fsync: a torn or empty file after a
// crash fails its checksum and is ignored). The size is bounded by the
// catalog: one entry per dataset, the latest manifest seen, overwritten in
// place; after a whole list, entries of names the listing no longer shows
// (and temporary files an hour old) are removed; temporary files left by a
// crash are removed at start.
type manifestCache struct {
	dir string
	log *slog.Logger
	// off: writing failed once (warned once); reads go on.
	off atomic.Bool
	// hits, misses: look-ups (for catalogd's metrics, metrics.go).
	hits, misses atomic.Int64
}

const (
	mcacheMagic  = "LHMC1\n"
	mcacheSuffix = ".m"
	// mcacheMaxBody: larger manifests are not cached (a read of them
	// dwarfs one GET's cost anyway).
	mcacheMaxBody = 64 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ManifestCacheDir is where catalogd keeps its manifest cache:
// <data_dir>/catalogd/manifests ([catalogd] has no directory key).
func ManifestCacheDir(cfg *shared.Config) string {
	return cfg.DataPath("", filepath.Join("catalogd", "manifests"))
}

// newManifestCache opens the cache in dir (created when missing). A
// directory that cannot be made is warned about once and the cache is off.
func newManifestCache(dir string, log *slog.Logger) *manifestCache {
	if log == nil {
		log = slog.Default()
	}
	m := &manifestCache{dir: dir, log: log}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		m.disable(err)
		return m
	}
	// Temporary files of writes a crash cut short. (One of another
	// catalogd sharing the dir, removed here, leaves its entry unwritten.)
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	return m
}

func (m *manifestCache) disable(err error) {
	if m.off.CompareAndSwap(false, true) {
		m.log.Warn("catalogd: the manifest cache cannot be written; lists after a restart read every manifest from storaged",
			"dir", m.dir, "err", err.Error())
	}
}

// encodeCacheEntry is the entry for key, etag and body; ok false when one
// is too long for the format.
func encodeCacheEntry(key, etag string, body []byte) ([]byte, bool) {
	if len(key) > 0xffff || len(etag) > 0xffff || len(body) > mcacheMaxBody {
		return nil, false
	}
	b := make([]byte, 0, len(mcacheMagic)+2+len(key)+2+len(etag)+4+len(body)+4)
	b = append(b, mcacheMagic...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(etag)))
	b = append(b, etag...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
	return b, true
}

// decodeCacheEntry reads an entry; ok false for anything that is not
// exactly one whole entry with a right checksum. body aliases b.
func decodeCacheEntry(b []byte) (key, etag string, body []byte, ok bool) {
	if len(b) < len(mcacheMagic)+2+2+4+4 || string(b[:len(mcacheMagic)]) != mcacheMagic {
		return "", "", nil, false
	}
	end := len(b) - 4
	if crc32.Checksum(b[:end], crc32c) != binary.BigEndian.Uint32(b[end:]) {
		return "", "", nil, false
	}
	r := b[len(mcacheMagic):end]
	field := func(n int) ([]byte, bool) {
		if n > len(r) {
			return nil, false
		}
		f := r[:n]
		r = r[n:]
		return f, true
	}
	var kb, eb []byte
	if len(r) < 2 {
		return "", "", nil, false
	}
	n := int(binary.BigEndian.Uint16(r))
	r = r[2:]
	if kb, ok = field(n); !ok || len(r) < 2 {
		return "", "", nil, false
	}
	n = int(binary.BigEndian.Uint16(r))
	r = r[2:]
	if eb, ok = field(n); !ok || len(r) < 4 {
		return "", "", nil, false
	}
	bl := binary.BigEndian.Uint32(r)
	r = r[4:]
	if uint64(bl) != uint64(len(r)) || bl > mcacheMaxBody {
		return "", "", nil, false
	}
	return string(kb), string(eb), r, true
}

func (m *manifestCache) path(name string) string {
	return filepath.Join(m.dir, name+mcacheSuffix)
}

// get returns the cached bytes of name's manifest key when the entry holds
// that key at etag; nil otherwise (no entry, another key or etag, or an
// entry that cannot be trusted).
func (m *manifestCache) get(name, key, etag string) []byte {
	if m == nil || etag == "" {
		return nil
	}
	b := m.lookup(name, key, etag)
	if b != nil {
		m.hits.Add(1)
	} else {
		m.misses.Add(1)
	}
	return b
}

func (m *manifestCache) lookup(name, key, etag string) []byte {
	f, err := os.Open(m.path(name))
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, mcacheMaxBody+1<<17))
	if err != nil {
		return nil
	}
	k, e, body, ok := decodeCacheEntry(b)
	if !ok || k != key || e != etag {
		return nil
	}
	return body
}

// put stores body as name's manifest key at etag (best effort).
func (m *manifestCache) put(name, key, etag string, body []byte) {
	if m == nil || etag == "" || m.off.Load() {
		return
	}
	b, ok := encodeCacheEntry(key, etag, body)
	if !ok {
		return
	}
	f, err := os.CreateTemp(m.dir, ".tmp-"+name+"-*")
	if err != nil {
		m.disable(err)
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		m.disable(err) // the disk is full or failing
		return
	}
	if os.Rename(f.Name(), m.path(name)) != nil {
		// Something else sits at the entry's name (a directory): this
		// dataset goes uncached.
		_ = os.Remove(f.Name())
	}
}

// drop removes name's entry (a manifest found damaged in storage).
func (m *manifestCache) drop(name string) {
	if m == nil || m.off.Load() {
		return
	}
	_ = os.Remove(m.path(name))
}

// prune removes the entries of names not in keep (a whole list's names)
// and temporary files over an hour old. An entry written meanwhile for a
// new dataset may go too: it costs a read.
func (m *manifestCache) prune(keep map[string]bool) {
	if m == nil || m.off.Load() {
		return
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, ".tmp-"):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.Remove(filepath.Join(m.dir, n))
			}
		case strings.HasSuffix(n, mcacheSuffix):
			if !keep[strings.TrimSuffix(n, mcacheSuffix)] {
				_ = os.Remove(filepath.Join(m.dir, n))
			}
		}
	}
}
