package pathway_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPFiltersScopeOr: Mem0 v2's OR of scope ids
// ({"OR":[{"user_id":"a"},{"user_id":"b"}]}) was a 400 "a scope id is
// given at the top level". Search and list now cover the union of those
// scopes, each memory once and with its own ids, ANDed with the rest of
// the filters; a branch may add ids and metadata conditions of its own.
// An OR mixing objects with and without scope ids, two such ORs, and a
// branch contradicting the request's id are 400s saying what to do
// (ADR-153).
func TestHTTPFiltersScopeOr(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, m := range []struct{ body string }{
		{`{"messages":"note a1","user_id":"a","infer":false,"metadata":{"category":"food"}}`},
		{`{"messages":"note a2","user_id":"a","agent_id":"x","infer":false,"metadata":{"category":"travel"}}`},
		{`{"messages":"note b1","user_id":"b","infer":false,"metadata":{"category":"food"}}`},
		{`{"messages":"note b2","user_id":"b","agent_id":"y","infer":false}`},
		{`{"messages":"note c1","user_id":"c","infer":false,"metadata":{"category":"food"}}`},
		{`{"messages":"note x1","agent_id":"x","infer":false}`},
	} {
		if code, out := do(t, "POST", base+pathway.MemoriesPath, m.body); code != 200 {
			t.Fatalf("add %s: %d %s", m.body, code, out)
		}
	}
	type result struct {
		Memory  string `json:"memory"`
		UserID  string `json:"user_id"`
		AgentID string `json:"agent_id"`
	}
	decode := func(body string) []string {
		t.Helper()
		var res struct{ Results []result }
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, r := range res.Results {
			// Each memory keeps its own ids: "note a2" is a's, with agent x.
			out = append(out, strings.TrimPrefix(r.Memory, "note ")+"="+r.UserID+"/"+r.AgentID)
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct{ req, filters, want string }{
		{``, `{"OR":[{"user_id":"a"},{"user_id":"b"}]}`, "a1=a/ a2=a/x b1=b/ b2=b/y"},
		{``, `{"OR":[{"user_id":"a"},{"user_id":"b"}],"category":"food"}`, "a1=a/ b1=b/"},
		{``, `{"AND":[{"OR":[{"user_id":"a"},{"user_id":"c"}]},{"category":"food"}]}`, "a1=a/ c1=c/"},
		{``, `{"OR":[{"user_id":"a","category":"travel"},{"user_id":"b","agent_id":"y"}]}`, "a2=a/x b2=b/y"},
		// A memory in two branches' scopes is listed once.
		{``, `{"OR":[{"user_id":"a"},{"agent_id":"x"}]}`, "a1=a/ a2=a/x x1=/x"},
		// The request's id narrows every branch.
		{`"agent_id":"x",`, `{"OR":[{"user_id":"a"},{"user_id":"b"}]}`, "a2=a/x"},
		{``, `{"user_id":"b","OR":[{"agent_id":"y"},{"agent_id":"x"}]}`, "b2=b/y"},
		// An OR of metadata alone is as before.
		{`"user_id":"a",`, `{"OR":[{"category":"food"},{"category":"travel"}]}`, "a1=a/ a2=a/x"},
	} {
		code, out := do(t, "POST", base+pathway.SearchPath, `{"query":"note",`+c.req+`"filters":`+c.filters+`}`)
		if got := strings.Join(decode(out), " "); code != 200 || got != c.want {
			t.Errorf("search %s%s: want [%s], got %d [%s] %s", c.req, c.filters, c.want, code, got, out)
		}
		q := "?filters=" + url.QueryEscape(c.filters)
		if c.req == `"agent_id":"x",` {
			q += "&agent_id=x"
		} else if c.req == `"user_id":"a",` {
			q += "&user_id=a"
		}
		code, out = do(t, "GET", base+pathway.MemoriesPath+q, "")
		if got := strings.Join(decode(out), " "); code != 200 || got != c.want {
			t.Errorf("list %s%s: want [%s], got %d [%s] %s", c.req, c.filters, c.want, code, got, out)
		}
	}
	// Search pages over the union keep ADR-053's cursor: every memory once.
	seen := map[string]int{}
	after := ""
	for range 10 {
		code, out := do(t, "POST", base+pathway.SearchPath, `{"query":"note","limit":1,"after":"`+after+`","filters":{"OR":[{"user_id":"a"},{"user_id":"b"}]}}`)
		if code != 200 {
			t.Fatalf("page: %d %s", code, out)
		}
		var res pathway.SearchResponse
		_ = json.Unmarshal([]byte(out), &res)
		for _, r := range res.Results {
			seen[r.Memory.Memory]++
		}
		if after = res.Next; after == "" {
			break
		}
	}
	if len(seen) != 4 || seen["note a1"] != 1 || seen["note b2"] != 1 {
		t.Errorf("pages over a union: %v, want the 4 memories once each", seen)
	}
	for _, c := range []struct{ body, msg string }{
		{`{"query":"note","filters":{"OR":[{"user_id":"a"},{"category":"food"}]}}`, "filters.OR[1]: names no scope id while filters.OR[0] does"},
		{`{"query":"note","filters":{"OR":[{"user_id":"a"}],"AND":[{"OR":[{"user_id":"b"}]}]}}`, "a second OR of scope ids"},
		{`{"query":"note","user_id":"a","filters":{"OR":[{"user_id":"a"},{"user_id":"b"}]}}`, `filters.OR[1].user_id \"b\" differs from the user_id \"a\"`},
		{`{"query":"note","filters":{"NOT":[{"user_id":"a"}]}}`, `for several scopes, in each object of an OR there`},
		{`{"query":"note","filters":{"OR":[{"user_id":"a","OR":[{"user_id":"b"}]}]}}`, "filters.OR[0].OR[0].user_id: a scope id"},
		{`{"query":"note","filters":{"OR":[{"user_id":"a/b"}]}}`, "filters.OR[0]: user_id: must be printable"},
		{`{"query":"note","filters":{"OR":[]}}`, "filters.OR: want at least one filter object"},
	} {
		code, out := do(t, "POST", base+pathway.SearchPath, c.body)
		if code != 400 || !strings.Contains(out, `"kind":"invalid"`) || !strings.Contains(out, c.msg) {
			t.Errorf("search %s: want 400 %q, got %d %s", c.body, c.msg, code, out)
		}
	}
	// A delete-all still takes no filters: a union is never deleted.
	if code, out := do(t, "DELETE", base+pathway.MemoriesPath+"?filters="+url.QueryEscape(`{"OR":[{"user_id":"a"}]}`), ""); code != 400 {
		t.Errorf("delete-all with filters: %d %s", code, out)
	}
}
