package storagetest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// Conditional checks storaged's conditional reads over HTTP (base reaches
// storaged; c writes through it): a GET or HEAD whose If-None-Match
// matches the object's etag (weakly, in a list, or *) or whose
// If-Modified-Since is not before its Last-Modified is 304 with the
// validators and no body; one whose If-Match does not match (strongly) or
// whose If-Unmodified-Since is before its Last-Modified is 412, kind
// conflict, and that comes first (RFC 9110 13.2.2); a Range GET whose
// If-Range is not the object's strong etag or Last-Modified is 200 with the
// whole object (also when a redirect to S3 is asked for); anything else is
// the usual answer, ranges too.
func Conditional(t *testing.T, base *shared.Client, c storage.Store) {
	t.Helper()
	ctx := context.Background()
	body := RandomBytes(100 << 10)
	info, err := c.Put(ctx, "cond/obj", bytes.NewReader(body), int64(len(body)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err = c.Head(ctx, "cond/obj") // the server's own Last-Modified (S3's PUT answer has none)
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + info.ETag + `"`
	lastMod := info.Modified.UTC().Format(http.TimeFormat)
	hourAgo := info.Modified.Add(-time.Hour).UTC().Format(http.TimeFormat)
	later := info.Modified.Add(time.Hour).UTC().Format(http.TimeFormat)
	type hdrs = map[string]string
	for _, tc := range []struct {
		name   string
		method string
		key    string
		h      hdrs
		status int
	}{
		{"etag", "GET", "cond/obj", hdrs{"If-None-Match": etag}, 304},
		{"etag HEAD", "HEAD", "cond/obj", hdrs{"If-None-Match": etag}, 304},
		{"weak etag", "GET", "cond/obj", hdrs{"If-None-Match": "W/" + etag}, 304},
		{"etag in a list", "GET", "cond/obj", hdrs{"If-None-Match": `"other", ` + etag}, 304},
		{"star", "GET", "cond/obj", hdrs{"If-None-Match": "*"}, 304},
		{"other etag", "GET", "cond/obj", hdrs{"If-None-Match": `"other"`}, 200},
		{"other etag HEAD", "HEAD", "cond/obj", hdrs{"If-None-Match": `"other"`}, 200},
		{"modified since an hour ago", "GET", "cond/obj", hdrs{"If-Modified-Since": hourAgo}, 200},
		{"not modified since Last-Modified", "GET", "cond/obj", hdrs{"If-Modified-Since": lastMod}, 304},
		{"not modified since later", "HEAD", "cond/obj", hdrs{"If-Modified-Since": later}, 304},
		{"invalid date ignored", "GET", "cond/obj", hdrs{"If-Modified-Since": "yesterday"}, 200},
		{"If-None-Match wins over If-Modified-Since", "GET", "cond/obj", hdrs{"If-None-Match": `"other"`, "If-Modified-Since": later}, 200},
		{"range, etag matches", "GET", "cond/obj", hdrs{"If-None-Match": etag, "Range": "bytes=10-19"}, 304},
		{"range, other etag", "GET", "cond/obj", hdrs{"If-None-Match": `"other"`, "Range": "bytes=10-19"}, 206},
		{"missing key", "GET", "cond/none", hdrs{"If-None-Match": "*"}, 404},
		{"missing key, a date", "HEAD", "cond/none", hdrs{"If-Modified-Since": later}, 404},

		// If-Match (strong) and If-Unmodified-Since: 412, kind conflict.
		{"If-Match etag", "GET", "cond/obj", hdrs{"If-Match": etag}, 200},
		{"If-Match etag HEAD", "HEAD", "cond/obj", hdrs{"If-Match": etag}, 200},
		{"If-Match in a list", "GET", "cond/obj", hdrs{"If-Match": `"other", ` + etag}, 200},
		{"If-Match star", "GET", "cond/obj", hdrs{"If-Match": "*"}, 200},
		{"If-Match other", "GET", "cond/obj", hdrs{"If-Match": `"other"`}, 412},
		{"If-Match other HEAD", "HEAD", "cond/obj", hdrs{"If-Match": `"other"`}, 412},
		{"If-Match weak etag (strong comparison)", "GET", "cond/obj", hdrs{"If-Match": "W/" + etag}, 412},
		{"If-Match other, ranged", "GET", "cond/obj", hdrs{"If-Match": `"other"`, "Range": "bytes=10-19"}, 412},
		{"If-Match etag, ranged", "GET", "cond/obj", hdrs{"If-Match": etag, "Range": "bytes=10-19"}, 206},
		{"If-Match, missing key", "GET", "cond/none", hdrs{"If-Match": "*"}, 404},
		{"unmodified since later", "GET", "cond/obj", hdrs{"If-Unmodified-Since": later}, 200},
		{"unmodified since Last-Modified", "HEAD", "cond/obj", hdrs{"If-Unmodified-Since": lastMod}, 200},
		{"modified after If-Unmodified-Since", "GET", "cond/obj", hdrs{"If-Unmodified-Since": hourAgo}, 412},
		{"modified after If-Unmodified-Since HEAD", "HEAD", "cond/obj", hdrs{"If-Unmodified-Since": hourAgo}, 412},
		{"If-Unmodified-Since invalid date ignored", "GET", "cond/obj", hdrs{"If-Unmodified-Since": "yesterday"}, 200},
		{"If-Match wins over If-Unmodified-Since", "GET", "cond/obj", hdrs{"If-Match": etag, "If-Unmodified-Since": hourAgo}, 200},
		{"412 before 304 (If-Match)", "GET", "cond/obj", hdrs{"If-Match": `"other"`, "If-None-Match": etag}, 412},
		{"412 before 304 (If-Unmodified-Since)", "HEAD", "cond/obj", hdrs{"If-Unmodified-Since": hourAgo, "If-Modified-Since": later}, 412},
		{"If-Match holds, If-None-Match matches", "GET", "cond/obj", hdrs{"If-Match": etag, "If-None-Match": etag}, 304},

		// If-Range: a validator that is not the object's makes it 200 whole.
		{"If-Range etag", "GET", "cond/obj", hdrs{"If-Range": etag, "Range": "bytes=10-19"}, 206},
		{"If-Range Last-Modified", "GET", "cond/obj", hdrs{"If-Range": lastMod, "Range": "bytes=10-19"}, 206},
		{"If-Range other etag", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=10-19"}, 200},
		{"If-Range weak etag", "GET", "cond/obj", hdrs{"If-Range": "W/" + etag, "Range": "bytes=10-19"}, 200},
		{"If-Range other date", "GET", "cond/obj", hdrs{"If-Range": hourAgo, "Range": "bytes=10-19"}, 200},
		{"If-Range neither", "GET", "cond/obj", hdrs{"If-Range": "yesterday", "Range": "bytes=10-19"}, 200},
		{"If-Range other etag, suffix range", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=-10"}, 200},
		{"If-Range other etag, past the end", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=999999999-"}, 200},
		{"If-Range etag, past the end", "GET", "cond/obj", hdrs{"If-Range": etag, "Range": "bytes=999999999-"}, 416},
		{"If-Range without Range", "GET", "cond/obj", hdrs{"If-Range": `"other"`}, 200},
		{"If-Range other etag, redirect asked", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=10-19", storage.HeaderRedirect: "presigned"}, 200},
		{"If-Match other, redirect asked", "GET", "cond/obj", hdrs{"If-Match": `"other"`, storage.HeaderRedirect: "presigned"}, 412},
		{"If-Range other etag, If-None-Match matches", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "If-None-Match": etag, "Range": "bytes=10-19"}, 304},

		// A Range whose last byte is before its first under an If-Range that
		// does not hold: the Range is ignored (RFC 9110 13.1.5, a MUST), so
		// the whole object, as for any other Range; under one that holds,
		// the 416 (MinIO's answer: it does not evaluate If-Range at all).
		{"If-Range other etag, last before first", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=19-10"}, 200},
		{"If-Range other etag, last before first HEAD", "HEAD", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=19-10"}, 200},
		{"If-Range other date, last before first", "GET", "cond/obj", hdrs{"If-Range": hourAgo, "Range": "bytes=19-10"}, 200},
		{"If-Range weak etag, last before first", "HEAD", "cond/obj", hdrs{"If-Range": "W/" + etag, "Range": "bytes=19-10"}, 200},
		{"If-Range other etag, last before first, If-None-Match matches", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "If-None-Match": etag, "Range": "bytes=19-10"}, 304},
		{"If-Range other etag, last before first, If-Match other", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "If-Match": `"other"`, "Range": "bytes=19-10"}, 412},
		{"If-Range other etag, last before first, redirect asked", "GET", "cond/obj", hdrs{"If-Range": `"other"`, "Range": "bytes=19-10", storage.HeaderRedirect: "presigned"}, 200},
		{"If-Range etag, last before first", "GET", "cond/obj", hdrs{"If-Range": etag, "Range": "bytes=19-10"}, 416},
		{"If-Range Last-Modified, last before first HEAD", "HEAD", "cond/obj", hdrs{"If-Range": lastMod, "Range": "bytes=19-10"}, 416},
		{"If-Range other etag, last before first, missing key", "GET", "cond/none", hdrs{"If-Range": `"other"`, "Range": "bytes=19-10"}, 404},
	} {
		req, err := base.NewRequest(ctx, tc.method, storage.ObjectURLPath(tc.key), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.h {
			req.Header.Set(k, v)
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %v answered %d %.200s, want %d", tc.name, tc.method, tc.h, resp.StatusCode, got, tc.status)
			continue
		}
		switch {
		case tc.status == 304:
			if len(got) != 0 || resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") != lastMod {
				t.Errorf("%s: 304 with %d body bytes, ETag %q, Last-Modified %q", tc.name, len(got), resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
			}
		case tc.status == 200 && tc.method == "GET":
			if !bytes.Equal(got, body) {
				t.Errorf("%s: 200 with %d bytes, want the object", tc.name, len(got))
			}
		case tc.status == 206:
			if !bytes.Equal(got, body[10:20]) {
				t.Errorf("%s: 206 with %q", tc.name, got)
			}
		case tc.status == 412:
			kind := resp.Header.Get("X-Lakehouse-Error")
			if !strings.HasPrefix(kind, "conflict;") || (tc.method == "GET" && !bytes.Contains(got, []byte(`"conflict"`))) {
				t.Errorf("%s: 412 with X-Lakehouse-Error %q and body %.200s, want kind conflict", tc.name, kind, got)
			}
		}
		if tc.status == 200 && tc.method == "HEAD" && resp.Header.Get("Content-Length") != itoa(len(body)) {
			t.Errorf("%s: HEAD 200 with Content-Length %q, want the object's %d", tc.name, resp.Header.Get("Content-Length"), len(body))
		}
		if tc.status == 416 && resp.Header.Get("Content-Range") != "bytes */"+itoa(len(body)) {
			t.Errorf("%s: 416 with Content-Range %q", tc.name, resp.Header.Get("Content-Range"))
		}
		if tc.status == 200 && resp.Header.Get("Content-Range") != "" {
			t.Errorf("%s: 200 with Content-Range %q", tc.name, resp.Header.Get("Content-Range"))
		}
	}
	// Replaced: the old etag no longer matches.
	if _, err := c.Put(ctx, "cond/obj", bytes.NewReader([]byte("new")), 3, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := base.NewRequest(ctx, "GET", storage.ObjectURLPath("cond/obj"), nil)
	req.Header.Set("If-None-Match", etag)
	resp, err := base.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "new" {
		t.Errorf("old etag after an overwrite: %d %q, want 200 with the new object", resp.StatusCode, got)
	}
	for _, tc := range []struct {
		name   string
		h      map[string]string
		status int
		body   string
	}{
		{"If-Range old etag after an overwrite", map[string]string{"If-Range": etag, "Range": "bytes=1-1"}, 200, "new"},
		{"If-Match old etag after an overwrite", map[string]string{"If-Match": etag}, 412, ""},
	} {
		req, _ := base.NewRequest(ctx, "GET", storage.ObjectURLPath("cond/obj"), nil)
		for k, v := range tc.h {
			req.Header.Set(k, v)
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && string(got) != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, got, tc.status, tc.body)
		}
	}
}
