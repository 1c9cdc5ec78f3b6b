package queryd

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/storage/local"
)

// TestRepeatedColumnNamesOverHTTP: a join of two datasets that both have
// an id column, or SELECT 1 a, 2 a, answered columns id, name, id_1, total
// (the LIMIT wrapper's subquery made DuckDB rename the repeated name),
// where DuckDB's CLI and Python API answer id, name, id, total; an ENUM
// column's type was "ENUM". Over real HTTP, in every format: the JSON
// columns, X-Columns, the CSV header row and the NDJSON objects carry
// DuckDB's own names (an NDJSON object holds a repeated key twice, in
// column order, as DuckDB's CLI .mode jsonlines writes it), and the row
// cap and its trailers hold.
func TestRepeatedColumnNamesOverHTTP(t *testing.T) {
	_, cat, h := newCatalogServer(t)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, sel := range map[string]string{
		"people": "SELECT range AS id, 'p' || range AS name FROM range(5)",
		"orders": "SELECT range AS id, range * 10 AS total FROM range(5)",
	} {
		key := "datasets/" + name + "/x/part-00000.parquet"
		p, err := local.ObjectPath(cat.dir, key)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if _, err := db.Exec(fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet)", sel, p)); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		cols := []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}
		if name == "orders" {
			cols[1] = catalog.Column{Name: "total", Type: "BIGINT"}
		}
		cat.put(t, catalog.Dataset{Name: name, Schema: cols,
			Files: []catalog.File{{Key: key, Rows: 5, Bytes: st.Size()}}, RowCount: 5})
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+query.Route, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body) // trailers are read with the body
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
		return resp, string(b)
	}
	const join = `SELECT * FROM people p, orders o WHERE p.id = o.id ORDER BY p.id`
	wantCols := `[{"name":"id","type":"BIGINT"},{"name":"name","type":"VARCHAR"},{"name":"id","type":"BIGINT"},{"name":"total","type":"BIGINT"}]`

	_, body := post(`{"sql":"` + join + `","max_rows":2}`)
	var res struct {
		Columns   json.RawMessage `json:"columns"`
		Rows      [][]any         `json:"rows"`
		Truncated bool            `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if string(res.Columns) != wantCols || len(res.Rows) != 2 || !res.Truncated {
		t.Errorf("json: %s", body)
	}

	resp, body := post(`{"sql":"` + join + `","max_rows":2,"format":"ndjson"}`)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if got := resp.Header.Get("X-Columns"); got != wantCols {
		t.Errorf("ndjson X-Columns %s", got)
	}
	if len(lines) != 2 || lines[0] != `{"id":0,"name":"p0","id":0,"total":0}` || lines[1] != `{"id":1,"name":"p1","id":1,"total":10}` {
		t.Errorf("ndjson rows %q", lines)
	}
	if resp.Trailer.Get("X-Row-Count") != "2" || resp.Trailer.Get("X-Truncated") != "true" {
		t.Errorf("ndjson trailers %v", resp.Trailer)
	}

	resp, body = post(`{"sql":"` + join + `","max_rows":2,"format":"csv"}`)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Scan()
	if sc.Text() != "id,name,id,total" || resp.Header.Get("X-Columns") != wantCols {
		t.Errorf("csv header %q, X-Columns %s", sc.Text(), resp.Header.Get("X-Columns"))
	}
	if resp.Trailer.Get("X-Row-Count") != "2" || resp.Trailer.Get("X-Truncated") != "true" {
		t.Errorf("csv trailers %v", resp.Trailer)
	}

	// A literal statement, and an ENUM column's full type.
	_, body = post(`{"sql":"SELECT 1 a, 2 a, name::ENUM('p0', 'p1', 'it''s') AS e FROM people WHERE id = 0"}`)
	if !strings.Contains(body, `"columns":[{"name":"a","type":"INTEGER"},{"name":"a","type":"INTEGER"},{"name":"e","type":"ENUM('p0', 'p1', 'it''s')"}],"rows":[[1,2,"p0"]]`) {
		t.Errorf("literal: %s", body)
	}
}
