package vector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestBadMetadataFieldNamedInOrder: an upsert whose metadata has several
// bad fields (non-scalar values, an empty name) is refused naming the
// first of them in name order, every time, and changes nothing. The check
// ranged over the metadata map and stopped at the first bad field it met,
// so the same request got a 400 naming a different field from call to
// call.
func TestBadMetadataFieldNamedInOrder(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "m", CreateIndexRequest{Dims: 2, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ metadata, want string }{
		{`{"ok":1,"zeta":[1],"kappa":{"x":1},"beta":[2],"omega":{},"delta":[3],"gamma":[],"ok2":"x"}`, `metadata field "beta"`},
		{`{"zeta":[1],"":1,"beta":{}}`, `empty metadata field name`},
	} {
		seen := map[string]bool{}
		for range 30 {
			resp, err := http.Post(srv.URL+IndexesPath+"/m/upsert", "application/json",
				strings.NewReader(`{"items":[{"id":"a","vector":[1,0],"metadata":`+c.metadata+`}]}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body errs.Body
			if err := json.Unmarshal(b, &body); resp.StatusCode != 400 || err != nil {
				t.Fatalf("%s: %d %s", c.metadata, resp.StatusCode, b)
			}
			seen[body.Error.Message] = true
			if !strings.Contains(body.Error.Message, c.want) {
				t.Errorf("%s: want %q, got %q", c.metadata, c.want, body.Error.Message)
				break
			}
		}
		if len(seen) != 1 {
			t.Errorf("%s: %d different answers to one request: %v", c.metadata, len(seen), seen)
		}
	}
	if info, _ := s.GetIndex(ctx, "m"); info.Count != 0 {
		t.Fatalf("refused upserts changed the index: %+v", info)
	}
}

// TestBadFilterFieldNamedInOrder: a search whose filter has several bad
// fields (or a range with several bad keys) is refused naming the first in
// name order, every time; before, map order chose which one.
func TestBadFilterFieldNamedInOrder(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "f", CreateIndexRequest{Dims: 2, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ filter, want string }{
		{`{"zeta":null,"kappa":[{}],"beta":{"bogus":1},"omega":{},"delta":[null],"ok":"x"}`, `filter field "beta": range key "bogus"`},
		{`{"n":{"zz":1,"yy":2,"mm":3,"bb":4,"gt":1}}`, `range key "bb"`},
		{`{"n":{"lte":"x","gte":"y","lt":[1],"gt":{}}}`, `range gt must be a finite number`},
	} {
		seen := map[string]bool{}
		for range 30 {
			resp, err := http.Post(srv.URL+IndexesPath+"/f/search", "application/json",
				strings.NewReader(`{"vector":[1,0],"filter":`+c.filter+`}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body errs.Body
			if err := json.Unmarshal(b, &body); resp.StatusCode != 400 || err != nil {
				t.Fatalf("%s: %d %s", c.filter, resp.StatusCode, b)
			}
			seen[body.Error.Message] = true
			if !strings.Contains(body.Error.Message, c.want) {
				t.Errorf("%s: want %q, got %q", c.filter, c.want, body.Error.Message)
				break
			}
		}
		if len(seen) != 1 {
			t.Errorf("%s: %d different answers to one request: %v", c.filter, len(seen), seen)
		}
	}
}
