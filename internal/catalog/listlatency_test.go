package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/storage/storagetest"
)

// TestColdListOverLatency (ADR-137): a cold dataset list over an S3 with
// network latency — a real MinIO behind a relay holding every request 100
// ms (delayProxy) — keeps more than 32 manifest reads in flight. It kept
// 16: 256 datasets waited at least 16 × 100 ms for their manifests, 5,000
// over an S3 20 ms away at least 6.25 s, while catalogd, storaged and
// MinIO idled. The list is whole and right.
func TestColdListOverLatency(t *testing.T) {
	ctx := context.Background()
	cfg := minioConfig(t)
	proxy := startDelayProxy(t, strings.TrimPrefix(cfg.S3.Endpoint, "http://"))
	cfg.S3.Endpoint = "http://" + proxy.Addr()
	st, _ := storagetest.Start(t, cfg)
	// Manifests of one-file datasets as catalogd writes them, put directly:
	// committing each over the relay would take long, and the list reads
	// manifests only.
	const n = 256
	seedManifests(t, ctx, st, n, "ds_%04d")
	base, _ := startCatalogLogged(t, cfg, nil)
	const delay = 100 * time.Millisecond
	proxy.SetDelay(delay)
	t0 := time.Now()
	res := getList(t, base, "")
	took, peak := time.Since(t0), proxy.Peak()
	proxy.SetDelay(0)
	if len(res.Datasets) != n || len(res.Unreadable) != 0 {
		t.Fatalf("cold list: %d datasets, %d unreadable, want %d", len(res.Datasets), len(res.Unreadable), n)
	}
	for i, d := range res.Datasets {
		if want := fmt.Sprintf("ds_%04d", i); d.Name != want || d.Version != 1 || len(d.Files) != 1 {
			t.Fatalf("dataset %d: %s version %d, want %s version 1", i, d.Name, d.Version, want)
		}
	}
	t.Logf("cold list of %d datasets over an S3 %v away: %v, at most %d requests in flight (%d at a time would wait at least %v)",
		n, delay, took.Round(time.Millisecond), peak, 16, time.Duration(n/16)*delay)
	if peak <= 32 {
		t.Errorf("a cold list kept at most %d manifest reads in flight, want more than 32", peak)
	}
}
