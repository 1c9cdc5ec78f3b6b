package queryd

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// TestRestartWithStaleCache (audit, thirteenth session): a queryd restarted
// while its cache holds the files of a dataset that was replaced, and of
// one that was deleted, while it was down answers from the latest version
// and 404 — the cache is keyed by (key, etag) and views are made from the
// catalog after a start, so no cached file of an older version is read.
func TestRestartWithStaleCache(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(filepath.Join(dir, "objects"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat := &storeCatalog{st: st, ds: map[string]catalog.Dataset{}}
	put := func(name string, v int64, rows int) {
		t.Helper()
		pq := filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", name, v))
		if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT range AS id, 'v%d' AS name FROM range(%d)) TO '%s' (FORMAT parquet)`, v, rows, pq)); err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(pq)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("datasets/%s/ingest%d/part-00000.parquet", name, v)
		if _, err := st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, catalog.ManifestKey(name, v), strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		cat.ds[name] = catalog.Dataset{Name: name, Version: v,
			Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
			Files:  []catalog.File{{Key: key, Rows: int64(rows), Bytes: int64(len(body))}}, RowCount: int64(rows)}
	}
	start := func() (*Server, http.Handler) {
		s, err := NewServer(ctx, Options{Catalog: cat, Store: st, // no LocalDir: through the cache
			CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
			Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r := chi.NewRouter()
		s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
		return s, r
	}
	put("kept", 1, 500)
	put("gone", 1, 10)
	s, h := start()
	for q, want := range map[string]string{"kept": `"rows":[[500,"v1"]]`, "gone": `"rows":[[10,"v1"]]`} {
		if a := postSQL(t, h, `{"sql":"SELECT count(*), max(name) FROM `+q+`"}`); a.status != http.StatusOK || !strings.Contains(a.body, want) {
			t.Fatalf("%s before the restart: %d %s", q, a.status, a.body)
		}
	}
	s.Close()

	put("kept", 2, 7) // replaced while queryd is down
	delete(cat.ds, "gone")
	s, h = start()
	defer s.Close()
	if a := postSQL(t, h, `{"sql":"SELECT count(*), max(name) FROM kept"}`); a.status != http.StatusOK || !strings.Contains(a.body, `"rows":[[7,"v2"]]`) {
		t.Fatalf("replaced dataset after the restart: %d %s", a.status, a.body)
	}
	if a := postSQL(t, h, `{"sql":"SELECT count(*) FROM gone"}`); a.status != http.StatusNotFound {
		t.Fatalf("deleted dataset after the restart: %d %s", a.status, a.body)
	}
}
