package pathway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPSearchTopK: Mem0 platform v2's search takes top_k where the OSS
// search takes limit; top_k was a 400 unknown field. It is the same as
// limit; both given and different is a 400 naming both. rerank false is
// accepted; rerank true is a 400 saying there is no reranker (ignoring it
// would answer an unreranked list as if reranked). threshold applies on
// the score's scale (ADR-153).
func TestHTTPSearchTopK(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, txt := range []string{"I like pizza", "I live in Paris", "I play chess", "I speak Japanese", "I drive a red car"} {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"text":"`+txt+`","user_id":"k"}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	search := func(extra string) pathway.SearchResponse {
		t.Helper()
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"Where do I live?","user_id":"k"`+extra+`}`)
		if code != 200 {
			t.Fatalf("search %s: %d %s", extra, code, body)
		}
		var res pathway.SearchResponse
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	all := search("")
	if len(all.Results) != 5 || all.Results[0].Memory.Memory != "Lives in Paris" {
		t.Fatalf("no limit: %+v", all.Results)
	}
	for _, extra := range []string{`,"top_k":2`, `,"limit":2`, `,"top_k":2,"limit":2`, `,"top_k":2,"rerank":false`} {
		res := search(extra)
		if len(res.Results) != 2 || res.Results[0].ID != all.Results[0].ID || res.Results[1].ID != all.Results[1].ID || res.Next == "" {
			t.Errorf("%s: want the best 2 and a next, got %+v next %q", extra, res.Results, res.Next)
		}
	}
	// threshold: the score's scale, the results scoring at least it.
	cut := all.Results[1].Score
	if res := search(`,"top_k":5,"threshold":` + jsonFloat(cut)); len(res.Results) != 2 {
		t.Errorf("threshold %v: %d results, want 2", cut, len(res.Results))
	}
	for _, c := range []struct{ extra, msg string }{
		{`,"top_k":2,"limit":3`, "limit 3 and top_k 2 differ"},
		{`,"top_k":1001`, "top_k 1001: want 1..1000"},
		{`,"top_k":-1`, "top_k -1"},
		{`,"top_k":"2"`, "top_k"},
		{`,"rerank":true`, "rerank: true: pathwayd has no reranking model"},
		{`,"rerank":"yes"`, "rerank"},
	} {
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"Where do I live?","user_id":"k"`+c.extra+`}`)
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, c.msg) {
			t.Errorf("%s: want 400 %q, got %d %s", c.extra, c.msg, code, body)
		}
	}
}

func jsonFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestHTTPSearchFields: Mem0 platform v2's fields (the fields of each
// result to answer) was a 400 unknown field; the named fields are now the
// only ones of each result, ranking and paging unchanged, and an unknown
// name is a 400 listing the known ones (ADR-153).
func TestHTTPSearchFields(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, txt := range []string{"I like pizza", "I live in Paris", "I play chess"} {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"text":"`+txt+`","user_id":"f","metadata":{"k":1}}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"Where do I live?","user_id":"f","top_k":2,"fields":["memory","score","agent_id"]}`)
	var res struct {
		Results []map[string]any `json:"results"`
		Next    string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil {
		t.Fatalf("fields: %d %s", code, body)
	}
	if len(res.Results) != 2 || res.Next == "" || res.Results[0]["memory"] != "Lives in Paris" {
		t.Fatalf("fields: %s", body)
	}
	for _, r := range res.Results {
		if _, ok := r["score"].(float64); !ok || len(r) != 2 {
			t.Errorf("fields [memory score agent_id]: a result %v, want memory and score only (no agent_id was stored)", r)
		}
	}
	for _, c := range []struct{ extra, msg string }{
		{`,"fields":["memory","text"]}`, `fields[1] \"text\": want one of id, memory`},
		{`,"fields":"memory"}`, "fields"},
	} {
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"x","user_id":"f"`+c.extra)
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, c.msg) {
			t.Errorf("%s: want 400 %q, got %d %s", c.extra, c.msg, code, body)
		}
	}
}
