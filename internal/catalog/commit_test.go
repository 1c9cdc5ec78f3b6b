package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestCommitChecks: a commit whose manifest does not describe its files is
// refused with 400 invalid naming the file (or column) and what is wrong,
// and nothing is committed; the good commits still land.
func TestCommitChecks(t *testing.T) {
	t.Run("local", func(t *testing.T) { commitChecks(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { commitChecks(t, minioConfig(t)) })
}

func commitChecks(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, _ := storagetest.Start(t, cfg)
	storagetest.StartCatalog(t, cfg, catalog.New)
	base := storagetest.ClientFor(cfg, "catalogd", false)
	c := catalog.NewClient(base)
	good := file(t, st, "datasets/sales/good.parquet", 2)
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{good}}); err != nil {
		t.Fatal(err)
	}
	other := file(t, st, "datasets/other/x.parquet", 3)
	if _, err := c.Commit(ctx, "other", catalog.CommitRequest{Schema: schema, Files: []catalog.File{other}}); err != nil {
		t.Fatal(err)
	}

	text := storagetest.MustPut(t, st, "datasets/sales/a/b.txt", []byte("hello"))
	long := storagetest.MustPut(t, st, "datasets/sales/long.txt", bytes.Repeat([]byte("not parquet "), 10000))
	two := file(t, st, "datasets/sales/two.parquet", 2)
	trailing := func() catalog.File {
		rc, _, err := st.Get(ctx, two.Key, storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		b.WriteString("junk")
		info := storagetest.MustPut(t, st, "datasets/sales/trailing.parquet", b.Bytes())
		return catalog.File{Key: info.Key, Rows: 2, Bytes: info.Size}
	}()
	three := parquetFile(t, st, "datasets/sales/three.parquet", "SELECT 1::BIGINT AS id, 'x' AS name, 2 AS extra")
	swapped := parquetFile(t, st, "datasets/sales/swapped.parquet", "SELECT 'x' AS name, 1::BIGINT AS id")
	with := func(f catalog.File, edit func(*catalog.File)) catalog.File { edit(&f); return f }

	cases := []struct {
		name   string
		mode   string
		schema []catalog.Column
		files  []catalog.File
		want   string
	}{
		{"text object", "", schema, []catalog.File{{Key: text.Key, Rows: 2, Bytes: text.Size}},
			`file "datasets/sales/a/b.txt" is not a valid Parquet file: 5 bytes is too small to be a Parquet file`},
		{"larger text object", "", schema, []catalog.File{{Key: long.Key, Rows: 2}},
			`file "datasets/sales/long.txt" is not a valid Parquet file: it does not start with the Parquet magic PAR1`},
		{"rows", "", schema, []catalog.File{with(two, func(f *catalog.File) { f.Rows = 999 })},
			`file "datasets/sales/two.parquet": rows 999, but its Parquet footer says 2`},
		{"bytes", "", schema, []catalog.File{with(two, func(f *catalog.File) { f.Bytes++ })},
			fmt.Sprintf(`file "datasets/sales/two.parquet": bytes %d, but the stored object has %d`, two.Bytes+1, two.Bytes)},
		{"trailing junk", "", schema, []catalog.File{trailing},
			`file "datasets/sales/trailing.parquet" is not a valid Parquet file: it does not end with the Parquet magic PAR1`},
		{"unknown type", "replace", []catalog.Column{{Name: "id", Type: "NOTATYPE"}}, []catalog.File{three},
			`schema[0] "id": type "NOTATYPE" is not a DuckDB type: unknown type name "NOTATYPE"`},
		{"bad type among good", "replace", []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "STRUCT(a INTEGER"}, {Name: "extra", Type: "INTEGER"}}, []catalog.File{three},
			`schema[1] "name": type "STRUCT(a INTEGER" is not a DuckDB type`},
		{"fewer columns than the file", "replace", []catalog.Column{{Name: "id", Type: "BIGINT"}}, []catalog.File{three},
			`file "datasets/sales/three.parquet" does not match the schema: the file has 3 columns ("id", "name", "extra") but the schema declares 1 ("id")`},
		{"columns in another order", "append", schema, []catalog.File{swapped},
			`file "datasets/sales/swapped.parquet" does not match the schema: column 1 is "name" in the file but "id" in the schema`},
		{"another dataset's file", "", schema, []catalog.File{other},
			`files[0] "datasets/other/x.parquet": a file of dataset "sales" must be an object under datasets/sales/`},
		{"outside datasets/", "", schema, []catalog.File{{Key: "a/b.txt", Rows: 2}},
			`must be an object under datasets/sales/`},
		{"dot-dot", "", schema, []catalog.File{{Key: "datasets/sales/../other/x.parquet", Rows: 3}},
			`has a .. segment`},
		{"one bad of several", "", schema, []catalog.File{two, with(file(t, st, "datasets/sales/four.parquet", 4), func(f *catalog.File) { f.Rows = 5 })},
			`file "datasets/sales/four.parquet": rows 5, but its Parquet footer says 4`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Mode: tc.mode, Schema: tc.schema, Files: tc.files})
			if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("commit: %v (status %d), want 400 invalid saying %s", err, errs.StatusOf(err), tc.want)
			}
			vs, err := c.Versions(ctx, "sales")
			if err != nil || len(vs) != 1 {
				t.Fatalf("versions after a refused commit: %+v, %v", vs, err)
			}
		})
	}

	// Through HTTP as the gateway's caller sees it: 400 with kind invalid.
	body, _ := json.Marshal(catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{{Key: text.Key, Rows: 2}}})
	resp := postJSON(t, base, "/v1/catalog/datasets/sales/commit", body)
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, `"invalid"`) || !strings.Contains(resp.body, "too small to be a Parquet file") {
		t.Fatalf("HTTP commit of a text object: %d %s", resp.status, resp.body)
	}

	// The good ones still commit, with the footer's rows.
	d, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{two}})
	if err != nil || d.Version != 2 || d.RowCount != 4 {
		t.Fatalf("append = %+v, %v", d, err)
	}
	d, err = c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 2, Mode: "replace",
		Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}, {Name: "extra", Type: "INTEGER"}}, Files: []catalog.File{three}})
	if err != nil || d.Version != 3 || d.RowCount != 1 {
		t.Fatalf("replace = %+v, %v", d, err)
	}

	// Purging the other dataset leaves sales' files alone (it could not
	// reference them).
	if _, err := c.Delete(ctx, "other", catalog.DeleteOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{three.Key, two.Key, good.Key} {
		if _, err := st.Head(ctx, k); err != nil {
			t.Fatalf("%s after purging other: %v", k, err)
		}
	}
}

// TestCommitWideFile: a file whose footer is larger than the tail GET
// (1200 columns) is read with a third, streamed GET; nested types pass.
func TestCommitWideFile(t *testing.T) {
	ctx := context.Background()
	st, cs := start(t, 1)
	var cols []string
	var sch []catalog.Column
	for i := 0; i < 1200; i++ {
		cols = append(cols, fmt.Sprintf("%d::INTEGER AS column_number_%04d", i, i))
		sch = append(sch, catalog.Column{Name: fmt.Sprintf("column_number_%04d", i), Type: "INTEGER"})
	}
	cols = append(cols, "{'a': [1], 'b c': MAP {'k': 1.5::DECIMAL(4,1)}} AS s", "now()::TIMESTAMPTZ AS ts")
	sch = append(sch, catalog.Column{Name: "s", Type: `STRUCT(a INTEGER[], "b c" MAP(VARCHAR, DECIMAL(4,1)))`},
		catalog.Column{Name: "ts", Type: "TIMESTAMP WITH TIME ZONE"})
	f := parquetFile(t, st, "datasets/wide/w.parquet", "SELECT "+strings.Join(cols, ", ")+" FROM range(3)")
	d, err := cs[0].Commit(ctx, "wide", catalog.CommitRequest{Schema: sch, Files: []catalog.File{f}})
	if err != nil || d.RowCount != 3 {
		t.Fatalf("wide commit = %d rows, %v", d.RowCount, err)
	}
	sch[1000].Name = "renamed"
	if _, err := cs[0].Commit(ctx, "wide", catalog.CommitRequest{BaseVersion: 1, Mode: "replace", Schema: sch, Files: []catalog.File{f}}); !errs.Is(err, errs.Invalid) ||
		!strings.Contains(err.Error(), `column 1001 is "column_number_1000" in the file but "renamed" in the schema`) {
		t.Fatalf("wide commit with a renamed column: %v", err)
	}
}

// TestPurgeAfterDelete: DELETE ?purge=true after a plain DELETE deletes the
// files the delete kept, writes no version, and can be repeated; only keys
// under datasets/{name}/ are ever purged.
func TestPurgeAfterDelete(t *testing.T) {
	ctx := context.Background()
	st, cs := start(t, 1)
	c := cs[0]
	f1 := file(t, st, "datasets/p/1.parquet", 1)
	f2 := file(t, st, "datasets/p/2.parquet", 2)
	if _, err := c.Commit(ctx, "p", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "p", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{f2}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Delete(ctx, "p", catalog.DeleteOptions{})
	if err != nil || res.Version != 3 || res.Purged {
		t.Fatalf("delete = %+v, %v", res, err)
	}
	if _, err := st.Head(ctx, f1.Key); err != nil {
		t.Fatalf("plain delete removed a file: %v", err)
	}
	if _, err := c.Delete(ctx, "p", catalog.DeleteOptions{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("second plain delete: %v", err)
	}
	res, err = c.Delete(ctx, "p", catalog.DeleteOptions{Purge: true})
	if err != nil || res.Version != 3 || !res.Purged || res.DeletedFiles != 2 {
		t.Fatalf("purge after delete = %+v, %v", res, err)
	}
	for _, k := range []string{f1.Key, f2.Key} {
		if _, err := st.Head(ctx, k); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%s after purge: %v", k, err)
		}
	}
	if vs, err := c.Versions(ctx, "p"); err != nil || len(vs) != 3 {
		t.Fatalf("purge after delete wrote a version: %+v, %v", vs, err)
	}
	res, err = c.Delete(ctx, "p", catalog.DeleteOptions{Purge: true})
	if err != nil || res.Version != 3 || res.DeletedFiles != 0 {
		t.Fatalf("purge again = %+v, %v", res, err)
	}
	if _, err := c.Delete(ctx, "never", catalog.DeleteOptions{Purge: true}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("purge of a dataset that never existed: %v", err)
	}
	// Re-created, the dataset continues after the tombstone.
	f4 := file(t, st, "datasets/p/4.parquet", 4)
	if d, err := c.Commit(ctx, "p", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f4}}); err != nil || d.Version != 4 {
		t.Fatalf("re-create = %+v, %v", d, err)
	}

	// A manifest from before the prefix rule that names another dataset's
	// file: the purge leaves that file alone.
	mine := file(t, st, "datasets/legacy/a.parquet", 1)
	theirs := file(t, st, "datasets/q/b.parquet", 1)
	m, _ := json.Marshal(catalog.Dataset{Name: "legacy", Version: 1, Schema: schema, Files: []catalog.File{mine, theirs}, RowCount: 2})
	storagetest.MustPut(t, st, catalog.ManifestKey("legacy", 1), m)
	if _, err := c.Delete(ctx, "legacy", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = c.Delete(ctx, "legacy", catalog.DeleteOptions{Purge: true})
	if err != nil || res.DeletedFiles != 1 {
		t.Fatalf("legacy purge = %+v, %v", res, err)
	}
	if _, err := st.Head(ctx, theirs.Key); err != nil {
		t.Fatalf("purge of legacy deleted another dataset's file: %v", err)
	}
}

type httpResult struct {
	status int
	body   string
}

// postJSON posts body to catalogd at path through the harness client.
func postJSON(t *testing.T, base *shared.Client, path string, body []byte) httpResult {
	t.Helper()
	req, err := base.NewRequest(context.Background(), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := base.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return httpResult{resp.StatusCode, b.String()}
}

// TestProblemsBounded: a commit with very many bad entries is a 400 that
// lists the first MaxProblems and counts the rest; every one was listed (a
// 2.6 MB body of 200,000 empty keys got a 5 MB error body).
func TestProblemsBounded(t *testing.T) {
	files := make([]catalog.File, catalog.MaxCommitFiles) // more is a 413 (TestCommitFileLimit)
	for _, tc := range []struct {
		name string
		req  catalog.CommitRequest
		more string
	}{
		{"empty keys", catalog.CommitRequest{Schema: schema, Files: files}, "and 9980 more problems"},
		{"other prefix", catalog.CommitRequest{Schema: schema, Files: func() []catalog.File {
			fs := make([]catalog.File, 5_000)
			for i := range fs {
				fs[i] = catalog.File{Key: fmt.Sprintf("datasets/q/f%d", i)}
			}
			return fs
		}()}, "and 4980 more problems"},
		{"few", catalog.CommitRequest{Schema: schema, Files: files[:3]}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.ValidateFor("p")
			msg := errs.Message(err)
			if !errs.Is(err, errs.Invalid) || len(msg) > 8<<10 || !strings.Contains(msg, tc.more) {
				t.Fatalf("%d bytes: %.300s", len(msg), msg)
			}
			if tc.more == "" && strings.Count(msg, "empty key") != 3 {
				t.Fatalf("few problems: %s", msg)
			}
		})
	}
}
