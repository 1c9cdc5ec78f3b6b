package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// get is a GET of path on srv: status and body.
func getURL(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestScrollHTTP: GET .../items pages through every live item in id
// order over real HTTP — default limit 100, max 10000, next null on the
// last page, with_vector, a filter (equality and range), an empty index;
// the single-item route next to it still answers; the index's count is
// what a whole scroll returns; bad parameters are 400s naming them; one
// given empty is absent.
func TestScrollHTTP(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	base := srv.URL + IndexesPath
	if _, err := s.CreateIndex(ctx, "sc", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIndex(ctx, "empty", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var all []string
	var its []Item
	for i := range 250 {
		id := fmt.Sprintf("k%d", i)
		all = append(all, id)
		md := Metadata{"i": float64(i), "odd": i%2 == 1}
		if i == 7 {
			md = nil
		}
		its = append(its, Item{ID: id, Vector: randVec(rnd, 4), Metadata: md})
	}
	its = append(its, Item{ID: "é", Vector: []float32{1, 0, 0, 0}}, Item{ID: "Z", Vector: []float32{0, 1, 0, 0}})
	all = append(all, "é", "Z")
	slices.Sort(all) // byte order: "Z" < "k..." < "é"
	if _, err := s.Upsert(ctx, "sc", its); err != nil {
		t.Fatal(err)
	}
	page := func(q string) ScrollResponse {
		t.Helper()
		code, b := getURL(t, base+"/sc/items"+q)
		var out ScrollResponse
		if code != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("GET items%s: %d %s", q, code, b)
		}
		return out
	}
	p := page("")
	if len(p.Items) != DefaultScrollLimit || p.Next == nil || *p.Next != p.Items[99].ID || p.Items[0].ID != "Z" || p.Items[0].Vector != nil {
		t.Fatalf("first page: %d items, next %v, first %+v", len(p.Items), p.Next, p.Items[0])
	}
	var walked []string
	for after := ""; ; {
		q := "?limit=33&with_vector=true"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		p := page(q)
		for _, it := range p.Items {
			walked = append(walked, it.ID)
			if len(it.Vector) != 4 {
				t.Fatalf("%s: vector %v", it.ID, it.Vector)
			}
			if it.ID == "k3" && (it.Metadata["i"] != 3.0 || it.Metadata["odd"] != true) {
				t.Fatalf("k3: metadata %v", it.Metadata)
			}
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if !slices.Equal(walked, all) {
		t.Fatalf("walk: %v\nwant %v", walked, all)
	}
	info, err := s.GetIndex(ctx, "sc")
	if err != nil || info.Count != len(walked) {
		t.Fatalf("count %d (%v), a scroll returned %d", info.Count, err, len(walked))
	}
	if p := page("?limit=10000"); len(p.Items) != len(all) || p.Next != nil {
		t.Fatalf("limit 10000: %d items next %v", len(p.Items), p.Next)
	}
	if p := page("?limit=252"); len(p.Items) != 252 || p.Next != nil {
		t.Fatalf("exactly all: %d items next %v", len(p.Items), p.Next)
	}
	if p := page("?limit=251"); len(p.Items) != 251 || p.Next == nil || *p.Next != "k99" {
		t.Fatalf("all but one: %d items next %v", len(p.Items), p.Next)
	}
	if p := page("?after=%C3%A9"); len(p.Items) != 0 || p.Next != nil {
		t.Fatalf("after the last id: %+v", p)
	}
	if p := page("?after=k2&limit=2"); len(p.Items) != 2 || p.Items[0].ID != "k20" || p.Items[1].ID != "k200" {
		t.Fatalf("after k2: %+v", p)
	}
	if p := page("?after=k1000&limit=1"); len(p.Items) != 1 || p.Items[0].ID != "k101" {
		t.Fatalf("after an id not in the index: %+v", p)
	}
	f := url.QueryEscape(`{"i":{"gte":100,"lt":110},"odd":true}`)
	if p := page("?limit=3&filter=" + f); len(p.Items) != 3 || p.Items[0].ID != "k101" || p.Items[2].ID != "k105" || p.Next == nil || *p.Next != "k105" {
		t.Fatalf("filtered: %+v", p)
	}
	if p := page("?limit=3&after=k105&filter=" + f); len(p.Items) != 2 || p.Items[1].ID != "k109" || p.Next != nil {
		t.Fatalf("filtered, second page: %+v", p)
	}
	// A parameter given empty is absent (ADR-111), alone or all together:
	// each was a 400.
	_, whole := getURL(t, base+"/sc/items")
	for _, q := range []string{"?limit=", "?after=", "?with_vector=", "?filter=", "?after=&limit=&with_vector=&filter="} {
		if code, b := getURL(t, base+"/sc/items"+q); code != 200 || string(b) != string(whole) {
			t.Errorf("items%s: %d %.200s, want the answer to items", q, code, b)
		}
	}
	code, b := getURL(t, base+"/empty/items")
	if code != 200 || string(b) != `{"items":[],"next":null}`+"\n" {
		t.Fatalf("empty index: %d %q", code, b)
	}
	if code, b := getURL(t, base+"/sc/items/k7"); code != 200 || !strings.Contains(string(b), `"id":"k7"`) {
		t.Fatalf("single item: %d %s", code, b)
	}
	if code, _ := getURL(t, base+"/nope/items"); code != 404 {
		t.Fatalf("unknown index: %d", code)
	}
	for _, tc := range []struct{ q, want string }{
		{"?limit=0", `limit "0"`},
		{"?limit=10001", `limit "10001"`},
		{"?limit=-1", `limit "-1"`},
		{"?limit=1.5", `limit "1.5"`},
		{"?limit=1&limit=2", `"limit"`},
		{"?after=%FF", "after: not valid UTF-8"},
		{"?after=" + strings.Repeat("a", 1025), "after: longer than 1024"},
		{"?with_vector=yes", `with_vector "yes"`},
		{"?offset=k1", `unknown query parameter "offset" (this route takes: after, limit, with_vector, filter); the page after an id is ?after=<id>`},
		{"?with_payload=true", "every item comes with its metadata"},
		{"?wait=true&limit=1", `unknown query parameter "wait"`},
		{"?filter=null", "filter: null"},
		{"?filter=%20", "filter: empty"},
		{"?filter=%5B%5D", "filter: the filter parameter: want an object, got a JSON array"},
		{"?filter=" + url.QueryEscape(`{"i":1} {}`), "the filter parameter has data after the JSON value"},
		{"?filter=" + url.QueryEscape(`{"i":{"between":1}}`), `range key "between"`},
		{"?filter=" + url.QueryEscape(`{"i":{}}`), "at least one of gt, gte, lt, lte"},
		{"?filter=" + url.QueryEscape(`{"i":{"gt":"1"}}`), "range gt must be a finite number"},
		{"?filter=" + url.QueryEscape(`{"i":{"gt":9007199254740993}}`), "beyond what a number holds exactly"},
		{"?filter=" + url.QueryEscape(`{"i":1,"i":2}`), "filter: "},
		{"?filter=" + url.QueryEscape("{\"a\xff\":1}"), "filter: "},
		{"?filter=" + url.QueryEscape(`{"\ud800":1}`), "filter: "},
		{"?a;b", "query string: "},
	} {
		code, b := getURL(t, base+"/sc/items"+tc.q)
		var e errs.Body
		json.Unmarshal(b, &e)
		if code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("items%s: %d %s, want a 400 saying %q", cutQ(tc.q), code, b, tc.want)
		}
	}
}

func cutQ(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestScoreThreshold: score_threshold over HTTP on each metric drops the
// hits worse than it (lower cosine or dot, higher squared l2 distance),
// keeps one equal to it, and with a filter (equality or range) still
// returns min(k, items that match and pass) — the test counts those from
// every item's exact score. A threshold that is no number is a 400.
func TestScoreThreshold(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	base := srv.URL + IndexesPath
	rnd := rand.New(rand.NewPCG(5, 6))
	const n, dims = 3000, 8
	var its []Item
	for i := range n {
		its = append(its, Item{ID: fmt.Sprintf("t%04d", i), Vector: randVec(rnd, dims), Metadata: Metadata{"x": float64(i), "cat": fmt.Sprint(i % 4)}})
	}
	its = append(its, Item{ID: "exact", Vector: []float32{1, 0, 0, 0, 0, 0, 0, 0}})
	search := func(index, body string) (int, []Result, []byte) {
		t.Helper()
		resp, err := http.Post(base+"/"+index+"/search", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var sr SearchResponse
		json.Unmarshal(b, &sr)
		return resp.StatusCode, sr.Results, b
	}
	for _, metric := range []string{"cosine", "dot", "l2"} {
		if _, err := s.CreateIndex(ctx, metric, CreateIndexRequest{Dims: dims, Metric: metric}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upsert(ctx, metric, its); err != nil {
			t.Fatal(err)
		}
		q := randVec(rnd, dims)
		qj, _ := json.Marshal(q)
		// Every item's exact score, from an exact search of all of them.
		ix, _ := s.get(ctx, metric)
		exact, err := ix.ix.ExactSearch(q, n+1, nil)
		if err != nil || len(exact) != n+1 {
			t.Fatal(err, len(exact))
		}
		better := func(a, b float64) bool {
			if metric == "l2" {
				return a <= b
			}
			return a >= b
		}
		for _, c := range []struct {
			filter string
			pass   func(i int) bool
		}{
			{"", func(int) bool { return true }},
			{`{"cat":"1"}`, func(i int) bool { return i%4 == 1 }},
			{`{"x":{"gte":100,"lt":400}}`, func(i int) bool { return i >= 100 && i < 400 }},
			{`{"x":{"lt":2990}}`, func(i int) bool { return i < 2990 }},
			{`{"x":{"gt":10},"cat":["0","3"]}`, func(i int) bool { return i > 10 && (i%4 == 0 || i%4 == 3) }},
		} {
			for _, rank := range []int{0, 5, 30, 200, 2000} {
				th := float64(exact[rank].Score)
				passing := 0
				for _, e := range exact {
					var i int
					if _, err := fmt.Sscanf(e.ID, "t%d", &i); err == nil && c.pass(i) && better(float64(e.Score), th) {
						passing++
					}
				}
				body := fmt.Sprintf(`{"vector":%s,"k":50,"ef":400,"score_threshold":%v}`, qj, th)
				if c.filter != "" {
					body = fmt.Sprintf(`{"vector":%s,"k":50,"ef":400,"score_threshold":%v,"filter":%s}`, qj, th, c.filter)
				}
				code, res, b := search(metric, body)
				if code != 200 {
					t.Fatalf("%s %s: %d %s", metric, c.filter, code, b)
				}
				if len(res) != min(50, passing) {
					t.Fatalf("%s filter %s threshold %v (rank %d): %d hits, %d match and pass", metric, c.filter, th, rank, len(res), passing)
				}
				for _, r := range res {
					if !better(float64(r.Score), th) {
						t.Fatalf("%s: hit %s score %v is worse than %v", metric, r.ID, r.Score, th)
					}
				}
			}
		}
		// Equal is kept: the item's own vector at its exact score.
		own, _ := json.Marshal(its[n].Vector)
		self, _ := ix.ix.ExactSearch(its[n].Vector, 1, nil)
		code, res, b := search(metric, fmt.Sprintf(`{"vector":%s,"k":1,"score_threshold":%v}`, own, float64(self[0].Score)))
		if code != 200 || len(res) != 1 || res[0].ID != "exact" {
			t.Fatalf("%s equal threshold: %d %s", metric, code, b)
		}
		// Beyond every score: nothing (and no error).
		far := 1e30
		if metric == "l2" {
			far = -1
		}
		if code, res, b := search(metric, fmt.Sprintf(`{"vector":%s,"score_threshold":%v}`, qj, far)); code != 200 || len(res) != 0 || !strings.Contains(string(b), `"results":[]`) {
			t.Fatalf("%s: threshold past every score: %d %s", metric, code, b)
		}
	}
	for _, bad := range []string{`"0.5"`, `true`, `1e400`, `[1]`, `{"gt":1}`} {
		code, _, b := search("cosine", `{"vector":[1,0,0,0,0,0,0,0],"score_threshold":`+bad+`}`)
		if code != 400 || !strings.Contains(string(b), "score_threshold") {
			t.Errorf("score_threshold %s: %d %s", bad, code, b)
		}
	}
	if code, res, b := search("cosine", `{"vector":[1,0,0,0,0,0,0,0],"k":3,"score_threshold":null}`); code != 200 || len(res) != 3 {
		t.Errorf("score_threshold null: %d %s", code, b)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := s.Search(ctx, "cosine", SearchRequest{Vector: []float32{1, 0, 0, 0, 0, 0, 0, 0}, ScoreThreshold: &bad}); errs.KindOf(err) != errs.Invalid {
			t.Errorf("threshold %v: %v", bad, err)
		}
	}
}

// TestRangeFilterHTTP: range filters over HTTP on search — boundaries of
// gt, gte, lt, lte, ANDed with equality and any-of fields, a field that is
// missing, a string or a bool never matching; bad ranges are 400s naming
// the field; an object that was a 400 before (ADR-091) is now a range.
func TestRangeFilterHTTP(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "r", CreateIndexRequest{Dims: 2, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	var its []Item
	for i := range 20 {
		its = append(its, Item{ID: fmt.Sprintf("r%02d", i), Vector: []float32{float32(i), 0}, Metadata: Metadata{"v": float64(i) / 2, "c": fmt.Sprint(i % 3)}})
	}
	its = append(its,
		Item{ID: "str", Vector: []float32{1, 1}, Metadata: Metadata{"v": "3"}},
		Item{ID: "bool", Vector: []float32{1, 1}, Metadata: Metadata{"v": true}},
		Item{ID: "none", Vector: []float32{1, 1}})
	if _, err := s.Upsert(ctx, "r", its); err != nil {
		t.Fatal(err)
	}
	ids := func(filter string) (int, string) {
		resp, err := http.Post(srv.URL+IndexesPath+"/r/search", "application/json", strings.NewReader(`{"vector":[0,0],"k":100,"filter":`+filter+`}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			var e errs.Body
			json.Unmarshal(b, &e)
			return resp.StatusCode, e.Error.Message
		}
		var sr SearchResponse
		json.Unmarshal(b, &sr)
		var out []string
		for _, r := range sr.Results {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return 200, strings.Join(out, ",")
	}
	for _, c := range []struct{ filter, want string }{
		{`{"v":{"gt":8}}`, "r17,r18,r19"},
		{`{"v":{"gte":8.5}}`, "r17,r18,r19"},
		{`{"v":{"gte":8}}`, "r16,r17,r18,r19"},
		{`{"v":{"lt":1}}`, "r00,r01"},
		{`{"v":{"lte":1}}`, "r00,r01,r02"},
		{`{"v":{"gt":1,"lt":3}}`, "r03,r04,r05"},
		{`{"v":{"gte":1,"lte":3,"gt":1.5}}`, "r04,r05,r06"},
		{`{"v":{"gt":3,"lt":3}}`, ""},
		{`{"v":{"gte":1.5,"lte":6},"c":"0"}`, "r03,r06,r09,r12"},
		{`{"v":{"lte":4},"c":["1","2"]}`, "r01,r02,r04,r05,r07,r08"},
		{`{"v":{"gte":-1e300}}`, "r00,r01,r02,r03,r04,r05,r06,r07,r08,r09,r10,r11,r12,r13,r14,r15,r16,r17,r18,r19"},
		{`{"c":{"gte":0}}`, ""}, // strings never in a range
		{`{"v":3}`, "r06"},      // equality on the same field stays
		{`{"v":"3"}`, "str"},
	} {
		if code, got := ids(c.filter); code != 200 || got != c.want {
			t.Errorf("filter %s: %d %s, want %s", c.filter, code, got, c.want)
		}
	}
	for _, c := range []struct{ filter, want string }{
		{`{"v":{}}`, `filter field "v": a range needs at least one of gt, gte, lt, lte`},
		{`{"v":{"range":{"gt":1}}}`, `range key "range"`},
		{`{"v":{"gt":null}}`, "range gt must be a finite number"},
		{`{"v":{"gt":[1]}}`, "range gt must be a finite number"},
		{`{"v":{"gt":"1"}}`, "range gt must be a finite number"},
		{`{"v":{"gt":1e400}}`, ""},
		{`{"v":[{"gt":1}]}`, `filter field "v"`},
	} {
		if code, got := ids(c.filter); code != 400 || !strings.Contains(got, c.want) {
			t.Errorf("filter %s: %d %s, want a 400 saying %q", c.filter, code, got, c.want)
		}
	}
}
