package catalog_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
)

// TestCompactCommit: mode compact (ADR-013 "Compact commits") is accepted
// only on the latest version, with its schema exactly and files holding its
// row count (and real files, as for any commit); the manifest and the
// versions listing record mode compact; appends go on after it.
func TestCompactCommit(t *testing.T) {
	st, cs := start(t, 1)
	c := cs[0]
	ctx := context.Background()
	a := file(t, st, "datasets/logs/a.parquet", 2)
	b := file(t, st, "datasets/logs/b.parquet", 3)
	if _, err := c.Commit(ctx, "logs", catalog.CommitRequest{Schema: schema, Files: []catalog.File{a}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "logs", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{b}}); err != nil {
		t.Fatal(err)
	}
	five := file(t, st, "datasets/logs/c/five.parquet", 5)
	four := file(t, st, "datasets/logs/c/four.parquet", 4)
	compact := func(base int64, sch []catalog.Column, files ...catalog.File) (catalog.Dataset, error) {
		return c.Commit(ctx, "logs", catalog.CommitRequest{BaseVersion: base, Mode: catalog.ModeCompact, Schema: sch, Files: files})
	}
	for _, tc := range []struct {
		name   string
		base   int64
		schema []catalog.Column
		files  []catalog.File
		kind   errs.Kind
		want   string
	}{
		{"stale base", 1, schema, []catalog.File{five}, errs.Conflict, "base_version 1 of dataset \"logs\" is not the latest (2)"},
		{"create", 0, schema, []catalog.File{five}, errs.Conflict, "already exists"},
		{"fewer rows", 2, schema, []catalog.File{four}, errs.Invalid, "the files hold 4 rows, version 2 has 5"},
		{"more rows", 2, schema, []catalog.File{four, a}, errs.Invalid, "the files hold 6 rows, version 2 has 5"},
		{"type spelled otherwise", 2, []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "VARCHAR"}}, []catalog.File{five},
			errs.Invalid, `column 1 is "id" BIGINT in the dataset but "id" bigint in the commit`},
		{"other column", 2, []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "nom", Type: "VARCHAR"}}, []catalog.File{five},
			errs.Invalid, "the schema differs from version 2"},
		{"missing file", 2, schema, []catalog.File{{Key: "datasets/logs/c/nope.parquet", Rows: 5}}, errs.Invalid, "nope.parquet"},
		{"footer disagrees", 2, schema, []catalog.File{{Key: four.Key, Rows: 5}}, errs.Invalid, "rows 5, but its Parquet footer says 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compact(tc.base, tc.schema, tc.files...)
			if !errs.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compact: %v, want %s saying %s", err, tc.kind, tc.want)
			}
		})
	}
	if d, err := c.Get(ctx, "logs", 0); err != nil || d.Version != 2 {
		t.Fatalf("after refused compactions: %+v %v", d, err)
	}

	d, err := compact(2, schema, five)
	if err != nil || d.Version != 3 || d.Mode != catalog.ModeCompact || d.RowCount != 5 || len(d.Files) != 1 || d.Files[0].Key != five.Key {
		t.Fatalf("compact = %+v, %v", d, err)
	}
	got, err := c.Get(ctx, "logs", 0)
	if err != nil || got.Mode != catalog.ModeCompact || got.BaseVersion != 2 || len(got.Files) != 1 {
		t.Fatalf("get = %+v, %v", got, err)
	}
	// An append after it extends the compacted files.
	e := file(t, st, "datasets/logs/e.parquet", 1)
	if d, err := c.Commit(ctx, "logs", catalog.CommitRequest{BaseVersion: 3, Schema: schema, Files: []catalog.File{e}}); err != nil ||
		d.RowCount != 6 || len(d.Files) != 2 || d.Files[0].Key != five.Key {
		t.Fatalf("append after compact = %+v, %v", d, err)
	}
	vs, err := c.Versions(ctx, "logs")
	if err != nil || len(vs) != 4 || vs[2].Mode != catalog.ModeCompact || vs[3].Mode != catalog.ModeAppend {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	page, err := c.VersionsPage(ctx, "logs", catalog.VersionsQuery{After: 4, Limit: 1, Desc: true})
	if err != nil || len(page.Versions) != 1 || page.Versions[0].Mode != "compact" || page.Versions[0].RowCount != 5 {
		t.Fatalf("page = %+v, %v", page, err)
	}

	// A deleted dataset has nothing to compact (base_version 0 or the
	// tombstone re-creates, which a compaction cannot do).
	if _, err := c.Delete(ctx, "logs", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, base := range []int64{0, 5} {
		_, err := compact(base, schema, five)
		if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "rewrites a live version") {
			t.Fatalf("compact of a deleted dataset on %d: %v", base, err)
		}
	}
	if _, err := c.Commit(ctx, "fresh", catalog.CommitRequest{Mode: catalog.ModeCompact, Schema: schema, Files: []catalog.File{file(t, st, "datasets/fresh/a.parquet", 1)}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("compact creating a dataset: %v", err)
	}
	if _, err := c.Commit(ctx, "fresh", catalog.CommitRequest{Mode: "squash", Schema: schema}); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "want append, replace or compact") {
		t.Fatalf("unknown mode: %v", err)
	}
}
