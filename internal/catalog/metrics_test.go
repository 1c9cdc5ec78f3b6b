package catalog_test

import (
	"context"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestCatalogMetrics: catalogd's /metrics after real requests: commits by
// mode and outcome (ok, conflict, refused), the datasets of the last
// whole list, and the manifest cache's misses (first start) then hits (a
// restart on the same data dir).
func TestCatalogMetrics(t *testing.T) {
	cfg := storagetest.Config(t)
	ctx := context.Background()
	st, _ := storagetest.Start(t, cfg)
	seedManifests(t, ctx, st, 3, "mm_%04d")
	t.Setenv(storage.ForceHTTPEnv, "1")

	base, c := startCatalogLogged(t, cfg, nil)
	f := file(t, st, "datasets/sales/a.parquet", 2)
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a second create: %v", err)
	}
	bad := f
	bad.Rows = 999
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Mode: "replace", Schema: schema, Files: []catalog.File{bad}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a file of other rows: %v", err)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Mode: "replace", Schema: []catalog.Column{{Name: "id", Type: "NOTATYPE"}}, Files: []catalog.File{f}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a bad schema: %v", err)
	}
	if res := getList(t, base, ""); len(res.Datasets) != 4 {
		t.Fatalf("list: %d datasets", len(res.Datasets))
	}
	m := metricstest.Scrape(t, base)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lakehouse_catalogd_commits_total", []string{"mode", "append", "outcome", "ok"}, 1},
		{"lakehouse_catalogd_commits_total", []string{"mode", "append", "outcome", "conflict"}, 1},
		{"lakehouse_catalogd_commits_total", []string{"mode", "replace", "outcome", "refused"}, 1},
		{"lakehouse_catalogd_commits_total", []string{"mode", "unknown", "outcome", "refused"}, 1}, // its body refused before its mode was read
		{"lakehouse_catalogd_datasets", nil, 4},
		{"lakehouse_catalogd_unreadable_datasets", nil, 0},
		{"lakehouse_catalogd_manifest_cache_hits_total", nil, 0},
	} {
		if got, ok := m.Value(tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if got := m.Get("lakehouse_catalogd_manifest_cache_misses_total"); got < 3 {
		t.Errorf("manifest_cache_misses_total = %v after a cold list of 3 seeded datasets, want >= 3", got)
	}
	m.Lint(t, "lakehouse_catalogd_")

	// A restart lists from the cache.
	base2, _ := startCatalogLogged(t, cfg, nil)
	if res := getList(t, base2, ""); len(res.Datasets) != 4 {
		t.Fatalf("list after a restart: %d datasets", len(res.Datasets))
	}
	m = metricstest.Scrape(t, base2)
	if got := m.Get("lakehouse_catalogd_manifest_cache_hits_total"); got != 4 {
		t.Errorf("manifest_cache_hits_total after a restart = %v, want 4", got)
	}
	if got := m.Get("lakehouse_catalogd_manifest_cache_misses_total"); got != 0 {
		t.Errorf("manifest_cache_misses_total after a restart = %v, want 0", got)
	}
	if got := m.Get("lakehouse_catalogd_datasets"); got != 4 {
		t.Errorf("datasets after a restart = %v, want 4", got)
	}
}
