package chatd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// wantOpenAILogprobs is OpenAI's choices[].logprobs for the fake's tokens
// toks (from index first), built here from chattest.FakeLogprob: content
// entries with token, logprob, bytes and top_logprobs (a list, empty when
// none were asked), refusal null.
func wantOpenAILogprobs(first int, toks []string, top int) any {
	content := []any{}
	for j, tok := range toks {
		lp := chattest.FakeLogprob(first+j, tok, top)
		tops := []any{}
		for _, a := range lp.TopLogprobs {
			tops = append(tops, map[string]any{"token": a.Token, "logprob": a.Logprob, "bytes": ints(a.Bytes)})
		}
		content = append(content, map[string]any{"token": lp.Token, "logprob": lp.Logprob, "bytes": ints(lp.Bytes), "top_logprobs": tops})
	}
	var v any
	b, _ := json.Marshal(map[string]any{"content": content, "refusal": nil})
	json.Unmarshal(b, &v)
	return v
}

func ints(b []int) []any {
	out := []any{}
	for _, x := range b {
		out = append(out, x)
	}
	return out
}

// wantOllamaLogprobs is Ollama's logprobs list for toks (api.Logprob).
func wantOllamaLogprobs(first int, toks []string, top int) []api.Logprob {
	var out []api.Logprob
	for j, tok := range toks {
		out = append(out, chattest.FakeLogprob(first+j, tok, top))
	}
	return out
}

var fakeToks = []string{"Hello", " world", "!"}

// TestLogprobsRelayed: logprobs / top_logprobs were a 400 (ADR-119) on
// the OpenAI and Ollama routes. They go to the upstream (OpenAI's fields
// to OpenAI-compatible ones, Ollama's logprobs/top_logprobs to Ollama,
// which has them since 0.12.11) and come back in the route's shape:
// OpenAI's choices[].logprobs {"content":[...],"refusal":null} in an
// answer and in each content chunk (null on the role-only and finish
// chunks), Ollama's top-level "logprobs" list on the Ollama and native
// routes, line by line when streamed. ADR-125.
func TestLogprobsRelayed(t *testing.T) {
	for _, provider := range []string{chat.Ollama, chat.OpenRouter} {
		t.Run(provider, func(t *testing.T) {
			e, up := withUpstream(t, provider, chattest.Script{})
			model := provider + "/m"
			msgs := `"messages":[{"role":"user","content":"hi"}]`

			// chat.completions.create({model, messages, logprobs: true, top_logprobs: 2})
			resp := e.post(t, chat.RouteBaseCompletions, `{"model":"`+model+`",`+msgs+`,"logprobs":true,"top_logprobs":2}`)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var c struct {
				Choices []map[string]any `json:"choices"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil || len(c.Choices) != 1 {
				t.Fatalf("answer: %d %s", resp.StatusCode, b)
			}
			if got, want := c.Choices[0]["logprobs"], wantOpenAILogprobs(0, fakeToks, 2); !reflect.DeepEqual(got, want) {
				t.Fatalf("choices[0].logprobs:\n got %v\nwant %v", got, want)
			}
			calls := up.Calls()
			last := string(calls[len(calls)-1].Body)
			if provider == chat.Ollama && (!strings.Contains(last, `"logprobs":true`) || !strings.Contains(last, `"top_logprobs":2`)) ||
				provider == chat.OpenRouter && (!strings.Contains(last, `"logprobs":true`) || !strings.Contains(last, `"top_logprobs":2`)) {
				t.Fatalf("upstream request: %s", last)
			}

			// ...stream: true, top_logprobs 0 (each token, no alternatives)
			resp = e.post(t, chat.RouteCompletions, `{"model":"`+model+`",`+msgs+`,"stream":true,"logprobs":true}`)
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			if !done {
				t.Fatal("no [DONE]")
			}
			// The role comes alone, with an empty list, as OpenAI streams
			// it: openai-node's stream helper (finalChatCompletion) took a
			// first chunk's logprobs twice ("Hello" twice).
			if len(evs) == 0 || !strings.Contains(evs[0].data, `"delta":{"role":"assistant","content":""},"logprobs":{"content":[],"refusal":null}`) {
				t.Fatalf("first chunk: %v", evs)
			}
			tok := 0
			for _, ev := range evs {
				var ch struct {
					Choices []struct {
						Delta        map[string]any `json:"delta"`
						Logprobs     any            `json:"logprobs"`
						FinishReason *string        `json:"finish_reason"`
					} `json:"choices"`
				}
				if err := json.Unmarshal([]byte(ev.data), &ch); err != nil || len(ch.Choices) != 1 {
					t.Fatalf("chunk %s", ev.data)
				}
				if !strings.Contains(ev.data, `"logprobs":`) {
					t.Fatalf("chunk without logprobs key: %s", ev.data)
				}
				cc := ch.Choices[0]
				content, _ := cc.Delta["content"].(string)
				if content != "" && cc.Delta["role"] != nil {
					t.Fatalf("a chunk with tokens has the role: %s", ev.data)
				}
				if content == "" && cc.Delta["role"] != nil {
					continue
				}
				if content == "" {
					if cc.Logprobs != nil {
						t.Fatalf("a chunk without tokens has logprobs: %s", ev.data)
					}
					continue
				}
				if got, want := cc.Logprobs, wantOpenAILogprobs(tok, []string{content}, 0); !reflect.DeepEqual(got, want) {
					t.Fatalf("chunk %d logprobs:\n got %v\nwant %v (%s)", tok, got, want, ev.data)
				}
				tok++
			}
			if tok != len(fakeToks) {
				t.Fatalf("%d content chunks with logprobs, want %d", tok, len(fakeToks))
			}

			// ollama.chat({model, messages, stream: false, logprobs: true, top_logprobs: 3})
			for _, route := range []string{chat.RouteOllamaChat, chat.RouteChat} {
				resp = e.post(t, route, `{"model":"`+model+`",`+msgs+`,"stream":false,"logprobs":true,"top_logprobs":3}`)
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				var o api.ChatResponse
				if resp.StatusCode != 200 || json.Unmarshal(b, &o) != nil {
					t.Fatalf("%s: %d %s", route, resp.StatusCode, b)
				}
				if want := wantOllamaLogprobs(0, fakeToks, 3); !reflect.DeepEqual(o.Logprobs, want) {
					t.Fatalf("%s logprobs:\n got %+v\nwant %+v", route, o.Logprobs, want)
				}
				// ...streamed: each line's own tokens
				resp = e.post(t, route, `{"model":"`+model+`",`+msgs+`,"stream":true,"logprobs":true,"top_logprobs":1}`)
				sc := bufio.NewScanner(resp.Body)
				var got []api.Logprob
				var text string
				for sc.Scan() {
					var l api.ChatResponse
					if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
						t.Fatalf("%s line %s", route, sc.Bytes())
					}
					if l.Message.Content != "" && len(l.Logprobs) != 1 || l.Message.Content == "" && len(l.Logprobs) != 0 ||
						len(l.Logprobs) == 1 && l.Logprobs[0].Token != l.Message.Content {
						t.Fatalf("%s line's logprobs do not match its content: %s", route, sc.Bytes())
					}
					text += l.Message.Content
					got = append(got, l.Logprobs...)
				}
				resp.Body.Close()
				if want := wantOllamaLogprobs(0, fakeToks, 1); text != "Hello world!" || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s streamed logprobs:\n got %+v\nwant %+v", route, got, want)
				}
			}

			// Not asked: nothing goes upstream, the answer says null.
			before := len(up.Calls())
			resp = e.post(t, chat.RouteCompletions, `{"model":"`+model+`",`+msgs+`,"logprobs":false,"top_logprobs":0}`)
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"logprobs":null`)) {
				t.Fatalf("logprobs false: %d %s", resp.StatusCode, b)
			}
			calls = up.Calls()
			if len(calls) != before+1 || bytes.Contains(calls[before].Body, []byte("logprobs")) {
				t.Fatalf("logprobs false went upstream: %s", calls[len(calls)-1].Body)
			}
		})
	}
}

// TestLogprobsBounds: top_logprobs beyond OpenAI's and Ollama's 0..20, or
// without logprobs, is a 400 naming top_logprobs; nothing goes upstream.
func TestLogprobsBounds(t *testing.T) {
	e, up := withUpstream(t, chat.Ollama, chattest.Script{})
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct{ body, want string }{
		{`{"model":"ollama/m",` + msgs + `,"logprobs":true,"top_logprobs":21}`, "top_logprobs 21: want 0 to 20"},
		{`{"model":"ollama/m",` + msgs + `,"logprobs":true,"top_logprobs":-1}`, "top_logprobs -1: want 0 to 20"},
		{`{"model":"ollama/m",` + msgs + `,"top_logprobs":2}`, "top_logprobs 2: needs logprobs true"},
	} {
		resp := e.post(t, chat.RouteCompletions, c.body)
		_, er, raw := openAIErr(t, resp)
		if resp.StatusCode != 400 || er["param"] != "top_logprobs" || !strings.Contains(er["message"].(string), c.want) {
			t.Fatalf("%s: %s", c.body, raw)
		}
		resp = e.post(t, chat.RouteOllamaChat, c.body)
		if msg := errBody(t, resp, 400, "invalid"); !strings.Contains(msg, c.want) {
			t.Fatalf("Ollama route %s: %q", c.body, msg)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("upstream got %d calls for refused requests", n)
	}
}

// TestUserCarried: OpenAI's user was dropped without a word. It goes to
// OpenAI-compatible upstreams (OpenRouter, OpenCode, Kimi take it), not to
// Ollama, whose API has no such field; the native route takes it too.
// ADR-125.
func TestUserCarried(t *testing.T) {
	cfg := config(t)
	ol := fakeUpstream(t, cfg, chat.Ollama, chattest.Script{})
	or := fakeUpstream(t, cfg, chat.OpenRouter, chattest.Script{})
	e := start(t, cfg)
	for _, c := range []struct {
		route, body string
		up          *chattest.Server
		sent        bool
	}{
		{chat.RouteCompletions, `{"model":"openrouter/m","messages":[{"role":"user","content":"hi"}],"user":"user-42"}`, or, true},
		{chat.RouteCompletions, `{"model":"openrouter/m","messages":[{"role":"user","content":"hi"}],"stream":true,"user":"user-42"}`, or, true},
		{chat.RouteChat, `{"provider":"openrouter","model":"m","messages":[{"role":"user","content":"hi"}],"user":"user-42"}`, or, true},
		{chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],"user":"user-42"}`, ol, false},
		{chat.RouteChat, `{"provider":"ollama","model":"m","messages":[{"role":"user","content":"hi"}],"user":"user-42"}`, ol, false},
	} {
		resp := e.post(t, c.route, c.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", c.route, c.body, resp.StatusCode, b)
		}
		calls := c.up.Calls()
		var sent map[string]any
		json.Unmarshal(calls[len(calls)-1].Body, &sent)
		if _, has := sent["user"]; has != c.sent || c.sent && sent["user"] != "user-42" {
			t.Fatalf("%s %s: upstream got %s", c.route, c.body, calls[len(calls)-1].Body)
		}
	}
}
