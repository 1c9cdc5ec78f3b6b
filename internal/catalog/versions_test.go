package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestVersionsPagesHTTP: GET .../versions through real catalogd instances
// over a real storaged answers pages (after/limit/order, next), a commit
// through one instance is on the next newest-first page of both at once,
// bad parameters are 400s naming them, and the typed client's Versions
// still returns every version (page after page), manifests stored by an
// older catalogd (a Dataset's JSON, no summary first) included.
func TestVersionsPagesHTTP(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	var cs []*catalog.Client
	var url string
	for i := 0; i < 2; i++ {
		c := *cfg
		url = storagetest.StartCatalog(t, &c, catalog.New).URL()
		cs = append(cs, catalog.NewClient(storagetest.ClientFor(&c, "catalogd", false)))
	}
	a, b := cs[0], cs[1]

	one := file(t, st, "datasets/p/seed.parquet", 1)
	rc, _, err := st.Get(ctx, one.Key, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	commit := func(c *catalog.Client, v int64) {
		t.Helper()
		key := fmt.Sprintf("datasets/p/part-%03d.parquet", v)
		storagetest.MustPut(t, st, key, body)
		mode := catalog.ModeAppend
		if v == 1 {
			mode = ""
		}
		if _, err := c.Commit(ctx, "p", catalog.CommitRequest{BaseVersion: v - 1, Mode: mode, Schema: schema, Files: []catalog.File{{Key: key, Rows: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	for v := int64(1); v <= 12; v++ {
		commit(a, v)
	}
	versions := func(p catalog.VersionsResponse) string {
		var s []string
		for _, v := range p.Versions {
			s = append(s, fmt.Sprint(v.Version))
		}
		return strings.Join(s, ",") + fmt.Sprintf(" next %d", p.Next)
	}
	page := func(c *catalog.Client, q catalog.VersionsQuery, want string) {
		t.Helper()
		p, err := c.VersionsPage(ctx, "p", q)
		if err != nil {
			t.Fatal(err)
		}
		if got := versions(p); got != want {
			t.Fatalf("%+v: %s, want %s", q, got, want)
		}
		for _, v := range p.Versions {
			if v.FileCount != int(v.Version) || v.RowCount != v.Version || v.Bytes != int64(len(body))*v.Version {
				t.Fatalf("version line %+v", v)
			}
		}
	}
	page(b, catalog.VersionsQuery{Limit: 5}, "1,2,3,4,5 next 5")
	page(b, catalog.VersionsQuery{After: 5, Limit: 5}, "6,7,8,9,10 next 10")
	page(b, catalog.VersionsQuery{After: 10, Limit: 5}, "11,12 next 0")
	page(b, catalog.VersionsQuery{Desc: true, Limit: 5}, "12,11,10,9,8 next 8")
	page(b, catalog.VersionsQuery{Desc: true, After: 3, Limit: 5}, "2,1 next 0")
	commit(a, 13)
	page(a, catalog.VersionsQuery{Desc: true, Limit: 2}, "13,12 next 12")
	page(b, catalog.VersionsQuery{Desc: true, Limit: 2}, "13,12 next 12")
	commit(b, 14)
	page(a, catalog.VersionsQuery{After: 12}, "13,14 next 0")

	// The raw answer: the fields of before, next absent on the last page.
	get := func(q string) (int, string) {
		r, err := http.Get(url + "/v1/catalog/datasets/p/versions" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, s := get("?after=13"); code != 200 || strings.Contains(s, "next") || !strings.Contains(s, `"name":"p"`) || !strings.Contains(s, `"version":14`) {
		t.Fatalf("last page: %d %s", code, s)
	}
	for _, q := range []string{"?after=-1", "?limit=0", "?limit=5000", "?order=sideways", "?after=abc"} {
		code, s := get(q)
		param := strings.TrimPrefix(strings.SplitN(q, "=", 2)[0], "?")
		if code != 400 || !strings.Contains(s, param) {
			t.Errorf("%s: %d %s, want a 400 naming %s", q, code, s, param)
		}
	}
	if _, err := a.VersionsPage(ctx, "nope", catalog.VersionsQuery{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing dataset: %v", err)
	}

	// More than a page of MaxVersionsLimit, stored as older catalogds did.
	n := catalog.MaxVersionsLimit + 30
	for v := 1; v <= n; v++ {
		d := catalog.Dataset{Name: "old", Version: int64(v), Schema: schema, Files: []catalog.File{{Key: "datasets/old/x", Rows: int64(v), Bytes: 3}},
			RowCount: int64(v), Mode: catalog.ModeReplace}
		j, _ := json.MarshalIndent(d, "", " ")
		if _, err := st.Put(ctx, catalog.ManifestKey("old", int64(v)), bytes.NewReader(j), int64(len(j)), storage.PutOptions{CreateOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := b.Versions(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != n {
		t.Fatalf("typed client: %d versions, want %d", len(vs), n)
	}
	for i, v := range vs {
		if v.Version != int64(i+1) || v.RowCount != int64(i+1) || v.FileCount != 1 || v.Mode != catalog.ModeReplace {
			t.Fatalf("version %d: %+v", i+1, v)
		}
	}
}

// TestRepeatedParams: a query parameter given twice on GET (version) or
// DELETE (purge) is a 400 naming it and changes nothing; the first value
// was used silently (?purge=false&purge=true deleted the dataset and kept
// its files; ?version=1&version=2 answered version 1).
func TestRepeatedParams(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	c := *cfg
	url := storagetest.StartCatalog(t, &c, catalog.New).URL()
	cl := catalog.NewClient(storagetest.ClientFor(&c, "catalogd", false))
	f := file(t, st, "datasets/p/a.parquet", 1)
	if _, err := cl.Commit(ctx, "p", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, q, param string }{
		{"GET", "?version=1&version=2", "version"},
		{"DELETE", "?purge=false&purge=true", "purge"},
		{"DELETE", "?purge=true&purge=true", "purge"},
	} {
		req, _ := http.NewRequest(tc.method, url+"/v1/catalog/datasets/p"+tc.q, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 400 || !strings.Contains(string(b), `"kind":"invalid"`) || !strings.Contains(string(b), tc.param) {
			t.Errorf("%s %s: %d %s, want a 400 naming %s", tc.method, tc.q, r.StatusCode, b, tc.param)
		}
	}
	d, err := cl.Get(ctx, "p", 0)
	if err != nil || d.Version != 1 {
		t.Fatalf("after the refused requests: %+v %v, want version 1 live", d, err)
	}
	if _, err := st.Head(ctx, f.Key); err != nil {
		t.Fatalf("file after the refused requests: %v", err)
	}
}
