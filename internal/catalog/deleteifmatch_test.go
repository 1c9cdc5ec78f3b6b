package catalog_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
)

// TestDeleteIfMatch (ADR-150): DELETE /v1/catalog/datasets/{name} with an
// If-Match naming a version that is no longer the latest is a 412 conflict
// and deletes nothing, over real HTTP and through the typed client; a weak
// tag never matches; a malformed field or a list is a 400 and deletes
// nothing; the latest's tag or * deletes; a missing or deleted dataset is
// still its 404. Before, If-Match was ignored: a DELETE guarded by a stale
// tag deleted whatever version had been committed since.
func TestDeleteIfMatch(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	base, c := a.catalogd()
	url := base + catalog.DatasetsPath + "/sales"
	del := func(ifMatch ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodDelete, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range ifMatch {
			req.Header.Add("If-Match", v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	latest := func(what string, want int64) {
		t.Helper()
		d, err := c.Get(ctx, "sales", 0)
		if err != nil || d.Version != want {
			t.Fatalf("%s: latest %d %v, want version %d still there", what, d.Version, err, want)
		}
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/1.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/2.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	// The caller read version 1; version 2 was committed since.
	for _, tc := range []struct {
		ifMatch []string
		status  int
		kind    string
	}{
		{[]string{catalog.ETag("sales", 1)}, 412, "conflict"},
		{[]string{`W/"sales.2"`}, 412, "conflict"},
		{[]string{catalog.ETag("other", 2)}, 412, "conflict"},
		{[]string{`"sales.1", "sales.2"`}, 400, "invalid"},
		{[]string{catalog.ETag("sales", 1), catalog.ETag("sales", 2)}, 400, "invalid"},
		{[]string{`sales.2`}, 400, "invalid"},
		{[]string{`"sales.2`}, 400, "invalid"},
	} {
		code, body := del(tc.ifMatch...)
		if code != tc.status || !strings.Contains(body, `"kind":"`+tc.kind+`"`) {
			t.Errorf("DELETE If-Match %q: %d %s, want %d %s", tc.ifMatch, code, body, tc.status, tc.kind)
		}
		latest("after DELETE If-Match "+strings.Join(tc.ifMatch, " | "), 2)
	}
	if _, err := c.Delete(ctx, "sales", catalog.DeleteOptions{IfMatch: catalog.ETag("sales", 1)}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("client Delete with a stale IfMatch: %v, want conflict", err)
	}
	latest("after the client's stale Delete", 2)

	// The latest's tag deletes; then the dataset is a 404 whatever If-Match says.
	res, err := c.Delete(ctx, "sales", catalog.DeleteOptions{IfMatch: catalog.ETag("sales", 2)})
	if err != nil || res.Version != 3 {
		t.Fatalf("client Delete with the latest's tag: %+v %v", res, err)
	}
	if code, body := del(catalog.ETag("sales", 2)); code != 404 {
		t.Errorf("DELETE of a deleted dataset with If-Match: %d %s, want 404", code, body)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 3, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/4.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	if code, body := del("*"); code != 200 || !strings.Contains(body, `"version":5`) {
		t.Errorf("DELETE If-Match *: %d %s, want 200 with tombstone 5", code, body)
	}
	if code, body := del(`"nosuch.1"`); code != 404 {
		t.Errorf("DELETE of a deleted dataset with a tag: %d %s, want 404", code, body)
	}
}

// TestGetIfMatch (ADR-150): a dataset GET (latest, ?version=N, HEAD) whose
// If-Match does not name the answer's tag is a 412 conflict without the
// manifest; a weak tag never matches; a malformed field is a 400; the
// answer's tag, a list holding it, or * is the 200. Before, If-Match was
// ignored: a GET guarded by a stale tag got the newer version with a 200.
func TestGetIfMatch(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	base, c := a.catalogd()
	url := base + catalog.DatasetsPath + "/sales"
	get := func(method, url string, ifMatch ...string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range ifMatch {
			req.Header.Add("If-Match", v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, r.Header.Get("ETag"), string(b)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/1.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/2.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, url string
		ifMatch     []string
		status      int
	}{
		{"GET", url, []string{`"sales.1"`}, 412},
		{"HEAD", url, []string{`"sales.1"`}, 412},
		{"GET", url, []string{`W/"sales.2"`}, 412},
		{"GET", url + "?version=1", []string{`"sales.2"`}, 412},
		{"GET", url, []string{`sales.2`}, 400},
		{"GET", url, []string{`"sales.2`}, 400},
		{"GET", url, []string{`"sales.2"`}, 200},
		{"GET", url, []string{`"sales.1", "sales.2"`}, 200},
		{"GET", url, []string{`"sales.1"`, `"sales.2"`}, 200},
		{"GET", url, []string{`*`}, 200},
		{"GET", url + "?version=1", []string{`"sales.1"`}, 200},
		{"HEAD", url, []string{`"sales.2"`}, 200},
	} {
		code, etag, body := get(tc.method, tc.url, tc.ifMatch...)
		if code != tc.status {
			t.Errorf("%s %s If-Match %q: %d %s, want %d", tc.method, tc.url, tc.ifMatch, code, body, tc.status)
			continue
		}
		switch {
		case code == 412 && (strings.Contains(body, `"files"`) || !strings.Contains(body, `"kind":"conflict"`) && tc.method == "GET"):
			t.Errorf("%s If-Match %q: 412 body %s, want the conflict error and no manifest", tc.method, tc.ifMatch, body)
		case code == 200 && etag == "":
			t.Errorf("%s If-Match %q: 200 without an ETag", tc.method, tc.ifMatch)
		}
	}
	if code, _, _ := get("GET", base+catalog.DatasetsPath+"/nosuch", `"nosuch.1"`); code != 404 {
		t.Errorf("GET of a missing dataset with If-Match: %d, want 404", code)
	}
}
