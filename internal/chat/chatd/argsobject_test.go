package chatd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
)

// TestToolArgumentsAsObject (ADR-113): an OpenAI-compatible upstream that
// sends a tool call's function.arguments as a JSON object instead of a
// string holding one (some OpenAI-compatible servers and proxies do)
// answered: chatd passes the object on as its JSON text, streamed, not
// streamed and in a whole JSON answer, as LiteLLM and openai-python users
// read it (a string they json.loads). Before: the stream failed as an
// "undecodable SSE chunk" (a 502 after every provider).
func TestToolArgumentsAsObject(t *testing.T) {
	var whole atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if whole.Load() { // a server that ignores stream=true
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,`+
				`"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city": "Paris", "unit":"c"}}}]},"finish_reason":"tool_calls"}],`+
				`"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		const head = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":`
		io.WriteString(w, head+`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city": "Paris", "unit":"c"}}}]},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, head+`{},"logprobs":null,"finish_reason":"tool_calls"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "kimi", up.URL+"/v1")
	e := start(t, cfg)
	body := map[string]any{"model": "kimi/m", "messages": userMsg("weather in Paris?"), "tools": rawTools()}
	const want = `{"city":"Paris","unit":"c"}`

	for _, w := range []bool{false, true} {
		whole.Store(w)
		resp := e.post(t, chat.RouteCompletions, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var comp chat.Completion
		if resp.StatusCode != 200 || json.Unmarshal(b, &comp) != nil || len(comp.Choices) != 1 || comp.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("whole=%v: %d %s", w, resp.StatusCode, b)
		}
		var calls []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"` // a string, as openai-python wants it
			} `json:"function"`
		}
		if err := json.Unmarshal(comp.Choices[0].Message.ToolCalls, &calls); err != nil || len(calls) != 1 ||
			calls[0].ID != "call_1" || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != want {
			t.Fatalf("whole=%v: tool_calls %s (%v)", w, comp.Choices[0].Message.ToolCalls, err)
		}

		r, err := e.client.Chat(t.Context(), chat.Request{Model: "kimi/m", Messages: userMsg("weather in Paris?"), Tools: []chat.Tool{{Type: "function",
			Function: chat.ToolFunction{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}}})
		if err != nil || len(r.Message.ToolCalls) != 1 || string(r.Message.ToolCalls[0].Function.Arguments) != want || r.DoneReason != "tool_calls" {
			t.Fatalf("whole=%v: native %v %+v", w, err, r.Message.ToolCalls)
		}
	}

	whole.Store(false)
	resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/m", "messages": userMsg("weather in Paris?"), "tools": rawTools(), "stream": true})
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	_, cs := chunks(t, evs)
	var args strings.Builder
	for _, c := range cs {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				args.WriteString(tc.Function.Arguments)
			}
		}
	}
	if !done || args.String() != want {
		t.Fatalf("streamed: done=%v arguments %q, events %v", done, args.String(), evs)
	}
}
