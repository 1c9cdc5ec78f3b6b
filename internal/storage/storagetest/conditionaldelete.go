package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// ConditionalDelete checks If-Match on DELETE (ADR-154) over raw HTTP (base
// reaches storaged) and through c (a typed client of the same storaged).
// evaluated is whether the backend evaluates it (local). Then: the current
// etag (quoted or bare) or * deletes, 204; another etag or a weak one is
// 412 conflict and deletes nothing; a missing key is 404; a list of tags,
// a quoted * and If-Unmodified-Since are 400 and delete nothing. A
// conditional delete racing an unconditional PUT of the key never removes
// the PUT's object; of racing conditional deletes and writes holding one
// etag, exactly one succeeds. Not evaluated (s3): every If-Match on
// DELETE is a 400 that says why, and nothing is deleted.
func ConditionalDelete(t *testing.T, base *shared.Client, c storage.Store, evaluated bool) {
	t.Helper()
	ctx := context.Background()
	cd, ok := c.(storage.ConditionalDeleter)
	if !ok {
		t.Fatalf("%T has no DeleteWith", c)
	}
	do := func(method, key string, body []byte, hdr ...string) (int, string) {
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
		return resp.StatusCode, string(b)
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
	v1 := []byte("delete me only as I am")
	info1 := MustPut(t, c, "cdel/obj", v1)
	tag1 := `"` + info1.ETag + `"`

	if !evaluated {
		for _, h := range []string{tag1, info1.ETag, "*", `"0123456789abcdef0123456789abcdef"`} {
			st, body := do(http.MethodDelete, "cdel/obj", nil, "If-Match", h)
			if st != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, "not supported on DELETE with the s3 backend (MinIO ignores If-Match on DeleteObject") {
				t.Errorf("DELETE If-Match %s on s3: %d %s, want a 400 saying why", h, st, body)
			}
			if !bytes.Equal(current("cdel/obj"), v1) {
				t.Fatalf("DELETE If-Match %s on s3: the object changed", h)
			}
		}
		if err := cd.DeleteWith(ctx, "cdel/obj", storage.DeleteOptions{IfMatch: info1.ETag}); !errs.Is(err, errs.Invalid) {
			t.Errorf("client DeleteWith on s3: %v, want invalid", err)
		}
		if st, body := do(http.MethodDelete, "cdel/obj", nil, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"); st != 400 {
			t.Errorf("DELETE If-Unmodified-Since: %d %s, want 400", st, body)
		}
		if !bytes.Equal(current("cdel/obj"), v1) {
			t.Fatal("a refused DELETE changed the object")
		}
		if st, body := do(http.MethodDelete, "cdel/obj", nil); st != 204 || current("cdel/obj") != nil {
			t.Fatalf("unconditional DELETE: %d %s", st, body)
		}
		return
	}

	for _, tc := range []struct {
		name   string
		key    string
		hdr    []string
		status int
		kind   string
	}{
		{"If-Match another etag", "cdel/obj", []string{"If-Match", `"0123456789abcdef0123456789abcdef"`}, 412, "conflict"},
		{"If-Match weak etag", "cdel/obj", []string{"If-Match", "W/" + tag1}, 412, "conflict"},
		{"If-Match a list", "cdel/obj", []string{"If-Match", `"x", ` + tag1}, 400, "invalid"},
		{"If-Match quoted star", "cdel/obj", []string{"If-Match", `"*"`}, 400, "invalid"},
		{"If-Match blank tag", "cdel/obj", []string{"If-Match", `""`}, 400, "invalid"},
		{"If-Unmodified-Since", "cdel/obj", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 400, "invalid"},
		{"If-Unmodified-Since with If-Match", "cdel/obj", []string{"If-Match", tag1, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 400, "invalid"},
		{"If-Match, missing key", "cdel/none", []string{"If-Match", tag1}, 404, "not_found"},
		{"If-Match *, missing key", "cdel/none", []string{"If-Match", "*"}, 404, "not_found"},
		{"If-Match, a directory of keys", "cdel", []string{"If-Match", "*"}, 404, "not_found"},
	} {
		st, body := do(http.MethodDelete, tc.key, nil, tc.hdr...)
		if st != tc.status || !strings.Contains(body, `"kind":"`+tc.kind+`"`) {
			t.Errorf("DELETE %s: %d %s, want %d %s", tc.name, st, body, tc.status, tc.kind)
		}
		if tc.name == "If-Match another etag" && !strings.Contains(body, `object \"cdel/obj\": its etag is not the If-Match \"0123456789abcdef0123456789abcdef\": it was replaced (nothing deleted)`) {
			t.Errorf("DELETE %s: %s, want the etag named and nothing deleted", tc.name, body)
		}
		if !bytes.Equal(current("cdel/obj"), v1) {
			t.Fatalf("DELETE %s: the object was deleted or changed", tc.name)
		}
	}

	// The current etag quoted, bare, and *: each deletes.
	for _, h := range []string{tag1, info1.ETag, "*"} {
		MustPut(t, c, "cdel/obj", v1)
		if st, body := do(http.MethodDelete, "cdel/obj", nil, "If-Match", h); st != 204 || current("cdel/obj") != nil {
			t.Errorf("DELETE If-Match %s (current): %d %s, object %q", h, st, body, current("cdel/obj"))
		}
	}
	// Replaced since its etag was read: 412, the replacement kept.
	MustPut(t, c, "cdel/obj", v1)
	v2 := []byte("replaced")
	MustPut(t, c, "cdel/obj", v2)
	if st, body := do(http.MethodDelete, "cdel/obj", nil, "If-Match", tag1); st != 412 || !bytes.Equal(current("cdel/obj"), v2) {
		t.Errorf("DELETE If-Match the replaced etag: %d %s", st, body)
	}

	// The typed client.
	if err := cd.DeleteWith(ctx, "cdel/obj", storage.DeleteOptions{IfMatch: info1.ETag}); !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 412 {
		t.Errorf("client DeleteWith a stale etag: %v, want conflict 412", err)
	}
	if err := cd.DeleteWith(ctx, "cdel/none", storage.DeleteOptions{IfMatch: "*"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("client DeleteWith * of a missing key: %v, want not_found", err)
	}
	info2 := MustPut(t, c, "cdel/obj", v2)
	if err := cd.DeleteWith(ctx, "cdel/obj", storage.DeleteOptions{IfMatch: info2.ETag}); err != nil || current("cdel/obj") != nil {
		t.Errorf("client DeleteWith the current etag: %v", err)
	}

	// A conditional delete racing an unconditional PUT: whichever goes
	// first, the PUT's object is there at the end (a delete that checked
	// the old etag never removes what the PUT published).
	for round := range 40 {
		old := MustPut(t, c, "cdel/race", []byte(fmt.Sprint("old ", round)))
		newer := []byte(fmt.Sprint("newer ", round))
		var wg sync.WaitGroup
		var dst, pst int
		wg.Add(2)
		go func() {
			defer wg.Done()
			dst, _ = do(http.MethodDelete, "cdel/race", nil, "If-Match", `"`+old.ETag+`"`)
		}()
		go func() { defer wg.Done(); pst, _ = do(http.MethodPut, "cdel/race", newer) }()
		wg.Wait()
		if pst != 200 || (dst != 204 && dst != 412) {
			t.Fatalf("round %d: PUT %d, DELETE %d", round, pst, dst)
		}
		if b := current("cdel/race"); !bytes.Equal(b, newer) {
			t.Fatalf("round %d: after a PUT racing a DELETE If-Match of the old etag (DELETE %d): %q, want the PUT's object", round, dst, b)
		}
	}

	// Conditional deletes and writes holding one etag: one succeeds.
	for round := range 20 {
		start := MustPut(t, c, "cdel/race", []byte(fmt.Sprint("start ", round)))
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		bodies := make([][]byte, n)
		for i := range n {
			bodies[i] = []byte(fmt.Sprint("writer ", round, " ", i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					statuses[i], _ = do(http.MethodDelete, "cdel/race", nil, "If-Match", `"`+start.ETag+`"`)
				} else {
					statuses[i], _ = do(http.MethodPut, "cdel/race", bodies[i], "If-Match", `"`+start.ETag+`"`)
				}
			}()
		}
		wg.Wait()
		won := -1
		for i, st := range statuses {
			switch {
			case (st == 200 || st == 204) && won >= 0:
				t.Fatalf("round %d: %d and %d both succeeded with If-Match %s (statuses %v)", round, won, i, start.ETag, statuses)
			case st == 200 || st == 204:
				won = i
			case st != 412 && st != 404:
				t.Fatalf("round %d: %d answered %d", round, i, st)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: none succeeded (statuses %v)", round, statuses)
		}
		b := current("cdel/race")
		if won%2 == 0 && b != nil || won%2 == 1 && !bytes.Equal(b, bodies[won]) {
			t.Fatalf("round %d: winner %d (statuses %v), object %q", round, won, statuses, b)
		}
	}
}
