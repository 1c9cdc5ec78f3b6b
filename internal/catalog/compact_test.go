package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
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
		// Version 2 is an append: a compact of version 1 is carried over
		// it, and must hold version 1's rows.
		{"older base", 1, schema, []catalog.File{five}, errs.Invalid, "the files hold 5 rows, version 1 has 2"},
		{"future base", 3, schema, []catalog.File{five}, errs.Conflict, "base_version 3 of dataset \"logs\" is beyond the latest version (2)"},
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

// TestCompactOverAppends: a compact of version B committed after appends
// B+1..L is carried over them (ADR-013 "Compact commits"): the compacted
// files replace B's, L's later files follow, row count and schema are L's.
// A replace, compact or delete after B, a rows or schema mismatch with B,
// an appended file named by the compaction, and manifests whose files or
// schema do not extend B's are refused, and nothing is committed.
func TestCompactOverAppends(t *testing.T) {
	st, cs := start(t, 2)
	c, c2 := cs[0], cs[1]
	ctx := context.Background()
	commit := func(c *catalog.Client, name string, base int64, mode string, sch []catalog.Column, files ...catalog.File) (catalog.Dataset, error) {
		return c.Commit(ctx, name, catalog.CommitRequest{BaseVersion: base, Mode: mode, Schema: sch, Files: files})
	}
	must := func(d catalog.Dataset, err error) catalog.Dataset {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	keys := func(d catalog.Dataset) string {
		var k []string
		for _, f := range d.Files {
			k = append(k, f.Key[strings.LastIndex(f.Key, "/")+1:])
		}
		return strings.Join(k, " ")
	}
	a := file(t, st, "datasets/logs/a.parquet", 2)
	b := file(t, st, "datasets/logs/b.parquet", 3)
	must(commit(c, "logs", 0, "", schema, a))
	must(commit(c, "logs", 1, "", schema, b)) // B = 2: a b, 5 rows
	five := file(t, st, "datasets/logs/x/five.parquet", 5)
	cf := file(t, st, "datasets/logs/c.parquet", 1)
	df := file(t, st, "datasets/logs/d.parquet", 4)
	must(commit(c2, "logs", 2, "", schema, cf))
	must(commit(c2, "logs", 3, "", schema, df)) // L = 4: a b c d, 10 rows

	for _, tc := range []struct {
		name   string
		schema []catalog.Column
		files  []catalog.File
		kind   errs.Kind
		want   string
	}{
		{"appended files", schema, []catalog.File{cf, df}, errs.Invalid, "file \"datasets/logs/c.parquet\" was appended after version 2"},
		{"fewer rows", schema, []catalog.File{a}, errs.Invalid, "the files hold 2 rows, version 2 has 5"},
		{"schema", []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "nom", Type: "VARCHAR"}}, []catalog.File{five}, errs.Invalid, "the schema differs from version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := commit(c, "logs", 2, catalog.ModeCompact, tc.schema, tc.files...)
			if !errs.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compact: %v, want %s saying %s", err, tc.kind, tc.want)
			}
		})
	}
	if d := must(c.Get(ctx, "logs", 0)); d.Version != 4 {
		t.Fatalf("after refused compactions: version %d", d.Version)
	}

	// Instance 1 last saw version 2: it finds the appends of instance 2.
	d := must(commit(c, "logs", 2, catalog.ModeCompact, schema, five))
	if d.Version != 5 || d.Mode != catalog.ModeCompact || d.BaseVersion != 2 || d.RowCount != 10 || keys(d) != "five.parquet c.parquet d.parquet" ||
		!slices.Equal(d.Schema, schema) {
		t.Fatalf("compact over appends = %+v", d)
	}
	if got := must(c2.Get(ctx, "logs", 0)); got.Version != 5 || keys(got) != keys(d) || got.RowCount != 10 {
		t.Fatalf("get = %+v", got)
	}
	// Appends go on after it.
	e := file(t, st, "datasets/logs/e.parquet", 1)
	if d := must(commit(c2, "logs", 5, "", schema, e)); d.RowCount != 11 || keys(d) != "five.parquet c.parquet d.parquet e.parquet" {
		t.Fatalf("append after = %+v", d)
	}
	// A compact after B: another compaction of B (or of 4) is refused.
	ten := file(t, st, "datasets/logs/y/ten.parquet", 10)
	for _, base := range []int64{2, 4} {
		rows := map[int64]catalog.File{2: five, 4: ten}[base]
		_, err := commit(c, "logs", base, catalog.ModeCompact, schema, rows)
		if !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "version 5 is a compact, not an append") {
			t.Fatalf("compact of %d over a compact: %v", base, err)
		}
	}
	// The compact of the latest is as before.
	if d := must(commit(c, "logs", 6, catalog.ModeCompact, schema, file(t, st, "datasets/logs/z/eleven.parquet", 11))); d.Version != 7 || d.BaseVersion != 6 || keys(d) != "eleven.parquet" {
		t.Fatalf("compact of the latest = %+v", d)
	}

	// A replace after B.
	r := file(t, st, "datasets/rep/r.parquet", 2)
	must(commit(c, "rep", 0, "", schema, r))
	must(commit(c, "rep", 1, "", schema, file(t, st, "datasets/rep/s.parquet", 1)))
	must(commit(c, "rep", 2, catalog.ModeReplace, schema, file(t, st, "datasets/rep/t.parquet", 3)))
	must(commit(c, "rep", 3, "", schema, file(t, st, "datasets/rep/u.parquet", 1)))
	if _, err := commit(c2, "rep", 2, catalog.ModeCompact, schema, file(t, st, "datasets/rep/x/three.parquet", 3)); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(err.Error(), "version 3 is a replace, not an append") {
		t.Fatalf("compact over a replace: %v", err)
	}
	// A delete (and a re-creation) after B.
	must(commit(c, "del", 0, "", schema, file(t, st, "datasets/del/a.parquet", 2)))
	must(commit(c, "del", 1, "", schema, file(t, st, "datasets/del/b.parquet", 2)))
	if _, err := c.Delete(ctx, "del", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	must(commit(c, "del", 0, "", schema, file(t, st, "datasets/del/c.parquet", 2)))
	if _, err := commit(c2, "del", 2, catalog.ModeCompact, schema, file(t, st, "datasets/del/x/four.parquet", 4)); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(err.Error(), "version 3 is a delete, not an append") {
		t.Fatalf("compact over a delete: %v", err)
	}
	if d := must(c.Get(ctx, "del", 0)); d.Version != 4 || d.RowCount != 2 {
		t.Fatalf("del after the refusal = %+v", d)
	}

	// Manifests that break the append rules (written by hand: an append
	// always extends the files and keeps the schema) are refused too.
	forge := func(name string, v int64, sch []catalog.Column, files ...catalog.File) {
		t.Helper()
		d := catalog.Dataset{Name: name, Version: v, Schema: sch, Files: files, Mode: catalog.ModeAppend, BaseVersion: v - 1}
		for _, f := range files {
			d.RowCount += f.Rows
		}
		body, _ := json.Marshal(d)
		if _, err := st.Put(ctx, catalog.ManifestKey(name, v), bytes.NewReader(body), int64(len(body)), storage.PutOptions{CreateOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	p1 := file(t, st, "datasets/forged/a.parquet", 2)
	p2 := file(t, st, "datasets/forged/b.parquet", 2)
	must(commit(c, "forged", 0, "", schema, p1, p2))
	forge("forged", 2, schema, p2, p1) // same files, other order
	four := file(t, st, "datasets/forged/x/four.parquet", 4)
	if _, err := commit(c, "forged", 1, catalog.ModeCompact, schema, four); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(err.Error(), "file 1 of version 1 is not file 1 of version 2") {
		t.Fatalf("compact over files reordered: %v", err)
	}
	q1 := file(t, st, "datasets/forged2/a.parquet", 2)
	must(commit(c, "forged2", 0, "", schema, q1))
	forge("forged2", 2, []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "varchar"}}, q1, file(t, st, "datasets/forged2/b.parquet", 2))
	if _, err := commit(c, "forged2", 1, catalog.ModeCompact, schema, file(t, st, "datasets/forged2/x/two.parquet", 2)); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(err.Error(), "the schema of version 2 is not version 1's") {
		t.Fatalf("compact over a schema change: %v", err)
	}
}

// TestCompactOverAppendsRace: a compact of an old version and appends
// racing on two catalogd instances: every commit either lands or is a 409
// (create-only manifests), a compaction that lost simply retries its
// commit unchanged, and the latest version always holds every appended
// row once.
func TestCompactOverAppendsRace(t *testing.T) {
	st, cs := start(t, 2)
	ctx := context.Background()
	first := file(t, st, "datasets/race/first.parquet", 3)
	if _, err := cs[0].Commit(ctx, "race", catalog.CommitRequest{Schema: schema, Files: []catalog.File{first}}); err != nil {
		t.Fatal(err)
	}
	rows := int64(3)
	var conflicts int
	for round := 0; round < 12; round++ {
		cur, err := cs[0].Get(ctx, "race", 0)
		if err != nil {
			t.Fatal(err)
		}
		merged := file(t, st, fmt.Sprintf("datasets/race/m%d/all.parquet", round), cur.RowCount)
		var appErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			f := file(t, st, fmt.Sprintf("datasets/race/a%d.parquet", round), 1)
			for {
				latest, err := cs[1].Get(ctx, "race", 0)
				if err != nil {
					appErr = err
					return
				}
				_, appErr = cs[1].Commit(ctx, "race", catalog.CommitRequest{BaseVersion: latest.Version, Schema: schema, Files: []catalog.File{f}})
				if !errs.Is(appErr, errs.Conflict) {
					return
				}
			}
		})
		req := catalog.CommitRequest{BaseVersion: cur.Version, Mode: catalog.ModeCompact, Schema: schema, Files: []catalog.File{merged}}
		var d catalog.Dataset
		for attempt := 0; ; attempt++ {
			d, err = cs[0].Commit(ctx, "race", req)
			if err == nil {
				break
			}
			if !errs.Is(err, errs.Conflict) || attempt >= 5 {
				t.Fatalf("round %d: compact: %v", round, err)
			}
			conflicts++
		}
		wg.Wait()
		if appErr != nil {
			t.Fatalf("round %d: append: %v", round, appErr)
		}
		rows++
		latest, err := cs[0].Get(ctx, "race", 0)
		if err != nil {
			t.Fatal(err)
		}
		if latest.RowCount != rows || latest.Files[0].Key != merged.Key {
			t.Fatalf("round %d: latest %+v (compact %+v), want %d rows starting with %s", round, latest, d, rows, merged.Key)
		}
		var sum int64
		for _, f := range latest.Files {
			sum += f.Rows
		}
		if sum != rows {
			t.Fatalf("round %d: files hold %d rows", round, sum)
		}
	}
	t.Logf("%d compact commits lost a race and were retried", conflicts)
}
