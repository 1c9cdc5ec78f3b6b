package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestFilterSemantics pins, over HTTP, what a filter means where DESIGN.md
// says only {"field":"value"} (ADR-091): equality of JSON type and value
// (the string "1" never matches the number 1, "true" never true; 1 and 1.0
// are one number), a list means any of its values, every field must match
// (AND), a field absent from an item never matches, and a filter never
// starves k. Objects other than a numeric range (TestRangeFilterHTTP),
// nested lists and null are 400s; metadata holds
// scalars only, so "a list containing the value" cannot arise.
func TestFilterSemantics(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	post := func(path, body string) (int, []byte) {
		t.Helper()
		resp, err := http.Post(srv.URL+IndexesPath+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if _, err := s.CreateIndex(ctx, "f", CreateIndexRequest{Dims: 8, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	var its []Item
	for i := range 3000 {
		md := Metadata{"half": i%2 == 0, "mod3": float64(i % 3), "s": fmt.Sprint(i % 3)}
		if i%200 == 7 { // 15 items carry a field the others lack
			md["rare"] = "yes"
		}
		its = append(its, Item{ID: fmt.Sprint("i", i), Vector: randVec(rnd, 8), Metadata: md})
	}
	if _, err := s.Upsert(ctx, "f", its); err != nil {
		t.Fatal(err)
	}
	ids := func(filter string, k int) []string {
		t.Helper()
		code, b := post("/f/search", fmt.Sprintf(`{"vector":[0,0,0,0,0,0,0,0],"k":%d,"filter":%s}`, k, filter))
		var sr SearchResponse
		if code != 200 || json.Unmarshal(b, &sr) != nil {
			t.Fatalf("filter %s: %d %s", filter, code, b)
		}
		var out []string
		for _, h := range sr.Results {
			out = append(out, h.ID)
		}
		sort.Strings(out)
		return out
	}
	want := func(pred func(i int) bool, k int) []string {
		var out []string
		for i := range 3000 {
			if pred(i) {
				out = append(out, fmt.Sprint("i", i))
			}
		}
		if len(out) > k {
			return nil // only the count is checked
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct {
		filter string
		k      int
		pred   func(i int) bool
	}{
		{`{"rare":"yes"}`, 100, func(i int) bool { return i%200 == 7 }},
		{`{"rare":"yes","half":false}`, 100, func(i int) bool { return i%200 == 7 && i%2 == 1 }},
		{`{"mod3":1,"s":"1","half":true,"rare":"yes"}`, 100, func(i int) bool { return i%3 == 1 && i%2 == 0 && i%200 == 7 }},
		{`{"mod3":"1","rare":"yes"}`, 100, func(int) bool { return false }},    // string vs number
		{`{"s":1,"rare":"yes"}`, 100, func(int) bool { return false }},         // number vs string
		{`{"half":"true","rare":"yes"}`, 100, func(int) bool { return false }}, // string vs bool
		{`{"mod3":1.0,"rare":"yes"}`, 100, func(i int) bool { return i%200 == 7 && i%3 == 1 }},
		{`{"mod3":[0,2],"rare":"yes"}`, 100, func(i int) bool { return i%200 == 7 && i%3 != 1 }},
		{`{"s":["1",1],"rare":"yes"}`, 100, func(i int) bool { return i%200 == 7 && i%3 == 1 }},
		{`{"missing":"x"}`, 100, func(int) bool { return false }},
		{`{"mod3":[],"rare":"yes"}`, 100, func(int) bool { return false }},
	} {
		got, w := ids(c.filter, c.k), want(c.pred, c.k)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("filter %s: %v, want %v", c.filter, got, w)
		}
	}
	// Never starved: half of the items match, or a third.
	for _, f := range []string{`{"half":true}`, `{"mod3":2}`, `{"s":["0","2"]}`} {
		for _, k := range []int{1, 10, 100, 1000} {
			if got := ids(f, k); len(got) != k {
				t.Errorf("filter %s k %d: %d results", f, k, len(got))
			}
		}
	}
	for _, f := range []string{`{"half":{"eq":true}}`, `{"mod3":[[1]]}`, `{"mod3":null}`, `{"mod3":[1,null]}`, `{"":1}`} {
		if code, b := post("/f/search", `{"vector":[0,0,0,0,0,0,0,0],"filter":`+f+`}`); code != 400 || !strings.Contains(string(b), `"kind":"invalid"`) {
			t.Errorf("filter %s: %d %s", f, code, b)
		}
	}
	for _, md := range []string{`{"tags":["a","b"]}`, `{"o":{"k":1}}`} {
		if code, b := post("/f/upsert", `{"items":[{"id":"x","vector":[0,0,0,0,0,0,0,0],"metadata":`+md+`}]}`); code != 400 {
			t.Errorf("metadata %s: %d %s", md, code, b)
		}
	}
}
