package catalog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// storagedRequests is how many requests storaged has served, from its own
// /metrics (lakehouse_http_requests_total of every route but /metrics).
func storagedRequests(t *testing.T, url string) int64 {
	t.Helper()
	return storagedRequestsOf(t, url, "")
}

// storagedRequestsOf is storagedRequests of one route pattern ("": all).
func storagedRequestsOf(t *testing.T, url, route string) int64 {
	t.Helper()
	r, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var n int64
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "lakehouse_http_requests_total{") || strings.Contains(line, `route="/metrics"`) ||
			(route != "" && !strings.Contains(line, `route="`+route+`"`)) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int64(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestColdListRoundTrips (ADR-131): a catalogd that has read nothing (a
// restart, a second instance) lists N datasets with a bounded number of
// storaged round trips — the listing pages of the manifest keys and one
// read of each latest manifest — counted at storaged itself over HTTP
// (the short-circuit socket is off for the catalogd measured, so every
// call is an HTTP request storaged counts). Each dataset cost a HEAD of
// version 1, a HEAD of version 2, a listing and a read (about 4N, 19 s
// for 5,000 on the local backend, where each listing reads the whole
// _catalog/ directory), and a warm list still a HEAD per dataset.
// Another instance's commit and this instance's own are seen by the
// next list. On the local backend and on MinIO.
func TestColdListRoundTrips(t *testing.T) {
	t.Run("local", func(t *testing.T) { coldListRoundTrips(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { coldListRoundTrips(t, minioConfig(t)) })
}

func coldListRoundTrips(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, stSrv := storagetest.Start(t, cfg)
	_, seedC := startCatalogLogged(t, cfg, nil)
	s := newSeeder(t, st, seedC)
	const n = 300
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range n {
		g.Go(func() error { return s.create(gctx, fmt.Sprintf("ds_%04d", i), 0) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// A dataset of many versions whose keys run past the end of the
	// first listing page (keys 233-292 of 256), one of a few, and a
	// deleted one.
	const bigVersions = 60
	for v := range int64(bigVersions) {
		if err := s.create(ctx, "ds_0230_big", v); err != nil {
			t.Fatal(err)
		}
	}
	for v := range int64(3) {
		if err := s.create(ctx, "ds_0200_few", v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := seedC.Delete(ctx, "ds_0050", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"ds_0230_big": bigVersions, "ds_0200_few": 3}
	for i := range n {
		if i != 50 {
			want[fmt.Sprintf("ds_%04d", i)] = 1
		}
	}
	datasets := int64(n + 2) // with the deleted one: its tombstone is read

	t.Setenv(storage.ForceHTTPEnv, "1")
	check := func(what string, res catalog.ListResponse, wantN int) {
		t.Helper()
		if len(res.Unreadable) != 0 || len(res.Datasets) != wantN {
			t.Fatalf("%s: %d datasets, %d unreadable, want %d", what, len(res.Datasets), len(res.Unreadable), wantN)
		}
		for _, d := range res.Datasets {
			if want[d.Name] != d.Version || d.RowCount != d.Version || len(d.Files) != int(d.Version) {
				t.Fatalf("%s: %s at version %d (%d rows, %d files), want version %d", what, d.Name, d.Version, d.RowCount, len(d.Files), want[d.Name])
			}
		}
	}
	count := func(f func()) int64 {
		before := storagedRequests(t, stSrv.URL())
		f()
		return storagedRequests(t, stSrv.URL()) - before
	}

	// The whole list, cold then warm; cold without the manifest cache
	// the seeding commits filled (TestManifestCacheRestart counts it).
	noCache := func() {
		if err := os.RemoveAll(catalog.ManifestCacheDir(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	noCache()
	base, c := startCatalogLogged(t, cfg, nil)
	var res catalog.ListResponse
	cold := count(func() { res = getList(t, base, "") })
	check("cold list", res, len(want))
	warm := count(func() { res = getList(t, base, "") })
	check("warm list", res, len(want))
	t.Logf("whole list of %d datasets: %d storaged requests cold, %d warm", len(want), cold, warm)
	if max := datasets + 8; cold > max {
		t.Errorf("a cold list of %d datasets made %d storaged requests, want at most %d (a read each, the listing pages, one listing of the big one's keys)", len(want), cold, max)
	}
	if warm > 16 {
		t.Errorf("a warm list of %d datasets made %d storaged requests, want at most 16 (the listing pages)", len(want), warm)
	}

	// The first page of 100, cold.
	noCache()
	pbase, _ := startCatalogLogged(t, cfg, nil)
	cold = count(func() { res = getList(t, pbase, "limit=100") })
	check("cold first page", res, 100)
	if res.Next != res.Datasets[99].Name {
		t.Fatalf("cold first page: next %q, want %q", res.Next, res.Datasets[99].Name)
	}
	t.Logf("first page of 100: %d storaged requests cold", cold)
	if cold > 100+8 {
		t.Errorf("a cold first page of 100 made %d storaged requests, want at most %d", cold, 100+8)
	}

	// Another instance commits; this one commits: the next list shows
	// both, and reads only those two manifests.
	if err := s.create(ctx, "ds_0007", 1); err != nil {
		t.Fatal(err)
	}
	want["ds_0007"] = 2
	f := file(t, st, "datasets/ds_0008/2.parquet", 1)
	if _, err := c.Commit(ctx, "ds_0008", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	want["ds_0008"] = 2
	after := count(func() { res = getList(t, base, "") })
	check("list after two commits", res, len(want))
	if after > 16+1 {
		t.Errorf("the list after another instance's commit made %d storaged requests, want at most 17", after)
	}
}

// TestListRacingCommits (ADR-131): commits through this instance and
// another racing this instance's lists never make a listed entry wrong:
// each is a whole manifest (its rows and files are its version's), no
// dataset goes back to an older version from one list to the next, and a
// commit this instance acknowledged is in every list it starts after.
func TestListRacingCommits(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	base, a := startCatalogLogged(t, cfg, nil)
	_, b := startCatalogLogged(t, cfg, nil)
	sa, sb := newSeeder(t, st, a), newSeeder(t, st, b)
	names := []string{"r_a", "r_b", "r_c", "r_d"}
	for _, nm := range names {
		if err := sa.create(ctx, nm, 0); err != nil {
			t.Fatal(err)
		}
	}
	var acked sync.Map // name -> version acknowledged to a commit through a
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w, s := range []*seeder{sa, sb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				nm := names[(i+w)%len(names)]
				d, err := s.c.Get(ctx, nm, 0)
				if err != nil {
					errc <- err
					return
				}
				if err := s.create(ctx, nm, d.Version); err != nil {
					if errs.Is(err, errs.Conflict) {
						continue // lost the race to the other writer
					}
					errc <- err
					return
				}
				if s == sa {
					for {
						old, _ := acked.LoadOrStore(nm, d.Version+1)
						if old.(int64) >= d.Version+1 || acked.CompareAndSwap(nm, old, d.Version+1) {
							break
						}
					}
				}
			}
		}()
	}
	seen := map[string]int64{}
	for round := 0; round < 60 && len(errc) == 0; round++ {
		floor := map[string]int64{}
		acked.Range(func(k, v any) bool { floor[k.(string)] = v.(int64); return true })
		res := getList(t, base, "")
		if round%2 == 1 {
			res = getList(t, base, "limit=2")
			more := getList(t, base, "after="+res.Next)
			res.Datasets = append(res.Datasets, more.Datasets...)
		}
		if len(res.Datasets) != len(names) || len(res.Unreadable) != 0 {
			t.Fatalf("round %d: %d datasets, %d unreadable", round, len(res.Datasets), len(res.Unreadable))
		}
		for _, d := range res.Datasets {
			if d.RowCount != d.Version || len(d.Files) != int(d.Version) || d.Files[d.Version-1].Key != fmt.Sprintf("datasets/%s/%d.parquet", d.Name, d.Version) {
				t.Fatalf("round %d: %s version %d has %d rows and files %v", round, d.Name, d.Version, d.RowCount, d.Files)
			}
			if d.Version < seen[d.Name] {
				t.Fatalf("round %d: %s went back from version %d to %d", round, d.Name, seen[d.Name], d.Version)
			}
			if d.Version < floor[d.Name] {
				t.Fatalf("round %d: %s at version %d, but version %d was acknowledged to this instance before the list", round, d.Name, d.Version, floor[d.Name])
			}
			seen[d.Name] = d.Version
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}

// TestColdListPagesGrow (ADR-131): the listing pages of the dataset list
// grow from 256 keys to 1024 while every dataset has few versions: each
// listing of the local backend reads the whole _catalog/ directory, and
// 2,000 datasets took 8 listings (now 3). Manifests are put through
// storaged directly, as catalogd stores them (a Dataset's JSON reads as
// one); storaged counts the listings.
func TestColdListPagesGrow(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, stSrv := storagetest.Start(t, cfg)
	const n = 2000
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			d := catalog.Dataset{Name: fmt.Sprintf("g_%04d", i), Version: 1, Schema: schema, Files: []catalog.File{}, Mode: catalog.ModeAppend}
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = st.Put(gctx, catalog.ManifestKey(d.Name, 1), bytes.NewReader(b), int64(len(b)), storage.PutOptions{CreateOnly: true})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Setenv(storage.ForceHTTPEnv, "1")
	base, _ := startCatalogLogged(t, cfg, nil)
	before := storagedRequestsOf(t, stSrv.URL(), storage.ObjectsPath)
	res := getList(t, base, "")
	lists := storagedRequestsOf(t, stSrv.URL(), storage.ObjectsPath) - before
	if len(res.Datasets) != n || len(res.Unreadable) != 0 {
		t.Fatalf("list: %d datasets, %d unreadable; want %d", len(res.Datasets), len(res.Unreadable), n)
	}
	t.Logf("a cold list of %d datasets listed storaged %d times", n, lists)
	if lists > 4 {
		t.Errorf("a cold list of %d one-version datasets listed storaged %d times, want at most 4 (pages of 256, 1024, 1024)", n, lists)
	}
}
