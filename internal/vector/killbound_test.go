package vector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// TestKill9ReplayIsBounded: a real vectord with the default snapshot_ops
// (and a snapshot_interval of an hour, so only that bound can act) takes
// 20,000 upserts, one batch of 100 at a time, and is killed -9 right after
// the last acknowledged one. The next start replays at most about
// snapshot_ops of them (plus what was written while the last pass ran),
// fewer than half, and serves every acknowledged item with its metadata
// (ADR-130). With the old default (100,000) it replayed all of them: a
// restart linked up to a minute of writes into the graph again.
func TestKill9ReplayIsBounded(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"1h\"")
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "bound", vector.CreateIndexRequest{Dims: 8}); err != nil {
		t.Fatal(err)
	}
	ops := shared.Default("").Vectord.SnapshotOps
	if ops <= 0 {
		t.Fatalf("default snapshot_ops %d: replay after a kill -9 is bounded by time only", ops)
	}
	const total = 20_000
	const batch = 100
	r := rand.New(rand.NewPCG(1, 30))
	for done := 0; done < total; done += batch {
		items := make([]vector.Item, min(batch, total-done))
		for i := range items {
			v := make([]float32, 8)
			for j := range v {
				v[j] = r.Float32() + 0.01
			}
			items[i] = vector.Item{ID: fmt.Sprint("b", done+i), Vector: v, Metadata: vector.Metadata{"n": float64(done + i)}}
		}
		if _, err := c.Upsert(ctx, "bound", items); err != nil {
			t.Fatal(err)
		}
	}
	s.Kill("vectord")
	before := len(s.Logs())
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	var replayed = -1
	for deadline := time.Now().Add(10 * time.Second); replayed < 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m := regexp.MustCompile(`vector indexes loaded.*?replayed_items"?[=:](\d+)`).FindStringSubmatch(s.Logs()[before:])
		if m != nil {
			replayed, _ = strconv.Atoi(m[1])
		}
	}
	if replayed < 0 {
		t.Fatalf("the restarted vectord logged no replayed_items:\n%s", s.Logs()[before:])
	}
	t.Logf("%d acknowledged upserts, snapshot_ops %d: the start after the kill -9 replayed %d", total, ops, replayed)
	if replayed > ops+ops/2 || replayed >= total/2 {
		t.Errorf("the start after a kill -9 replayed %d of %d items; want at most about snapshot_ops (%d), fewer than half", replayed, total, ops)
	}
	info, err := c.GetIndex(ctx, "bound")
	if err != nil || info.Stats.Count != total {
		t.Fatalf("after the restart: %+v %v, want %d items", info, err, total)
	}
	for i := 0; i < total; i += 7 {
		it, err := c.GetItem(ctx, "bound", fmt.Sprint("b", i))
		if err != nil || it.Metadata["n"] != float64(i) {
			t.Fatalf("acknowledged b%d lost after the kill -9: %+v %v", i, it, err)
		}
	}
}
