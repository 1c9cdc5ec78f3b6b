package ingestd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/storage"
)

// TestIdempotencyWindow (ADR-123): on a dataset of 1,200 versions, a key
// recorded 50 versions back is found (one versions page) and answered as a
// replay; a key recorded 1,050 versions back is outside the window of
// ingest.IdempotencyWindow (1,000) versions, so the request commits again,
// as documented. The manifests are written straight to storaged as catalogd
// writes them (1,200 commits through catalogd would take minutes).
func TestIdempotencyWindow(t *testing.T) {
	ctx := context.Background()
	st := startStack(t, config(t))
	const n = 1200
	body := rowsCSV(0, 4)
	sum := sha256.Sum256([]byte(body))
	hash := ingestd.RequestHash(ingest.Params{Name: "win", Mode: "append"}, "csv", sum[:])
	keyAt := map[int64]string{n - 50: "recent", n - 1050: "old"}
	t0 := time.Unix(1767225600, 0).UTC()
	for v := int64(1); v <= n; v++ {
		d := map[string]any{"name": "win", "version": v, "row_count": 1, "file_count": 1, "bytes": 10,
			"created_at": t0, "updated_at": t0.Add(time.Duration(v) * time.Second), "mode": "replace", "base_version": v - 1,
			"schema": []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
			"files":  []catalog.File{{Key: fmt.Sprintf("datasets/win/f%d.parquet", v), Rows: 1, Bytes: 10}}}
		if k := keyAt[v]; k != "" {
			d["idempotency_key"], d["request_hash"] = k, hash
		}
		b, _ := json.Marshal(d)
		if _, err := st.store.Put(ctx, catalog.ManifestKey("win", v), bytes.NewReader(b), int64(len(b)), storage.PutOptions{CreateOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(k string) (answer, http.Header, time.Duration) {
		start := time.Now()
		a, h := st.post(t, "name=win&format=csv", body, key(k))
		return a, h, time.Since(start)
	}
	a, h, took := send("recent")
	if a.Status != 200 || h.Get(ingest.ReplayedHeader) != "true" || !strings.Contains(string(a.Body), fmt.Sprintf(`"version":%d`, n-50)) ||
		!strings.Contains(string(a.Body), fmt.Sprintf(`"files":[{"key":"datasets/win/f%d.parquet","rows":1,"bytes":10}]`, n-50)) {
		t.Fatalf("key 50 versions back: %d %s %v", a.Status, a.Body, h)
	}
	t.Logf("replay of a key 50 versions back on %d versions: %v (cold)", n, took)
	_, _, took = send("recent")
	t.Logf("again: %v (warm)", took)
	a, h, _ = send("old")
	if a.Status != 200 || h.Get(ingest.ReplayedHeader) != "" || !strings.Contains(string(a.Body), fmt.Sprintf(`"version":%d`, n+1)) {
		t.Fatalf("key 1050 versions back (outside the window): %d %s", a.Status, a.Body)
	}
}
