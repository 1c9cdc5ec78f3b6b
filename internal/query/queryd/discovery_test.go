package queryd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/query/engine"
	"lakehouse-go/internal/storage/local"
)

func (c *fakeCatalog) List(_ context.Context) ([]catalog.Dataset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]catalog.Dataset, 0, len(c.ds))
	for _, d := range c.ds {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Views are made on a dataset's first use, so SHOW TABLES and the catalog
// views listed only the datasets queried since queryd started: an agent
// discovering the schema saw none. A statement that lists tables now sees
// every dataset, at its latest version, and not a deleted one.
func TestDiscoverySeesEveryDataset(t *testing.T) {
	_, cat, h := newCatalogServer(t)
	for _, n := range []string{"alpha", "beta", "gamma"} {
		cat.put(t, catalog.Dataset{Name: n, Schema: []catalog.Column{{Name: n + "_id", Type: "BIGINT"}}})
	}
	rows := func(sql string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"sql": sql})
		a := postSQL(t, h, string(body))
		if a.status != 200 {
			t.Fatalf("%s: %d %s", sql, a.status, a.body)
		}
		var r struct{ Rows [][]any }
		if err := json.Unmarshal([]byte(a.body), &r); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, row := range r.Rows {
			var cells []string
			for _, c := range row {
				cells = append(cells, fmt.Sprint(c))
			}
			out = append(out, strings.Join(cells, "|"))
		}
		return strings.Join(out, ",")
	}
	if got := rows("SELECT 1"); got != "1" {
		t.Fatalf("SELECT 1: %s", got)
	}
	for sql, want := range map[string]string{
		"SHOW TABLES": "alpha,beta,gamma",
		"SELECT table_name FROM information_schema.tables ORDER BY 1":                  "alpha,beta,gamma",
		"SELECT column_name FROM information_schema.columns WHERE table_name = 'beta'": "beta_id",
		"SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1":           "alpha,beta,gamma",
	} {
		if got := rows(sql); got != want {
			t.Errorf("%s: %s, want %s", sql, got, want)
		}
	}
	// A new version's schema, and a deleted dataset, are seen too.
	cat.put(t, catalog.Dataset{Name: "beta", Schema: []catalog.Column{{Name: "beta_v2", Type: "VARCHAR"}}})
	cat.mu.Lock()
	delete(cat.ds, "gamma")
	cat.mu.Unlock()
	// catalogd writes a delete as the next version, a tombstone.
	p, _ := local.ObjectPath(cat.dir, catalog.ManifestKey("gamma", 2))
	if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := rows("SELECT table_name, column_name FROM information_schema.columns ORDER BY 1"); got != "alpha|alpha_id,beta|beta_v2" {
		t.Errorf("after a commit and a delete: %s", got)
	}
}

func TestDiscoveryStatements(t *testing.T) {
	for sql, want := range map[string]bool{
		"SHOW TABLES": true, "show all tables": true, "DESCRIBE": true, "SHOW": true,
		"SELECT * FROM information_schema.columns": true, "FROM duckdb_tables()": true,
		"SELECT * FROM pg_catalog.pg_class": true,
		"DESCRIBE sales":                    false, "SHOW sales": false, "SELECT 1": false,
		"SELECT * FROM sales WHERE note = 'information_schema'": false,
	} {
		if got := discovery(engine.Identifiers(sql)); got != want {
			t.Errorf("%q: discovery %v, want %v", sql, got, want)
		}
	}
}
