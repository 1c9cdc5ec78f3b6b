package vector

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestFilterEmptyFieldName: metadata never has an empty field name (an
// upsert with one is refused), so a filter on "" is a wrong filter, a 400
// like the upsert's; it used to answer an empty result list as if nothing
// matched.
func TestFilterEmptyFieldName(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newObjects(t), t.TempDir())
	defer s.Close(ctx)
	if _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, 2}, Metadata: Metadata{"k": "v"}}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{{"": 1}, {"": []any{"v"}}, {"k": "v", "": "v"}} {
		_, err := s.Search(ctx, "docs", SearchRequest{Vector: []float32{1, 2}, Filter: f})
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), "empty field name") {
			t.Errorf("filter %v: %v; want invalid naming the empty field name", f, err)
		}
	}
	if res, err := s.Search(ctx, "docs", SearchRequest{Vector: []float32{1, 2}, Filter: Filter{"k": "v"}}); err != nil || len(res) != 1 {
		t.Errorf("filter k=v: %v %v", res, err)
	}
}
