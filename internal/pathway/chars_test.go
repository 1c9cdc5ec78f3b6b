package pathway_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPControlCharacters: text that becomes a memory may not hold NUL
// or another control character but tab, line feed and carriage return,
// and an id that an add or a trace append stores may not hold controls,
// bidi or zero-width characters (a stored "alice\u202e" displays as another
// id). Each refusal is a 400 naming the field, and changes nothing
// (ADR-088).
func TestHTTPControlCharacters(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	base := s.URL()
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", pathway.MemoriesPath, `{"text":"I like tea\u0000 and cake","user_id":"cc"}`, "text: holds the control character U+0000 at byte 10"},
		{"POST", pathway.MemoriesPath, `{"messages":"I like \u0007tea","user_id":"cc"}`, "messages: holds the control character U+0007"},
		{"POST", pathway.MemoriesPath, `{"messages":[{"role":"user","content":"ok"},{"role":"user","content":"I like \u0085tea"}],"user_id":"cc"}`, "messages[1].content: holds the control character U+0085"},
		{"POST", pathway.MemoriesPath, `{"messages":[{"role":"assistant","content":"x\u001b[31m"}],"infer":false,"user_id":"cc"}`, "messages[0].content: holds the control character U+001B"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"alice\u202e"}`, "user_id: holds U+202E at byte 5"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"cc","agent_id":"\u200bbot"}`, "agent_id: holds U+200B at byte 0"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","run_id":"r\u0085"}`, "run_id: holds U+0085"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"cc\u00a0"}`, "user_id: holds U+00A0"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"cc "}`, "user_id: begins or ends with a space"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"cc\ufffd"}`, "user_id: holds U+FFFD"},
		{"POST", pathway.TracesPath, `{"run_id":"run\u2066x","steps":[{"type":"llm"}]}`, "run_id: holds U+2066"},
	} {
		code, body := do(t, tc.method, base+tc.path, tc.body)
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want 400 naming %q", tc.method, tc.body, code, body, tc.want)
		}
	}
	for _, q := range []string{"user_id=cc", "run_id=r%C2%85", "user_id=alice%E2%80%AE"} {
		if p := getMemories(t, base+pathway.MemoriesPath+"?"+q); len(p.Results) != 0 {
			t.Errorf("%s after refused adds: %+v", q, p.Results)
		}
	}
	if code, body := do(t, "GET", base+pathway.TracesPath+"/run%E2%81%A6x", ""); code != 404 {
		t.Errorf("trace of a refused append: %d %s", code, body)
	}

	// Accepted: tab, line feed, CR in text; the assistant's ANSI colours
	// when only the user's messages are mined; names in any script, inner
	// spaces and punctuation in ids.
	code, body := do(t, "POST", base+pathway.MemoriesPath, `{"messages":[{"role":"user","content":"I like tea.\r\nI live in\tOslo"},{"role":"assistant","content":"\u001b[1mnoted\u001b[0m"}],"user_id":"O’Brien José 李","agent_id":"bot-1@x.y"}`)
	if code != 200 || strings.Count(body, `"event":"ADD"`) != 2 {
		t.Fatalf("valid add: %d %s", code, body)
	}
	var id string
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id="+url.QueryEscape("O’Brien José 李")); len(p.Results) != 2 {
		t.Fatalf("list: %+v", p)
	} else {
		id = p.Results[0].ID
	}
	code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes\u0000 coffee"}`)
	if code != 400 || !strings.Contains(body, "text: holds the control character U+0000 at byte 5") {
		t.Errorf("PUT with NUL: %d %s", code, body)
	}
	if code, body = do(t, "GET", base+pathway.MemoriesPath+"/"+id, ""); code != 200 || strings.Contains(body, "coffee") {
		t.Errorf("memory after a refused PUT: %d %s", code, body)
	}
	code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes coffee\tand tea"}`)
	if code != 200 {
		t.Errorf("PUT with a tab: %d %s", code, body)
	}
}

// TestHTTPOldIDsStillLoad: a state.jsonl written before ADR-088, whose
// memory holds a NUL and whose ids hold a bidi override and a C1 control,
// still loads; its memories stay listable, searchable, editable and
// deletable, only new adds with such ids are refused.
func TestHTTPOldIDsStillLoad(t *testing.T) {
	cfg := config(t)
	path := cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	const old = `{"op":"add","ts":"2026-01-02T03:04:05Z","memory":{"id":"0b8f7c9e-1111-4222-8333-444455556666","memory":"Likes tea\u0000 a lot","hash":"x","user_id":"eve\u202e","agent_id":"a\u0085","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}}
{"op":"step","ts":"2026-01-02T03:04:05Z","run_id":"run\u2066","step":{"index":0,"type":"llm","ts":"2026-01-02T03:04:05Z"}}
`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := start(t, cfg)
	base := s.URL()
	const id = "0b8f7c9e-1111-4222-8333-444455556666"
	p := getMemories(t, base+pathway.MemoriesPath+"?user_id="+url.QueryEscape("eve\u202e")+"&agent_id="+url.QueryEscape("a\u0085"))
	if len(p.Results) != 1 || p.Results[0].Memory != "Likes tea\x00 a lot" {
		t.Fatalf("old memory: %+v", p)
	}
	code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"tea","user_id":"eve\u202e"}`)
	if code != 200 || !strings.Contains(body, id) {
		t.Errorf("search an old scope: %d %s", code, body)
	}
	if code, body = do(t, "GET", base+pathway.TracesPath+"/"+url.PathEscape("run\u2066"), ""); code != 200 || !strings.Contains(body, `"total":1`) {
		t.Errorf("old trace: %d %s", code, body)
	}
	if code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes tea a lot"}`); code != 200 {
		t.Errorf("PUT an old memory: %d %s", code, body)
	}
	if code, body = do(t, "POST", base+pathway.MemoriesPath, `{"text":"I like cake","user_id":"eve\u202e"}`); code != 400 || !strings.Contains(body, "user_id: holds U+202E") {
		t.Errorf("new add to the old scope: %d %s", code, body)
	}
	if code, body = do(t, "DELETE", base+pathway.MemoriesPath+"?user_id="+url.QueryEscape("eve\u202e"), ""); code != 200 || !strings.Contains(body, `"deleted":1`) {
		t.Errorf("delete-all of an old scope: %d %s", code, body)
	}
}
