package chatd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
)

// TestOllamaInterleavedToolCalls: Ollama streams text and whole tool calls
// in any order — text, a line with two calls, more text, a line with one
// call, then done — and numbers function.index within each line (0, 1,
// then 0 again). The OpenAI route relays them in the order they came,
// each call once with its own index (0, 1, 2: what openai-node and
// openai-python accumulate calls by), id, type and name, text between
// them as content deltas, finish_reason "tool_calls"; the whole answer
// has the three calls in order and all the text (ADR-114's audit with the
// real SDKs; a decision's test: it passed before).
func TestOllamaInterleavedToolCalls(t *testing.T) {
	line := func(w io.Writer, content string, done bool, calls ...api.ToolCall) {
		r := api.ChatResponse{Model: "m", CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", Content: content, ToolCalls: calls}, Done: done}
		if done {
			r.DoneReason = "stop"
			r.Metrics = api.Metrics{PromptEvalCount: 11, EvalCount: 5}
		}
		b, _ := json.Marshal(r)
		w.Write(append(b, '\n'))
		w.(http.Flusher).Flush()
	}
	call := func(i int, name, key, val string) api.ToolCall {
		args := api.NewToolCallFunctionArguments()
		args.Set(key, val)
		return api.ToolCall{Function: api.ToolCallFunction{Index: i, Name: name, Arguments: args}}
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-ndjson")
		line(w, "Let me check. ", false)
		line(w, "", false, call(0, "get_weather", "city", "Paris"), call(1, "get_weather", "city", "Berlin"))
		line(w, "And time. ", false)
		line(w, "", false, call(0, "get_time", "tz", "UTC"))
		line(w, "", true)
	}))
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "ollama", up.URL)
	e := start(t, cfg)
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}]`
	want := []struct{ name, args string }{{"get_weather", `{"city":"Paris"}`}, {"get_weather", `{"city":"Berlin"}`}, {"get_time", `{"tz":"UTC"}`}}

	// Streamed, as openai-node sends it.
	resp := e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],`+tools+`,"stream":true}`)
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	content, cs := chunks(t, evs)
	var order []string // what came, in order: "text" or "call N"
	type acc struct{ id, typ, name, args string }
	calls := map[int]*acc{}
	finish := ""
	for _, c := range cs {
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				order = append(order, "text")
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil {
					t.Fatalf("a tool_calls delta without index: %+v", tc)
				}
				a := calls[*tc.Index]
				if a == nil {
					a = &acc{}
					calls[*tc.Index] = a
					order = append(order, "call "+itoa(*tc.Index))
				}
				a.id += tc.ID
				a.typ += tc.Type
				a.name += tc.Function.Name
				a.args += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if !done || content != "Let me check. And time. " || finish != "tool_calls" ||
		strings.Join(order, ",") != "text,call 0,call 1,text,call 2" || len(calls) != 3 {
		t.Fatalf("done=%v content=%q finish=%q order=%v calls=%d", done, content, finish, order, len(calls))
	}
	ids := map[string]bool{}
	for i, w := range want {
		a := calls[i]
		if a.name != w.name || a.args != w.args || a.typ != "function" || !strings.HasPrefix(a.id, "call_") || ids[a.id] {
			t.Fatalf("call %d: %+v, want %s %s with its own id", i, a, w.name, w.args)
		}
		ids[a.id] = true
	}

	// Whole, as openai-node sends it.
	resp = e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],`+tools+`}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var comp struct {
		Choices []struct {
			Message struct {
				Content   string `json:"content"`
				ToolCalls []struct {
					ID       string `json:"id"`
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if json.Unmarshal(b, &comp) != nil || len(comp.Choices) != 1 || comp.Choices[0].Message.Content != "Let me check. And time. " ||
		comp.Choices[0].FinishReason != "tool_calls" || len(comp.Choices[0].Message.ToolCalls) != 3 {
		t.Fatalf("whole answer: %s", b)
	}
	for i, w := range want {
		if tc := comp.Choices[0].Message.ToolCalls[i]; tc.Function.Name != w.name || tc.Function.Arguments != w.args {
			t.Fatalf("whole answer call %d: %+v, want %s %s", i, tc, w.name, w.args)
		}
	}
}
