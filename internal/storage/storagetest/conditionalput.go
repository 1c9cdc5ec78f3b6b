package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// ConditionalPut checks storaged's compare-and-swap write, If-Match on PUT
// as S3 and MinIO take it (ADR-108), over raw HTTP (base reaches storaged)
// and through c (a typed client of the same storaged): the current etag
// (quoted or bare) or * writes, 200; another etag or a weak one is 412
// conflict and changes nothing; a missing key is 404 and creates nothing; a
// list of tags, If-Match with If-None-Match: *, and If-Unmodified-Since are
// 400 and change nothing (DELETE's If-Match: ConditionalDelete). big is the
// size of a body that goes as several parts on the s3 backend (Complete
// carries If-Match). Of concurrent writers with the same If-Match exactly
// one lands.
func ConditionalPut(t *testing.T, base *shared.Client, c storage.Store, big int) {
	t.Helper()
	ctx := context.Background()
	type answer struct {
		status int
		h      http.Header
		body   string
	}
	do := func(method, key string, body []byte, hdr ...string) answer {
		t.Helper()
		var r io.Reader
		if method == http.MethodPut {
			r = bytes.NewReader(body)
		}
		req, err := base.NewRequest(ctx, method, storage.ObjectURLPath(key), r)
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodPut {
			req.ContentLength = int64(len(body))
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
	current := func(key string) (storage.ObjectInfo, []byte) {
		t.Helper()
		rc, info, err := c.Get(ctx, key, storage.Whole)
		if errs.Is(err, errs.NotFound) {
			return storage.ObjectInfo{}, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return info, b
	}
	v1 := []byte("version one")
	info1 := MustPut(t, c, "cas/obj", v1)
	tag1 := `"` + info1.ETag + `"`

	for _, tc := range []struct {
		name   string
		key    string
		hdr    []string
		status int
		kind   string
	}{
		{"If-Match another etag", "cas/obj", []string{"If-Match", `"0123456789abcdef0123456789abcdef"`}, 412, "conflict"},
		{"If-Match weak etag", "cas/obj", []string{"If-Match", "W/" + tag1}, 412, "conflict"},
		{"If-Match a list", "cas/obj", []string{"If-Match", `"x", ` + tag1}, 400, "invalid"},
		{"If-Match quoted star", "cas/obj", []string{"If-Match", `"*"`}, 400, "invalid"},
		{"If-Match with If-None-Match *", "cas/obj", []string{"If-Match", tag1, "If-None-Match", "*"}, 400, "invalid"},
		{"If-Unmodified-Since", "cas/obj", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 400, "invalid"},
		{"If-Match, missing key", "cas/none", []string{"If-Match", tag1}, 404, "not_found"},
		{"If-Match *, missing key", "cas/none", []string{"If-Match", "*"}, 404, "not_found"},
	} {
		a := do(http.MethodPut, tc.key, []byte("must not land"), tc.hdr...)
		if a.status != tc.status || !strings.Contains(a.body, `"kind":"`+tc.kind+`"`) {
			t.Errorf("PUT %s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.kind)
		}
		if tc.name == "If-Match another etag" && !strings.Contains(a.body, `object \"cas/obj\": its etag is not the If-Match \"0123456789abcdef0123456789abcdef\": it was replaced (nothing written)`) {
			t.Errorf("PUT %s: %s, want the message both backends give", tc.name, a.body)
		}
		if info, b := current("cas/obj"); info.ETag != info1.ETag || !bytes.Equal(b, v1) {
			t.Errorf("PUT %s: the object changed to %q (etag %s)", tc.name, b, info.ETag)
		}
		if info, _ := current("cas/none"); info.ETag != "" {
			t.Errorf("PUT %s: created cas/none", tc.name)
		}
	}

	// The current etag, quoted, then bare, then *: each write lands.
	v2 := []byte("version two")
	a := do(http.MethodPut, "cas/obj", v2, "If-Match", tag1)
	var info2 storage.ObjectInfo
	if a.status != 200 || json.Unmarshal([]byte(a.body), &info2) != nil || info2.ETag == info1.ETag {
		t.Fatalf("PUT If-Match the current etag: %d %s", a.status, a.body)
	}
	if _, b := current("cas/obj"); !bytes.Equal(b, v2) {
		t.Fatalf("after a matching If-Match: %q", b)
	}
	if a := do(http.MethodPut, "cas/obj", []byte("stale"), "If-Match", tag1); a.status != 412 {
		t.Errorf("PUT If-Match the replaced etag: %d %s, want 412", a.status, a.body)
	}
	v3 := []byte("version three")
	if a := do(http.MethodPut, "cas/obj", v3, "If-Match", info2.ETag); a.status != 200 {
		t.Errorf("PUT If-Match a bare etag: %d %s", a.status, a.body)
	}
	if a := do(http.MethodPut, "cas/obj", v3, "If-Match", "*"); a.status != 200 {
		t.Errorf("PUT If-Match * on an object: %d %s", a.status, a.body)
	}

	// The typed client (HTTP even when it has a socket).
	info3, _ := current("cas/obj")
	if _, err := c.Put(ctx, "cas/obj", bytes.NewReader(v1), int64(len(v1)), storage.PutOptions{IfMatch: info1.ETag}); !errs.Is(err, errs.Conflict) {
		t.Errorf("client Put with a stale IfMatch: %v, want conflict", err)
	}
	if _, err := c.Put(ctx, "cas/none", bytes.NewReader(v1), int64(len(v1)), storage.PutOptions{IfMatch: "*"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("client Put IfMatch * of a missing key: %v, want not_found", err)
	}
	info4, err := c.Put(ctx, "cas/obj", bytes.NewReader(v1), int64(len(v1)), storage.PutOptions{IfMatch: info3.ETag, ContentType: "text/plain"})
	if err != nil {
		t.Fatalf("client Put with the current IfMatch: %v", err)
	}
	if info, b := current("cas/obj"); !bytes.Equal(b, v1) || info.ETag != info4.ETag || info.ContentType != "text/plain" {
		t.Fatalf("after the client's compare-and-swap: %q %+v", b, info)
	}

	// A body of several parts (s3: If-Match on Complete), stale and current.
	large := RandomBytes(big)
	if _, err := c.Put(ctx, "cas/obj", bytes.NewReader(large), int64(len(large)), storage.PutOptions{IfMatch: info3.ETag}); !errs.Is(err, errs.Conflict) {
		t.Errorf("large Put with a stale IfMatch: %v, want conflict", err)
	}
	if _, err := c.Put(ctx, "cas/obj", io.MultiReader(bytes.NewReader(large)), -1, storage.PutOptions{IfMatch: info3.ETag}); !errs.Is(err, errs.Conflict) {
		t.Errorf("large Put of unknown length with a stale IfMatch: %v, want conflict", err)
	}
	if _, err := c.Put(ctx, "cas/obj", bytes.NewReader(large), int64(len(large)), storage.PutOptions{IfMatch: info4.ETag}); err != nil {
		t.Errorf("large Put with the current IfMatch: %v", err)
	}
	if _, b := current("cas/obj"); !bytes.Equal(b, large) {
		t.Errorf("after the large compare-and-swap: %d bytes", len(b))
	}

	// Replaced while a large compare-and-swap body is on its way (after
	// any early check): the write is refused at the end (local: under the
	// key's lock; s3: If-Match on Complete) and the replacement stays.
	cur, _ := current("cas/obj")
	repl := []byte("replaced mid-body")
	var replErr error
	mid := &hookReader{r: bytes.NewReader(large), at: int64(big / 2), hook: func() {
		_, replErr = c.Put(ctx, "cas/obj", bytes.NewReader(repl), int64(len(repl)), storage.PutOptions{})
	}}
	if _, err := c.Put(ctx, "cas/obj", mid, -1, storage.PutOptions{IfMatch: cur.ETag}); !errs.Is(err, errs.Conflict) || replErr != nil || !mid.fired {
		t.Errorf("large Put with IfMatch, replaced mid-body: %v (replace: %v, fired %v), want conflict", err, replErr, mid.fired)
	}
	if _, b := current("cas/obj"); !bytes.Equal(b, repl) {
		t.Errorf("after a compare-and-swap refused at its end: %d bytes, want the replacement", len(b))
	}

	// Concurrent writers, all with the etag they read: one lands per round.
	for round := 0; round < 30; round++ {
		start, _ := current("cas/obj")
		const writers = 8
		var wg sync.WaitGroup
		statuses := make([]int, writers)
		bodies := make([][]byte, writers)
		for i := range writers {
			bodies[i] = RandomBytes(4096 + i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = do(http.MethodPut, "cas/obj", bodies[i], "If-Match", `"`+start.ETag+`"`).status
			}()
		}
		wg.Wait()
		won := -1
		for i, st := range statuses {
			switch {
			case st == 200 && won >= 0:
				t.Fatalf("round %d: writers %d and %d both landed with If-Match %s (statuses %v)", round, won, i, start.ETag, statuses)
			case st == 200:
				won = i
			case st != 412:
				t.Fatalf("round %d: writer %d answered %d", round, i, st)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no writer landed (statuses %v)", round, statuses)
		}
		if _, b := current("cas/obj"); !bytes.Equal(b, bodies[won]) {
			t.Fatalf("round %d: the object is not the winner's body", round)
		}
	}
}

// hookReader runs hook once, when at bytes have been read.
type hookReader struct {
	r     io.Reader
	n, at int64
	hook  func()
	fired bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	if !h.fired && h.n >= h.at {
		h.fired = true
		h.hook()
	}
	if !h.fired && int64(len(p)) > h.at-h.n {
		p = p[:h.at-h.n]
	}
	n, err := h.r.Read(p)
	h.n += int64(n)
	return n, err
}
