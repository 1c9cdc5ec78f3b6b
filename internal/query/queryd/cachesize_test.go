package queryd

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// storeCatalog keeps manifests as objects of a store (as catalogd does), so
// queryd's freshness HEAD goes to the store.
type storeCatalog struct {
	st storage.Store
	ds map[string]catalog.Dataset
}

func (c *storeCatalog) Get(_ context.Context, name string, _ int64) (catalog.Dataset, error) {
	d, ok := c.ds[name]
	if !ok {
		return catalog.Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "no dataset %q", name)
	}
	return d, nil
}

// TestCachedFileOfWrongSize: a cached Parquet file cut short (a crash
// before its data reached the disk: downloads are not fsynced, and a
// restart indexes the cache directory as it finds it) is fetched again.
// It was served as is: every query of the dataset was a 500 "internal
// error" until someone emptied the cache by hand.
func TestCachedFileOfWrongSize(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(filepath.Join(dir, "objects"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	// A Parquet object, as ingestd writes it.
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "part.parquet")
	if _, err := db.Exec(`COPY (SELECT range AS id, 'row ' || range AS name FROM range(5000)) TO '` + pq + `' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	body, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	key := "datasets/cut/x/part-00000.parquet"
	if _, err := st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, catalog.ManifestKey("cut", 1), strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	cat := &storeCatalog{st: st, ds: map[string]catalog.Dataset{"cut": {Name: "cut", Version: 1,
		Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
		Files:  []catalog.File{{Key: key, Rows: 5000, Bytes: int64(len(body))}}, RowCount: 5000}}}

	cacheDir := filepath.Join(dir, "cache")
	start := func() (*Server, http.Handler) {
		// No LocalDir: every file goes through the cache, as on S3.
		s, err := NewServer(ctx, Options{Catalog: cat, Store: st,
			CacheDir: cacheDir, TempDir: filepath.Join(dir, "tmp"),
			Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r := chi.NewRouter()
		s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
		return s, r
	}
	const q = `{"sql":"SELECT count(*), max(name) FROM cut"}`
	const want = `"rows":[[5000,"row 999"]]`
	s, h := start()
	if a := postSQL(t, h, q); a.status != http.StatusOK || !strings.Contains(a.body, want) {
		t.Fatalf("first query: %d %s", a.status, a.body)
	}
	s.Close()

	cached, _ := filepath.Glob(filepath.Join(cacheDir, "*.parquet"))
	if len(cached) != 1 {
		t.Fatalf("cache files %v, want one", cached)
	}
	for _, size := range []int64{0, int64(len(body)) / 2} {
		if err := os.Truncate(cached[0], size); err != nil {
			t.Fatal(err)
		}
		s, h := start()
		for i := range 2 {
			if a := postSQL(t, h, q); a.status != http.StatusOK || !strings.Contains(a.body, want) {
				t.Fatalf("cached file cut to %d bytes, query %d after a restart: %d %s", size, i, a.status, a.body)
			}
		}
		s.Close()
		if fi, err := os.Stat(cached[0]); err != nil || fi.Size() != int64(len(body)) {
			t.Fatalf("cache file after the refetch: %v %v", fi, err)
		}
	}
}
