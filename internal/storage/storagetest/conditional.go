package storagetest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// Conditional checks storaged's conditional reads over HTTP (base reaches
// storaged; c writes through it): a GET or HEAD whose If-None-Match
// matches the object's etag (weakly, in a list, or *) or whose
// If-Modified-Since is not before its Last-Modified is 304 with the
// validators and no body; anything else is the usual answer, ranges too.
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
}
