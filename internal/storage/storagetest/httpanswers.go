package storagetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
		// HEAD with the same Range answers what the GET would, without
		// the body, as MinIO does (ADR-084: it was always a 200): 206 with
		// Content-Range and the range's Content-Length, or 416.
		hh := do(http.MethodHead, tc.key, "", hdr...)
		ok = hh.status == tc.status && hh.h.Get("Content-Range") == tc.contentRange && hh.body == ""
		if tc.status != 416 {
			ok = ok && hh.h.Get("Content-Length") == itoa(len(tc.body)) && hh.h.Get("ETag") == a.h.Get("ETag") &&
				hh.h.Get("Content-Type") == a.h.Get("Content-Type") && hh.h.Get("Accept-Ranges") == "bytes"
		}
		if !ok {
			t.Errorf("HEAD %s Range %q: %d Content-Range %q Content-Length %q; want %d %q %d",
				tc.key, tc.rng, hh.status, hh.h.Get("Content-Range"), hh.h.Get("Content-Length"), tc.status, tc.contentRange, len(tc.body))
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
	// Preconditions and If-Range on a HEAD with Range answer what the GET
	// would: a Range with its last byte before its first is 416 before
	// any precondition (MinIO's order, GET's and HEAD's); a stale If-Range
	// is the whole object (MinIO's HEAD ignores If-Range: a 206).
	for _, tc := range []struct {
		hdr          []string
		status       int
		contentRange string
	}{
		{[]string{"Range", "bytes=5-2", "If-Match", `"nope"`}, 416, "bytes */10"},
		{[]string{"Range", "bytes=5-2", "If-None-Match", etag}, 416, "bytes */10"},
		{[]string{"Range", "bytes=0-1", "If-Match", `"nope"`}, 412, ""},
		{[]string{"Range", "bytes=0-1", "If-None-Match", etag}, 304, ""},
		{[]string{"Range", "bytes=0-1", "If-Range", `"stale"`}, 200, ""},
		{[]string{"Range", "bytes=0-1", "If-Range", etag}, 206, "bytes 0-1/10"},
	} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			a := do(m, "ha/ten", "", tc.hdr...)
			if a.status != tc.status || a.h.Get("Content-Range") != tc.contentRange {
				t.Errorf("%s %q: %d Content-Range %q; want %d %q", m, tc.hdr, a.status, a.h.Get("Content-Range"), tc.status, tc.contentRange)
			}
		}
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
	// A listing's after is a position in byte order, whatever it holds:
	// a byte no key can hold, a NUL, more than a key's 1024 bytes.
	for _, tc := range []struct{ query, first string }{
		{"after=%ff", ""},
		{"after=ha/%ff", ""},
		{"after=ha%00", "ha/dir/obj"},
		{"after=ha/" + strings.Repeat("a", 2000), "ha/dir/obj"},
		{"prefix=ha/%00", ""},
	} {
		req, err := base.NewRequest(context.Background(), http.MethodGet, storage.ObjectsPath+"?limit=1&"+tc.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := base.HTTP.Do(req)
		var p storage.ListPage
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
		}
		first := ""
		if len(p.Objects) > 0 {
			first = p.Objects[0].Key
		}
		if err != nil || resp.StatusCode != 200 || first != tc.first {
			t.Errorf("list ?%s: %v, first key %q; want 200, %q", tc.query, err, first, tc.first)
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

// ContentTypeAnswers (ADR-084): a PUT's Content-Type comes back on GET,
// HEAD, a Range GET and a 206 HEAD; a PUT without one answers
// application/octet-stream (storaged's answer on both backends; MinIO
// itself says binary/octet-stream to a raw PUT without one, minio-go stores
// application/octet-stream); a create-only PUT keeps its type and a refused
// one changes nothing; a bad type (a byte that is not printable ASCII, too
// long, two fields) is a 400 with the error body and stores nothing.
func ContentTypeAnswers(t *testing.T, base *shared.Client) {
	t.Helper()
	do := func(method, key, body string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		var r io.Reader
		if method == http.MethodPut {
			r = strings.NewReader(body)
		}
		req, err := base.NewRequest(context.Background(), method, storage.ObjectURLPath(key), r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	check := func(key, want string) {
		t.Helper()
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			for _, rng := range []string{"", "bytes=1-2"} {
				var hdr []string
				if rng != "" {
					hdr = []string{"Range", rng}
				}
				st, h, _ := do(m, key, "", hdr...)
				if (st != 200 && st != 206) || h.Get("Content-Type") != want {
					t.Errorf("%s %s Range %q: %d Content-Type %q, want %q", m, key, rng, st, h.Get("Content-Type"), want)
				}
			}
		}
	}
	for _, tc := range []struct{ key, ct, want string }{
		{"cta/x.csv", "text/csv", "text/csv"},
		{"cta/x.json", "application/json", "application/json"},
		{"cta/p", "text/csv; charset=utf-8; header=present", "text/csv; charset=utf-8; header=present"},
		{"cta/none.csv", "", "application/octet-stream"},
	} {
		var hdr []string
		if tc.ct != "" {
			hdr = []string{"Content-Type", tc.ct}
		}
		if st, _, body := do(http.MethodPut, tc.key, "a,b\n1,2\n", hdr...); st != 200 || strings.Contains(body, "content_type") {
			t.Fatalf("PUT %s: %d %s (the answer holds DESIGN.md's fields only)", tc.key, st, body)
		}
		check(tc.key, tc.want)
	}
	if st, _, body := do(http.MethodPut, "cta/new", "{}", "If-None-Match", "*", "Content-Type", "application/json"); st != 200 {
		t.Fatalf("create-only PUT: %d %s", st, body)
	}
	check("cta/new", "application/json")
	if st, _, _ := do(http.MethodPut, "cta/new", "x", "If-None-Match", "*", "Content-Type", "text/plain"); st != 412 {
		t.Errorf("create-only PUT of an existing key: %d, want 412", st)
	}
	check("cta/new", "application/json")
	// An untyped replace drops the old type.
	if st, _, _ := do(http.MethodPut, "cta/x.csv", "plain"); st != 200 {
		t.Fatal("PUT")
	}
	check("cta/x.csv", "application/octet-stream")
	for _, bad := range [][]string{
		{"Content-Type", "text/csv; name=\xe9t\xe9"},
		{"Content-Type", "text/" + strings.Repeat("a", storage.MaxContentTypeBytes)},
		{"Content-Type", "text/csv", "Content-Type", "application/json"},
	} {
		st, _, body := do(http.MethodPut, "cta/x.json", "replaced", bad...)
		if st != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, "Content-Type") {
			t.Errorf("PUT with %.60q: %d %s; want 400 invalid naming Content-Type", bad, st, body)
		}
	}
	if st, h, body := do(http.MethodGet, "cta/x.json", ""); body != "a,b\n1,2\n" || h.Get("Content-Type") != "application/json" {
		t.Errorf("a refused PUT changed the object: %d %q %q", st, h.Get("Content-Type"), body)
	}
}

// SuffixUnderReplace (ADR-084): suffix Range GETs while the object is
// replaced between a 10-byte and a 1000-byte version. Each answer must be
// the tail of one version, as its Content-Range says: storaged used to ask
// the size and read in two calls, so a replace in between gave a spurious
// 416 or a range sized for the other version.
func SuffixUnderReplace(t *testing.T, base *shared.Client) {
	t.Helper()
	small, big := strings.Repeat("a", 10), strings.Repeat("b", 1000)
	put := func(body string) {
		req, err := base.NewRequest(context.Background(), http.MethodPut, storage.ObjectURLPath("sur/obj"), strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	put(big)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				put(small)
			} else {
				put(big)
			}
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	bad, n := 0, 0
	for ; time.Now().Before(deadline) && bad < 5; n++ {
		req, err := base.NewRequest(context.Background(), http.MethodGet, storage.ObjectURLPath("sur/obj"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", "bytes=-500")
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cr := resp.Header.Get("Content-Range")
		ok := resp.StatusCode == 206 && ((cr == "bytes 0-9/10" && string(b) == small) || (cr == "bytes 500-999/1000" && string(b) == big[:500]))
		if !ok {
			bad++
			t.Errorf("GET bytes=-500 while replaced: %d Content-Range %q, %d bytes", resp.StatusCode, cr, len(b))
		}
	}
	close(stop)
	<-done
	t.Logf("%d suffix GETs", n)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
