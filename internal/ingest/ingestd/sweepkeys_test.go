package ingestd_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
	"lakehouse-go/internal/storage/storaged"
)

// TestSweepKeysTakeEffect: ingestd's sweep of abandoned ingests ran 30 s
// after the start and then every hour, on markers unrenewed for an hour,
// whatever the config said (no key). [ingestd] sweep_delay, sweep_interval
// and pending_lease now decide: a real ingestd started through the harness
// with sweep_delay 200ms and pending_lease 1m removes a marker (and its
// ingest's files) left unrenewed for 5 minutes by a dead ingest within a
// second of its start, and with sweep_interval 300ms another one planted
// after that first sweep.
func TestSweepKeysTakeEffect(t *testing.T) {
	cfg := config(t)
	cfg.Ingestd.SweepDelay = shared.Duration{Duration: 200 * time.Millisecond}
	cfg.Ingestd.SweepInterval = shared.Duration{Duration: 300 * time.Millisecond}
	cfg.Ingestd.PendingLease = shared.Duration{Duration: time.Minute}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	start := func(name string, b shared.Builder) {
		s, err := shared.Start(context.Background(), name, cfg, b, io.Discard)
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
	}
	start("storaged", storaged.New)
	start("catalogd", catalog.New)
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(time.Minute), StreamHTTP: shared.NewHTTPClient(0)}
	store := storage.NewClient(env.StreamClient("storaged"))
	objects := cfg.DataPath(cfg.Storaged.Dir, "objects")

	// plant leaves what an ingest killed 5 minutes ago leaves: its marker
	// (renewed then, with a lease of 1m) and one uploaded part, both last
	// written 5 minutes ago.
	plant := func(name string) (markerKey, partKey string) {
		t.Helper()
		then := time.Now().Add(-5 * time.Minute).UTC()
		id := then.Format("20060102T150405Z") + "-00112233445566778899aabbccddeeff"
		markerKey, partKey = ingestd.PendingKey(name, id), ingestd.IngestPrefix(name, id)+"part-0.parquet"
		m, _ := json.Marshal(map[string]any{"dataset": name, "id": id, "prefix": ingestd.IngestPrefix(name, id), "mode": "append",
			"created": then, "renewed": then, "lease_seconds": 60})
		for key, body := range map[string]string{markerKey: string(m), partKey: "PAR1 not really"} {
			if _, err := store.Put(context.Background(), key, strings.NewReader(body), int64(len(body)), storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			p, err := local.ObjectPath(objects, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, then, then); err != nil {
				t.Fatal(err)
			}
		}
		return markerKey, partKey
	}
	gone := func(what string, keys ...string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for _, k := range keys {
			for {
				_, err := store.Head(context.Background(), k)
				if errs.Is(err, errs.NotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s still there after 15 s (%v)", what, k, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}

	m1, p1 := plant("stale")
	began := time.Now()
	start("ingestd", ingestd.New)
	gone("the first sweep (sweep_delay 200ms, pending_lease 1m)", m1, p1)
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Errorf("swept %v after the start, before sweep_delay 200ms", d)
	}
	m2, p2 := plant("stale2")
	gone("a later sweep (sweep_interval 300ms)", m2, p2)
}
