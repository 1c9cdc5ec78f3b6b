package catalog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzManifestCacheEntry: the manifest cache's entry reader never panics,
// and accepts exactly the bytes encodeCacheEntry writes for what it
// returns: anything else — cut, a byte changed, appended to — is refused.
func FuzzManifestCacheEntry(f *testing.F) {
	good, _ := encodeCacheEntry("_catalog/a/0000000001.json", "0123abcd", []byte(`{"name":"a"}`))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte{}, good...), 0))
	empty, _ := encodeCacheEntry("", "", nil)
	f.Add(empty)
	f.Add([]byte(mcacheMagic))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, etag, body, ok := decodeCacheEntry(b)
		if !ok {
			return
		}
		again, ok2 := encodeCacheEntry(key, etag, body)
		if !ok2 || !bytes.Equal(again, b) {
			t.Fatalf("accepted %q as (%q, %q, %q), which encodes as %q", b, key, etag, body, again)
		}
	})
}

// TestCacheEntryDamage: every cut and every single-bit change of an entry
// is refused (CRC-32C detects all of them at this size).
func TestCacheEntryDamage(t *testing.T) {
	good, ok := encodeCacheEntry("_catalog/sales/0000000003.json", "d41d8cd98f00b204e9800998ecf8427e", []byte(`{"name":"sales","version":3}`))
	if !ok {
		t.Fatal("encode")
	}
	if k, e, b, ok := decodeCacheEntry(good); !ok || k != "_catalog/sales/0000000003.json" || e != "d41d8cd98f00b204e9800998ecf8427e" || string(b) != `{"name":"sales","version":3}` {
		t.Fatalf("round trip: %q %q %q %v", k, e, b, ok)
	}
	for n := range len(good) {
		if _, _, _, ok := decodeCacheEntry(good[:n]); ok {
			t.Fatalf("cut to %d bytes: accepted", n)
		}
	}
	for i := range len(good) {
		for bit := range 8 {
			d := bytes.Clone(good)
			d[i] ^= 1 << bit
			if _, _, _, ok := decodeCacheEntry(d); ok {
				t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
			}
		}
	}
}

// TestCacheGetMismatch: get answers only the key and etag asked, and put
// replaces an entry atomically (no temporary file is left).
func TestCacheGetMismatch(t *testing.T) {
	dir := t.TempDir()
	m := newManifestCache(dir, nil)
	m.put("sales", "_catalog/sales/0000000001.json", "e1", []byte("one"))
	if got := m.get("sales", "_catalog/sales/0000000001.json", "e1"); string(got) != "one" {
		t.Fatalf("get: %q", got)
	}
	for _, q := range [][2]string{{"_catalog/sales/0000000001.json", "e2"}, {"_catalog/sales/0000000002.json", "e1"}, {"_catalog/sales/0000000001.json", ""}} {
		if got := m.get("sales", q[0], q[1]); got != nil {
			t.Fatalf("get %v: %q, want nothing", q, got)
		}
	}
	m.put("sales", "_catalog/sales/0000000002.json", "e2", []byte("two"))
	if got := m.get("sales", "_catalog/sales/0000000001.json", "e1"); got != nil {
		t.Fatalf("the replaced entry still answers: %q", got)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "sales"+mcacheSuffix {
		t.Fatalf("dir holds %v (%v), want only sales.m", ents, err)
	}
	// A crash's temporary file goes at the next start.
	tmp := filepath.Join(dir, ".tmp-sales-123")
	if err := os.WriteFile(tmp, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = newManifestCache(dir, nil)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("a temporary file survived a start: %v", err)
	}
	if got := m.get("sales", "_catalog/sales/0000000002.json", "e2"); string(got) != "two" {
		t.Fatalf("after a start: %q", got)
	}
	m.prune(map[string]bool{"other": true})
	if _, err := os.Stat(filepath.Join(dir, "sales"+mcacheSuffix)); !os.IsNotExist(err) {
		t.Fatalf("prune kept an entry not listed: %v", err)
	}
}
