package storagetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// HTTPAnswers checks storaged's raw HTTP answers that S3 users rely on,
// the same on every backend (base reaches storaged): Range forms (suffix,
// open, past the end, a zero-length object, a unit it does not know), what
// a HEAD says (the headers a GET would send, without the body), a HEAD of
// a "directory" prefix, DELETE of a missing key and of a prefix (204,
// nothing removed), a matching If-None-Match (304 with the ETag), a failed
// If-Match (412), If-None-Match on PUT other than * (400), and one etag
// for the PUT answer, GET, HEAD and the listing.
func HTTPAnswers(t *testing.T, base *shared.Client) {
	t.Helper()
	type answer struct {
		status int
		h      http.Header
		body   string
	}
	do := func(method, key string, body string, hdr ...string) answer {
		t.Helper()
		var r io.Reader
		if method == http.MethodPut {
			r = strings.NewReader(body)
		}
		path := storage.ObjectsPath
		if key != "" {
			path = storage.ObjectURLPath(key)
		}
		req, err := base.NewRequest(context.Background(), method, path, r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, string(b)}
	}
	put := do(http.MethodPut, "ha/ten", "0123456789")
	var info storage.ObjectInfo
	if put.status != http.StatusOK || json.Unmarshal([]byte(put.body), &info) != nil || info.ETag == "" {
		t.Fatalf("put: %d %s", put.status, put.body)
	}
	etag := `"` + info.ETag + `"`
	if a := do(http.MethodPut, "ha/empty", ""); a.status != http.StatusOK {
		t.Fatalf("put empty: %d %s", a.status, a.body)
	}
	if a := do(http.MethodPut, "ha/dir/obj", "x"); a.status != http.StatusOK {
		t.Fatalf("put: %d %s", a.status, a.body)
	}

	for _, tc := range []struct {
		key, rng     string
		status       int
		contentRange string
		body         string
	}{
		{"ha/ten", "bytes=-3", 206, "bytes 7-9/10", "789"},
		{"ha/ten", "bytes=-30", 206, "bytes 0-9/10", "0123456789"},
		{"ha/ten", "bytes=7-", 206, "bytes 7-9/10", "789"},
		{"ha/ten", "bytes=7-100", 206, "bytes 7-9/10", "789"},
		{"ha/ten", "bytes=0-0", 206, "bytes 0-0/10", "0"},
		{"ha/ten", "bytes=9-9", 206, "bytes 9-9/10", "9"},
		{"ha/ten", "bytes=10-", 416, "bytes */10", ""},
		{"ha/ten", "bytes=10-20", 416, "bytes */10", ""},
		{"ha/ten", "bytes=-0", 416, "bytes */10", ""},
		{"ha/ten", "bytes=5-2", 416, "bytes */10", ""},
		{"ha/ten", "items=0-2", 200, "", "0123456789"},
		// What cannot be read as one byte range is ignored, as MinIO and
		// S3 do: the whole object (they were 416s, "+1-2" a 206).
		{"ha/ten", "bytes=0-1,3-4", 200, "", "0123456789"},
		{"ha/ten", "bytes=abc", 200, "", "0123456789"},
		{"ha/ten", "bytes=+1-2", 200, "", "0123456789"},
		{"ha/ten", "bytes=1-+2", 200, "", "0123456789"},
		{"ha/ten", "bytes=2 - 3", 200, "", "0123456789"},
		{"ha/ten", "bytes=-", 200, "", "0123456789"},
		{"ha/ten", "bytes=99999999999999999999-", 200, "", "0123456789"},
		{"ha/ten", "bytes= 2-3", 206, "bytes 2-3/10", "23"},
		{"ha/empty", "bytes=0-", 416, "bytes */0", ""},
		{"ha/empty", "bytes=-3", 416, "bytes */0", ""},
		{"ha/empty", "", 200, "", ""},
	} {
		var hdr []string
		if tc.rng != "" {
			hdr = []string{"Range", tc.rng}
		}
		a := do(http.MethodGet, tc.key, "", hdr...)
		ok := a.status == tc.status && a.h.Get("Content-Range") == tc.contentRange
		if tc.status == 416 {
			ok = ok && strings.Contains(a.body, `"invalid"`)
		} else {
			ok = ok && a.body == tc.body && a.h.Get("Content-Length") == itoa(len(tc.body)) && a.h.Get("ETag") != ""
		}
		if !ok {
			t.Errorf("GET %s Range %q: %d Content-Range %q Content-Length %q %q; want %d %q %q",
				tc.key, tc.rng, a.status, a.h.Get("Content-Range"), a.h.Get("Content-Length"), a.body, tc.status, tc.contentRange, tc.body)
		}
	}

	// A HEAD sends the header fields a GET would (RFC 9110 9.3.2).
	get, head := do(http.MethodGet, "ha/ten", ""), do(http.MethodHead, "ha/ten", "")
	for _, k := range []string{"ETag", "Content-Length", "Content-Type", "Last-Modified", "Accept-Ranges"} {
		if head.h.Get(k) != get.h.Get(k) || head.h.Get(k) == "" {
			t.Errorf("HEAD %s: %q, GET %q", k, head.h.Get(k), get.h.Get(k))
		}
	}
	if head.status != 200 || head.body != "" || get.h.Get("ETag") != etag {
		t.Errorf("HEAD %d %q, GET ETag %q want %q", head.status, head.body, get.h.Get("ETag"), etag)
	}
	var page storage.ListPage
	if a := do(http.MethodGet, "", ""); json.Unmarshal([]byte(a.body), &page) != nil {
		t.Fatalf("list: %s", a.body)
	}
	for _, o := range page.Objects {
		if o.Key == "ha/ten" && o.ETag != info.ETag {
			t.Errorf("list etag %s, put %s", o.ETag, info.ETag)
		}
	}

	for _, tc := range []struct {
		method, key string
		hdr         []string
		status      int
		kind        string
	}{
		{http.MethodHead, "ha/dir", nil, 404, ""},
		{http.MethodGet, "ha/dir", nil, 404, "not_found"},
		{http.MethodDelete, "ha/dir", nil, 204, ""},
		{http.MethodDelete, "ha/nothing/here", nil, 204, ""},
		{http.MethodGet, "ha/dir/obj", nil, 200, ""},
		{http.MethodGet, "ha/ten", []string{"If-None-Match", etag}, 304, ""},
		{http.MethodHead, "ha/ten", []string{"If-None-Match", etag}, 304, ""},
		{http.MethodGet, "ha/ten", []string{"If-Match", `"nope"`}, 412, "conflict"},
		{http.MethodGet, "ha/missing", []string{"If-None-Match", "*"}, 404, "not_found"},
		{http.MethodPut, "ha/ten", []string{"If-None-Match", "*"}, 412, "conflict"},
		{http.MethodPut, "ha/ten", []string{"If-None-Match", etag}, 400, "invalid"},
	} {
		a := do(tc.method, tc.key, "y", tc.hdr...)
		if a.status != tc.status || (tc.kind != "" && !strings.Contains(a.body, `"kind":"`+tc.kind+`"`)) {
			t.Errorf("%s %s %q: %d %s; want %d %s", tc.method, tc.key, tc.hdr, a.status, a.body, tc.status, tc.kind)
		}
		if tc.status == 304 && (a.h.Get("ETag") != etag || a.body != "") {
			t.Errorf("%s %s %q: 304 ETag %q body %q", tc.method, tc.key, tc.hdr, a.h.Get("ETag"), a.body)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
