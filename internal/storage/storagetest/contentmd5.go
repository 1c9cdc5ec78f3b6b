package storagetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// ContentMD5 checks storaged's Content-MD5 on PUT as S3 takes it (RFC 1864,
// ADR-150), over raw HTTP (base reaches storaged) and through c (a typed
// client of the same storaged): a body whose MD5 differs is a 400 invalid
// and changes nothing — no new key, an existing object keeps its bytes —
// for a small body, a big one (several parts on the s3 backend) and one of
// unknown length (chunked); a digest that is not base64 of 16 bytes is a
// 400 before anything is written; the right digest writes. big is the size
// of a body that goes as several parts on the s3 backend.
func ContentMD5(t *testing.T, base *shared.Client, c storage.Store, big int) {
	t.Helper()
	ctx := context.Background()
	digest := func(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }
	type answer struct {
		status int
		body   string
	}
	put := func(key string, body []byte, chunked bool, hdr ...string) answer {
		t.Helper()
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = struct{ io.Reader }{r} // no length: Transfer-Encoding: chunked
		}
		req, err := base.NewRequest(ctx, http.MethodPut, storage.ObjectURLPath(key), r)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		if chunked {
			req.ContentLength = -1
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
		return answer{resp.StatusCode, string(b)}
	}
	current := func(key string) []byte {
		t.Helper()
		rc, _, err := c.Get(ctx, key, storage.Whole)
		if errs.Is(err, errs.NotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	old := []byte("the stored version")
	MustPut(t, c, "md5/obj", old)
	small := []byte("the body that was sent")
	large := bytes.Repeat([]byte("0123456789abcdef"), big/16+1)
	wrong := digest([]byte("what the sender meant to send"))

	for _, tc := range []struct {
		name    string
		body    []byte
		chunked bool
		md5     string
		want    string // in the error message
	}{
		{"small, wrong digest", small, false, wrong, "BadDigest"},
		{"big, wrong digest", large, false, wrong, "BadDigest"},
		{"chunked, wrong digest", small, true, wrong, "BadDigest"},
		{"chunked big, wrong digest", large, true, wrong, "BadDigest"},
		{"hex digest", small, false, "5d41402abc4b2a76b9719d911017c592", "Content-MD5"},
		{"not base64", small, false, "!!!", "Content-MD5"},
		{"15 bytes", small, false, base64.StdEncoding.EncodeToString(make([]byte, 15)), "Content-MD5"},
	} {
		for _, key := range []string{"md5/obj", "md5/new"} {
			a := put(key, tc.body, tc.chunked, "Content-MD5", tc.md5)
			if a.status != 400 || !strings.Contains(a.body, `"kind":"invalid"`) || !strings.Contains(a.body, tc.want) {
				t.Errorf("PUT %s %s: %d %s, want 400 invalid naming %s", key, tc.name, a.status, a.body, tc.want)
			}
		}
		if b := current("md5/obj"); !bytes.Equal(b, old) {
			t.Errorf("PUT %s: md5/obj changed to %d bytes %.40q", tc.name, len(b), b)
		}
		if b := current("md5/new"); b != nil {
			t.Errorf("PUT %s: md5/new was created (%d bytes)", tc.name, len(b))
		}
	}

	// The right digest writes, whatever the size or framing.
	for _, tc := range []struct {
		name    string
		body    []byte
		chunked bool
	}{{"small", small, false}, {"big", large, false}, {"chunked", small, true}, {"chunked big", large, true}} {
		if a := put("md5/obj", tc.body, tc.chunked, "Content-MD5", digest(tc.body)); a.status != 200 {
			t.Errorf("PUT %s with its digest: %d %s", tc.name, a.status, a.body)
		} else if b := current("md5/obj"); !bytes.Equal(b, tc.body) {
			t.Errorf("PUT %s with its digest: stored %d bytes, want %d", tc.name, len(b), len(tc.body))
		}
	}

	// The typed client sends ContentMD5 as Content-MD5.
	before := current("md5/obj")
	if _, err := c.Put(ctx, "md5/obj", bytes.NewReader(small), int64(len(small)), storage.PutOptions{ContentMD5: wrong}); !errs.Is(err, errs.Invalid) {
		t.Errorf("client Put with a wrong ContentMD5: %v, want invalid", err)
	}
	if b := current("md5/obj"); !bytes.Equal(b, before) {
		t.Errorf("client Put with a wrong ContentMD5 changed the object")
	}
	if _, err := c.Put(ctx, "md5/obj", bytes.NewReader(small), int64(len(small)), storage.PutOptions{ContentMD5: digest(small)}); err != nil {
		t.Errorf("client Put with the right ContentMD5: %v", err)
	}
	if b := current("md5/obj"); !bytes.Equal(b, small) {
		t.Errorf("client Put with the right ContentMD5: stored %q", b)
	}
}
