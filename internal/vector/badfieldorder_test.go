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
