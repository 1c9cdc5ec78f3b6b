package queryd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
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

// TestLocalDirOfAnotherHost: a queryd whose [storaged].dir is not storaged's
// object directory (storaged on another host: queryd's own data dir holds
// an empty one) reads every file through storaged. It trusted the
// directory its config named: every dataset was "no dataset or table
// named", and a dataset it had seen never got a newer version. A LocalDir
// that storaged's socket confirms is read directly, as before.
func TestLocalDirOfAnotherHost(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(filepath.Join(dir, "hostB", "objects"), nil) // storaged's
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, storagedRoot, err := st.Root()
	if err != nil {
		t.Fatal(err)
	}
	other, err := local.Open(filepath.Join(dir, "other", "objects"), nil) // a storaged on this host, another dir
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, otherRoot, _ := other.Root()
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat := &storeCatalog{st: st, ds: map[string]catalog.Dataset{}}
	put := func(v int64, rows int) { putProbe(t, db, cat, v, rows) }
	put(1, 5)
	for _, tc := range []struct {
		name   string
		root   string // what storaged's socket answers here
		direct bool   // queryd reads storaged's file itself
	}{
		{"another host", "", false},
		{"another storaged on this host", otherRoot, false},
		{"storaged on this host", storagedRoot, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			localDir := filepath.Join(dir, tc.name, "objects") // queryd's own data dir
			if tc.direct {
				localDir = filepath.Dir(storagedRoot) // storaged's [storaged].dir
			}
			s, err := NewServer(ctx, Options{Catalog: cat, Store: st,
				LocalDir: localDir, LocalRoot: func(context.Context) string { return tc.root },
				CacheDir: filepath.Join(dir, tc.name, "cache"), TempDir: filepath.Join(dir, tc.name, "tmp"),
				Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := chi.NewRouter()
			s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
			want := cat.ds["probe"].RowCount
			if a := postSQL(t, r, `{"sql":"SELECT count(*) FROM probe"}`); a.status != http.StatusOK || !strings.Contains(a.body, fmt.Sprintf(`"rows":[[%d]]`, want)) {
				t.Fatalf("count: %d %s", a.status, a.body)
			}
			put(cat.ds["probe"].Version+1, int(want)+2) // a new version is seen
			if a := postSQL(t, r, `{"sql":"SELECT count(*) FROM probe"}`); a.status != http.StatusOK || !strings.Contains(a.body, fmt.Sprintf(`"rows":[[%d]]`, want+2)) {
				t.Fatalf("count after a new version: %d %s", a.status, a.body)
			}
			if cached := s.Cache().Stats().Entries; (cached == 0) != tc.direct {
				t.Fatalf("cached files %d; want direct reads = %v", cached, tc.direct)
			}
			// Nothing of storaged's directory is made where it is not
			// storaged's: queryd created <LocalDir>/data/datasets/ at its
			// start, an empty tree on a host without storaged (ADR-199).
			if _, err := os.Stat(localDir); !tc.direct && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("[storaged].dir of another host: %v; want it absent", err)
			}
		})
	}
}

// putProbe stores version v of dataset probe (rows ids) in cat's store and
// catalog.
func putProbe(t *testing.T, db *sql.DB, cat *storeCatalog, v int64, rows int) {
	t.Helper()
	ctx := context.Background()
	pq := filepath.Join(t.TempDir(), fmt.Sprintf("p-%d.parquet", v))
	if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT range AS id FROM range(%d)) TO '%s' (FORMAT parquet)`, rows, pq)); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("datasets/probe/ingest%d/part-00000.parquet", v)
	if _, err := cat.st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.st.Put(ctx, catalog.ManifestKey("probe", v), strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	cat.ds["probe"] = catalog.Dataset{Name: "probe", Version: v, Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}},
		Files: []catalog.File{{Key: key, Rows: int64(rows), Bytes: int64(len(body))}}, RowCount: int64(rows)}
}

// TestLocalDataMadeAfterStart: queryd no longer creates
// <[storaged].dir>/data/datasets/ at its start; on storaged's host, where
// storaged creates it with the first dataset, after queryd's start, DuckDB
// reads the files there all the same (allowed_directories is a path, not a
// directory that must exist), directly, without a download.
func TestLocalDataMadeAfterStart(t *testing.T) {
	dir := t.TempDir()
	objects := filepath.Join(dir, "objects")
	st, err := local.Open(objects, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, root, err := st.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := NewServer(ctx, Options{Catalog: &storeCatalog{st: st}, Store: st,
		LocalDir: objects, LocalRoot: func(context.Context) string { return root },
		CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(objects, "data", "datasets")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("data/datasets at queryd's start: %v; want it absent until a dataset is stored", err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat := s.opts.Catalog.(*storeCatalog)
	cat.ds = map[string]catalog.Dataset{}
	putProbe(t, db, cat, 1, 7)
	r := chi.NewRouter()
	s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
	if a := postSQL(t, r, `{"sql":"SELECT count(*) FROM probe"}`); a.status != http.StatusOK || !strings.Contains(a.body, `"rows":[[7]]`) {
		t.Fatalf("count: %d %s", a.status, a.body)
	}
	if n := s.Cache().Stats().Entries; n != 0 {
		t.Errorf("cached files %d; want the file read where storaged keeps it", n)
	}
}
