package catalog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storagetest"
)

// TestCatalogListScale measures GET /v1/catalog/datasets over N datasets
// (ADR-128): the whole list (the only answer before paging, still the
// answer without parameters) against the first page of 100 and of 1000,
// each on a fresh catalogd (cold) and again (warm), time and bytes.
// Skipped unless LH_CATALOG_LIST_SCALE=1 (N = LH_CATALOG_LIST_SCALE_N,
// default 5000; LH_CATALOG_LIST_SCALE_BACKEND=local (default), minio or
// both: storaged's backend, MinIO through internal/testutil/miniotest):
//
//	LH_CATALOG_LIST_SCALE=1 go test -count=1 -run CatalogListScale -v -timeout 30m ./internal/catalog
func TestCatalogListScale(t *testing.T) {
	if os.Getenv("LH_CATALOG_LIST_SCALE") != "1" {
		t.Skip("set LH_CATALOG_LIST_SCALE=1 to measure the dataset list over thousands of datasets")
	}
	backends := []string{"local"}
	switch b := os.Getenv("LH_CATALOG_LIST_SCALE_BACKEND"); b {
	case "", "local":
	case "minio":
		backends = []string{"minio"}
	case "both":
		backends = []string{"local", "minio"}
	default:
		t.Fatalf("LH_CATALOG_LIST_SCALE_BACKEND=%q: want local, minio or both", b)
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			cfg := storagetest.Config(t)
			if b == "minio" {
				cfg = minioConfig(t)
			}
			listScale(t, cfg)
		})
	}
}

func listScale(t *testing.T, cfg *shared.Config) {
	n := 5000
	if s := os.Getenv("LH_CATALOG_LIST_SCALE_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LH_CATALOG_LIST_SCALE_N=%q", s)
		}
	}
	ctx := context.Background()
	st, _ := storagetest.Start(t, cfg)
	_, c := startCatalogLogged(t, cfg, nil)
	s := newSeeder(t, st, c)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range n {
		g.Go(func() error { return s.create(gctx, fmt.Sprintf("ds_%05d", i), 0) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d datasets in %v", n, time.Since(start).Round(time.Millisecond))
	get := func(base, q string) (time.Duration, int) {
		t0 := time.Now()
		r, err := http.Get(base + "/v1/catalog/datasets" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", q, r.StatusCode, b)
		}
		return time.Since(t0), len(b)
	}
	// Cold without the manifest cache (removed: a first start after the
	// upgrade, which fills it), cold with it (a restart), warm.
	for _, q := range []string{"", "?limit=100", "?limit=1000"} {
		if err := os.RemoveAll(catalog.ManifestCacheDir(cfg)); err != nil {
			t.Fatal(err)
		}
		base, _ := startCatalogLogged(t, cfg, nil)
		cold, bytes := get(base, q)
		warm, _ := get(base, q)
		rbase, _ := startCatalogLogged(t, cfg, nil)
		cached, _ := get(rbase, q)
		t.Logf("GET /v1/catalog/datasets%-12s %6d datasets: cold %8v cold from the cache %8v warm %8v, %9d bytes", q, n,
			cold.Round(time.Millisecond), cached.Round(time.Millisecond), warm.Round(time.Millisecond), bytes)
	}
	if err := os.RemoveAll(catalog.ManifestCacheDir(cfg)); err != nil {
		t.Fatal(err)
	}
	_, c2 := startCatalogLogged(t, cfg, nil)
	t0 := time.Now()
	all, err := c2.ListAll(ctx)
	if err != nil || len(all.Datasets) != n {
		t.Fatalf("client ListAll: %d datasets, %v", len(all.Datasets), err)
	}
	t.Logf("client ListAll (pages of 1000), cold: %v", time.Since(t0).Round(time.Millisecond))
}
