package pathway_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
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

// errMessage is the kind and message of a DESIGN.md error body.
func errMessage(t *testing.T, body string) (string, string) {
	t.Helper()
	var b errs.Body
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return string(b.Error.Kind), b.Error.Message
}

// TestHTTPMetadataQueryCharacters: a NUL or another control character
// other than tab, line feed and carriage return in a metadata key or
// string value at any depth (of an add, a PUT, a trace step), in the
// search query or in a step's type or name (C1 too) is a 400 invalid
// naming the field path and the byte, and nothing is stored; bidi marks in
// free text stay allowed (ADR-102). Before, a NUL or an escape sequence in
// metadata was stored and listed as given, and a query with one was
// searched.
func TestHTTPMetadataQueryCharacters(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	base := s.URL()
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":{"a":{"b":"x\u0000y"}}}`, "metadata.a.b: holds the control character U+0000 at byte 1"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":{"tags":["ok","\u001b[31mred"]}}`, "metadata.tags[1]: holds the control character U+001B at byte 0"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":{"z":[{"n":"ab\u0085"}],"a":"ok"}}`, "metadata.z[0].n: holds the control character U+0085 at byte 2"},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":{"a.b":"\u007f"}}`, `metadata["a.b"]: holds the control character U+007F at byte 0`},
		{"POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":{"k\u0007":"v"}}`, `metadata["k\a"]: the key holds the control character U+0007 at byte 1`},
		{"POST", pathway.SearchPath, `{"query":"tea\u0000","user_id":"mq"}`, "query: holds the control character U+0000 at byte 3"},
		{"POST", pathway.SearchPath, `{"query":"\u001b]0;x\u0007tea","user_id":"mq"}`, "query: holds the control character U+001B at byte 0"},
		{"POST", pathway.TracesPath, `{"run_id":"mq","steps":[{"type":"llm","metadata":{"model":"m\u0000"}}]}`, "steps[0].metadata.model: holds the control character U+0000 at byte 1"},
		{"POST", pathway.TracesPath, `{"run_id":"mq","steps":[{"type":"llm","name":"n\u0085"}]}`, "steps[0].name: not printable UTF-8: holds the control character U+0085 at byte 1"},
		{"POST", pathway.TracesPath, `{"run_id":"mq","steps":[{"type":"l\u009bm"}]}`, "steps[0].type: not printable UTF-8: holds the control character U+009B at byte 1"},
	} {
		code, body := do(t, tc.method, base+tc.path, tc.body)
		if kind, msg := errMessage(t, body); code != 400 || kind != "invalid" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %d %s, want 400 naming %q", tc.method, tc.body, code, body, tc.want)
		}
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=mq"); len(p.Results) != 0 {
		t.Errorf("memories after refused adds: %+v", p.Results)
	}
	if code, body := do(t, "GET", base+pathway.TracesPath+"/mq", ""); code != 404 {
		t.Errorf("trace after refused appends: %d %s", code, body)
	}

	// Accepted: tab, line feed and CR in metadata strings, bidi marks and
	// right-to-left text in metadata and in a query, numbers kept exact.
	const meta = `{"note":"line 1\r\nline 2\tend","he":"שלום\u200f!","deep":{"list":["a\u202bb",1,true,null]}}`
	code, body := do(t, "POST", base+pathway.MemoriesPath, `{"text":"I like tea","user_id":"mq","metadata":`+meta+`}`)
	if code != 200 || !strings.Contains(body, `"ADD"`) {
		t.Fatalf("valid add: %d %s", code, body)
	}
	p := getMemories(t, base+pathway.MemoriesPath+"?user_id=mq")
	if len(p.Results) != 1 {
		t.Fatalf("list: %+v", p)
	}
	id := p.Results[0].ID
	_, body = do(t, "GET", base+pathway.MemoriesPath+"/"+id, "")
	var m struct{ Metadata map[string]any }
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Metadata["he"] != "שלום\u200f!" || m.Metadata["note"] != "line 1\r\nline 2\tend" {
		t.Fatalf("stored metadata: %v %s", err, body)
	}
	if code, body = do(t, "POST", base+pathway.SearchPath, `{"query":"tea\t\u200fשלום","user_id":"mq"}`); code != 200 || !strings.Contains(body, id) {
		t.Errorf("search with tab and bidi: %d %s", code, body)
	}

	// A refused PUT changes neither the text nor the metadata.
	code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes coffee","metadata":{"x":{"y":"\u0000"}}}`)
	if kind, msg := errMessage(t, body); code != 400 || kind != "invalid" || !strings.Contains(msg, "metadata.x.y: holds the control character U+0000 at byte 0") {
		t.Errorf("PUT with NUL metadata: %d %s", code, body)
	}
	if code, body = do(t, "GET", base+pathway.MemoriesPath+"/"+id, ""); code != 200 || strings.Contains(body, "coffee") || !strings.Contains(body, `"note"`) {
		t.Errorf("memory after a refused PUT: %d %s", code, body)
	}
	if code, body = do(t, "POST", base+pathway.TracesPath, `{"run_id":"mq","steps":[{"type":"tool","metadata":{"t":"a\tb"},"output":"\u001b[1mok\u001b[0m"}]}`); code != 200 {
		t.Errorf("step with a tab in metadata and ANSI output: %d %s", code, body)
	}
}

// TestHTTPOldMetadataStillLoads: a state.jsonl written before ADR-102,
// whose memory metadata holds a NUL and an escape sequence and whose step
// has a C1 in its name and a NUL in its metadata, still loads; the memory
// is listed, searched and got with its metadata as stored, a PUT of its
// text keeps the metadata, and the trace is read.
func TestHTTPOldMetadataStillLoads(t *testing.T) {
	cfg := config(t)
	path := cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	const id = "0b8f7c9e-2222-4222-8333-444455556666"
	const old = `{"op":"add","ts":"2026-01-02T03:04:05Z","memory":{"id":"` + id + `","memory":"Likes tea","hash":"x","user_id":"om","metadata":{"a":{"b":"x\u0000y"},"c":["\u001b[31mred"]},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}}
{"op":"step","ts":"2026-01-02T03:04:05Z","run_id":"om","step":{"index":0,"type":"llm","name":"n\u0085","metadata":{"k":"v\u0000"},"ts":"2026-01-02T03:04:05Z"}}
`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := start(t, cfg)
	base := s.URL()
	const stored = `"metadata":{"a":{"b":"x\u0000y"},"c":["\u001b[31mred"]}`
	code, body := do(t, "GET", base+pathway.MemoriesPath+"?user_id=om", "")
	if code != 200 || !strings.Contains(body, id) || !strings.Contains(body, stored) {
		t.Fatalf("old memory listed: %d %s", code, body)
	}
	if code, body = do(t, "POST", base+pathway.SearchPath, `{"query":"tea","user_id":"om"}`); code != 200 || !strings.Contains(body, stored) {
		t.Errorf("old memory searched: %d %s", code, body)
	}
	if code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes green tea"}`); code != 200 || !strings.Contains(body, stored) {
		t.Errorf("PUT of an old memory's text: %d %s", code, body)
	}
	if code, body = do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"Likes green tea","metadata":{"a":"clean"}}`); code != 200 || !strings.Contains(body, `"metadata":{"a":"clean"}`) {
		t.Errorf("PUT replacing an old memory's metadata: %d %s", code, body)
	}
	if code, body = do(t, "GET", base+pathway.TracesPath+"/om", ""); code != 200 || !strings.Contains(body, "\"name\":\"n\u0085\"") || !strings.Contains(body, `"k":"v\u0000"`) {
		t.Errorf("old trace: %d %s", code, body)
	}
}
