package chatd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// The request bodies below are the bytes the official openai npm SDK (v6)
// sends for the calls named beside them (seen on the wire in the ADR-114
// audit); the ollama-js one likewise.

// openAIErr is an error answer's body on an OpenAI-compatible route, as a
// raw map so that a missing key and a null one differ.
func openAIErr(t *testing.T, resp *http.Response) (status int, e map[string]any, raw string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return resp.StatusCode, body["error"], string(b)
}

// wantOpenAIErr checks DESIGN.md's fields and OpenAI's type, code and
// param (nil = JSON null, which must be present).
func wantOpenAIErr(t *testing.T, what string, resp *http.Response, status int, kind, typ string, code, param any) {
	t.Helper()
	got, e, raw := openAIErr(t, resp)
	if got != status || e["kind"] != kind || e["message"] == "" || e["request_id"] == "" || e["request_id"] == nil {
		t.Fatalf("%s: DESIGN.md's fields: %d %s, want %d kind %s", what, got, raw, status, kind)
	}
	for _, k := range []string{"type", "code", "param"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("%s: no %q in %s (openai SDKs read err.%s)", what, k, raw, k)
		}
	}
	if e["type"] != typ || e["code"] != code || e["param"] != param {
		t.Fatalf("%s: type/code/param = %v/%v/%v in %s, want %v/%v/%v", what, e["type"], e["code"], e["param"], raw, typ, code, param)
	}
}

// TestOpenAIErrorFields: on the OpenAI-compatible routes an error carried
// DESIGN.md's kind, message and request_id only, so openai-node's
// err.type, err.code and err.param were undefined (ADR-114's audit). They
// now carry OpenAI's type, code and param beside them (ADR-119); the
// native route keeps DESIGN.md's body as it was.
func TestOpenAIErrorFields(t *testing.T) {
	e, _ := withUpstream(t, "ollama", chattest.Script{FailFirst: 100, FailStatus: 500})

	for _, route := range []string{chat.RouteCompletions, chat.RouteBaseCompletions} {
		// chat.completions.create({model, messages, n: 2})
		wantOpenAIErr(t, route+" n=2", e.post(t, route,
			`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"n":2}`),
			400, "invalid", "invalid_request_error", nil, "n")
		// messages: []
		wantOpenAIErr(t, route+" empty messages", e.post(t, route,
			`{"model":"ollama/llama3.2","messages":[]}`),
			400, "invalid", "invalid_request_error", nil, "messages")
		// an image part, as openai-node sends it
		wantOpenAIErr(t, route+" image part", e.post(t, route,
			`{"model":"ollama/llama3.2","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`),
			400, "invalid", "invalid_request_error", nil, "messages[0].content[1]")
		// a body that is not JSON names no field
		wantOpenAIErr(t, route+" bad JSON", e.post(t, route, `{"model":`),
			400, "invalid", "invalid_request_error", nil, nil)
		// a provider chatd knows but has not registered: the model is not served
		wantOpenAIErr(t, route+" unregistered provider", e.post(t, route,
			`{"model":"kimi/k2","messages":[{"role":"user","content":"hi"}]}`),
			404, "not_found", "invalid_request_error", "model_not_found", nil)
		// the upstream fails (HTTP 500 every time): chatd's 502
		wantOpenAIErr(t, route+" upstream 500", e.post(t, route,
			`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`),
			502, "unavailable", "server_error", nil, nil)
		// ...streamed: the error comes before the first byte, as a body
		wantOpenAIErr(t, route+" upstream 500 streamed", e.post(t, route,
			`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true}`),
			502, "unavailable", "server_error", nil, nil)
	}
	// client.models.retrieve("nope")
	resp, err := e.http.Get(e.srv.URL() + chat.RouteModels + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	wantOpenAIErr(t, "models.retrieve(nope)", resp, 404, "not_found", "invalid_request_error", "model_not_found", nil)

	// The native route keeps DESIGN.md's body: no OpenAI fields.
	_, ne, raw := openAIErr(t, e.post(t, chat.RouteChat, `{"messages":[]}`))
	if _, ok := ne["type"]; ok || ne["kind"] != "invalid" {
		t.Fatalf("native route's error body changed: %s", raw)
	}
}

// TestOpenAIStreamErrorType: an error after the first token is the
// stream's error event; its type was DESIGN.md's kind ("unavailable"),
// which is no OpenAI type, and it had no code or param; it is the OpenAI
// routes' error body (type "server_error", code and param null) and kind
// stays.
func TestOpenAIStreamErrorType(t *testing.T) {
	e, _ := withUpstream(t, "ollama", chattest.Script{Tokens: []string{"a", "b", "c"}, BreakAfter: 1})
	resp := e.post(t, chat.RouteBaseCompletions,
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	defer resp.Body.Close()
	evs, _ := readSSE(t, resp.Body, nil)
	var last struct {
		Error map[string]any `json:"error"`
	}
	if len(evs) == 0 || json.Unmarshal([]byte(evs[len(evs)-1].data), &last) != nil || last.Error == nil {
		t.Fatalf("no error event in %+v", evs)
	}
	_, hasCode := last.Error["code"]
	_, hasParam := last.Error["param"]
	if last.Error["type"] != "server_error" || last.Error["kind"] != "unavailable" || last.Error["message"] == "" ||
		!hasCode || !hasParam || last.Error["code"] != nil || last.Error["param"] != nil {
		t.Fatalf("error event %v", last.Error)
	}
}

// TestModelsRetrieve: client.models.retrieve(id) was a 404 "no route"
// (ADR-114). openai-node escapes the id's slash (ollama%2Fllama3.2),
// openai-python sends it as is; both get the models list's entry.
func TestModelsRetrieve(t *testing.T) {
	e, _ := withUpstream(t, "ollama", chattest.Script{})

	resp, err := e.http.Get(e.srv.URL() + chat.RouteModels)
	if err != nil {
		t.Fatal(err)
	}
	var ml chat.ModelList
	json.NewDecoder(resp.Body).Decode(&ml)
	resp.Body.Close()
	if len(ml.Data) != 1 {
		t.Fatalf("models: %+v", ml)
	}
	for _, path := range []string{"/v1/chat/models/ollama%2Fllama3.2", "/v1/chat/models/ollama/llama3.2"} {
		resp, err := e.http.Get(e.srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil || len(m) != 4 || m["id"] != "ollama/llama3.2" ||
			m["object"] != "model" || m["owned_by"] != "ollama" || m["created"] != float64(ml.Data[0].Created) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	// An unknown model, and one of another provider with the same name.
	for _, path := range []string{"/v1/chat/models/llama3.2", "/v1/chat/models/openrouter%2Fllama3.2"} {
		resp, err := e.http.Get(e.srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		wantOpenAIErr(t, path, resp, 404, "not_found", "invalid_request_error", "model_not_found", nil)
	}
}

// TestCompletionModelNamesProvider: an answer to model "ollama/llama3.2"
// said "model": "llama3.2", a name chatd does not list (ADR-114). It says
// "ollama/llama3.2", the /v1/chat/models id, streamed or not, also when
// the request left the model to chatd (LiteLLM's Ollama answers say
// "ollama/<model>" too); so does the Ollama route.
func TestCompletionModelNamesProvider(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})

	for _, body := range []string{
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"","messages":[{"role":"user","content":"hi"}]}`,
	} {
		resp := e.post(t, chat.RouteBaseCompletions, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var c chat.Completion
		if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil || c.Model != "ollama/llama3.2" {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	resp := e.post(t, chat.RouteBaseCompletions,
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	defer resp.Body.Close()
	evs, _ := readSSE(t, resp.Body, nil)
	_, cs := chunks(t, evs)
	for _, c := range cs {
		if c.Model != "ollama/llama3.2" {
			t.Fatalf("chunk model %q", c.Model)
		}
	}
	// The Ollama route answers the same name (Ollama answers the name it
	// was asked for): ollama.chat({model, messages, stream: false}), then
	// streamed.
	for _, body := range []string{
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false}`,
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true}`,
	} {
		resp := e.post(t, chat.RouteOllamaChat, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for _, l := range lines {
			var o chat.OllamaChatResponse
			if resp.StatusCode != 200 || json.Unmarshal([]byte(l), &o) != nil || o.Model != "ollama/llama3.2" {
				t.Fatalf("Ollama route %s: %d %s", body, resp.StatusCode, b)
			}
		}
	}
	// What went upstream is the upstream's own name.
	for _, c := range up.Calls() {
		if c.Model != "llama3.2" {
			t.Fatalf("upstream got model %q", c.Model)
		}
	}
}
