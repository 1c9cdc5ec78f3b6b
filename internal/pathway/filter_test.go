package pathway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// filterFixture adds five memories to user f, one per line of metadata.
func filterFixture(t *testing.T, base string) {
	t.Helper()
	for _, m := range []struct{ text, meta string }{
		{"one", `{"category":"food","price":5,"big":9007199254740993,"tags":"Spicy Thai","flag":true}`},
		{"two", `{"category":"food","price":12.5,"big":9007199254740992,"huge":1e400}`},
		{"three", `{"category":"travel","price":"5"}`},
		{"four", `{}`},
		{"five", `{"category":null}`},
	} {
		body := `{"messages":"note ` + m.text + `","user_id":"f","infer":false,"metadata":` + m.meta + `}`
		if code, out := do(t, "POST", base+pathway.MemoriesPath, body); code != 200 {
			t.Fatalf("add %s: %d %s", m.text, code, out)
		}
	}
}

// names is the sorted last words of the memories of a search or list
// answer ("note one" -> "one").
func names(t *testing.T, body string) []string {
	t.Helper()
	var res struct {
		Results []struct {
			Memory string `json:"memory"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := []string{}
	for _, r := range res.Results {
		f := strings.Fields(r.Memory)
		out = append(out, f[len(f)-1])
	}
	slices.Sort(out)
	return out
}

// TestHTTPSearchFilters: Mem0's filters (ADR-140) select by metadata in
// POST /v1/pathway/search and GET /v1/pathway/memories?filters=: equality,
// every operator, AND/OR/NOT, "*", missing keys, type mismatches (false,
// not an error) and numbers compared exactly. Before, "filters" was an
// unknown field (400) and the list an unknown parameter.
func TestHTTPSearchFilters(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	filterFixture(t, base)
	for _, c := range []struct {
		filters string
		want    string // space-separated names, sorted
	}{
		{`{"category":"food"}`, "one two"},
		{`{"category":"*"}`, "five one three two"},
		{`{"category":null}`, "five"},
		{`{"category":{"eq":"travel"}}`, "three"},
		{`{"price":{"gt":5}}`, "two"},
		{`{"price":{"gte":5}}`, "one two"},
		{`{"price":{"lt":12.5}}`, "one"},
		{`{"price":{"lte":1.25e1}}`, "one two"},
		{`{"price":{"eq":5.0}}`, "one"},
		{`{"price":5}`, "one"},
		{`{"price":"5"}`, "three"},
		{`{"price":{"ne":5}}`, "five four three two"},
		{`{"price":{"in":[5,"5"]}}`, "one three"},
		{`{"price":{"nin":[5,"5"]}}`, "five four two"},
		{`{"price":{"in":[]}}`, ""},
		{`{"tags":{"contains":"Thai"}}`, "one"},
		{`{"tags":{"contains":"thai"}}`, ""},
		{`{"tags":{"icontains":"THAI"}}`, "one"},
		{`{"price":{"contains":"5"}}`, "three"},
		{`{"big":{"gt":9007199254740992}}`, "one"},
		{`{"big":9007199254740992}`, "two"},
		{`{"big":{"lt":9.007199254740993e15}}`, "two"},
		{`{"huge":{"gt":9.99e399}}`, "two"},
		{`{"huge":{"eq":10e399}}`, "two"},
		{`{"huge":{"lt":1e99999999999999999999}}`, "two"},
		{`{"huge":{"lt":-1e-99999999999999999999}}`, ""},
		{`{"flag":true}`, "one"},
		{`{"flag":{"gt":"a"}}`, ""},
		{`{"category":{"gt":"food"}}`, "three"},
		{`{"category":{"gte":"food"}}`, "one three two"},
		{`{"AND":[{"category":"food"},{"price":{"gt":6}}]}`, "two"},
		{`{"OR":[{"category":"travel"},{"price":5}]}`, "one three"},
		{`{"NOT":[{"category":"food"}]}`, "five four three"},
		{`{"NOT":[{"category":"food"},{"category":"travel"}]}`, "five four"},
		{`{"OR":[{"AND":[{"category":"food"},{"NOT":[{"price":5}]}]},{"category":null}]}`, "five two"},
		{`{"category":"food","price":{"gte":1,"lt":10}}`, "one"},
		{`{"missing":"x"}`, ""},
		{`{"missing":"*"}`, ""},
		{`{"missing":{"ne":"x"}}`, "five four one three two"},
		{`{}`, "five four one three two"},
		{`null`, "five four one three two"},
	} {
		want := strings.Fields(c.want)
		slices.Sort(want)
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"note","user_id":"f","filters":`+c.filters+`}`)
		if got := names(t, body); code != 200 || !slices.Equal(got, want) {
			t.Errorf("search filters %s: %d %v, want %v (%s)", c.filters, code, got, want, body)
		}
		code, body = do(t, "GET", base+pathway.MemoriesPath+"?user_id=f&filters="+url.QueryEscape(c.filters), "")
		if got := names(t, body); code != 200 || !slices.Equal(got, want) {
			t.Errorf("list filters %s: %d %v, want %v (%s)", c.filters, code, got, want, body)
		}
	}
	// The scope ids in filters (Mem0 takes them there too).
	code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"note","filters":{"user_id":"f","category":"travel"}}`)
	if got := names(t, body); code != 200 || !slices.Equal(got, []string{"three"}) {
		t.Errorf("user_id in filters: %d %s", code, body)
	}
	code, body = do(t, "GET", base+pathway.MemoriesPath+"?filters="+url.QueryEscape(`{"user_id":"f","price":5}`), "")
	if got := names(t, body); code != 200 || !slices.Equal(got, []string{"one"}) {
		t.Errorf("list user_id in filters: %d %s", code, body)
	}
	code, body = do(t, "POST", base+pathway.SearchPath, `{"query":"note","user_id":"f","filters":{"user_id":"f","agent_id":"nobody"}}`)
	if got := names(t, body); code != 200 || len(got) != 0 {
		t.Errorf("agent_id in filters scopes: %d %s", code, body)
	}
	// A metadata number whose exponent has more than 1000 digits is
	// stored as given but compares with nothing (reading it would cost
	// quadratic time at every comparison); it is present.
	huge := `1e` + strings.Repeat("9", 1001)
	if code, out := do(t, "POST", base+pathway.MemoriesPath, `{"messages":"note huge","user_id":"h","infer":false,"metadata":{"n":`+huge+`}}`); code != 200 {
		t.Fatalf("add huge: %d %s", code, out)
	}
	for f, want := range map[string]int{`{"n":{"gt":0}}`: 0, `{"n":{"lt":0}}`: 0, `{"n":"*"}`: 1, `{"n":{"ne":1}}`: 1} {
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"note","user_id":"h","filters":`+f+`}`)
		if got := names(t, body); code != 200 || len(got) != want {
			t.Errorf("huge exponent, filters %s: %d %v, want %d results", f, code, got, want)
		}
	}
}

// TestHTTPSearchFiltersRefused: a bad filter is a 400 with DESIGN.md's
// error body naming its path, on search and list, and changes nothing.
func TestHTTPSearchFiltersRefused(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	filterFixture(t, base)
	deep := strings.Repeat(`{"AND":[`, pathway.MaxFilterDepth) + `{"a":1}` + strings.Repeat(`]}`, pathway.MaxFilterDepth)
	many := `{"a":{"in":[` + strings.Repeat(`1,`, pathway.MaxFilterTerms) + `1]}}`
	for _, c := range []struct{ filters, want string }{
		{`{"AND":[{"category":"food"},{"price":{"gte":[1]}}]}`, "filters.AND[1].price.gte: want a number or a string"},
		{`{"price":{"gte":true}}`, "filters.price.gte: want a number or a string, got a boolean"},
		{`{"price":{"between":[1,2]}}`, `filters.price.between: unknown operator \"between\"`},
		{`{"price":{"in":5}}`, "filters.price.in: want a list of values, got a number"},
		{`{"price":{"in":[1,[2]]}}`, "filters.price.in[1]: want a string, number, boolean or null"},
		{`{"price":{"eq":{"a":1}}}`, "filters.price.eq: want a string, number, boolean or null"},
		{`{"tags":{"contains":5}}`, "filters.tags.contains: want a string"},
		{`{"price":{}}`, "filters.price: an empty operator object"},
		{`{"AND":{}}`, "filters.AND: want a list of filter objects, got an object"},
		{`{"OR":[]}`, "filters.OR: want at least one filter object"},
		{`{"NOT":["x"]}`, "filters.NOT[0]: want a filter object, got a string"},
		{`"food"`, "filters: want an object of metadata keys, got a string"},
		{`{"tags":["a"]}`, `filters.tags: a list is not a value to equal: {\"in\": [...]}`},
		{`{"user_id":{"eq":"f"}}`, "filters.user_id: a scope id"},
		{`{"OR":[{"user_id":"g"}]}`, `filters.OR[0].user_id \"g\" differs from the user_id \"f\"`},
		{`{"NOT":[{"user_id":"g"}]}`, "filters.NOT[0].user_id: a scope id is given at the top level"},
		{`{"user_id":"g"}`, `filters.user_id \"g\" differs from user_id \"f\"`},
		{`{"user_id":"*"}`, "filters.user_id: a scope id"},
		{`{"n":{"gt":1e` + strings.Repeat("9", 1001) + `}}`, "filters.n.gt: a number with an exponent of more than 1000 digits"},
		{`{"n":{"in":[1,1e-` + strings.Repeat("9", 1001) + `]}}`, "filters.n.in[1]: a number with an exponent of more than 1000 digits"},
		{deep, "nest deeper than 32 levels"},
		{many, "more than 1024 conditions"},
	} {
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"note","user_id":"f","filters":`+c.filters+`}`)
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, c.want) {
			t.Errorf("search filters %.80s: %d %s, want 400 with %q", c.filters, code, body, c.want)
		}
		code, body = do(t, "GET", base+pathway.MemoriesPath+"?user_id=f&filters="+url.QueryEscape(c.filters), "")
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, c.want) {
			t.Errorf("list filters %.80s: %d %s, want 400 with %q", c.filters, code, body, c.want)
		}
	}
	// A delete-all takes no filters: refused, nothing deleted.
	if code, body := do(t, "DELETE", base+pathway.MemoriesPath+"?user_id=f&filters="+url.QueryEscape(`{"category":"food"}`), ""); code != 400 {
		t.Errorf("delete-all with filters: %d %s", code, body)
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=f"); len(p.Results) != 5 {
		t.Errorf("after the refusals: %d memories, want 5", len(p.Results))
	}
}

// TestHTTPSearchFiltersPages: filtering comes before ranking and paging,
// so every page is full and the cursors walk exactly the matching
// memories, in search and in the list; the typed client sends filters too.
func TestHTTPSearchFiltersPages(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t))
	base := s.URL()
	const n = 300
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"messages":"tea note %d","user_id":"p","infer":false,"metadata":{"i":%d}}`, i, i)
		if code, out := do(t, "POST", base+pathway.MemoriesPath, body); code != 200 {
			t.Fatalf("add: %d %s", code, out)
		}
	}
	const filters = `{"i":{"gte":100},"NOT":[{"i":{"in":[150,151]}}]}`
	const want = n - 100 - 2
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		body := fmt.Sprintf(`{"query":"tea note","user_id":"p","limit":30,"after":%q,"filters":%s}`, after, filters)
		code, out := do(t, "POST", base+pathway.SearchPath, body)
		if code != 200 {
			t.Fatalf("search page: %d %s", code, out)
		}
		var page struct {
			Results []struct {
				ID       string           `json:"id"`
				Metadata map[string]int64 `json:"metadata"`
			} `json:"results"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatal(err)
		}
		if page.Next != "" && len(page.Results) != 30 {
			t.Fatalf("page %d: %d results, want 30", pages, len(page.Results))
		}
		for _, r := range page.Results {
			if i := r.Metadata["i"]; i < 100 || i == 150 || i == 151 || seen[r.ID] {
				t.Fatalf("page %d: %s i=%d (seen %v)", pages, r.ID, i, seen[r.ID])
			}
			seen[r.ID] = true
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if len(seen) != want {
		t.Fatalf("search pages: %d memories, want %d", len(seen), want)
	}
	clear(seen)
	opts := pathway.ListOptions{Order: pathway.OrderID, Limit: 45, Filters: json.RawMessage(filters)}
	for {
		p, err := c.List(ctx, pathway.Scope{UserID: "p"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Results {
			seen[m.ID] = true
		}
		if opts.After = p.Next; p.Next == "" {
			break
		}
	}
	if len(seen) != want {
		t.Fatalf("list pages: %d memories, want %d", len(seen), want)
	}
	sr, err := c.Search(ctx, pathway.SearchRequest{Query: "tea", Scope: pathway.Scope{UserID: "p"}, Filters: json.RawMessage(`{"i":{"in":[7,8]}}`)})
	if err != nil || len(sr.Results) != 2 {
		t.Fatalf("client search: %+v %v", sr.Results, err)
	}
}
