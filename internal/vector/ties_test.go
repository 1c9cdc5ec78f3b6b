package vector

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestSearchTiesInIDOrder: hits with equal scores come in id order, the
// same through the graph (unfiltered), the exact scan (a filter) and after
// a restart; the order of a tie used to depend on the search path (an
// unfiltered search and a filter matching every item listed three copies
// of one vector in two different orders, neither by id).
func TestSearchTiesInIDOrder(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	for round := range 2 {
		s := openStore(t, objects, dir)
		r := chi.NewRouter()
		Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
		srv := httptest.NewServer(r)
		search := func(body string) string {
			t.Helper()
			resp, err := http.Post(srv.URL+IndexesPath+"/t/search", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var sr SearchResponse
			if resp.StatusCode != 200 || json.Unmarshal(b, &sr) != nil {
				t.Fatalf("search %s: %d %s", body, resp.StatusCode, b)
			}
			var ids []string
			for _, h := range sr.Results {
				ids = append(ids, h.ID)
			}
			return strings.Join(ids, ",")
		}
		if round == 0 {
			if _, err := s.CreateIndex(ctx, "t", CreateIndexRequest{Dims: 2, Metric: "dot"}); err != nil {
				t.Fatal(err)
			}
			var its []Item
			for _, id := range []string{"z", "e", "d", "c", "b", "a", "y"} {
				v := []float32{1, 0}
				switch id {
				case "z":
					v = []float32{2, 0}
				case "y":
					v = []float32{-1, 0}
				}
				its = append(its, Item{ID: id, Vector: v, Metadata: Metadata{"g": "x"}})
			}
			if _, err := s.Upsert(ctx, "t", its); err != nil {
				t.Fatal(err)
			}
			// Re-upserted, so the tie's slots are not in insertion order.
			if _, err := s.Upsert(ctx, "t", []Item{{ID: "c", Vector: []float32{0, 1}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Upsert(ctx, "t", []Item{{ID: "c", Vector: []float32{1, 0}, Metadata: Metadata{"g": "x"}}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct{ body, want string }{
			{`{"vector":[1,0],"k":7}`, "z,a,b,c,d,e,y"},
			{`{"vector":[1,0],"k":7,"filter":{"g":"x"}}`, "z,a,b,c,d,e,y"},
			{`{"vector":[1,0],"k":3}`, "z,a,b"},
			{`{"vector":[1,0],"k":3,"filter":{"g":"x"}}`, "z,a,b"},
		} {
			if got := search(c.body); got != c.want {
				t.Errorf("round %d: search %s: %s, want %s", round, c.body, got, c.want)
			}
		}
		srv.Close()
		s.Close(ctx)
	}
}
