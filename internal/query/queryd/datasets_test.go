package queryd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// fakeCatalog holds manifests in memory and writes each version's manifest
// key as a file under the local backend's directory, which is what queryd
// checks for freshness.
type fakeCatalog struct {
	dir string
	mu  sync.Mutex
	ds  map[string]catalog.Dataset
}

func (c *fakeCatalog) Get(_ context.Context, name string, _ int64) (catalog.Dataset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.ds[name]
	if !ok {
		return catalog.Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "no dataset %q", name)
	}
	return d, nil
}

// put commits d as the next version of its name.
func (c *fakeCatalog) put(t *testing.T, d catalog.Dataset) {
	t.Helper()
	c.mu.Lock()
	d.Version = c.ds[d.Name].Version + 1
	c.ds[d.Name] = d
	c.mu.Unlock()
	p, err := local.ObjectPath(c.dir, catalog.ManifestKey(d.Name, d.Version))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newCatalogServer is a Server over a fake catalog and a local directory,
// with its HTTP handler.
func newCatalogServer(t *testing.T) (*Server, *fakeCatalog, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	cat := &fakeCatalog{dir: filepath.Join(dir, "objects"), ds: map[string]catalog.Dataset{}}
	s, err := NewServer(context.Background(), Options{
		Catalog: cat, LocalDir: cat.dir,
		CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := chi.NewRouter()
	s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
	return s, cat, r
}

type httpAnswer struct {
	status int
	header http.Header
	body   string
}

func postSQL(t *testing.T, h http.Handler, body string) httpAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/sql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return httpAnswer{w.Code, w.Result().Header, string(bytes.TrimSpace(b))}
}

// TestBrokenManifestType: a dataset whose manifest declares a type DuckDB
// refuses is a 400 naming the dataset and column, not a 500 internal.
func TestBrokenManifestType(t *testing.T) {
	_, cat, h := newCatalogServer(t)
	cat.put(t, catalog.Dataset{Name: "e1", Schema: []catalog.Column{{Name: "c", Type: "STRUCT(a INTEGER, a INTEGER)"}}})
	a := postSQL(t, h, `{"sql":"select * from e1"}`)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, `"invalid"`) || !strings.Contains(a.body, `column \"c\"`) {
		t.Fatalf("%d %s", a.status, a.body)
	}
	// A new version with a valid schema repairs it.
	cat.put(t, catalog.Dataset{Name: "e1", Schema: []catalog.Column{{Name: "c", Type: "INTEGER"}}})
	if a := postSQL(t, h, `{"sql":"select count(*) n from e1"}`); a.status != http.StatusOK || !strings.Contains(a.body, `"rows":[[0]]`) {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestTimeNSDataset: an empty dataset of a TIME_NS column reports the
// column's type (was ""), and a TIME_NS value is rendered, not a 500.
func TestTimeNSDataset(t *testing.T) {
	_, cat, h := newCatalogServer(t)
	cat.put(t, catalog.Dataset{Name: "tn", Schema: []catalog.Column{{Name: "c", Type: "TIME_NS"}}})
	if a := postSQL(t, h, `{"sql":"select * from tn"}`); a.status != http.StatusOK || !strings.Contains(a.body, `"columns":[{"name":"c","type":"TIME_NS"}]`) {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a := postSQL(t, h, `{"sql":"select '12:00'::time_ns x, 1::variant y"}`); a.status != http.StatusOK || !strings.Contains(a.body, `"rows":[["12:00:00",1]]`) {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestParamsExact: integer params bind exactly through HTTP (they were
// decoded as float64: 9007199254740993 came back ...992); fractions bind
// as DOUBLE; a number no type holds is 400.
func TestParamsExact(t *testing.T) {
	_, _, h := newCatalogServer(t)
	for _, tc := range []struct{ params, want string }{
		{`[9007199254740993]`, `[["9007199254740993"]]`},
		{`[-9223372036854775808]`, `[["-9223372036854775808"]]`},
		{`[18446744073709551615]`, `[["18446744073709551615"]]`},
		{`[170141183460469231731687303715884105728]`, `[["170141183460469231731687303715884105728"]]`},
		{`[42]`, `[[42]]`},
		{`[1.5]`, `[[1.5]]`},
		{`[2e3]`, `[[2000]]`},
		{`[0.1]`, `[[0.1]]`},
	} {
		a := postSQL(t, h, `{"sql":"select $1 a","params":`+tc.params+`}`)
		if a.status != http.StatusOK || !strings.Contains(a.body, `"rows":`+tc.want) {
			t.Errorf("%s: %d %s", tc.params, a.status, a.body)
		}
	}
	if a := postSQL(t, h, `{"sql":"select $1::INTEGER + 1 a","params":[41]}`); !strings.Contains(a.body, `"rows":[[42]]`) {
		t.Errorf("%d %s", a.status, a.body)
	}
	if a := postSQL(t, h, `{"sql":"select $1 a","params":[1e400]}`); a.status != http.StatusBadRequest || !strings.Contains(a.body, "params[0]") {
		t.Errorf("1e400: %d %s", a.status, a.body)
	}
}

// TestWideStreamHeader: a wide ndjson/csv answer leaves X-Columns out
// above MaxColumnsHeader and says so (2000 columns made a 144 KB header
// that curl refuses); a narrow one keeps it.
func TestWideStreamHeader(t *testing.T) {
	_, _, h := newCatalogServer(t)
	cols := make([]string, 2000)
	for i := range cols {
		cols[i] = fmt.Sprintf("%d AS column_with_a_long_name_%d", i, i)
	}
	wide := "select " + strings.Join(cols, ", ")
	for _, format := range []string{"ndjson", "csv"} {
		a := postSQL(t, h, fmt.Sprintf(`{"sql":%q,"format":%q}`, wide, format))
		if a.status != http.StatusOK || a.header.Get("X-Columns") != "" || !strings.Contains(a.header.Get("X-Columns-Omitted"), "limit") || a.header.Get("X-Column-Count") != "2000" {
			t.Fatalf("%s: %d X-Columns %d bytes, omitted %q, count %q", format, a.status, len(a.header.Get("X-Columns")), a.header.Get("X-Columns-Omitted"), a.header.Get("X-Column-Count"))
		}
		if !strings.Contains(a.body, "column_with_a_long_name_1999") {
			t.Fatalf("%s: the names are not in the body", format)
		}
		var size int
		for k, vs := range a.header {
			for _, v := range vs {
				size += len(k) + len(v)
			}
		}
		if size > 2*MaxColumnsHeader {
			t.Fatalf("%s: %d bytes of headers", format, size)
		}
		a = postSQL(t, h, fmt.Sprintf(`{"sql":"select 1 a, 'x' b","format":%q}`, format))
		if a.header.Get("X-Columns") != `[{"name":"a","type":"INTEGER"},{"name":"b","type":"VARCHAR"}]` || a.header.Get("X-Columns-Omitted") != "" || a.header.Get("X-Column-Count") != "2" {
			t.Fatalf("%s narrow: %v", format, a.header)
		}
	}
}

// brokenStore answers HEADs and serves every object's first bytes, then
// breaks: the object store going away in the middle of a download.
type brokenStore struct{ storage.Store }

func (brokenStore) Head(_ context.Context, key string) (storage.ObjectInfo, error) {
	return storage.ObjectInfo{Key: key, Size: 1000, ETag: "e1"}, nil
}

func (brokenStore) Get(_ context.Context, key string, _ storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	r := io.MultiReader(strings.NewReader("PAR1 some bytes"), iotest.ErrReader(io.ErrUnexpectedEOF))
	return io.NopCloser(r), storage.ObjectInfo{Key: key, Size: 1000, ETag: "e1"}, nil
}

// TestFetchBrokenIsUnavailable: S3 or storaged dying while queryd fills
// its cache is 503 unavailable (was 500 internal), and no partial file
// stays in the cache.
func TestFetchBrokenIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	cat := &fakeCatalog{dir: filepath.Join(dir, "objects"), ds: map[string]catalog.Dataset{}}
	s, err := NewServer(context.Background(), Options{
		Catalog: cat, Store: brokenStore{},
		CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 2, MaxQueue: 2, MaxRows: 1000, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := chi.NewRouter()
	s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
	cat.put(t, catalog.Dataset{Name: "rnd", Schema: []catalog.Column{{Name: "h", Type: "BIGINT"}},
		Files: []catalog.File{{Key: "datasets/rnd/x/part-00000.parquet", Rows: 10, Bytes: 1000}}, RowCount: 10})
	a := postSQL(t, r, `{"sql":"SELECT count(*) FROM rnd"}`)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"unavailable"`) {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var left []string
	filepath.Walk(filepath.Join(dir, "cache"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() != shared.DirLockName {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("partial cache files: %v", left)
	}
}
