package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// seedManyFiles puts n datasets of files files each in st, named after
// format: most as catalogd writes manifests (catalog.EncodeManifest), every
// fifth with keys json.Marshal escapes and every seventh in the older
// json.MarshalIndent layout (both read through encoding/json alone) when
// mixed. It
// returns the datasets as a list must answer them, in name order.
func seedManyFiles(t testing.TB, ctx context.Context, st storage.Store, n, files int, format string, mixed bool) []catalog.Dataset {
	t.Helper()
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	out := make([]catalog.Dataset, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf(format, i)
			d := catalog.Dataset{Name: name, Version: 1, Schema: schema, CreatedAt: at, UpdatedAt: at.Add(time.Duration(i) * time.Second), Mode: catalog.ModeAppend, Files: []catalog.File{}}
			for j := range files {
				key := fmt.Sprintf("datasets/%s/%05d-0123456789abcdef.parquet", name, j)
				if mixed && i%5 == 1 {
					key = fmt.Sprintf("datasets/%s/<%d>&é.parquet", name, j)
				}
				d.Files = append(d.Files, catalog.File{Key: key, Rows: int64(j * 1000), Bytes: int64(j*4096 + 17)})
				d.RowCount += int64(j * 1000)
			}
			var b []byte
			var err error
			if mixed && i%7 == 3 {
				b, err = json.MarshalIndent(d, "", "  ")
			} else {
				b, err = catalog.EncodeManifest(&d)
			}
			if err != nil {
				return err
			}
			out[i] = d
			_, err = st.Put(gctx, catalog.ManifestKey(name, 1), bytes.NewReader(b), int64(len(b)), storage.PutOptions{CreateOnly: true, ContentType: "application/json"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestListRestartSameJSON (ADR-158, decodeStored): a list by a catalogd
// restarted over its manifest cache answers byte for byte what the list
// before the restart answered — the whole list and a page — for manifests
// of 50 files each, written as catalogd writes them, with escaped keys and
// in the older layout; and that is exactly the datasets stored, files and
// all. The restarted list is served from the cache (no manifest GET).
func TestListRestartSameJSON(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, stSrv := storagetest.Start(t, cfg)
	const n, files = 60, 50
	want := seedManyFiles(t, ctx, st, n, files, "rs_%04d", true)
	t.Setenv(storage.ForceHTTPEnv, "1")
	wantJSON, err := json.Marshal(catalog.ListResponse{Datasets: want, Unreadable: []catalog.Unreadable{}})
	if err != nil {
		t.Fatal(err)
	}
	lists := func(base string) (whole, page []byte) {
		t.Helper()
		for i, q := range []string{"", "?prefix=rs_00&limit=7&after=rs_0002"} {
			code, _, body := do(t, "GET", base+catalog.DatasetsPath+q, nil)
			if code != 200 {
				t.Fatalf("GET %s: %d %s", q, code, body)
			}
			if i == 0 {
				whole = body
			} else {
				page = body
			}
		}
		return whole, page
	}
	base1, _ := startCatalogLogged(t, cfg, nil)
	whole1, page1 := lists(base1)
	var got catalog.ListResponse
	if err := json.Unmarshal(whole1, &got); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("the list is not the datasets stored:\n got %.600s\nwant %.600s", gotJSON, wantJSON)
	}

	base2, _ := startCatalogLogged(t, cfg, nil) // a restart: the same data dir
	before := storagedRequests(t, stSrv.URL())
	whole2, page2 := lists(base2)
	if reqs := storagedRequests(t, stSrv.URL()) - before; reqs > 6 {
		t.Errorf("the restarted lists made %d storaged requests, want only listing pages: the manifests are cached", reqs)
	}
	if !bytes.Equal(whole1, whole2) {
		t.Errorf("the whole list after the restart differs (%d bytes, before %d)", len(whole2), len(whole1))
	}
	if !bytes.Equal(page1, page2) {
		t.Errorf("the page after the restart differs:\n got %.400s\nwant %.400s", page2, page1)
	}
}

// TestColdListManyFiles measures a list by a restarted catalogd (its
// manifest cache full) of LH_CATALOG_COLDLIST_N datasets (default 2000) of
// 50 files each, on the local backend, in-process (catalog.Catalog over
// storaged's client): the CPU of reading the cached manifests. Only with
// LH_CATALOG_COLDLIST=1.
func TestColdListManyFiles(t *testing.T) {
	if os.Getenv("LH_CATALOG_COLDLIST") != "1" {
		t.Skip("set LH_CATALOG_COLDLIST=1 to measure")
	}
	n := 2000
	if s := os.Getenv("LH_CATALOG_COLDLIST_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	seedManyFiles(t, ctx, st, n, 50, "cl_%05d", false)
	dir := t.TempDir()
	// The first list fills the cache.
	if _, err := catalog.NewCatalog(st, nil).UseManifestCache(dir, nil).ListAll(ctx); err != nil {
		t.Fatal(err)
	}
	for run := range 3 {
		c := catalog.NewCatalog(st, nil).UseManifestCache(dir, nil) // restarted
		start := time.Now()
		res, err := c.ListAll(ctx)
		if err != nil || len(res.Datasets) != n {
			t.Fatalf("%d datasets, err %v", len(res.Datasets), err)
		}
		t.Logf("run %d: restarted list of %d datasets x 50 files from the cache: %v", run, n, time.Since(start))
	}
}
