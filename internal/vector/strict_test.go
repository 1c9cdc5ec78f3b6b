package vector

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestIDsNotMergedByReplacement: ids (and metadata, filter values) that
// are not valid Unicode — raw invalid UTF-8 or an unpaired surrogate
// escape — are a 400 naming the byte, and change nothing (the shared
// strict JSON check, ADR-098; vectord had its own since ADR-091). encoding/json
// turned them into U+FFFD, so "a\xff" and "a\xfe" were one id: the second
// upsert silently replaced the first, and a filter on one matched the
// other. Valid text, escaped pairs and a literal U+FFFD still work.
func TestIDsNotMergedByReplacement(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	do := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+IndexesPath+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, err := s.CreateIndex(ctx, "u", CreateIndexRequest{Dims: 2, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	if code, b := do("/u/upsert", "{\"items\":[{\"id\":\"a\xff\",\"vector\":[1,0],\"metadata\":{\"g\":\"x\xfe\"}}]}"); code != 400 || !strings.Contains(b, "invalid UTF-8 at byte 18") {
		t.Fatalf("raw invalid UTF-8 id: %d %s", code, b)
	}
	for _, body := range []string{
		`{"items":[{"id":"a\ud800","vector":[1,0]}]}`,
		`{"items":[{"id":"a\udc00","vector":[1,0]}]}`,
		`{"items":[{"id":"a\ud800\u0041","vector":[1,0]}]}`,
		`{"items":[{"id":"a\ud800\n","vector":[1,0]}]}`,
		`{"items":[{"id":"a","vector":[1,0],"metadata":{"g":"\udbff"}}]}`,
		`{"items":[{"id":"ok","vector":[1,0]},{"id":"b\ud800","vector":[0,1]}]}`,
		"{\"items\":[{\"id\":\"a\xed\xa0\x80\",\"vector\":[1,0]}]}", // a surrogate encoded as UTF-8
	} {
		if code, b := do("/u/upsert", body); code != 400 || !(strings.Contains(b, "invalid UTF-8 at byte") || strings.Contains(b, "unpaired UTF-16 surrogate escape")) {
			t.Fatalf("upsert %q: %d %s", body, code, b)
		}
	}
	if info, _ := s.GetIndex(ctx, "u"); info.Count != 0 {
		t.Fatalf("refused upserts changed the index: %+v", info)
	}
	// Valid ids: an escaped pair, the same character raw, a literal U+FFFD.
	if code, b := do("/u/upsert", `{"items":[{"id":"\ud83d\ude00","vector":[1,0],"metadata":{"g":"\ufffd"}},{"id":"é😀\ufffd","vector":[0,1],"metadata":{"g":"�"}}]}`); code != 200 {
		t.Fatalf("valid Unicode ids: %d %s", code, b)
	}
	if code, b := do("/u/search", `{"vector":[0,0],"filter":{"g":"\ufffd"}}`); code != 200 || strings.Count(b, `"id"`) != 2 {
		t.Fatalf("filter on a literal U+FFFD: %d %s", code, b)
	}
	if code, b := do("/u/search", `{"vector":[0,0],"filter":{"g":"\udfff"}}`); code != 400 || !strings.Contains(b, "unpaired UTF-16 surrogate") {
		t.Fatalf("filter with a lone surrogate: %d %s", code, b)
	}
	if code, b := do("/u/delete", "{\"ids\":[\"\xff\"]}"); code != 400 {
		t.Fatalf("delete of an invalid id: %d %s", code, b)
	}
	if info, _ := s.GetIndex(ctx, "u"); info.Count != 2 {
		t.Fatalf("after the refused delete: %+v", info)
	}
}
