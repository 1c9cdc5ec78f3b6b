package pathway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway"
)

// TestHTTPUnknownQueryParams: every pathwayd route refuses a query
// parameter it does not take with a 400 invalid naming it and the ones it
// takes, and changes nothing (ADR-097). A Mem0-style ?page=2 answered the
// first page, ?limt=5 the default 100 memories, POST /memories?user_id=x
// stored under the body's ids, DELETE /memories/{id}?confirm=false
// deleted. Mem0's page/page_size are told to use the cursor. The typed
// client, with every option it has, is still answered.
func TestHTTPUnknownQueryParams(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t))
	base := s.URL()
	for i := 0; i < 3; i++ {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"u","infer":false,"text":"note `+string(rune('a'+i))+`"}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	appendSteps(t, base, "r", 3)
	id := getMemories(t, base+pathway.MemoriesPath+"?user_id=u").Results[0].ID
	mem := pathway.MemoriesPath + "/" + id
	const (
		list  = "user_id, agent_id, run_id, limit, order, after, filters"
		paged = "after, limit"
	)
	for _, tc := range []struct {
		method, path, body string
		params             []string // named in the message
		takes, hint        string
	}{
		{"GET", pathway.MemoriesPath + "?user_id=u&page=2", "", []string{"page"}, list, "pathwayd pages with a cursor"},
		{"GET", pathway.MemoriesPath + "?user_id=u&page=1&page_size=1", "", []string{"page", "page_size"}, list, "after=<the previous answer's next>"},
		{"GET", pathway.MemoriesPath + "?user_id=u&limt=1", "", []string{"limt"}, list, ""},
		{"GET", pathway.MemoriesPath + "?user_id=u&app_id=x", "", []string{"app_id"}, list, ""},
		{"POST", pathway.MemoriesPath + "?user_id=v", `{"user_id":"u","infer":false,"text":"note z"}`, []string{"user_id"}, "none", "JSON body"},
		{"DELETE", pathway.MemoriesPath + "?user_id=u&page_size=1", "", []string{"page_size"}, "user_id, agent_id, run_id", ""},
		{"GET", mem + "?fields=memory", "", []string{"fields"}, "none", ""},
		{"PUT", mem + "?metadata=x", `{"text":"changed"}`, []string{"metadata"}, "none", "JSON body"},
		{"DELETE", mem + "?confirm=false", "", []string{"confirm"}, "none", ""},
		{"GET", mem + "/history?page=2", "", []string{"page"}, paged, ""},
		{"GET", mem + "/history?limt=1", "", []string{"limt"}, paged, ""},
		{"POST", pathway.SearchPath + "?user_id=u", `{"query":"note","user_id":"u"}`, []string{"user_id"}, "none", "JSON body"},
		{"POST", pathway.TracesPath + "?run_id=q", `{"run_id":"r","steps":[{"type":"tool"}]}`, []string{"run_id"}, "none", "JSON body"},
		{"GET", pathway.TracesPath + "/r?offset=1", "", []string{"offset"}, paged, ""},
		{"GET", pathway.TracesPath + "/r?lim%69t=1&x&y=", "", []string{"x", "y"}, paged, ""}, // %69 is i: limit is known
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := do(t, tc.method, base+tc.path, tc.body)
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			word := "parameter"
			if len(tc.params) > 1 {
				word = "parameters"
			}
			want := "unknown query " + word + ` "` + strings.Join(tc.params, `", "`) + `" (this route takes: ` + tc.takes + ")"
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, want) || !strings.Contains(b.Error.Message, tc.hint) || b.Error.RequestID == "" {
				t.Fatalf("%d %s, want a 400 saying %q and %q", code, body, want, tc.hint)
			}
		})
	}
	// A query that does not parse is refused too: net/url dropped the pair
	// (page=2 with a ';', a bad escape) and the rest was answered.
	for _, q := range []string{"user_id=u;page=2", "user_id=u&li%zzmit=1"} {
		code, body := do(t, "GET", base+pathway.MemoriesPath+"?"+q, "")
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, "query string: ") {
			t.Errorf("GET ?%s: %d %s, want a 400 saying the query string does not parse", q, code, body)
		}
	}
	// Nothing changed.
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=u&"); len(p.Results) != 3 {
		t.Fatalf("after the refused requests: %+v, want the 3 memories", p)
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=v"); len(p.Results) != 0 {
		t.Fatalf("v: %+v", p)
	}
	if m, err := c.Get(ctx, id); err != nil || m.Memory == "changed" {
		t.Fatalf("memory after the refused PUT and DELETE: %+v %v", m, err)
	}
	if tr, err := c.Trace(ctx, "r", pathway.TraceOptions{}); err != nil || tr.Total != 3 {
		t.Fatalf("trace after the refused append: %+v %v", tr, err)
	}

	// The typed client sends only what the routes take.
	sc := pathway.Scope{UserID: "u"}
	for _, o := range []pathway.ListOptions{{Limit: 1, Order: pathway.OrderID, After: "0"}, {Limit: 2}, {Order: pathway.OrderRecent}} {
		if _, err := c.List(ctx, sc, o); err != nil {
			t.Fatalf("client List %+v: %v", o, err)
		}
	}
	if _, err := c.History(ctx, id, pathway.HistoryOptions{After: "0", Limit: 5}); err != nil {
		t.Fatalf("client History: %v", err)
	}
	if _, err := c.Trace(ctx, "r", pathway.TraceOptions{After: "0", Limit: 1}); err != nil {
		t.Fatalf("client Trace: %v", err)
	}
	if _, err := c.Search(ctx, pathway.SearchRequest{Query: "note", Scope: sc, Limit: 1}); err != nil {
		t.Fatalf("client Search: %v", err)
	}
	if _, err := c.Update(ctx, id, pathway.UpdateRequest{Text: "note b2"}); err != nil {
		t.Fatalf("client Update: %v", err)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatalf("client Delete: %v", err)
	}
	if n, err := c.DeleteAll(ctx, pathway.Scope{UserID: "u", AgentID: "", RunID: ""}); err != nil || n != 2 {
		t.Fatalf("client DeleteAll: %d %v", n, err)
	}
}
