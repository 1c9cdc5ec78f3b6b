package matrix

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestRowOrderPinned checks on DuckDB's plans why rowOrdered pins row
// order and a plain IN list does not (queryd refuses EXPLAIN, so this runs
// on DuckDB directly, over a view shaped like queryd's: SELECT * FROM
// read_parquet([files in manifest order])): the long IN list is a hash
// join over the scan, while rowOrdered numbers the scan's rows in a window
// below every join, and the copies come back in row order.
func TestRowOrderPinned(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	var files []string
	for i, q := range []string{
		"SELECT 'r' || i AS id, 'txt ' || i AS txt FROM range(30000) t(i)",
		"SELECT 'r9' AS id, 'append heron first' AS txt",
		"SELECT 'r9' AS id, 'append heron second' AS txt",
	} {
		f := filepath.Join(dir, fmt.Sprintf("f%d.parquet", i))
		if _, err := db.Exec(fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 4096)", q, f)); err != nil {
			t.Fatal(err)
		}
		files = append(files, "'"+f+"'")
	}
	if _, err := db.Exec("CREATE VIEW m1 AS SELECT * FROM read_parquet([" + strings.Join(files, ", ") + "])"); err != nil {
		t.Fatal(err)
	}
	spec := IndexRequest{Dataset: "m1", IDColumn: "id", TextColumns: []string{"txt"}}
	params := []any{"r9"}
	for i := 1; i < 16; i++ {
		params = append(params, fmt.Sprintf("r%d", i*1999))
	}
	plan := func(q string) string {
		var k, v string
		if err := db.QueryRow("EXPLAIN "+q, params...).Scan(&k, &v); err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		return v
	}
	// Plans print top-down: an operator's line comes before its input's.
	if p := plan(hydrateSQL(spec, "VARCHAR", "", 16, false)); !strings.Contains(p, "HASH_JOIN") {
		t.Logf("the plain IN list is no longer a join:\n%s", p)
	}
	p := plan(hydrateSQL(spec, "VARCHAR", "txt <> ''", 16, true))
	win, scan, join := strings.Index(p, "WINDOW"), strings.Index(p, "READ_PARQUET"), strings.LastIndex(p, "_JOIN")
	if win < 0 || scan < win || join > win || strings.Contains(p[win:], "FILTER") {
		t.Fatalf("the row number is not taken on the plain scan below every join and filter:\n%s", p)
	}
	rows, err := db.Query(hydrateSQL(spec, "VARCHAR", "txt <> ''", 16, true), params...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var r9 []string
	for rows.Next() {
		var id, txt, mid, mtxt string
		var match bool
		if err := rows.Scan(&id, &txt, &mid, &mtxt, &match); err != nil {
			t.Fatal(err)
		}
		if id == "r9" {
			r9 = append(r9, txt)
		}
	}
	if strings.Join(r9, ",") != "txt 9,append heron first,append heron second" {
		t.Errorf("r9's copies in %v, want row order", r9)
	}
}
