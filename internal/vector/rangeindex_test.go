package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestRangeIndexHTTP: range searches over a field of many distinct numbers
// (answered through hnsw's in-memory range index) over real HTTP
// return exactly the items a range-filtered scroll returns (the per-item
// check) and the test's own model computes — bounds equal to item values,
// gt vs gte and lt vs lte, -0 and +0, integers at 2^53 — before and after
// metadata-only changes, new vectors, deletes and new items, and after the
// store is closed and opened again from its snapshot and log (the range
// index is not stored; it is built again by the first range search).
func TestRangeIndexHTTP(t *testing.T) {
	ctx := context.Background()
	objs, dir := newObjects(t), t.TempDir()
	serve := func(s *Store) *httptest.Server {
		r := chi.NewRouter()
		Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv
	}
	s := openStore(t, objs, dir)
	srv := serve(s)
	if _, err := s.CreateIndex(ctx, "ri", CreateIndexRequest{Dims: 4, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	const p53 = 1 << 53
	special := []any{math.Copysign(0, -1), 0.0, 1.0, float64(p53), float64(p53 - 1), float64(p53 + 2), -float64(p53), 0.5, "7", true}
	model := map[string]any{} // id -> x; absent: no x
	rnd := rand.New(rand.NewPCG(5, 6))
	value := func(i int) any {
		if i%9 == 0 {
			return special[rnd.IntN(len(special))]
		}
		return float64(rnd.IntN(400)) / 4
	}
	upsert := func(its []Item) {
		t.Helper()
		if _, err := s.Upsert(ctx, "ri", its); err != nil {
			t.Fatal(err)
		}
		for _, it := range its {
			delete(model, it.ID)
			if x, ok := it.Metadata["x"]; ok {
				model[it.ID] = x
			}
		}
	}
	var its []Item
	for i := range 1200 {
		md := Metadata{"x": value(i)}
		if i%50 == 3 {
			md = Metadata{"y": 1.0}
		}
		its = append(its, Item{ID: fmt.Sprintf("r%04d", i), Vector: randVec(rnd, 4), Metadata: md})
	}
	upsert(its)

	ranges := []string{
		`{"gt":0}`, `{"gte":0}`, `{"gte":-0}`, `{"gt":-0}`, `{"lt":0}`, `{"lte":-0}`, `{"gte":-0,"lte":0}`,
		`{"gte":9007199254740992}`, `{"gt":9007199254740992}`, `{"gt":9007199254740991,"lt":9007199254740994}`,
		`{"lte":-9007199254740992}`, `{"gte":25,"lt":50}`, `{"gt":25,"lte":50}`, `{"gte":50.25,"lte":50.25}`,
		`{"gt":0.5,"lt":1}`, `{"gte":0.5,"lte":1}`, `{"lt":1e300}`, `{"gt":99.75}`, `{"gte":60,"lt":10}`,
	}
	bound := func(m map[string]float64, k string) *float64 {
		if v, ok := m[k]; ok {
			return &v
		}
		return nil
	}
	check := func(srv *httptest.Server, when string) {
		t.Helper()
		for _, rg := range ranges {
			var m map[string]float64
			if err := json.Unmarshal([]byte(rg), &m); err != nil {
				t.Fatal(err)
			}
			r := struct{ gt, gte, lt, lte *float64 }{bound(m, "gt"), bound(m, "gte"), bound(m, "lt"), bound(m, "lte")}
			var want []string
			for id, x := range model {
				f, ok := x.(float64)
				if ok && (r.gt == nil || f > *r.gt) && (r.gte == nil || f >= *r.gte) && (r.lt == nil || f < *r.lt) && (r.lte == nil || f <= *r.lte) {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			filter := `{"x":` + rg + `}`
			q, _ := json.Marshal(randVec(rnd, 4))
			resp, err := http.Post(srv.URL+IndexesPath+"/ri/search", "application/json",
				strings.NewReader(`{"vector":`+string(q)+`,"k":2000,"filter":`+filter+`}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var sr SearchResponse
			if resp.StatusCode != 200 || json.Unmarshal(b, &sr) != nil {
				t.Fatalf("%s: search %s: %d %s", when, filter, resp.StatusCode, b)
			}
			var bySearch []string
			for _, h := range sr.Results {
				bySearch = append(bySearch, h.ID)
			}
			slices.Sort(bySearch)
			code, b := getURL(t, srv.URL+IndexesPath+"/ri/items?limit=10000&filter="+url.QueryEscape(filter))
			var p ScrollResponse
			if code != 200 || json.Unmarshal(b, &p) != nil || p.Next != nil {
				t.Fatalf("%s: scroll %s: %d %s", when, filter, code, b)
			}
			var byScroll []string
			for _, it := range p.Items {
				byScroll = append(byScroll, it.ID)
			}
			if !slices.Equal(bySearch, want) || !slices.Equal(byScroll, want) {
				t.Fatalf("%s: range %s: search %d items, scroll %d, the model %d\nsearch %v\nmodel  %v", when, rg, len(bySearch), len(byScroll), len(want), bySearch, want)
			}
		}
	}
	check(srv, "built")

	// Writes after the range index was built: metadata-only changes (the
	// same vector), new vectors, deletes, new items, a field removed.
	for round := range 3 {
		var its []Item
		for i := range 150 {
			id := fmt.Sprintf("r%04d", rnd.IntN(1400))
			it, ok := s.GetItem(ctx, "ri", id)
			vec := randVec(rnd, 4)
			if ok == nil && i%2 == 0 {
				vec = it.Vector // metadata only
			}
			md := Metadata{"x": value(i)}
			if i%10 == 1 {
				md = Metadata{"z": "no x"}
			}
			if slices.ContainsFunc(its, func(o Item) bool { return o.ID == id }) {
				continue
			}
			its = append(its, Item{ID: id, Vector: vec, Metadata: md})
		}
		upsert(its)
		var del []string
		for range 60 {
			del = append(del, fmt.Sprintf("r%04d", rnd.IntN(1400)))
		}
		slices.Sort(del)
		del = slices.Compact(del)
		if _, err := s.Delete(ctx, "ri", del); err != nil {
			t.Fatal(err)
		}
		for _, id := range del {
			delete(model, id)
		}
		check(srv, fmt.Sprintf("after writes %d", round))
	}

	// Closed and opened again: the range index is built again from the
	// loaded items.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, objs, dir)
	t.Cleanup(func() { s.Close(context.Background()) })
	check(serve(s), "reopened")
}
