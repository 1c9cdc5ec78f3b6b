package catalog_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// start runs storaged (local backend) and n catalogd instances over it.
func start(t *testing.T, n int) (*storage.Client, []*catalog.Client) {
	return startOn(t, storagetest.Config(t), n)
}

// startOn is start with storaged configured by cfg.
func startOn(t *testing.T, cfg *shared.Config, n int) (*storage.Client, []*catalog.Client) {
	st, _ := storagetest.Start(t, cfg)
	var cs []*catalog.Client
	for i := 0; i < n; i++ {
		c := *cfg
		storagetest.StartCatalog(t, &c, catalog.New)
		cs = append(cs, catalog.NewClient(storagetest.ClientFor(&c, "catalogd", false)))
	}
	return st, cs
}

var schema = []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}

// file puts a real Parquet file of schema's columns (id BIGINT, name
// VARCHAR) with rows rows at key.
func file(t *testing.T, st storage.Store, key string, rows int64) catalog.File {
	t.Helper()
	return parquetFile(t, st, key, fmt.Sprintf("SELECT range::BIGINT AS id, 'n' || range AS name FROM range(%d)", rows))
}

var (
	duckOnce sync.Once
	duck     *sql.DB
	duckErr  error
)

// parquetFile writes the rows of query to a Parquet file with DuckDB, puts
// it at key and returns its manifest entry (rows and bytes as written).
func parquetFile(t *testing.T, st storage.Store, key, query string) catalog.File {
	t.Helper()
	duckOnce.Do(func() {
		var c *duckdb.Connector
		if c, duckErr = duckdb.NewConnector("", nil); duckErr == nil {
			duck = sql.OpenDB(c)
		}
	})
	if duckErr != nil {
		t.Fatal(duckErr)
	}
	path := filepath.Join(t.TempDir(), "f.parquet")
	res, err := duck.Exec("COPY (" + query + ") TO '" + path + "' (FORMAT parquet)")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info := storagetest.MustPut(t, st, key, b)
	return catalog.File{Key: key, Rows: rows, Bytes: info.Size}
}

func TestLifecycle(t *testing.T) {
	t.Run("local", func(t *testing.T) { lifecycle(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { lifecycle(t, minioConfig(t)) })
}

func minioConfig(t *testing.T) *shared.Config {
	m := miniotest.Start(t, "lakehouse-go-primary")
	return storagetest.S3Config(t, m)
}

func lifecycle(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, cs := startOn(t, cfg, 1)
	c := cs[0]

	if _, err := c.Get(ctx, "sales", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get before create: %v", err)
	}
	d1, err := c.Commit(ctx, "sales", catalog.CommitRequest{Mode: "append", Schema: schema, Files: []catalog.File{file(t, st, "datasets/sales/1.parquet", 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Version != 1 || d1.RowCount != 10 || d1.Files[0].Bytes == 0 || d1.CreatedAt.IsZero() {
		t.Fatalf("v1 = %+v", d1)
	}
	// base 0 again: the dataset exists.
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: nil}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("re-create: %v", err)
	}
	d2, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Mode: "append", Schema: schema, Files: []catalog.File{file(t, st, "datasets/sales/2.parquet", 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version != 2 || d2.RowCount != 15 || len(d2.Files) != 2 || !d2.CreatedAt.Equal(d1.CreatedAt) {
		t.Fatalf("v2 = %+v", d2)
	}
	// Stale base.
	_, err = c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Mode: "append", Schema: schema})
	if !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 409 {
		t.Fatalf("stale base: %v", err)
	}
	// Schema mismatch on append names the difference.
	_, err = c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 2, Mode: "append",
		Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "INTEGER"}}})
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `"name" VARCHAR in the dataset but "name" INTEGER`) {
		t.Fatalf("schema mismatch: %v", err)
	}
	// A missing file is refused.
	_, err = c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 2, Schema: schema, Files: []catalog.File{{Key: "datasets/sales/nope.parquet", Rows: 1}}})
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: %v", err)
	}
	// Replace.
	f3 := parquetFile(t, st, "datasets/sales/3.parquet", "SELECT range::DOUBLE AS x FROM range(7)")
	d3, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 2, Mode: "replace", Schema: []catalog.Column{{Name: "x", Type: "DOUBLE"}}, Files: []catalog.File{f3}})
	if err != nil {
		t.Fatal(err)
	}
	if d3.RowCount != 7 || len(d3.Files) != 1 || d3.Schema[0].Name != "x" {
		t.Fatalf("v3 = %+v", d3)
	}
	if got, err := c.Get(ctx, "sales", 0); err != nil || got.Version != 3 {
		t.Fatalf("latest = %+v, %v", got, err)
	}
	if got, err := c.Get(ctx, "sales", 1); err != nil || got.Version != 1 || got.RowCount != 10 {
		t.Fatalf("version 1 = %+v, %v", got, err)
	}
	vs, err := c.Versions(ctx, "sales")
	if err != nil || len(vs) != 3 || vs[2].Version != 3 || vs[1].FileCount != 2 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "sales" || list[0].Version != 3 {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// Delete writes a tombstone; files are kept without purge.
	res, err := c.Delete(ctx, "sales", catalog.DeleteOptions{})
	if err != nil || res.Version != 4 {
		t.Fatalf("delete = %+v, %v", res, err)
	}
	if _, err := c.Get(ctx, "sales", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if list, _ := c.List(ctx); len(list) != 0 {
		t.Fatalf("list after delete = %+v", list)
	}
	if _, err := st.Head(ctx, "datasets/sales/3.parquet"); err != nil {
		t.Fatalf("delete without purge removed a file: %v", err)
	}
	if _, err := c.Delete(ctx, "sales", catalog.DeleteOptions{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// Re-create: versions continue after the tombstone.
	d5, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{file(t, st, "datasets/sales/5.parquet", 1)}})
	if err != nil || d5.Version != 5 || d5.RowCount != 1 {
		t.Fatalf("re-create = %+v, %v", d5, err)
	}
	res, err = c.Delete(ctx, "sales", catalog.DeleteOptions{Purge: true})
	if err != nil || res.DeletedFiles != 1 {
		t.Fatalf("purge = %+v, %v", res, err)
	}
	if _, err := st.Head(ctx, "datasets/sales/5.parquet"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("purged file still there: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{"sales", "_x", "a1_b", strings.Repeat("a", 63)} {
		if err := catalog.ValidateName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "Sales", "1a", "a-b", "select", "from", "order", "join", strings.Repeat("a", 64), "a.b"} {
		if err := catalog.ValidateName(n); !errs.Is(err, errs.Invalid) {
			t.Errorf("%q: %v, want invalid", n, err)
		}
	}
	_, cs := start(t, 1)
	if _, err := cs[0].Get(context.Background(), "select", 0); !errs.Is(err, errs.Invalid) {
		t.Fatalf("reserved word: %v", err)
	}
}

// TestConcurrentCommits: 20 writers on two catalogd instances append to one
// dataset with retry-on-409; every commit lands exactly once, versions are
// gapless, and no manifest is lost.
func TestConcurrentCommits(t *testing.T) {
	t.Run("local", func(t *testing.T) { concurrentCommits(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { concurrentCommits(t, minioConfig(t)) })
}

func concurrentCommits(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, cs := startOn(t, cfg, 2)
	const writers = 20
	files := make([]catalog.File, writers)
	for i := range files {
		files[i] = file(t, st, fmt.Sprintf("datasets/c/%02d.parquet", i), int64(i+1))
	}
	if _, err := cs[0].Commit(ctx, "c", catalog.CommitRequest{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cs[w%len(cs)]
			for attempt := 0; attempt < 200; attempt++ {
				cur, err := c.Get(ctx, "c", 0)
				if err != nil {
					t.Errorf("writer %d: get: %v", w, err)
					return
				}
				_, err = c.Commit(ctx, "c", catalog.CommitRequest{BaseVersion: cur.Version, Mode: "append", Schema: schema, Files: []catalog.File{files[w]}})
				if err == nil {
					return
				}
				if !errs.Is(err, errs.Conflict) {
					t.Errorf("writer %d: commit: %v", w, err)
					return
				}
				conflicts[w]++
			}
			t.Errorf("writer %d: no commit after 200 attempts", w)
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range conflicts {
		total += n
	}
	t.Logf("%d writers, %d conflicts retried", writers, total)

	final, err := cs[1].Get(ctx, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != writers+1 {
		t.Fatalf("latest version %d, want %d", final.Version, writers+1)
	}
	seen := map[string]int{}
	var rows int64
	for _, f := range final.Files {
		seen[f.Key]++
		rows += f.Rows
	}
	for _, f := range files {
		if seen[f.Key] != 1 {
			t.Errorf("file %s appears %d times in the final manifest", f.Key, seen[f.Key])
		}
	}
	if rows != final.RowCount || rows != writers*(writers+1)/2 {
		t.Fatalf("row_count %d, sum %d, want %d", final.RowCount, rows, writers*(writers+1)/2)
	}
	vs, err := cs[0].Versions(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v.Version != int64(i+1) || v.FileCount != i {
			t.Fatalf("version %d: %+v (gap or lost manifest)", i+1, v)
		}
	}
}

// TestColumnFormats: a DATE column's format is stored with the dataset, an
// append keeps it (whatever the commit carries), a replace takes the new
// one, and a format on another type or not a strptime format is refused.
func TestColumnFormats(t *testing.T) {
	st, cs := start(t, 1)
	c := cs[0]
	ctx := context.Background()
	dated := func(format string) []catalog.Column {
		return []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE", Format: format}}
	}
	f := func(key string) catalog.File {
		return parquetFile(t, st, key, "SELECT 1::BIGINT AS id, DATE '2024-12-25' AS d")
	}
	v1, err := c.Commit(ctx, "dated", catalog.CommitRequest{Schema: dated("%m/%d/%Y"), Files: []catalog.File{f("datasets/dated/a.parquet")}})
	if err != nil || v1.Schema[1].Format != "%m/%d/%Y" {
		t.Fatalf("create: %v %+v", err, v1.Schema)
	}
	v2, err := c.Commit(ctx, "dated", catalog.CommitRequest{BaseVersion: 1, Schema: dated(""), Files: []catalog.File{f("datasets/dated/b.parquet")}})
	if err != nil || v2.Schema[1].Format != "%m/%d/%Y" {
		t.Fatalf("append: %v %+v", err, v2.Schema)
	}
	got, err := c.Get(ctx, "dated", 0)
	if err != nil || got.Version != 2 || got.Schema[1].Format != "%m/%d/%Y" {
		t.Fatalf("get: %v %+v", err, got)
	}
	v3, err := c.Commit(ctx, "dated", catalog.CommitRequest{BaseVersion: 2, Mode: catalog.ModeReplace, Schema: dated("%d.%m.%Y"), Files: []catalog.File{f("datasets/dated/c.parquet")}})
	if err != nil || v3.Schema[1].Format != "%d.%m.%Y" {
		t.Fatalf("replace: %v %+v", err, v3.Schema)
	}
	for _, bad := range []struct {
		schema []catalog.Column
		want   string
	}{
		{[]catalog.Column{{Name: "id", Type: "BIGINT", Format: "%m/%d/%Y"}, {Name: "d", Type: "DATE"}}, "only DATE and TIMESTAMP"},
		{dated("mm/dd/yyyy"), "strptime"},
		{dated("%m/%d/%Y\n"), "strptime"},
		{dated(strings.Repeat("%d", 40)), "longer than"},
	} {
		_, err := c.Commit(ctx, "dated", catalog.CommitRequest{BaseVersion: 3, Mode: catalog.ModeReplace, Schema: bad.schema, Files: []catalog.File{f("datasets/dated/x.parquet")}})
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want invalid %q", bad.schema, err, bad.want)
		}
	}
}
