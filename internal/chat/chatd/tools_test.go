package chatd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// The tools, history and calls the tool tests use.
const (
	weatherTool = `{"type":"function","function":{"name":"get_weather","description":"Weather in a city",` +
		`"parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"],"additionalProperties":false}}}`
	timeTool  = `{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}`
	weatherAr = `{"city":"Paris","unit":"c"}`
	timeAr    = `{"tz":"Europe/Paris"}`
)

var scriptedCalls = []chattest.ToolCall{{Name: "get_weather", Arguments: weatherAr}, {Name: "get_time", Arguments: timeAr}}

// openaiHistory is an OpenAI conversation with one finished tool round.
func openaiHistory() []map[string]any {
	return []map[string]any{
		{"role": "user", "content": "Weather in Rome, then Paris?"},
		{"role": "assistant", "content": nil, "tool_calls": []map[string]any{
			{"id": "call_rome", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Rome"}`}}}},
		{"role": "tool", "tool_call_id": "call_rome", "content": `{"temp":21}`},
	}
}

func rawTools() []json.RawMessage {
	return []json.RawMessage{json.RawMessage(weatherTool), json.RawMessage(timeTool)}
}

// accumulated is what openai-go's ChatCompletionAccumulator (and
// openai-python's stream helper) builds from delta.tool_calls: by index,
// id/type/name from the first piece, arguments concatenated.
type accumulated struct {
	id, typ, name, args string
	pieces              int
}

// TestToolCallsOpenAIRoute drives POST /v1/chat/completions with tools and
// a tool round in the history over both upstream protocols, streamed and
// not: the calls come back in OpenAI's shapes (delta pieces by index, ids,
// type function, finish_reason tool_calls, [DONE]), and the upstream got
// the tools, tool_choice and history in its own shape.
func TestToolCallsOpenAIRoute(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: []string{}, ToolCalls: scriptedCalls})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			body := map[string]any{"model": u.name + "/m1", "messages": openaiHistory(), "tools": rawTools(), "tool_choice": "auto"}

			// Streamed.
			body["stream"] = true
			resp := e.post(t, chat.RouteCompletions, body)
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			if !done {
				t.Fatal("no [DONE]")
			}
			_, cs := chunks(t, evs)
			if cs[0].Choices[0].Delta.Role != "assistant" {
				t.Fatalf("first chunk: %s", evs[0].data)
			}
			acc := map[int]*accumulated{}
			var finish string
			for i, c := range cs {
				for _, ch := range c.Choices {
					if ch.FinishReason != nil {
						finish = *ch.FinishReason
					}
					for _, tc := range ch.Delta.ToolCalls {
						if tc.Index == nil {
							t.Fatalf("tool call piece without index: %s", evs[i].data)
						}
						a := acc[*tc.Index]
						if a == nil {
							a = &accumulated{}
							acc[*tc.Index] = a
							if tc.ID == "" || tc.Type != "function" || tc.Function.Name == "" {
								t.Fatalf("a call's first piece lacks id, type or name: %s", evs[i].data)
							}
						} else if tc.ID != "" || tc.Function.Name != "" {
							t.Fatalf("id or name repeated on a later piece: %s", evs[i].data)
						}
						if tc.ID != "" {
							a.id, a.typ = tc.ID, tc.Type
						}
						a.name += tc.Function.Name
						a.args += tc.Function.Arguments
						a.pieces++
					}
				}
			}
			if finish != "tool_calls" || len(acc) != 2 {
				t.Fatalf("finish %q, calls %v", finish, acc)
			}
			for i, want := range scriptedCalls {
				a := acc[i]
				if a == nil || a.name != want.Name || !sameJSON(a.args, want.Arguments) || !strings.HasPrefix(a.id, "call_") {
					t.Fatalf("call %d = %+v, want %+v", i, a, want)
				}
				// The OpenAI upstream's argument fragments are relayed as
				// they came (name piece + 3 fragments), not joined.
				if u.name == "openrouter" && a.pieces != 4 {
					t.Fatalf("call %d came in %d pieces, want 4", i, a.pieces)
				}
			}
			if acc[0].id == acc[1].id {
				t.Fatalf("two calls share id %s", acc[0].id)
			}

			// Not streamed.
			body["stream"] = false
			resp = e.post(t, chat.RouteCompletions, body)
			var raw struct {
				Choices []struct {
					Message struct {
						Role      string          `json:"role"`
						Content   *string         `json:"content"`
						ToolCalls json.RawMessage `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			json.NewDecoder(resp.Body).Decode(&raw)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(raw.Choices) != 1 || raw.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("%d %+v", resp.StatusCode, raw)
			}
			var calls []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments any    `json:"arguments"`
				} `json:"function"`
			}
			if err := json.Unmarshal(raw.Choices[0].Message.ToolCalls, &calls); err != nil || len(calls) != 2 {
				t.Fatalf("tool_calls %s: %v", raw.Choices[0].Message.ToolCalls, err)
			}
			for i, c := range calls {
				args, ok := c.Function.Arguments.(string) // a string in OpenAI's shape, never an object
				if c.Index != nil || c.Type != "function" || !strings.HasPrefix(c.ID, "call_") || c.Function.Name != scriptedCalls[i].Name ||
					!ok || !sameJSON(args, scriptedCalls[i].Arguments) {
					t.Fatalf("call %d = %+v", i, c)
				}
			}

			// What went upstream (both requests alike).
			got := up.Calls()
			if len(got) != 2 {
				t.Fatalf("%d upstream calls", len(got))
			}
			for _, call := range got {
				var sent struct {
					Tools      []json.RawMessage `json:"tools"`
					ToolChoice json.RawMessage   `json:"tool_choice"`
					Messages   []map[string]any  `json:"messages"`
				}
				if err := json.Unmarshal(call.Body, &sent); err != nil {
					t.Fatal(err)
				}
				if len(sent.Tools) != 2 || !sameJSON(string(sent.Tools[0]), weatherTool) || !sameJSON(string(sent.Tools[1]), timeTool) {
					t.Fatalf("tools sent: %s", call.Body)
				}
				if len(sent.Messages) != 3 {
					t.Fatalf("messages sent: %s", call.Body)
				}
				asst, tool := sent.Messages[1], sent.Messages[2]
				tc := asst["tool_calls"].([]any)[0].(map[string]any)
				fn := tc["function"].(map[string]any)
				if tc["id"] != "call_rome" || fn["name"] != "get_weather" || tool["role"] != "tool" || tool["tool_call_id"] != "call_rome" || tool["content"] != `{"temp":21}` {
					t.Fatalf("history sent: %s", call.Body)
				}
				switch u.name {
				case "ollama": // arguments an object, the result names its tool; no tool_choice in Ollama
					if !reflect.DeepEqual(fn["arguments"], map[string]any{"city": "Rome"}) || tool["tool_name"] != "get_weather" || sent.ToolChoice != nil {
						t.Fatalf("ollama body: %s", call.Body)
					}
				default: // arguments a string, tool_choice as given
					if fn["arguments"] != `{"city":"Rome"}` || tc["type"] != "function" || string(sent.ToolChoice) != `"auto"` {
						t.Fatalf("openai body: %s", call.Body)
					}
				}
			}
		})
	}
}

// TestToolCallsNative covers POST /v1/chat (typed Client, one answer and
// NDJSON) and the Ollama-compatible route with the official Ollama client:
// calls come whole, arguments an object, each with an id; Ollama's own
// types decode them.
func TestToolCallsNative(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: []string{"Checking", "."}, ToolCalls: scriptedCalls})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			ctx := context.Background()
			var tools []chat.Tool
			for _, raw := range rawTools() {
				var tl chat.Tool
				if err := json.Unmarshal(raw, &tl); err != nil {
					t.Fatal(err)
				}
				tools = append(tools, tl)
			}
			req := chat.Request{Provider: u.name, Tools: tools, Messages: []chat.Message{
				{Role: "user", Content: "Weather in Rome, then Paris?"},
				{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: "call_rome", Type: "function",
					Function: chat.FunctionCall{Name: "get_weather", Arguments: json.RawMessage(`{"city":"Rome"}`)}}}},
				{Role: "tool", ToolCallID: "call_rome", Content: `{"temp":21}`},
			}}
			check := func(what string, calls []chat.ToolCall) {
				t.Helper()
				if len(calls) != 2 {
					t.Fatalf("%s: calls %+v", what, calls)
				}
				for i, c := range calls {
					if !strings.HasPrefix(c.ID, "call_") || c.Type != "function" || c.Function.Index != i || c.Function.Name != scriptedCalls[i].Name ||
						!sameJSON(string(c.Function.Arguments), scriptedCalls[i].Arguments) {
						t.Fatalf("%s: call %d = %+v", what, i, c)
					}
				}
			}

			r, err := e.client.Chat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Message.Content != "Checking." || r.DoneReason != "tool_calls" {
				t.Fatalf("chat = %+v", r)
			}
			check("chat", r.Message.ToolCalls)

			st, err := e.client.ChatStream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var streamed []chat.ToolCall
			var text strings.Builder
			var final chat.Response
			for {
				c, err := st.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				text.WriteString(c.Message.Content)
				streamed = append(streamed, c.Message.ToolCalls...)
				final = c
			}
			st.Close()
			if text.String() != "Checking." || !final.Done || final.DoneReason != "tool_calls" || len(final.Message.ToolCalls) != 0 {
				t.Fatalf("stream %q final %+v", text.String(), final)
			}
			check("stream", streamed)

			// The official Ollama client on /v1/chat/api/chat, with Ollama's
			// history: a call without id and a result naming only its tool.
			b, _ := url.Parse(e.srv.URL() + "/v1/chat")
			oc := api.NewClient(b, &http.Client{Timeout: 10 * time.Second})
			var otools api.Tools
			for _, raw := range rawTools() {
				var tl api.Tool
				json.Unmarshal(raw, &tl)
				otools = append(otools, tl)
			}
			args := api.NewToolCallFunctionArguments()
			args.Set("city", "Rome")
			for _, stream := range []bool{true, false} {
				var got []api.ToolCall
				var last api.ChatResponse
				err := oc.Chat(ctx, &api.ChatRequest{Model: u.name + "/m1", Stream: &stream, Tools: otools, Messages: []api.Message{
					{Role: "user", Content: "Weather in Rome, then Paris?"},
					{Role: "assistant", ToolCalls: []api.ToolCall{{Function: api.ToolCallFunction{Name: "get_weather", Arguments: args}}}},
					{Role: "tool", ToolName: "get_weather", Content: `{"temp":21}`},
				}}, func(r api.ChatResponse) error { got = append(got, r.Message.ToolCalls...); last = r; return nil })
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || got[0].Function.Name != "get_weather" || got[1].Function.Name != "get_time" || got[0].ID == "" ||
					got[0].Function.Arguments.String() != weatherAr || !last.Done || last.DoneReason != "stop" {
					t.Fatalf("ollama client stream=%v: %+v last %+v", stream, got, last)
				}
			}
			// The positional result reached the upstream tied to its call.
			calls := up.Calls()
			var sent struct {
				Messages []map[string]any `json:"messages"`
			}
			json.Unmarshal(calls[len(calls)-1].Body, &sent)
			asst := sent.Messages[1]["tool_calls"].([]any)[0].(map[string]any)
			id, _ := asst["id"].(string)
			if id == "" || sent.Messages[2]["tool_call_id"] != id {
				t.Fatalf("ollama-route history sent: %s", calls[len(calls)-1].Body)
			}
		})
	}
}

// TestToolChoice: a forced choice goes to OpenAI upstreams as given;
// Ollama cannot force a call, so a named ollama is a 400 and auto falls
// back past it (nothing sent to Ollama); "none" sends Ollama no tools.
func TestToolChoice(t *testing.T) {
	cfg := config(t)
	ol := fakeUpstream(t, cfg, "ollama", chattest.Script{Tokens: []string{"no tools"}})
	oa := fakeUpstream(t, cfg, "opencode", chattest.Script{Tokens: []string{}, ToolCalls: scriptedCalls[:1]})
	cfg.Chatd.Fallback = []string{"ollama", "opencode"}
	e := start(t, cfg)
	named := map[string]any{"type": "function", "function": map[string]string{"name": "get_weather"}}
	msgs := userMsg("weather in Paris?")

	msg := errBody(t, e.post(t, chat.RouteCompletions, map[string]any{"model": "ollama/m", "messages": msgs, "tools": rawTools(), "tool_choice": "required"}), 400, "invalid")
	if !strings.Contains(msg, "cannot force a tool call") {
		t.Fatalf("named ollama: %q", msg)
	}
	for _, choice := range []any{"required", named} {
		resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": msgs, "tools": rawTools(), "tool_choice": choice})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "opencode" || !strings.Contains(string(b), `"finish_reason":"tool_calls"`) {
			t.Fatalf("%v: %d %s", choice, resp.StatusCode, b)
		}
	}
	if n := len(ol.Calls()); n != 0 {
		t.Fatalf("ollama got %d calls for forced choices", n)
	}
	sent := oa.Calls()
	var last struct {
		ToolChoice json.RawMessage `json:"tool_choice"`
	}
	json.Unmarshal(sent[1].Body, &last)
	if len(sent) != 2 || !strings.Contains(string(sent[0].Body), `"tool_choice":"required"`) ||
		!sameJSON(string(last.ToolChoice), `{"type":"function","function":{"name":"get_weather"}}`) {
		t.Fatalf("opencode got %d calls: %s", len(sent), sent[len(sent)-1].Body)
	}

	resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "ollama/m", "messages": msgs, "tools": rawTools(), "tool_choice": "none"})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(ol.Calls()) != 1 || strings.Contains(string(ol.Calls()[0].Body), "tools") {
		t.Fatalf("none: %d %+v", resp.StatusCode, ol.Calls())
	}
}

// TestToolBadRequests: malformed tools, tool_choice and tool-call history
// are 400 invalid naming the field, on the OpenAI and native routes, and
// nothing reaches the upstream.
func TestToolBadRequests(t *testing.T) {
	e, up := withUpstream(t, "kimi", chattest.Script{})
	user := `{"role":"user","content":"hi"}`
	call := func(fn string) string {
		return `{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":` + fn + `}]}`
	}
	cases := []struct {
		name, body, want string
		native           bool // also sent to POST /v1/chat (where arguments are an object)
	}{
		{"tool without name", `{"messages":[` + user + `],"tools":[{"type":"function","function":{"parameters":{"type":"object"}}}]}`, "tools[0].function.name: required", true},
		{"tool name not a string", `{"messages":[` + user + `],"tools":[{"type":"function","function":{"name":7}}]}`, "tools[0].function.name: want a string", false},
		{"tool bad name", `{"messages":[` + user + `],"tools":[{"type":"function","function":{"name":"get weather"}}]}`, `tools[0].function.name "get weather": want 1 to 64`, true},
		{"tool type", `{"messages":[` + user + `],"tools":[{"type":"retrieval","function":{"name":"f"}}]}`, `tools[0].type "retrieval": want "function"`, true},
		{"tool twice", `{"messages":[` + user + `],"tools":[` + timeTool + `,` + timeTool + `]}`, `tools[1].function.name "get_time": named twice`, true},
		{"parameters not an object", `{"messages":[` + user + `],"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}`, "tools[0].function.parameters: want a JSON schema object", true},
		{"tools not an array", `{"messages":[` + user + `],"tools":{"type":"function"}}`, "tools: want an array", false},
		{"tool_choice without tools", `{"messages":[` + user + `],"tool_choice":"required"}`, "tool_choice: only allowed with tools", true},
		{"tool_choice unknown", `{"messages":[` + user + `],"tools":[` + timeTool + `],"tool_choice":"always"}`, `tool_choice "always": want auto, none, required`, true},
		{"tool_choice names no tool", `{"messages":[` + user + `],"tools":[` + timeTool + `],"tool_choice":{"type":"function","function":{"name":"nope"}}}`, `tool_choice.function.name "nope": not one of the tools`, true},
		{"tool_choice shape", `{"messages":[` + user + `],"tools":[` + timeTool + `],"tool_choice":{"type":"tool"}}`, "tool_choice: want", false},
		{"arguments not a string", `{"messages":[` + user + `,` + call(`{"name":"f","arguments":{"a":1}}`) + `]}`, "messages[1].tool_calls[0].function.arguments: want a string", false},
		{"arguments a number", `{"messages":[` + user + `,` + call(`{"name":"f","arguments":7}`) + `]}`, "messages[1].tool_calls[0].function.arguments: want a string", false},
		{"call without name", `{"messages":[` + user + `,` + call(`{"arguments":"{}"}`) + `]}`, "messages[1].tool_calls[0].function.name: required", false},
		{"call without type", `{"messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]}]}`, `messages[1].tool_calls[0].type: want "function"`, false},
		{"call without id", `{"messages":[` + user + `,{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[1].tool_calls[0].id: required", true},
		{"calls on a user message", `{"messages":[{"role":"user","content":"hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls: only assistant messages", false},
		{"tool message without id", `{"messages":[` + user + `,{"role":"tool","content":"42"}]}`, "messages[1].tool_call_id: required on a tool message", true},
		{"tool message answers nothing", `{"messages":[` + user + `,` + call(`{"name":"f","arguments":"{}"}`) + `,{"role":"tool","tool_call_id":"c2","content":"42"}]}`, `messages[2].tool_call_id "c2": no earlier assistant message has a tool call with this id`, false},
		{"result before its call", `{"messages":[` + user + `,{"role":"tool","tool_call_id":"c1","content":"42"},` + call(`{"name":"f","arguments":"{}"}`) + `]}`, `messages[1].tool_call_id "c1": no earlier`, false},
		{"tool_call_id on a user message", `{"messages":[{"role":"user","content":"hi","tool_call_id":"c1"}]}`, "messages[0].tool_call_id: only tool messages", true},
		{"legacy functions", `{"messages":[` + user + `],"functions":[{"name":"f"}],"function_call":"auto"}`, "functions (the legacy form; use tools): not supported by chatd; function_call (the legacy form", false},
	}
	for _, tc := range cases {
		msg := errBody(t, e.post(t, chat.RouteCompletions, tc.body), 400, "invalid")
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.name, msg, tc.want)
		}
		if tc.native {
			msg := errBody(t, e.post(t, chat.RouteChat, tc.body), 400, "invalid")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s (native): %q lacks %q", tc.name, msg, tc.want)
			}
		}
	}
	// Native arguments are an object, never a string.
	msg := errBody(t, e.post(t, chat.RouteChat, `{"messages":[`+user+`,`+call(`{"name":"f","arguments":"{}"}`)+`]}`), 400, "invalid")
	if !strings.Contains(msg, "messages[1].tool_calls[0].function.arguments: want a JSON object") {
		t.Errorf("native string arguments: %q", msg)
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("bad requests reached the upstream %d times", n)
	}
}

// TestToolCallFallsBackBeforeFirstDelta: an upstream that fails before its
// first tool-call piece falls back (DESIGN.md); the answer is the next
// provider's calls.
func TestToolCallFallsBackBeforeFirstDelta(t *testing.T) {
	cfg := config(t)
	bad := fakeUpstream(t, cfg, "openrouter", chattest.Script{FailFirst: 100, FailStatus: 503})
	fakeUpstream(t, cfg, "ollama", chattest.Script{Tokens: []string{}, ToolCalls: scriptedCalls[1:]})
	cfg.Chatd.Fallback = []string{"openrouter", "ollama"}
	e := start(t, cfg)
	resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": userMsg("time?"), "tools": rawTools(), "stream": true})
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "ollama" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	evs, done := readSSE(t, resp.Body, nil)
	_, cs := chunks(t, evs)
	var args, name string
	for _, c := range cs {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
		}
	}
	if !done || name != "get_time" || !sameJSON(args, timeAr) || len(bad.Calls()) != 2 {
		t.Fatalf("done=%v name=%q args=%q bad calls=%d", done, name, args, len(bad.Calls()))
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestToolHistoryTextArguments: OpenAI takes any string as a history call's
// arguments, and models do write truncated or invalid JSON there, which
// chatd answers as is; sent back on the OpenAI route it reaches an
// OpenAI-compatible upstream unchanged. Ollama wants an object: named, it
// is a 400 naming the call; auto moves on to the next provider, as for a
// tool_choice Ollama cannot enforce. The native route still wants an
// object.
func TestToolHistoryTextArguments(t *testing.T) {
	const args = `{"city": "Par`
	history := func() []map[string]any {
		return []map[string]any{
			{"role": "user", "content": "Weather in Paris?"},
			{"role": "assistant", "content": nil, "tool_calls": []map[string]any{
				{"id": "call_ok", "type": "function", "function": map[string]any{"name": "get_time", "arguments": timeAr}},
				{"id": "call_cut", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": args}}}},
			{"role": "tool", "tool_call_id": "call_ok", "content": "12:00"},
			{"role": "tool", "tool_call_id": "call_cut", "content": "error: arguments are not valid JSON"},
		}
	}
	cfg := config(t)
	ol := fakeUpstream(t, cfg, "ollama", chattest.Script{Tokens: []string{"from ollama"}})
	oa := fakeUpstream(t, cfg, "opencode", chattest.Script{Tokens: []string{"from opencode"}})
	cfg.Chatd.Fallback = []string{"ollama", "opencode"}
	e := start(t, cfg)

	sentArgs := func(body []byte) []string {
		var r struct {
			Messages []struct {
				ToolCalls []struct {
					Function struct {
						Arguments json.RawMessage `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("upstream body: %v: %s", err, body)
		}
		var out []string
		for _, m := range r.Messages {
			for _, tc := range m.ToolCalls {
				out = append(out, string(tc.Function.Arguments))
			}
		}
		return out
	}
	wantArgs := []string{`"{\"tz\":\"Europe/Paris\"}"`, `"{\"city\": \"Par"`}

	// Pinned to the OpenAI-compatible provider, streamed and not: the text
	// arrives byte for byte.
	for _, stream := range []bool{false, true} {
		resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "opencode/m", "messages": history(), "tools": rawTools(), "stream": stream})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "from opencode") {
			t.Fatalf("opencode, stream %v: %d %s", stream, resp.StatusCode, b)
		}
		calls := oa.Calls()
		if got := sentArgs(calls[len(calls)-1].Body); !reflect.DeepEqual(got, wantArgs) {
			t.Fatalf("opencode, stream %v: upstream got arguments %q, want %q", stream, got, wantArgs)
		}
	}

	// Pinned to Ollama: 400 naming the call; nothing reaches Ollama.
	msg := errBody(t, e.post(t, chat.RouteCompletions, map[string]any{"model": "ollama/m", "messages": history(), "tools": rawTools()}), 400, "invalid")
	if !strings.Contains(msg, "messages[1].tool_calls[1].function.arguments: Ollama wants a JSON object") {
		t.Fatalf("named ollama: %q", msg)
	}
	if n := len(ol.Calls()); n != 0 {
		t.Fatalf("ollama got %d calls", n)
	}

	// Auto: Ollama is skipped, the next provider answers with the text intact.
	before := len(oa.Calls())
	resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": history(), "tools": rawTools()})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "opencode" || !strings.Contains(string(b), "from opencode") {
		t.Fatalf("auto: %d %s", resp.StatusCode, b)
	}
	calls := oa.Calls()
	if len(calls) != before+1 || len(ol.Calls()) != 0 {
		t.Fatalf("auto: opencode %d calls (before %d), ollama %d", len(calls), before, len(ol.Calls()))
	}
	if got := sentArgs(calls[len(calls)-1].Body); !reflect.DeepEqual(got, wantArgs) {
		t.Fatalf("auto: upstream got arguments %q, want %q", got, wantArgs)
	}

	// The native route's arguments are still an object.
	nat := `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"city\": \"Par"}}]}]}`
	msg = errBody(t, e.post(t, chat.RouteChat, nat), 400, "invalid")
	if !strings.Contains(msg, "messages[1].tool_calls[0].function.arguments: want a JSON object") {
		t.Fatalf("native: %q", msg)
	}
}
