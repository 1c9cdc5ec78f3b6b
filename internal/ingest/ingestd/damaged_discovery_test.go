package ingestd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/storage"
)

// TestDiscoveryWithDamagedDataset: one dataset whose latest manifest is
// damaged in storage (ADR-092/093) no longer fails every statement that
// lists tables: SHOW TABLES and information_schema answer, on a queryd that
// already held a view of it (the view stays) and for the other datasets; a
// query naming the damaged dataset gets catalogd's error naming the key.
func TestDiscoveryWithDamagedDataset(t *testing.T) {
	st := startStack(t, config(t))
	for _, name := range []string{"good", "bad"} {
		if a := st.upload(t, "name="+name, name+".csv", []byte("id,v\n1,x\n")); a.Status != 200 {
			t.Fatalf("ingest %s: %d %s", name, a.Status, a.Body)
		}
	}
	show := func() answer {
		return st.sql(t, `{"sql":"SELECT table_name FROM information_schema.tables ORDER BY 1"}`)
	}
	if a := show(); a.Status != 200 || !strings.Contains(string(a.Body), `[["bad"],["good"]]`) {
		t.Fatalf("before: %d %s", a.Status, a.Body)
	}
	// A version 2 of "bad" that is no manifest: cut JSON, as a torn hand copy leaves it.
	key := catalog.ManifestKey("bad", 2)
	if _, err := st.store.Put(context.Background(), key, strings.NewReader(`{"name":"bad","version":2,"sch`), -1, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"SHOW TABLES", "SELECT table_name FROM information_schema.tables ORDER BY 1"} {
		if a := st.sql(t, `{"sql":"`+sql+`"}`); a.Status != 200 || !strings.Contains(string(a.Body), `"good"`) {
			t.Errorf("%s with a damaged dataset: %d %s", sql, a.Status, a.Body)
		}
	}
	if a := st.sql(t, `{"sql":"SELECT COUNT(*) FROM good"}`); a.Status != 200 {
		t.Errorf("good: %d %s", a.Status, a.Body)
	}
	if a := st.sql(t, `{"sql":"SELECT COUNT(*) FROM bad"}`); a.Status/100 != 5 || !strings.Contains(string(a.Body), `"kind":"unavailable"`) || !strings.Contains(string(a.Body), key) {
		t.Errorf("a query naming the damaged dataset: %d %s", a.Status, a.Body)
	}
}

// TestQuotedTableNameFresh: DuckDB reads FROM 'name' as the table name
// (a file only when no such table exists), so queryd's freshness check
// counts a quoted name too: after an append, FROM 'events' sees it (it
// answered the version its view had).
func TestQuotedTableNameFresh(t *testing.T) {
	st := startStack(t, config(t))
	count := func(sql string) string {
		t.Helper()
		a := st.sql(t, `{"sql":"`+sql+`"}`)
		if a.Status != 200 {
			t.Fatalf("%s: %d %s", sql, a.Status, a.Body)
		}
		var r sqlResult
		a.json(t, &r)
		return fmt.Sprint(r.Rows)
	}
	if a := st.upload(t, "name=events", "e.csv", []byte("id\n1\n")); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if got := count("SELECT COUNT(*) FROM 'events'"); got != "[[1]]" {
		t.Fatalf("before the append: %s", got)
	}
	if a := st.upload(t, "name=events&mode=append", "e.csv", []byte("id\n2\n")); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if got := count("SELECT COUNT(*) FROM 'events'"); got != "[[2]]" {
		t.Fatalf("FROM 'events' after an append: %s, want [[2]]", got)
	}
}
