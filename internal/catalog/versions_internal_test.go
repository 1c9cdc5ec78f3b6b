package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// TestVersionsReadsEachManifestOnce: a listing reads only the manifests it
// has not read before (each of N appends names up to N files, so reading
// them all again made listings O(N^2)), and a manifest whose object
// changed under it (same key, another etag) is read again.
func TestVersionsReadsEachManifestOnce(t *testing.T) {
	st, err := local.Open(t.TempDir(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	cs := &getCounter{Store: st}
	c := NewCatalog(cs, nil)
	ctx := context.Background()
	var files []File
	commit := func(v int64) {
		files = append(files, File{Key: fmt.Sprintf("datasets/s/part-%06d.parquet", v), Rows: 10, Bytes: 1000})
		d := &Dataset{Name: "s", Version: v, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Files: files, RowCount: 10 * v, Mode: "append"}
		if err := c.write(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for v := int64(1); v <= 50; v++ {
		commit(v)
	}
	list := func(wantGets int64) []VersionInfo {
		t.Helper()
		before := cs.gets.Load()
		vs, err := c.Versions(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got := cs.gets.Load() - before; got != wantGets {
			t.Fatalf("listing read %d manifests, want %d", got, wantGets)
		}
		for i, vi := range vs {
			if vi.Version != int64(i+1) || vi.FileCount != i+1 || vi.RowCount != int64(10*(i+1)) {
				t.Fatalf("version %d: %+v", i+1, vi)
			}
		}
		return vs
	}
	if vs := list(50); len(vs) != 50 {
		t.Fatalf("%d versions", len(vs))
	}
	list(0)
	commit(51)
	list(1)

	// Rewritten behind catalogd's back (storaged allows it): read again.
	b, _ := json.Marshal(Dataset{Name: "s", Version: 7, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Files: files[:7], RowCount: 70, Mode: "replace"})
	if _, err := st.Put(ctx, ManifestKey("s", 7), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// (Stored as a Dataset's JSON, as before the summary came first: its
	// summary read finds no summary, and it is read whole.)
	vs := list(2)
	if vs[6].Mode != "replace" {
		t.Fatalf("rewritten manifest not read again: %+v", vs[6])
	}
}

// getCounter counts Gets of manifests.
type getCounter struct {
	storage.Store
	gets atomic.Int64
}

func (g *getCounter) Get(ctx context.Context, key string, opts storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	if strings.HasPrefix(key, ManifestPrefix) {
		g.gets.Add(1)
	}
	return g.Store.Get(ctx, key, opts)
}
