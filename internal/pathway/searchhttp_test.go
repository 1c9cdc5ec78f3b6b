package pathway_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPQuestionFindsFact: a compound sentence added through the route
// is one memory per fact (Mem0's add answer), and a question finds the
// fact it asks about first — also after a restart, when the memories come
// back from state.jsonl (ADR-134). Before, the add was one memory and
// "Where does Alice live?" ranked "Bob is married to Carol" first.
func TestHTTPQuestionFindsFact(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg)
	code, body := do(t, "POST", s.URL()+pathway.MemoriesPath,
		`{"text":"Alice lives in Lisbon and works as a nurse.","user_id":"u"}`)
	if code != 200 || strings.Count(body, `"event":"ADD"`) != 2 ||
		!strings.Contains(body, `"memory":"Alice lives in Lisbon"`) || !strings.Contains(body, `"memory":"Alice works as a nurse"`) {
		t.Fatalf("add: %d %s", code, body)
	}
	for _, text := range []string{"Bob is married to Carol.", "Bob lives in Toronto.", "Alice is 34 years old.",
		"Alice has a cat named Whiskers.", "My wife's name is Julia."} {
		if code, body := do(t, "POST", s.URL()+pathway.MemoriesPath, `{"text":"`+text+`","user_id":"u"}`); code != 200 {
			t.Fatalf("add %q: %d %s", text, code, body)
		}
	}
	ask := func(c *pathway.Client, when string) {
		for q, want := range map[string]string{
			"Where does Alice live?":           "Alice lives in Lisbon",
			"What is Alice's job?":             "Alice works as a nurse",
			"What does Alice do for a living?": "Alice works as a nurse",
			"Does Alice have any pets?":        "Alice has a cat named Whiskers",
		} {
			sr, err := c.Search(ctx, pathway.SearchRequest{Query: q, Scope: pathway.Scope{UserID: "u"}, Limit: 3})
			if err != nil || len(sr.Results) == 0 || sr.Results[0].Memory.Memory != want {
				t.Errorf("%s: search %q: %+v %v, want %q first", when, q, sr.Results, err, want)
			}
		}
	}
	ask(c, "before restart")
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, c = start(t, cfg)
	ask(c, "after restart")
}
