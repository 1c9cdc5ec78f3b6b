package chatd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestNativeRoutesRefuseQueryParams: chatd's own routes take no query
// parameter (ADR-100): GET /v1/chat/providers and POST /v1/chat answer a
// 400 invalid naming the parameter (or saying the query does not parse)
// and the provider is never called. POST /v1/chat?provider=ollama was
// answered by the model of the body, ?stream=true with one JSON object.
func TestNativeRoutesRefuseQueryParams(t *testing.T) {
	e, up := withUpstream(t, "kimi", chattest.Script{Tokens: []string{"a", "b"}})
	body := `{"model":"kimi/moonshot-v1-8k","messages":[{"role":"user","content":"hi"}]}`

	get := func(path string) *http.Response {
		t.Helper()
		resp, err := e.http.Get(e.srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct {
		resp *http.Response
		what string
		want []string
	}{
		{get(chat.RouteProviders + "?verbose=1"), "providers ?verbose=1", []string{`"verbose"`, "(this route takes: none)"}},
		{get(chat.RouteProviders + "?a;b"), "providers ?a;b", []string{"query string"}},
		{e.post(t, chat.RouteChat+"?provider=ollama", body), "chat ?provider=ollama", []string{`"provider"`, "(this route takes: none)", "fields of the JSON body"}},
		{e.post(t, chat.RouteChat+"?stream=true", body), "chat ?stream=true", []string{`"stream"`}},
		{e.post(t, chat.RouteChat+"?temperature=0&model=x", body), "chat ?temperature=0&model=x", []string{`parameters "model", "temperature"`}},
		{e.post(t, chat.RouteChat+"?stream=true;x", body), "chat ?stream=true;x", []string{"query string"}},
		{e.post(t, chat.RouteChat+"?strea%zz=1", body), "chat ?strea%zz=1", []string{"query string"}},
	} {
		msg := errBody(t, tc.resp, 400, "invalid")
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q lacks %q", tc.what, msg, w)
			}
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("refused requests reached the provider %d times", n)
	}
	// Without a query both answer.
	resp := get(chat.RouteProviders)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("providers: %d", resp.StatusCode)
	}
	resp = e.post(t, chat.RouteChat, body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cr chat.Response
	if err := json.Unmarshal(b, &cr); resp.StatusCode != 200 || err != nil || cr.Message.Content != "ab" {
		t.Fatalf("chat: %d %s", resp.StatusCode, b)
	}
}

// TestCompatRoutesIgnoreQueryParams: the routes that imitate OpenAI and
// Ollama take any query and ignore it, as those services do (ADR-100): an
// Azure OpenAI client sends ?api-version= on every request, the OpenAI
// SDKs their default_query, and Ollama's server reads no query parameter.
// The provider gets the same request and the client the same answer as
// without the query — ?stream=true or ?model= change nothing either.
func TestCompatRoutesIgnoreQueryParams(t *testing.T) {
	e, up := withUpstream(t, "kimi", chattest.Script{Tokens: []string{"a", "b", "c"}})
	queries := []string{"", "?api-version=2024-06-01", "?api-version=2024-06-01&stream=true&model=ollama/other", "?a;b=%zz"}

	// GET /v1/chat/models: the same list.
	var lists []string
	for _, q := range queries {
		resp, err := e.http.Get(e.srv.URL() + chat.RouteModels + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ml chat.ModelList
		if err := json.Unmarshal(b, &ml); resp.StatusCode != 200 || err != nil || len(ml.Data) != 1 {
			t.Fatalf("models%s: %d %s", q, resp.StatusCode, b)
		}
		lists = append(lists, ml.Data[0].ID+" "+ml.Data[0].OwnedBy)
	}
	for i, l := range lists {
		if l != lists[0] {
			t.Errorf("models%s: %s, without a query %s", queries[i], l, lists[0])
		}
	}

	// POST /v1/chat/completions (not streamed; ?stream=true does not make it
	// stream) and POST /v1/chat/api/chat: the provider gets the same body,
	// the client the same answer.
	for _, rc := range []struct{ path, body string }{
		{chat.RouteCompletions, `{"model":"kimi/moonshot-v1-8k","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`},
		{chat.RouteOllamaChat, `{"model":"kimi/moonshot-v1-8k","messages":[{"role":"user","content":"hi"}],"stream":false,"options":{"temperature":0.5}}`},
	} {
		var sent [][]byte
		for _, q := range queries {
			n := len(up.Calls())
			resp := e.post(t, rc.path+q, rc.body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s%s: %d %s %s", rc.path, q, resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var content string
			if rc.path == chat.RouteCompletions {
				var c chat.Completion
				if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
					t.Fatalf("%s%s: %s", rc.path, q, b)
				}
				content = string(c.Choices[0].Message.Content)
			} else {
				var o api.ChatResponse
				if err := json.Unmarshal(b, &o); err != nil || !o.Done {
					t.Fatalf("%s%s: %s", rc.path, q, b)
				}
				content = o.Message.Content
			}
			if content != "abc" {
				t.Errorf("%s%s: content %q, want abc", rc.path, q, content)
			}
			calls := up.Calls()
			if len(calls) != n+1 || calls[n].Model != "moonshot-v1-8k" {
				t.Fatalf("%s%s: %d provider calls, want 1 more than %d (model moonshot-v1-8k)", rc.path, q, len(calls), n)
			}
			sent = append(sent, calls[n].Body)
		}
		for i, s := range sent {
			if !bytes.Equal(s, sent[0]) {
				t.Errorf("%s%s: the provider got %s, without a query %s", rc.path, queries[i], s, sent[0])
			}
		}
	}

	// The official Ollama client with a query in its base URL (a proxy's
	// token, say) sends it on every request: it still works.
	base, _ := url.Parse(e.srv.URL() + "/v1/chat?api-version=2024-06-01&token=x")
	oc := api.NewClient(base, &http.Client{Timeout: 10 * time.Second})
	stream := true
	var parts []string
	err := oc.Chat(context.Background(), &api.ChatRequest{Model: "kimi/moonshot-v1-8k", Stream: &stream,
		Messages: []api.Message{{Role: "user", Content: "hi"}}},
		func(r api.ChatResponse) error { parts = append(parts, r.Message.Content); return nil })
	if err != nil || strings.Join(parts, "") != "abc" {
		t.Fatalf("ollama client with a query in its base URL: %q %v", parts, err)
	}
}
