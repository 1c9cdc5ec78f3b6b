package catalog

import (
	"context"
	"log/slog"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
	"lakehouse-go/internal/storage/storagetest"
)

// splitStore lists from one store and reads from another: here, listing
// from a live local store and reading through the storaged client of a
// storaged that has been shut down.
type splitStore struct {
	storage.Store // reads, heads, writes
	lister        storage.Store
}

func (s splitStore) List(ctx context.Context, o storage.ListOptions) (storage.ListPage, error) {
	return s.lister.List(ctx, o)
}

// TestListFailsWhenReadsFail (ADR-093): only a damaged manifest or a gap
// leaves one dataset out of the list; storaged failing while the list
// reads the manifests (after the names were listed) still fails the whole
// list with storaged's own error — a list that isolated every failed read
// would answer a 200 with every dataset "unreadable" while storaged is
// down.
func TestListFailsWhenReadsFail(t *testing.T) {
	ctx := context.Background()
	st, err := local.Open(t.TempDir(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	live := NewCatalog(st, nil)
	for _, n := range []string{"a", "b"} {
		d := &Dataset{Name: n, Version: 1, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Mode: "append"}
		if err := live.write(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	cfg := storagetest.Config(t)
	down, srv := storagetest.Start(t, cfg)
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c := NewCatalog(splitStore{Store: down, lister: st}, nil)
	_, err = c.latestManifest(ctx, "a")
	if err == nil || isDamaged(err) {
		t.Fatalf("latest with storaged down: %v (damaged: %v), want storaged's error, not a damaged manifest", err, isDamaged(err))
	}
	res, err := c.ListAll(ctx)
	if err == nil || !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 503 {
		t.Fatalf("ListAll with reads failing: %+v, %v (status %d), want the whole list to fail with a 503", res, err, errs.StatusOf(err))
	}
}
