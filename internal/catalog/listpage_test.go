package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// seeder commits one-version datasets of one real Parquet file each.
type seeder struct {
	t    *testing.T
	st   storage.Store
	c    *catalog.Client
	body []byte
}

func newSeeder(t *testing.T, st storage.Store, c *catalog.Client) *seeder {
	f := file(t, st, "datasets/seed/seed.parquet", 1)
	rc, _, err := st.Get(context.Background(), f.Key, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &seeder{t: t, st: st, c: c, body: b}
}

// create commits name's next version (base is its latest, 0 for a new
// or deleted one); errors are returned, for goroutines.
func (s *seeder) create(ctx context.Context, name string, base int64) error {
	key := fmt.Sprintf("datasets/%s/%d.parquet", name, base+1)
	if _, err := s.st.Put(ctx, key, strings.NewReader(string(s.body)), int64(len(s.body)), storage.PutOptions{}); err != nil {
		return err
	}
	_, err := s.c.Commit(ctx, name, catalog.CommitRequest{BaseVersion: base, Schema: schema, Files: []catalog.File{{Key: key, Rows: 1}}})
	return err
}

// getList is GET /v1/catalog/datasets?query as a ListResponse (fatal on
// anything but a 200).
func getList(t *testing.T, base, query string) catalog.ListResponse {
	t.Helper()
	u := base + catalog.DatasetsPath
	if query != "" {
		u += "?" + query
	}
	code, _, body := do(t, "GET", u, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	var res catalog.ListResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	if res.Datasets == nil || res.Unreadable == nil {
		t.Fatalf("GET %s: datasets or unreadable absent: %s", u, body)
	}
	return res
}

// walk pages through the list limit at a time with extra parameters,
// returning every name seen (datasets and unreadable) in order and the
// number of pages.
func walk(t *testing.T, base string, limit int, extra url.Values) ([]string, int) {
	t.Helper()
	var names []string
	after := ""
	for pages := 1; ; pages++ {
		v := url.Values{"limit": {fmt.Sprint(limit)}}
		for k, x := range extra {
			v[k] = x
		}
		if after != "" {
			v.Set("after", after)
		}
		p := getList(t, base, v.Encode())
		var page []string
		for _, d := range p.Datasets {
			page = append(page, d.Name)
		}
		for _, u := range p.Unreadable {
			page = append(page, u.Name)
		}
		slices.Sort(page)
		if len(page) > limit {
			t.Fatalf("page after %q: %d names, limit %d", after, len(page), limit)
		}
		names = append(names, page...)
		if p.Next == "" {
			return names, pages
		}
		if p.Next <= after || (len(page) > 0 && p.Next < page[len(page)-1]) {
			t.Fatalf("page after %q: next %q does not move forward past %v", after, p.Next, page)
		}
		after = p.Next
		if pages > 10000 {
			t.Fatal("walk does not end")
		}
	}
}

// TestListPagesHTTP (ADR-128): GET /v1/catalog/datasets answered every
// dataset at once and refused ?limit= with a 400, so a catalog of
// thousands of datasets was sent whole to every caller. limit, after and
// prefix now answer a page in name order with "next" while more follow,
// as the versions list does; the pages together are the whole list
// (deleted datasets left out, unreadable ones on their page), and without
// parameters the answer is the whole list as before. The typed client's
// ListAll walks the pages.
func TestListPagesHTTP(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	base, c := startCatalogLogged(t, cfg, nil)
	s := newSeeder(t, st, c)
	var want []string
	for i := range 23 {
		n := fmt.Sprintf("ds_%02d", i)
		if err := s.create(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	for _, n := range []string{"a", "a_b", "a0", "sales", "sales_eu", "salesx", "z"} {
		if err := s.create(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	// Deleted: on no page. Damaged: on its page, as unreadable.
	for _, n := range []string{"ds_05", "ds_06", "ds_07", "sales_eu"} {
		if _, err := c.Delete(ctx, n, catalog.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(x string) bool { return x == n })
	}
	storagetest.MustPut(t, st, catalog.ManifestKey("ds_10", 1), []byte(`{"name":"ds_10","vers`))
	slices.Sort(want)
	// A fresh catalogd: the seeding one has ds_10 cached.
	base, c = startCatalogLogged(t, cfg, nil)

	whole := getList(t, base, "")
	if whole.Next != "" || len(whole.Datasets)+len(whole.Unreadable) != len(want) || len(whole.Unreadable) != 1 {
		t.Fatalf("whole list: %d datasets, %d unreadable, next %q; want %d names, 1 unreadable, no next",
			len(whole.Datasets), len(whole.Unreadable), whole.Next, len(want))
	}
	for _, limit := range []int{1, 2, 3, 7, len(want) - 1, len(want), 1000} {
		got, pages := walk(t, base, limit, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages hold %v, want %v", limit, got, want)
		}
		if min := (len(want) + limit - 1) / limit; pages < min || pages > min+1 {
			t.Errorf("limit %d: %d pages for %d names", limit, pages, len(want))
		}
	}
	// The first page of 3 says where to go on.
	p := getList(t, base, "limit=3")
	if len(p.Datasets) != 3 || p.Datasets[0].Name != "a" || p.Datasets[2].Name != "a_b" || p.Next != "a_b" {
		t.Fatalf("limit=3: %+v next %q; want a, a0, a_b and next a_b", p.Datasets, p.Next)
	}
	if p.Datasets[0].Version != 1 || len(p.Datasets[0].Files) != 1 {
		t.Errorf("a page's dataset is not the latest manifest: %+v", p.Datasets[0])
	}
	// A page without limit is DefaultDatasetsLimit long.
	if p := getList(t, base, "after="); len(p.Datasets)+len(p.Unreadable) != len(want) || p.Next != "" {
		t.Errorf("after= (default limit %d): %d names, next %q", catalog.DefaultDatasetsLimit, len(p.Datasets), p.Next)
	}
	// prefix: only names starting with it, paged too.
	if got, _ := walk(t, base, 1, url.Values{"prefix": {"sales"}}); !slices.Equal(got, []string{"sales", "salesx"}) {
		t.Errorf("prefix=sales: %v, want [sales salesx] (sales_eu deleted)", got)
	}
	if got, _ := walk(t, base, 2, url.Values{"prefix": {"a"}}); !slices.Equal(got, []string{"a", "a0", "a_b"}) {
		t.Errorf("prefix=a: %v", got)
	}
	if got, _ := walk(t, base, 5, url.Values{"prefix": {"nothing"}}); len(got) != 0 {
		t.Errorf("prefix=nothing: %v", got)
	}
	// after: strictly after; past the end an empty last page; a name that
	// is not a dataset is a position all the same.
	if p := getList(t, base, "after=z"); len(p.Datasets)+len(p.Unreadable) != 0 || p.Next != "" {
		t.Errorf("after=z: %+v", p)
	}
	if p := getList(t, base, "after=ds_055&limit=2"); len(p.Datasets) != 2 || p.Datasets[0].Name != "ds_08" || p.Next != "ds_09" {
		t.Errorf("after=ds_055&limit=2: %+v next %q; want ds_08, ds_09", p.Datasets, p.Next)
	}
	// The typed client walks every page.
	all, err := c.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Datasets) != len(whole.Datasets) || len(all.Unreadable) != 1 || all.Next != "" {
		t.Errorf("client ListAll: %d datasets %d unreadable, want %d and 1", len(all.Datasets), len(all.Unreadable), len(whole.Datasets))
	}
	var got []string
	for q := (catalog.DatasetsQuery{Limit: 4}); ; {
		p, err := c.ListPage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Datasets {
			got = append(got, d.Name)
		}
		for _, u := range p.Unreadable {
			got = append(got, u.Name)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("client ListPage walk: %v, want %v", got, want)
	}
}

// TestListPagesConcurrent (ADR-128): while datasets are created and
// deleted during a walk, every dataset that exists for the whole walk is
// on exactly one page, and no name is on two pages.
func TestListPagesConcurrent(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	base, c := startCatalogLogged(t, cfg, nil)
	s := newSeeder(t, st, c)
	var stable []string
	for i := range 30 {
		n := fmt.Sprintf("k%02d", i*3)
		if err := s.create(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
		stable = append(stable, n)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var churned atomic.Int64
	errc := make(chan error, 4)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			latest := map[string]int64{}
			for i := 0; !stop.Load(); i++ {
				// Names between and around the stable ones, each
				// worker its own.
				n := fmt.Sprintf("k%02d%c", (i*7)%91, 'a'+w)
				if err := s.create(ctx, n, latest[n]); err != nil {
					errc <- fmt.Errorf("create %s: %w", n, err)
					return
				}
				latest[n]++
				if i%2 == 0 {
					if _, err := c.Delete(ctx, n, catalog.DeleteOptions{}); err != nil {
						errc <- fmt.Errorf("delete %s: %w", n, err)
						return
					}
					latest[n]++
				}
				churned.Add(1)
			}
		}()
	}
	for churned.Load() == 0 && len(errc) == 0 {
		runtime.Gosched()
	}
	for round := 0; round < 6 || (churned.Load() < 60 && round < 300 && len(errc) == 0); round++ {
		got, _ := walk(t, base, 1+round%4, nil)
		seen := map[string]int{}
		for _, n := range got {
			seen[n]++
			if seen[n] > 1 {
				t.Fatalf("round %d: %s on two pages", round, n)
			}
		}
		for _, n := range stable {
			if seen[n] != 1 {
				t.Fatalf("round %d: stable dataset %s seen %d times", round, n, seen[n])
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if churned.Load() == 0 {
		t.Fatal("no dataset was created during the walks")
	}
	t.Logf("%d creates during the walks", churned.Load())
}

// TestListPageParams (ADR-128): a bad limit, after or prefix, one given
// twice, or an unknown parameter is a 400 invalid with DESIGN.md's error
// body naming it.
func TestListPageParams(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base, _ := startCatalogLogged(t, cfg, nil)
	for _, tc := range []struct{ q, word string }{
		{"limit=0", "limit"}, {"limit=-1", "limit"}, {"limit=1001", "limit"}, {"limit=abc", "limit"},
		{"limit=1.5", "limit"}, {"limit=1&limit=2", "limit"},
		{"after=BAD", "after"}, {"after=1abc", "after"}, {"after=a-b", "after"}, {"after=a&after=b", "after"},
		{"after=" + strings.Repeat("a", 64), "after"},
		{"prefix=Sales", "prefix"}, {"prefix=9", "prefix"}, {"prefix=a/b", "prefix"}, {"prefix=a%00", "prefix"},
		{"prefix=" + strings.Repeat("a", 64), "prefix"}, {"prefix=a&prefix=b", "prefix"},
		{"page=2", "page"}, {"max-keys=5", "max-keys"},
	} {
		code, eb, body := do(t, "GET", base+catalog.DatasetsPath+"?"+tc.q, nil)
		if code != 400 || eb.Kind != errs.Invalid || !strings.Contains(eb.Message, tc.word) {
			t.Errorf("?%s: %d %s; want a 400 invalid naming %s", tc.q, code, body, tc.word)
		}
	}
}
