package catalog_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage/storagetest"
)

// TestSystemViewNames: every built-in table or view of the linked DuckDB
// that an unqualified name in a query resolves to (sqlite_master, pg_class,
// duckdb_tables, ...) is refused as a dataset name, since a query of it
// would read DuckDB's view, not the dataset. The list comes from DuckDB
// itself, so an upgrade that adds a view fails here.
func TestSystemViewNames(t *testing.T) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	rows, err := db.Query(`SELECT view_name FROM duckdb_views() WHERE internal
		UNION SELECT table_name FROM duckdb_tables() WHERE internal ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	resolved := 0
	for _, n := range names {
		// Qualified-only views (information_schema.tables) do not resolve
		// unqualified and do not hide a dataset.
		if _, err := db.Exec(`SELECT * FROM "` + n + `" LIMIT 0`); err != nil {
			continue
		}
		resolved++
		if err := catalog.ValidateName(n); !errs.Is(err, errs.Invalid) {
			t.Errorf("%q resolves to a DuckDB system view but ValidateName accepts it (%v)", n, err)
		}
	}
	if resolved < 20 {
		t.Fatalf("only %d of %d system views resolve unqualified; the probe is broken", resolved, len(names))
	}
	for _, n := range []string{"information_schema", "tables", "schemata", "memory", "system", "temp", "main", "pgx", "duckdb", "sqlite"} {
		if err := catalog.ValidateName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}

	// Through HTTP: a commit of such a name is 400 invalid, saying why.
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	storagetest.StartCatalog(t, cfg, catalog.New)
	base := storagetest.ClientFor(cfg, "catalogd", false)
	for _, n := range []string{"sqlite_master", "duckdb_tables", "pg_class"} {
		resp := postJSON(t, base, "/v1/catalog/datasets/"+n+"/commit", []byte(`{"base_version":0,"schema":[{"name":"a","type":"BIGINT"}],"files":[]}`))
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, `"invalid"`) || !strings.Contains(resp.body, "system views") {
			t.Errorf("commit %s: %d %s", n, resp.status, resp.body)
		}
	}
	if _, err := catalog.NewClient(base).Commit(context.Background(), "information_schema", catalog.CommitRequest{Schema: schema}); err != nil {
		t.Errorf("commit information_schema: %v", err)
	}
}
