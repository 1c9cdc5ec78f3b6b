package chatd_test

import (
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
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// reasoningUpstream is one provider with the reasoning wire form its fake
// speaks, and the switch it must receive for a request's "high" / false.
type reasoningUpstream struct {
	name   string
	ollama bool   // NDJSON (message.thinking) or SSE
	field  string // the SSE delta field: reasoning (OpenRouter) or reasoning_content
	high   string // the JSON the upstream body must hold for effort "high"
	off    string // ... for think false / effort none
	on     string // ... for think true ("" = nothing sent)
}

var reasoningUpstreams = []reasoningUpstream{
	{name: "ollama", ollama: true, high: `"think":"high"`, off: `"think":false`, on: `"think":true`},
	{name: "ollama_cloud", ollama: true, high: `"think":"high"`, off: `"think":false`, on: `"think":true`},
	{name: "openrouter", field: "reasoning", high: `"reasoning":{"effort":"high"}`, off: `"reasoning":{"effort":"none"}`, on: `"reasoning":{"enabled":true}`},
	{name: "opencode", field: "reasoning", high: `"reasoning_effort":"high"`, off: `"reasoning_effort":"none"`},
	{name: "kimi", field: "reasoning_content", high: `"reasoning_effort":"high"`, off: `"reasoning_effort":"none"`},
}

func (u reasoningUpstream) start(sc chattest.Script) (*chattest.Server, string) {
	if u.ollama {
		s := chattest.NewOllama(sc)
		return s, s.URL
	}
	sc.ReasoningField = u.field
	s := chattest.NewOpenAI(sc)
	return s, s.Base()
}

var thinkScript = chattest.Script{Thinking: []string{"Let me ", "think."}, Tokens: []string{"Hi", "!"}}

const wantThinking, wantContent = "Let me think.", "Hi!"

// TestReasoningEveryProvider: reasoning a thinking model streams (Ollama's
// message.thinking lines, OpenRouter's delta.reasoning with
// reasoning_details, Kimi's delta.reasoning_content) comes through every
// route, streamed and not, apart from the content: reasoning_content and
// reasoning on the OpenAI route (LiteLLM's field and OpenRouter's/Ollama's,
// the same text in both; before ADR-086 only the first), message.thinking on the native and
// Ollama routes (read here by Ollama's own client). The request's switch
// (reasoning_effort, reasoning, think) reaches each upstream in its form,
// and usage counts the reasoning tokens.
func TestReasoningEveryProvider(t *testing.T) {
	for _, u := range reasoningUpstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(thinkScript)
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			model := u.name + "/m1"

			// OpenAI route, streamed.
			resp := e.post(t, chat.RouteCompletions, map[string]any{"model": model, "messages": userMsg("hi"), "stream": true,
				"reasoning_effort": "high", "stream_options": map[string]bool{"include_usage": true}})
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			if resp.StatusCode != 200 || !done {
				t.Fatalf("%d done=%v %v", resp.StatusCode, done, evs)
			}
			content, cs := chunks(t, evs)
			var reasoning, orReasoning strings.Builder
			var usage *chat.Usage
			for i, c := range cs {
				for _, ch := range c.Choices {
					if ch.Delta.ReasoningContent != nil {
						reasoning.WriteString(*ch.Delta.ReasoningContent)
					}
					// OpenRouter's and Ollama's name, the same text (ADR-086)
					if ch.Delta.Reasoning != nil {
						orReasoning.WriteString(*ch.Delta.Reasoning)
					}
					if (ch.Delta.Reasoning == nil) != (ch.Delta.ReasoningContent == nil) {
						t.Fatalf("reasoning under one name only: %s", evs[i].data)
					}
				}
				if c.Usage != nil {
					usage = c.Usage
				}
				if strings.Contains(evs[i].data, `"thinking"`) {
					t.Fatalf("Ollama's field on the OpenAI route: %s", evs[i].data)
				}
			}
			if reasoning.String() != wantThinking || orReasoning.String() != wantThinking || content != wantContent {
				t.Fatalf("reasoning_content %q reasoning %q content %q: %v", reasoning.String(), orReasoning.String(), content, evs)
			}
			if !strings.Contains(evs[0].data, `"reasoning_content":"Let me "`) || !strings.Contains(evs[0].data, `"reasoning":"Let me "`) ||
				!strings.Contains(evs[0].data, `"role":"assistant"`) {
				t.Fatalf("first event %s: want the role and the first reasoning", evs[0].data)
			}
			if usage == nil || usage.CompletionTokens != 4 {
				t.Fatalf("usage %+v", usage)
			}
			if !u.ollama && (usage.CompletionTokensDetails == nil || usage.CompletionTokensDetails.ReasoningTokens != 2) {
				t.Fatalf("reasoning tokens not passed on: %+v", usage)
			}

			// OpenAI route, one answer (OpenRouter's reasoning object).
			resp = e.post(t, chat.RouteCompletions, map[string]any{"model": model, "messages": userMsg("hi"),
				"reasoning": map[string]any{"effort": "high"}})
			var comp chat.Completion
			json.NewDecoder(resp.Body).Decode(&comp)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(comp.Choices) != 1 || comp.Choices[0].Message.ReasoningContent != wantThinking ||
				comp.Choices[0].Message.Reasoning != wantThinking || string(comp.Choices[0].Message.Content) != wantContent {
				t.Fatalf("%d %+v", resp.StatusCode, comp)
			}

			// Native route: the typed client, one answer and a stream.
			think := &chat.Think{Enabled: true, Effort: "high"}
			r, err := e.client.Chat(context.Background(), chat.Request{Model: model, Messages: userMsg("hi"), Think: think})
			if err != nil || r.Message.Thinking != wantThinking || r.Message.Content != wantContent {
				t.Fatalf("native: %+v %v", r.Message, err)
			}
			st, err := e.client.ChatStream(context.Background(), chat.Request{Model: model, Messages: userMsg("hi"), Think: think})
			if err != nil {
				t.Fatal(err)
			}
			var th, ct strings.Builder
			for {
				r, err := st.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				th.WriteString(r.Message.Thinking)
				ct.WriteString(r.Message.Content)
			}
			st.Close()
			if th.String() != wantThinking || ct.String() != wantContent {
				t.Fatalf("native stream: thinking %q content %q", th.String(), ct.String())
			}

			// Ollama route with Ollama's client: message.thinking.
			ob, _ := url.Parse(e.srv.URL() + "/v1/chat")
			oc := api.NewClient(ob, &http.Client{Timeout: 10 * time.Second})
			for _, stream := range []bool{true, false} {
				var th, ct strings.Builder
				err := oc.Chat(context.Background(), &api.ChatRequest{Model: model, Stream: &stream, Think: &api.ThinkValue{Value: "high"},
					Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(r api.ChatResponse) error {
					th.WriteString(r.Message.Thinking)
					ct.WriteString(r.Message.Content)
					return nil
				})
				if err != nil || th.String() != wantThinking || ct.String() != wantContent {
					t.Fatalf("ollama client stream=%v: thinking %q content %q %v", stream, th.String(), ct.String(), err)
				}
			}

			// Every request asked for "high": each upstream got it its way.
			calls := up.Calls()
			if len(calls) != 6 {
				t.Fatalf("%d upstream calls", len(calls))
			}
			for _, c := range calls {
				if !strings.Contains(string(c.Body), u.high) {
					t.Fatalf("upstream body %s lacks %s", c.Body, u.high)
				}
			}

			// Off and on: think false / reasoning_effort none, think true.
			for _, tc := range []struct {
				route, body, want string
			}{
				{chat.RouteOllamaChat, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"stream":false,"think":false}`, u.off},
				{chat.RouteCompletions, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none"}`, u.off},
				{chat.RouteChat, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"think":true}`, u.on},
			} {
				resp := e.post(t, tc.route, tc.body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", tc.route, tc.body, resp.StatusCode, b)
				}
				calls := up.Calls()
				sent := string(calls[len(calls)-1].Body)
				if tc.want != "" && !strings.Contains(sent, tc.want) || tc.want == "" && strings.Contains(sent, "reasoning") {
					t.Fatalf("%s sent %s, want %q", tc.body, sent, tc.want)
				}
				if u.ollama && tc.want == u.off && strings.Contains(string(b), "Let me") {
					t.Fatalf("think false, but reasoning came: %s", b)
				}
			}
		})
	}
}

// TestReasoningBadSwitches: levels chatd does not know are a 400 naming
// the field, on every route.
func TestReasoningBadSwitches(t *testing.T) {
	e, up := withUpstream(t, "ollama", thinkScript)
	for route, body := range map[string]string{
		chat.RouteCompletions + "#effort": `{"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"extreme"}`,
		chat.RouteCompletions + "#object": `{"messages":[{"role":"user","content":"hi"}],"reasoning":"high"}`,
		chat.RouteChat:                    `{"messages":[{"role":"user","content":"hi"}],"think":"max"}`,
		chat.RouteOllamaChat:              `{"model":"m","messages":[{"role":"user","content":"hi"}],"think":"max"}`,
	} {
		path, _, _ := strings.Cut(route, "#")
		msg := errBody(t, e.post(t, path, body), 400, "invalid")
		if !strings.Contains(msg, "reasoning") && !strings.Contains(msg, "think") {
			t.Fatalf("%s: %q", route, msg)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("%d bad requests went upstream", n)
	}
}

// TestReasoningIsTheFirstToken: a model that thinks for longer than
// [chatd].timeout is answering, not silent: its first reasoning chunk stops
// the first-token timer (it used to be a 504 while the model streamed).
func TestReasoningIsTheFirstToken(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			sc := chattest.Script{Thinking: chattest.Tokens(10), Tokens: []string{"done"}, Delay: 300 * time.Millisecond}
			up, base := u.start(sc)
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			cfg.Chatd.Timeout = shared.Duration{Duration: 1500 * time.Millisecond} // reasoning streams for 3 s
			e := start(t, cfg)
			for _, stream := range []bool{true, false} {
				resp := e.post(t, chat.RouteCompletions, map[string]any{"model": u.name + "/m1", "messages": userMsg("hi"), "stream": stream})
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"done"`) || !strings.Contains(string(b), "t9 ") {
					t.Fatalf("stream=%v: %d %s", stream, resp.StatusCode, b)
				}
			}
		})
	}
}

// TestNoFallbackAfterReasoning: a streamed client has seen the reasoning,
// so an upstream that breaks after it ends the stream with an error event
// and the next provider is not asked; a non-streamed answer (nothing sent
// yet) still falls back.
func TestNoFallbackAfterReasoning(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			bad, base := u.start(chattest.Script{Thinking: []string{"a ", "b ", "c "}, BreakAfterThinking: 2})
			defer bad.Close()
			next := chattest.NewOpenAI(chattest.Script{Tokens: []string{"next"}})
			defer next.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			configure(t, cfg, "kimi", next.Base())
			cfg.Chatd.Fallback = []string{u.name, "kimi"}
			e := start(t, cfg)

			resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": userMsg("hi"), "stream": true})
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			if resp.StatusCode != 200 || !done || len(evs) < 2 {
				t.Fatalf("%d done=%v %v", resp.StatusCode, done, evs)
			}
			_, cs := chunks(t, evs[:len(evs)-1])
			var reasoning string
			for _, c := range cs {
				if d := c.Choices[0].Delta.ReasoningContent; d != nil {
					reasoning += *d
				}
			}
			var ev struct {
				Error chat.WireError `json:"error"`
			}
			json.Unmarshal([]byte(evs[len(evs)-1].data), &ev)
			if reasoning != "a b " || ev.Error.Kind != errs.Unavailable || !strings.Contains(ev.Error.Message, "broke mid-answer") {
				t.Fatalf("reasoning %q, last event %s", reasoning, evs[len(evs)-1].data)
			}
			if n := len(next.Calls()); n != 0 {
				t.Fatalf("fell back after the reasoning was sent: %d calls", n)
			}

			resp = e.post(t, chat.RouteCompletions, map[string]any{"messages": userMsg("hi")})
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "kimi" || !strings.Contains(string(b), `"next"`) {
				t.Fatalf("one answer: %d %s", resp.StatusCode, b)
			}
		})
	}
}

// TestReasoningInHistory: an assistant message's reasoning in the history
// (reasoning_content on the OpenAI route, thinking on the others) goes on
// to Ollama as message.thinking, which it takes; never to an
// OpenAI-compatible upstream (DeepSeek-style APIs refuse reasoning_content
// in input messages with a 400).
func TestReasoningInHistory(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			for route, body := range map[string]string{
				chat.RouteCompletions: `{"model":"` + u.name + `/m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","reasoning_content":"earlier thought"},{"role":"user","content":"q2"}]}`,
				chat.RouteChat:        `{"model":"` + u.name + `/m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","thinking":"earlier thought"},{"role":"user","content":"q2"}]}`,
				chat.RouteOllamaChat:  `{"model":"` + u.name + `/m","stream":false,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","thinking":"earlier thought"},{"role":"user","content":"q2"}]}`,
			} {
				resp := e.post(t, route, body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s", route, resp.StatusCode, b)
				}
				calls := up.Calls()
				sent := string(calls[len(calls)-1].Body)
				if got := strings.Contains(sent, `"thinking":"earlier thought"`); got != (u.name == "ollama") || (u.name != "ollama" && strings.Contains(sent, "earlier thought")) {
					t.Fatalf("%s: sent %s", route, sent)
				}
			}
		})
	}
}
