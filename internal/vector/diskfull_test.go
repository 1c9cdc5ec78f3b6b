package vector

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/tmpfs"
)

// TestUpsertOntoFullDisk: with vectord's log on a full disk (a real
// tmpfs; root only) an upsert is a 503 naming the reason — the message
// was "write-ahead log", also in matrixd's index state — and nothing of it
// is applied; once space is freed upserts work again without a restart.
func TestUpsertOntoFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := tmpfs.Mount(t, 262144)
	s := openStore(t, newObjects(t), filepath.Join(dir, "vectord"))
	defer s.Close(ctx)
	if _, err := s.CreateIndex(ctx, "a", CreateIndexRequest{Dims: 256}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 160<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var full error
	n := 0
	for i := 0; i < 200 && full == nil; i++ {
		if _, full = s.Upsert(ctx, "a", items(r, 10*i, 10, 256)); full == nil {
			n += 10
		}
	}
	if m := errs.Message(full); !errs.Is(full, errs.Unavailable) || !strings.Contains(m, "no space left on device") || strings.Contains(m, dir) {
		t.Fatalf("upsert onto a full disk: %v", full)
	}
	if info, err := s.GetIndex(ctx, "a"); err != nil || info.Count != n {
		t.Fatalf("after the refused upsert: %+v %v, want %d items", info, err, n)
	}
	os.Remove(filler)
	if _, err := s.Upsert(ctx, "a", items(r, 5000, 10, 256)); err != nil {
		t.Fatalf("upsert after space was freed: %v", err)
	}
}
