package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// ReplacedAfterHead checks what ADR-010 promises for a conditional GET
// whose object is replaced (or deleted) between storaged's HEAD, which
// decides the preconditions, and its read: the answer meets the
// preconditions against the object actually read, and its headers (ETag,
// Content-Length, Content-Range) are that object's — never the new bytes
// under the old validators, a 200 for an If-Match the new object fails, or
// a range of the new object for an If-Range naming the old one. setHook is
// storage.SetConditionalHeadHook (test-only): the hook replaces the object
// exactly in that window. base reaches storaged; c writes through it.
func ReplacedAfterHead(t *testing.T, base *shared.Client, c storage.Store, setHook func(func(key string)) func()) {
	t.Helper()
	ctx := context.Background()
	oldBody := RandomBytes(64 << 10)
	newBody := RandomBytes(40 << 10) // another size: a range of it under the old headers would show
	const key = "replaced/obj"
	put := func(b []byte) storage.ObjectInfo {
		t.Helper()
		info, err := c.Put(ctx, key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	oldInfo := put(oldBody)
	newInfo := put(newBody)
	oldTag, newTag := `"`+oldInfo.ETag+`"`, `"`+newInfo.ETag+`"`
	if oldTag == newTag {
		t.Fatal("two bodies, one etag")
	}
	type hdrs = map[string]string
	for _, tc := range []struct {
		name   string
		h      hdrs
		delete bool   // the hook deletes instead of replacing
		with   []byte // what the hook puts (nil: newBody)
		status int
		want   []byte // the body of a 200/206
	}{
		{"If-Match old etag", hdrs{"If-Match": oldTag}, false, nil, 412, nil},
		{"If-Match old etag, ranged", hdrs{"If-Match": oldTag, "Range": "bytes=10-19"}, false, nil, 412, nil},
		{"If-Match star", hdrs{"If-Match": "*"}, false, nil, 200, newBody},
		{"If-None-Match other", hdrs{"If-None-Match": `"other"`}, false, nil, 200, newBody},
		{"If-None-Match other, ranged", hdrs{"If-None-Match": `"other"`, "Range": "bytes=10-19"}, false, nil, 206, newBody[10:20]},
		{"If-None-Match other, suffix", hdrs{"If-None-Match": `"other"`, "Range": "bytes=-7"}, false, nil, 206, newBody[len(newBody)-7:]},
		{"If-None-Match new etag", hdrs{"If-None-Match": newTag}, false, nil, 304, nil},
		{"If-Range old etag", hdrs{"If-Range": oldTag, "Range": "bytes=10-19"}, false, nil, 200, newBody},
		{"If-Range old etag, suffix", hdrs{"If-Range": oldTag, "Range": "bytes=-7"}, false, nil, 200, newBody},
		{"If-Range old etag, past the new end", hdrs{"If-Range": oldTag, "Range": "bytes=50000-50009"}, false, nil, 200, newBody},
		{"If-Match old etag, past the new end", hdrs{"If-Match": oldTag, "Range": "bytes=50000-50009"}, false, nil, 412, nil},
		{"If-None-Match new etag, past the new end", hdrs{"If-None-Match": newTag, "Range": "bytes=50000-50009"}, false, nil, 304, nil},
		{"If-None-Match other, past the new end", hdrs{"If-None-Match": `"other"`, "Range": "bytes=50000-50009"}, false, nil, 416, nil},
		{"If-Range old etag, replaced by an empty object", hdrs{"If-Range": oldTag, "Range": "bytes=-7"}, false, []byte{}, 200, []byte{}},
		{"If-Match old etag, deleted", hdrs{"If-Match": oldTag}, true, nil, 404, nil},
		{"If-Range old etag, deleted", hdrs{"If-Range": oldTag, "Range": "bytes=10-19"}, true, nil, 404, nil},
	} {
		put(oldBody)
		with, withTag := newBody, newTag
		if tc.with != nil {
			with = tc.with
		}
		fired := 0
		restore := setHook(func(k string) {
			if k != key || fired > 0 {
				return
			}
			fired++
			if tc.delete {
				if err := c.Delete(ctx, key); err != nil {
					t.Error(err)
				}
				return
			}
			withTag = `"` + put(with).ETag + `"`
		})
		req, err := base.NewRequest(ctx, http.MethodGet, storage.ObjectURLPath(key), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.h {
			req.Header.Set(k, v)
		}
		resp, err := base.HTTP.Do(req)
		if err != nil {
			restore()
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		restore()
		if fired != 1 {
			t.Fatalf("%s: the hook ran %d times: the GET took no HEAD first", tc.name, fired)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s, replaced after the HEAD: %d (ETag %s, Content-Range %q, %d bytes), want %d",
				tc.name, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Content-Range"), len(got), tc.status)
			continue
		}
		switch tc.status {
		case 200, 206:
			if !bytes.Equal(got, tc.want) {
				t.Errorf("%s: %d bytes, not the new object's expected bytes", tc.name, len(got))
			}
			if e := resp.Header.Get("ETag"); e != withTag {
				t.Errorf("%s: the new object's bytes under ETag %s (the new one is %s)", tc.name, e, withTag)
			}
			if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(got)) {
				t.Errorf("%s: Content-Length %s with %d bytes", tc.name, cl, len(got))
			}
			cr := resp.Header.Get("Content-Range")
			if tc.status == 206 && !strings.HasSuffix(cr, fmt.Sprintf("/%d", len(with))) {
				t.Errorf("%s: Content-Range %q, not the new object's size %d", tc.name, cr, len(with))
			}
			if tc.status == 200 && cr != "" {
				t.Errorf("%s: 200 with Content-Range %q", tc.name, cr)
			}
		case 304:
			if len(got) != 0 || resp.Header.Get("ETag") != newTag {
				t.Errorf("%s: 304 with %d bytes and ETag %s, want none and %s", tc.name, len(got), resp.Header.Get("ETag"), newTag)
			}
		case 416:
			if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", len(with)) {
				t.Errorf("%s: 416 with Content-Range %q, want the new object's size %d", tc.name, cr, len(with))
			}
		case 412:
			if bytes.Contains(got, newBody[:64]) || bytes.Contains(got, oldBody[:64]) {
				t.Errorf("%s: 412 carrying object bytes", tc.name)
			}
		}
	}
}
