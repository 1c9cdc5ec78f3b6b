package storagetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// QueryParamAnswers (ADR-099): every storaged route refuses a query
// parameter it does not take with a 400 invalid naming it and the ones the
// route takes, and changes nothing; the same on every backend (base
// reaches storaged). ?prefx=zz&limit=1 listed every key, PUT ?versionId=1
// wrote, DELETE ?versionId=1 deleted, an unescaped '?' in a key wrote
// under the key cut short. A HEAD's refusal has no body; its message is in
// errs.ErrorHeader. The parameters the routes take still work.
func QueryParamAnswers(t *testing.T, base *shared.Client) {
	t.Helper()
	type answer struct {
		status int
		h      http.Header
		body   string
	}
	do := func(method, path, body string) answer {
		t.Helper()
		var r io.Reader
		if method == http.MethodPut {
			r = strings.NewReader(body)
		}
		req, err := base.NewRequest(context.Background(), method, path, r)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, string(b)}
	}
	if a := do(http.MethodPut, storage.ObjectURLPath("qp/obj"), "hello"); a.status != http.StatusOK {
		t.Fatalf("put: %d %s", a.status, a.body)
	}
	const (
		none = "(this route takes: none)"
		list = "(this route takes: prefix, after, limit)"
	)
	obj := storage.ObjectURLPath("qp/obj")
	for _, tc := range []struct {
		method, path string
		want, hint   string
	}{
		{http.MethodPut, storage.ObjectURLPath("qp/new") + "?versionId=1", `unknown query parameter "versionId" ` + none, "no S3 sub-resources"},
		{http.MethodPut, obj + "?uploads", `unknown query parameter "uploads" ` + none, "no S3 sub-resources"},
		{http.MethodPut, storage.ObjectsPath + "/qp/a?b", `unknown query parameter "b" ` + none, "%3F"},
		{http.MethodGet, obj + "?partNumber=1", `unknown query parameter "partNumber" ` + none, ""},
		{http.MethodGet, obj + "?response-content-type=text/plain&x-id=GetObject", `unknown query parameters "response-content-type", "x-id" ` + none, ""},
		{http.MethodHead, obj + "?versionId=1", `unknown query parameter "versionId" ` + none, ""},
		{http.MethodDelete, obj + "?versionId=1", `unknown query parameter "versionId" ` + none, ""},
		{http.MethodDelete, obj + "?a=1;b=2", "query string: ", ""},
		{http.MethodGet, storage.ObjectsPath + "?prefx=zz&limit=1", `unknown query parameter "prefx" ` + list, ""},
		{http.MethodGet, storage.ObjectsPath + "?list-type=2&max-keys=1", `unknown query parameters "list-type", "max-keys" ` + list, "limit=N (not max-keys)"},
		{http.MethodGet, storage.ObjectsPath + "?start-after=qp/", `unknown query parameter "start-after" ` + list, "after=<a key"},
		{http.MethodGet, storage.ObjectsPath + "?prefix=qp/&delimiter=/", `unknown query parameter "delimiter" ` + list, "no delimiter"},
		{http.MethodGet, storage.ObjectsPath + "?limit=1&limit=1000", `query parameter "limit" given 2 times`, ""},
		{http.MethodGet, storage.ObjectsPath + "?prefix=zz;limit=1", "query string: ", ""},
		{http.MethodGet, storage.ObjectsPath + "?prefix=%zz", "query string: ", ""},
	} {
		a := do(tc.method, tc.path, "changed")
		msg := ""
		if tc.method == http.MethodHead {
			if a.body != "" {
				t.Errorf("HEAD %s: a body %q", tc.path, a.body)
			}
			k, m, _ := strings.Cut(a.h.Get(errs.ErrorHeader), "; ")
			if k != string(errs.Invalid) {
				t.Errorf("HEAD %s: %s %q", tc.path, errs.ErrorHeader, a.h.Get(errs.ErrorHeader))
			}
			msg, _ = url.QueryUnescape(m)
		} else {
			var b errs.Body
			if err := json.Unmarshal([]byte(a.body), &b); err != nil || b.Error.Kind != errs.Invalid || b.Error.RequestID == "" {
				t.Errorf("%s %s: %d %s, want DESIGN.md's error body of kind invalid", tc.method, tc.path, a.status, a.body)
			}
			msg = b.Error.Message
		}
		if a.status != http.StatusBadRequest || !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.hint) {
			t.Errorf("%s %s: %d %q, want a 400 saying %q and %q", tc.method, tc.path, a.status, msg, tc.want, tc.hint)
		}
	}
	// Nothing changed: no qp/new, no qp/a, qp/obj as it was.
	for _, k := range []string{"qp/new", "qp/a"} {
		if a := do(http.MethodHead, storage.ObjectURLPath(k), ""); a.status != http.StatusNotFound {
			t.Errorf("HEAD %s after the refused PUT: %d, want 404", k, a.status)
		}
	}
	if a := do(http.MethodGet, obj, ""); a.status != http.StatusOK || a.body != "hello" {
		t.Errorf("GET qp/obj after the refused PUT and DELETE: %d %q, want 200 hello", a.status, a.body)
	}
	// The parameters the routes take, as the typed client sends them and
	// as a person writes them (empty values, a trailing '&', a lone '?').
	c := storage.NewClient(base)
	MustPut(t, c, "qp/two", []byte("2"))
	page, err := c.List(context.Background(), storage.ListOptions{Prefix: "qp/", After: "qp/obj", Limit: 1})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "qp/two" {
		t.Errorf("client List: %+v %v, want qp/two", page, err)
	}
	for _, q := range []string{"?prefix=qp/&after=&limit=", "?prefix=qp%2F&", "?"} {
		var p storage.ListPage
		a := do(http.MethodGet, storage.ObjectsPath+q, "")
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &p) != nil || len(p.Objects) == 0 {
			t.Errorf("list %s: %d %s", q, a.status, a.body)
		}
	}
	if a := do(http.MethodGet, obj+"?", ""); a.status != http.StatusOK || a.body != "hello" {
		t.Errorf("GET qp/obj?: %d %q", a.status, a.body)
	}
	if err := c.Delete(context.Background(), "qp/two"); err != nil {
		t.Errorf("client Delete: %v", err)
	}
}
