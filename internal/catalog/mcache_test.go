package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestManifestCacheRestart (ADR-131/137's open end): a restarted catalogd
// lists from its manifest cache on disk — the listing pages and no
// manifest GET, counted at storaged — where it made one GET per dataset.
// A manifest replaced behind its back (same key, another etag) is read
// again; cache entries cut, with a byte flipped, with another etag, of
// garbage or holding bytes that are no manifest are ignored and the
// answer is right; a deleted dataset, and one whose manifests were
// removed from storage, does not come back from the cache. On the local
// backend and on MinIO.
func TestManifestCacheRestart(t *testing.T) {
	t.Run("local", func(t *testing.T) { manifestCacheRestart(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { manifestCacheRestart(t, minioConfig(t)) })
}

func manifestCacheRestart(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, stSrv := storagetest.Start(t, cfg)
	const n = 200
	seedManifests(t, ctx, st, n, "mc_%04d")
	t.Setenv(storage.ForceHTTPEnv, "1")
	dir := catalog.ManifestCacheDir(cfg)
	count := func(f func()) int64 {
		before := storagedRequests(t, stSrv.URL())
		f()
		return storagedRequests(t, stSrv.URL()) - before
	}
	want := map[string]int64{} // name -> rows
	for i := range n {
		want[fmt.Sprintf("mc_%04d", i)] = 1
	}
	check := func(what string, res catalog.ListResponse) {
		t.Helper()
		if len(res.Unreadable) != 0 || len(res.Datasets) != len(want) {
			t.Fatalf("%s: %d datasets, %d unreadable (%v), want %d", what, len(res.Datasets), len(res.Unreadable), res.Unreadable, len(want))
		}
		for _, d := range res.Datasets {
			r, ok := want[d.Name]
			if !ok || d.RowCount != r || d.Version != 1 {
				t.Fatalf("%s: %s version %d with %d rows, want version 1 with %d (listed %v)", what, d.Name, d.Version, d.RowCount, r, ok)
			}
		}
	}
	// restartList is a list by a catalogd just started (a restart: the
	// same data dir), and the storaged requests it made.
	restartList := func(what string) int64 {
		t.Helper()
		base, _ := startCatalogLogged(t, cfg, nil)
		var res catalog.ListResponse
		reqs := count(func() { res = getList(t, base, "") })
		check(what, res)
		t.Logf("%s: %d storaged requests", what, reqs)
		return reqs
	}

	if got := restartList("first start, empty cache"); got < n {
		t.Fatalf("a list with an empty cache made %d storaged requests, want a GET per dataset (%d)", got, n)
	}
	if got := restartList("restart"); got > 4 {
		t.Errorf("a restarted catalogd's list made %d storaged requests, want at most 4 (the listing pages): its manifests are cached", got)
	}

	// Replaced behind catalogd's back: same key, other bytes, other etag.
	replaced := "mc_0003"
	now := time.Now().UTC()
	d := catalog.Dataset{Name: replaced, Version: 1, Schema: schema, Mode: catalog.ModeAppend, CreatedAt: now, UpdatedAt: now,
		Files: []catalog.File{{Key: "datasets/" + replaced + "/1.parquet", Rows: 7, Bytes: 500}}, RowCount: 7}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, catalog.ManifestKey(replaced, 1), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	want[replaced] = 7

	// Damaged entries: each must be ignored and its manifest read again.
	entry := func(name string) string { return filepath.Join(dir, name+".m") }
	read := func(name string) []byte {
		b, err := os.ReadFile(entry(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(entry(name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cut := read("mc_0010")
	write("mc_0010", cut[:len(cut)/2])
	flip := read("mc_0011")
	flip[len(flip)/2] ^= 0x20
	write("mc_0011", flip)
	info, err := st.Head(ctx, catalog.ManifestKey("mc_0012", 1))
	if err != nil {
		t.Fatal(err)
	}
	// Another dataset's manifest under mc_0012's key and a wrong etag.
	write("mc_0012", catalog.EncodeCacheEntry(catalog.ManifestKey("mc_0012", 1), "0"+info.ETag, b))
	write("mc_0013", []byte("garbage\x00\x01 not an entry"))
	// A whole entry with the right key and etag whose bytes are no manifest.
	info, err = st.Head(ctx, catalog.ManifestKey("mc_0014", 1))
	if err != nil {
		t.Fatal(err)
	}
	write("mc_0014", catalog.EncodeCacheEntry(catalog.ManifestKey("mc_0014", 1), info.ETag, []byte(`{"name":"mc_0014",`)))
	// And an entry of mc_0015 holding mc_0016's manifest.
	write("mc_0015", read("mc_0016"))
	if got := restartList("restart after a replace and 6 damaged entries"); got < 7 || got > 4+7 {
		t.Errorf("restart after a replace and 6 damaged entries: %d storaged requests, want the listing pages and 7 reads", got)
	}
	if got := restartList("restart after the repairs"); got > 4 {
		t.Errorf("a restart after the repairs made %d storaged requests, want at most 4", got)
	}

	// Deleted through catalogd, and removed from storage behind its back.
	base, c := startCatalogLogged(t, cfg, nil)
	if _, err := c.Delete(ctx, "mc_0020", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(want, "mc_0020")
	_ = getList(t, base, "")
	if err := st.Delete(ctx, catalog.ManifestKey("mc_0021", 1)); err != nil {
		t.Fatal(err)
	}
	delete(want, "mc_0021")
	if got := restartList("restart after a delete and a removal"); got > 4 {
		t.Errorf("a restart after a delete made %d storaged requests, want at most 4 (the tombstone was cached by the delete)", got)
	}
	if _, err := os.Stat(entry("mc_0021")); !os.IsNotExist(err) {
		t.Errorf("the entry of a dataset no longer in storage is still there after a whole list: %v", err)
	}
}

// TestManifestCacheTwoInstances: two catalogds with their own data dirs
// (sharing nothing but storaged) commit to the same dataset in turn; each
// one's list, and each one's after a restart, shows the latest commit,
// never the version its own cache holds.
func TestManifestCacheTwoInstances(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	t.Setenv(storage.ForceHTTPEnv, "1") // the other data dir has no storaged socket
	cfgB := *cfg
	cfgB.DataDir = t.TempDir()
	if catalog.ManifestCacheDir(cfg) == catalog.ManifestCacheDir(&cfgB) {
		t.Fatal("the two instances share a cache dir")
	}
	baseA, a := startCatalogLogged(t, cfg, nil)
	baseB, b := startCatalogLogged(t, &cfgB, nil)
	sa, sb := newSeeder(t, st, a), newSeeder(t, st, b)
	for _, nm := range []string{"two_a", "two_b"} {
		if err := sa.create(ctx, nm, 0); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what, base string, v int64) {
		t.Helper()
		res := getList(t, base, "")
		for _, d := range res.Datasets {
			if d.Name == "two_a" && (d.Version != v || d.RowCount != v) {
				t.Fatalf("%s: two_a at version %d with %d rows, want %d", what, d.Version, d.RowCount, v)
			}
		}
		if len(res.Datasets) != 2 {
			t.Fatalf("%s: %d datasets, want 2", what, len(res.Datasets))
		}
	}
	expect("A", baseA, 1)
	expect("B", baseB, 1)
	for v := int64(1); v <= 4; v++ {
		s, other := sa, baseB
		if v%2 == 0 {
			s, other = sb, baseA
		}
		if err := s.create(ctx, "two_a", v); err != nil {
			t.Fatal(err)
		}
		expect(fmt.Sprintf("the other instance after commit %d", v+1), other, v+1)
		rA, _ := startCatalogLogged(t, cfg, nil)
		rB, _ := startCatalogLogged(t, &cfgB, nil)
		expect("A restarted", rA, v+1)
		expect("B restarted", rB, v+1)
	}
}

// TestManifestCacheUnwritable: a cache dir that cannot be made (a file
// stands at its path) leaves catalogd working uncached, with one warning
// for any number of lists and commits.
func TestManifestCacheUnwritable(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	dir := catalog.ManifestCacheDir(cfg)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a dir"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	base, c := startCatalogLogged(t, cfg, &logs)
	s := newSeeder(t, st, c)
	for i := range 5 {
		if err := s.create(ctx, fmt.Sprintf("uw_%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if res := getList(t, base, ""); len(res.Datasets) != 5 || len(res.Unreadable) != 0 {
			t.Fatalf("list: %d datasets, %d unreadable, want 5", len(res.Datasets), len(res.Unreadable))
		}
		base2, _ := startCatalogLogged(t, cfg, nil)
		if res := getList(t, base2, ""); len(res.Datasets) != 5 {
			t.Fatalf("restarted list: %d datasets, want 5", len(res.Datasets))
		}
	}
	// The log is written out every 100 ms.
	time.Sleep(500 * time.Millisecond)
	if got := strings.Count(logs.String(), "manifest cache cannot be written"); got != 1 {
		t.Fatalf("%d warnings about the manifest cache, want 1; logs:\n%s", got, logs.String())
	}
}
