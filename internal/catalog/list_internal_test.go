package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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

// TestListCutDataset (ADR-131): a dataset whose manifest keys run past
// the end of a listing page is finished by a short listing of its own
// keys: its latest version is right, the datasets after it are listed,
// and a gap among the keys listed makes it unreadable with the error Get
// answers, as before.
func TestListCutDataset(t *testing.T) {
	ctx := context.Background()
	st := openLocal(t)
	w := NewCatalog(st, nil)
	for i := range 230 {
		appends(t, w, fmt.Sprintf("a%03d", i), 1)
	}
	appends(t, w, "big", 60) // keys 231-290: 26 on the first page of 256
	appends(t, w, "zz", 2)
	list := func() map[string]string {
		t.Helper()
		res, err := NewCatalog(st, nil).ListAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range res.Datasets {
			got[d.Name] = fmt.Sprint(d.Version)
		}
		for _, u := range res.Unreadable {
			got[u.Name] = u.Error.Message
		}
		return got
	}
	got := list()
	if len(got) != 232 || got["big"] != "60" || got["zz"] != "2" || got["a229"] != "1" {
		t.Fatalf("list: %d datasets, big %q, zz %q, a229 %q; want 232, 60, 2, 1", len(got), got["big"], got["zz"], got["a229"])
	}
	missing := ManifestKey("big", 48) // where Get's probe looks
	if err := st.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}
	_, gerr := NewCatalog(st, nil).Get(ctx, "big", 0)
	if gerr == nil || !strings.Contains(gerr.Error(), missing) {
		t.Fatalf("get over the gap: %v, want an error naming %s", gerr, missing)
	}
	got = list()
	if got["big"] != errs.Message(gerr) || got["zz"] != "2" || len(got) != 232 {
		t.Fatalf("list over the gap: big %q, zz %q (%d in all); want big unreadable with %q", got["big"], got["zz"], len(got), errs.Message(gerr))
	}
}

// TestListForeignKeyBeforeManifests (ADR-131): a key under a dataset's
// prefix that is no manifest ("_catalog/x/+", put through storaged by a
// token holder) sorts before the dataset's manifests; when a listing page
// ended on it, the list skipped past every key of x, and x was missing.
func TestListForeignKeyBeforeManifests(t *testing.T) {
	ctx := context.Background()
	st := openLocal(t)
	w := NewCatalog(st, nil)
	for i := range namesPage - 1 {
		appends(t, w, fmt.Sprintf("a%03d", i), 1)
	}
	if _, err := st.Put(ctx, ManifestPrefix+"x/+", strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	appends(t, w, "x", 2)
	res, err := NewCatalog(st, nil).ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Datasets); n != namesPage || res.Datasets[n-1].Name != "x" || res.Datasets[n-1].Version != 2 {
		t.Fatalf("list: %d datasets, the last %+v; want %d, the last x at version 2", n, res.Datasets[n-1].Name, namesPage)
	}
}
