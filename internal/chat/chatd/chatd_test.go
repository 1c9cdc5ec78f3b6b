package chatd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chatd"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

func TestProviders(t *testing.T) {
	cfg := config(t)
	up := chattest.NewOllama(chattest.Script{})
	defer up.Close()
	cfg.Chatd.OllamaURL = up.URL
	cfg.Chatd.OllamaModel = "qwen3:4b"
	cfg.Chatd.OpenRouterURL = "http://127.0.0.1:9/api/v1" // registered, never called
	cfg.Chatd.OpenCodeURL = "http://127.0.0.1:9/zen/v1"
	cfg.Chatd.KimiURL = "" // default URL, but no key: unregistered
	key(t, cfg, "openrouter", "sk-or-test")
	key(t, cfg, "opencode", "   ") // empty after trimming: unregistered
	e := start(t, cfg)

	resp, err := e.http.Get(e.srv.URL() + chat.RouteProviders)
	if err != nil {
		t.Fatal(err)
	}
	var pr chat.ProvidersResponse
	json.NewDecoder(resp.Body).Decode(&pr)
	resp.Body.Close()
	want := map[string]struct {
		reg   bool
		model string
	}{
		"ollama": {true, "qwen3:4b"}, "ollama_cloud": {false, "gpt-oss:120b"}, "openrouter": {true, "openrouter/auto"},
		"opencode": {false, "qwen3-coder"}, "kimi": {false, "kimi-k2-0905-preview"},
	}
	if len(pr.Providers) != 5 {
		t.Fatalf("providers = %+v", pr.Providers)
	}
	for i, p := range pr.Providers {
		if p.Name != chat.ProviderNames[i] {
			t.Fatalf("order: %v", pr.Providers)
		}
		w := want[p.Name]
		if p.Registered != w.reg || p.DefaultModel != w.model {
			t.Errorf("%s = %+v, want registered=%v model=%s", p.Name, p, w.reg, w.model)
		}
		if !p.Registered && p.Reason == "" {
			t.Errorf("%s: unregistered without a reason", p.Name)
		}
	}
	if !strings.Contains(pr.Providers[4].Reason, "KIMI_API_KEY") {
		t.Errorf("kimi reason = %q", pr.Providers[4].Reason)
	}
	// The typed client agrees; the models list has the registered ones.
	ps, err := e.client.Providers(context.Background())
	if err != nil || len(ps) != 5 {
		t.Fatal(ps, err)
	}
	ml, err := e.client.Models(context.Background())
	if err != nil || ml.Object != "list" || len(ml.Data) != 2 || ml.Data[0].ID != "ollama/qwen3:4b" || ml.Data[1].OwnedBy != "openrouter" {
		t.Fatalf("models = %+v, %v", ml, err)
	}
	// Keys never leave chatd.
	if strings.Contains(e.logs.String(), "sk-or-test") {
		t.Fatal("a key reached the log")
	}
}

func TestResolve(t *testing.T) {
	base := func() shared.ChatdConfig {
		return shared.Default("").Chatd
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	c := base()
	s, err := chatd.Resolve(c, env(map[string]string{"OPENROUTER_API_KEY": "sk", "KIMI_API_KEY": " "}))
	if err != nil {
		t.Fatal(err)
	}
	reg := map[string]bool{}
	for _, p := range s.Providers {
		reg[p.Name] = p.Registered
	}
	if !reg["ollama"] || reg["ollama_cloud"] || !reg["openrouter"] || reg["opencode"] || reg["kimi"] {
		t.Fatalf("registered = %v", reg)
	}
	if s.Providers[0].URL != "http://127.0.0.1:11434" || s.Providers[2].URL != "https://openrouter.ai/api/v1" ||
		s.Providers[3].URL != "https://opencode.ai/zen/v1" || s.Providers[4].URL != "https://api.moonshot.ai/v1" || s.Providers[1].URL != "https://ollama.com" {
		t.Fatalf("default URLs: %+v", s.Providers)
	}
	if s.Retries != 1 || s.Timeout != 2*time.Minute || len(s.Fallback) != 5 {
		t.Fatalf("settings = %+v", s)
	}

	// The env var wins over the key file; a key file alone registers.
	c = base()
	c.KeysDir = t.TempDir()
	cfg := &shared.Config{Chatd: c}
	key(t, cfg, "kimi", "from-file")
	key(t, cfg, "opencode", "from-file")
	s, err = chatd.Resolve(c, env(map[string]string{"KIMI_API_KEY": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Providers[4].Key != "from-env" || !s.Providers[4].Registered || s.Providers[3].Key != "from-file" || !s.Providers[3].Registered {
		t.Fatalf("keys: %+v", s.Providers)
	}

	// "off" unregisters ollama; bad config is reported all at once.
	c = base()
	c.OllamaURL = "off"
	s, err = chatd.Resolve(c, env(nil))
	if err != nil || s.Providers[0].Registered {
		t.Fatalf("off: %+v %v", s.Providers[0], err)
	}
	c = base()
	c.Fallback = []string{"ollama", "openai", "ollama"}
	c.OllamaURL = "127.0.0.1:11434"
	c.Retries = -1
	_, err = chatd.Resolve(c, env(nil))
	for _, want := range []string{`"openai"`, "listed twice", "ollama_url", "retries"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config error %v: want %q", err, want)
		}
	}
}

// upstreams are the two wire protocols, for table tests.
type upstream struct {
	name  string // provider it is configured as
	start func(chattest.Script) (*chattest.Server, string)
}

var upstreams = []upstream{
	{"ollama", func(sc chattest.Script) (*chattest.Server, string) { s := chattest.NewOllama(sc); return s, s.URL }},
	{"openrouter", func(sc chattest.Script) (*chattest.Server, string) { s := chattest.NewOpenAI(sc); return s, s.Base() }},
}

// configure points provider name at url (with a key for the keyed ones).
func configure(t testing.TB, cfg *shared.Config, name, u string) {
	c := &cfg.Chatd
	switch name {
	case "ollama":
		c.OllamaURL = u
	case "ollama_cloud":
		c.OllamaCloudURL = u
		key(t, cfg, name, "ok-cloud")
	case "openrouter":
		c.OpenRouterURL = u
		key(t, cfg, name, "sk-or")
	case "opencode":
		c.OpenCodeURL = u
		key(t, cfg, name, "sk-oc")
	case "kimi":
		c.KimiURL = u
		key(t, cfg, name, "sk-kimi")
	}
}

// TestStreamChunkByChunk drives /v1/chat/completions like the openai
// libraries do and checks that the first chunk arrives while the upstream
// still holds its last one, over both upstream protocols.
func TestStreamChunkByChunk(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			hold := make(chan struct{})
			up, base := u.start(chattest.Script{Tokens: []string{"Hel", "lo", " there"}, Hold: hold, PromptTokens: 11})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)

			resp := e.post(t, chat.RouteCompletions, map[string]any{
				"model": u.name + "/m1", "messages": []map[string]any{{"role": "user", "content": []map[string]string{{"type": "text", "text": "hi"}}}},
				"stream": true, "stream_options": map[string]bool{"include_usage": true}, "temperature": 0.2, "max_tokens": 50,
				"user": "ignored-field",
			})
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" || resp.Header.Get(chat.ProviderHeader) != u.name {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
			}
			// If chatd buffered, "Hel" would never come while the upstream
			// holds its last token: after 5 s the guard releases it and the
			// test fails instead of hanging.
			guard := time.AfterFunc(5*time.Second, func() { close(hold) })
			released := false
			evs, done := readSSE(t, resp.Body, func(ev sseEvent) {
				if strings.Contains(ev.data, `"Hel"`) {
					released = true
					if !guard.Stop() {
						t.Error("the first chunk came only after the upstream sent its last")
						return
					}
					close(hold) // only now may the upstream send its last token
				}
			})
			if !done || !released {
				t.Fatalf("done=%v released=%v events=%v", done, released, evs)
			}
			content, cs := chunks(t, evs)
			if content != "Hello there" {
				t.Fatalf("content %q", content)
			}
			first, last := cs[0], cs[len(cs)-1]
			if first.Choices[0].Delta.Role != "assistant" {
				t.Fatalf("first chunk has no role: %+v", first)
			}
			fin := cs[len(cs)-2]
			if len(fin.Choices) != 1 || fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "stop" {
				t.Fatalf("finish chunk: %+v", fin)
			}
			if len(last.Choices) != 0 || last.Usage == nil || last.Usage.PromptTokens != 11 || last.Usage.CompletionTokens != 3 || last.Usage.TotalTokens != 14 {
				t.Fatalf("usage chunk: %+v", last)
			}
			for _, c := range cs {
				// The model as chatd takes it, provider/model (ADR-119).
				if c.ID != first.ID || c.Model != u.name+"/m1" {
					t.Fatalf("id/model drift: %+v", c)
				}
			}
			// What went upstream: the model without its prefix, the
			// parameters in the upstream's own shape, streaming.
			calls := up.Calls()
			if len(calls) != 1 || calls[0].Model != "m1" || !calls[0].Stream {
				t.Fatalf("calls = %+v", calls)
			}
			var sent map[string]any
			json.Unmarshal(calls[0].Body, &sent)
			switch u.name {
			case "ollama":
				opts := sent["options"].(map[string]any)
				if opts["temperature"] != 0.2 || opts["num_predict"] != 50.0 {
					t.Fatalf("ollama options = %v", sent)
				}
			default:
				if sent["temperature"] != 0.2 || sent["max_tokens"] != 50.0 || calls[0].Auth != "Bearer sk-or" ||
					sent["stream_options"].(map[string]any)["include_usage"] != true {
					t.Fatalf("openai body = %v auth %q", sent, calls[0].Auth)
				}
			}
		})
	}
}

// TestNativeAndNonStreaming covers POST /v1/chat (one answer and NDJSON
// through the typed Client) and the OpenAI non-streamed answer.
func TestNativeAndNonStreaming(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: chattest.Tokens(5)})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			ctx := context.Background()
			want := "t0 t1 t2 t3 t4 "

			r, err := e.client.Chat(ctx, chat.Request{Provider: u.name, Messages: userMsg("hi")})
			if err != nil {
				t.Fatal(err)
			}
			def := chatd.Defaults[u.name].Model
			if r.Provider != u.name || r.Model != def || r.Message.Content != want || r.Message.Role != "assistant" ||
				!r.Done || r.DoneReason != "stop" || r.Usage == nil || r.Usage.CompletionTokens != 5 || r.Usage.TotalTokens != 12 {
				t.Fatalf("chat = %+v", r)
			}

			st, err := e.client.ChatStream(ctx, chat.Request{Model: u.name + "/x", Messages: userMsg("hi")})
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			var n int
			var final chat.Response
			for {
				c, err := st.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				got.WriteString(c.Message.Content)
				final = c
			}
			st.Close()
			if got.String() != want || n != 6 || !final.Done || final.Usage == nil || final.Model != "x" || final.Provider != u.name {
				t.Fatalf("stream %q n=%d final=%+v", got.String(), n, final)
			}

			resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "x", "provider": u.name, "messages": userMsg("hi")})
			var comp chat.Completion
			json.NewDecoder(resp.Body).Decode(&comp)
			resp.Body.Close()
			if resp.StatusCode != 200 || comp.Object != "chat.completion" || len(comp.Choices) != 1 || string(comp.Choices[0].Message.Content) != want ||
				comp.Choices[0].FinishReason != "stop" || comp.Usage.TotalTokens != 12 || comp.Model != u.name+"/x" {
				t.Fatalf("completion = %d %+v", resp.StatusCode, comp)
			}
			// The native NDJSON lines decode as Ollama's own ChatResponse.
			resp = e.post(t, chat.RouteChat, map[string]any{"provider": u.name, "messages": userMsg("hi"), "stream": true})
			if resp.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("native content type %q", resp.Header.Get("Content-Type"))
			}
			lr := chat.NewLineReader(resp.Body, chat.MaxLine)
			var ollamaText strings.Builder
			for {
				line, err := lr.Line()
				if err != nil {
					break
				}
				var cr api.ChatResponse
				if err := json.Unmarshal(line, &cr); err != nil {
					t.Fatal(err)
				}
				ollamaText.WriteString(cr.Message.Content)
			}
			resp.Body.Close()
			if ollamaText.String() != want {
				t.Fatalf("ollama-decoded %q", ollamaText.String())
			}
		})
	}
}

// TestOllamaClient drives chatd with the official Ollama Go client pointed
// at http://chatd/v1/chat (ADR-062), streamed and not.
func TestOllamaClient(t *testing.T) {
	e, _ := withUpstream(t, "kimi", chattest.Script{Tokens: []string{"a", "b", "c"}})
	base, _ := url.Parse(e.srv.URL() + "/v1/chat")
	oc := api.NewClient(base, &http.Client{Timeout: 10 * time.Second})
	for _, stream := range []bool{true, false} {
		var parts []string
		var last api.ChatResponse
		err := oc.Chat(context.Background(), &api.ChatRequest{Model: "kimi/moonshot-v1-8k", Stream: &stream,
			Messages: []api.Message{{Role: "user", Content: "hi"}}, Options: map[string]any{"temperature": 0.5}},
			func(r api.ChatResponse) error { parts = append(parts, r.Message.Content); last = r; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(parts, "") != "abc" || !last.Done || last.DoneReason != "stop" || last.EvalCount != 3 || last.Model != "kimi/moonshot-v1-8k" { // the name asked for, as Ollama answers (ADR-119)
			t.Fatalf("stream=%v parts=%q last=%+v", stream, parts, last)
		}
		if stream && len(parts) != 4 || !stream && len(parts) != 1 {
			t.Fatalf("stream=%v parts=%q", stream, parts)
		}
	}
	// An error answer reaches the Ollama client as an error.
	err := oc.Chat(context.Background(), &api.ChatRequest{Model: "kimi/x"}, func(api.ChatResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.ErrorMessage, "messages") {
		t.Fatalf("ollama client error = %#v", err)
	}
}

// TestFallbackBeforeFirstToken: auto walks the chain past a provider that
// fails before its first token (5xx after retries, refused, 404 model,
// timeout) to the next one; the answer names who answered.
func TestFallbackBeforeFirstToken(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + closed.Addr().String()
	closed.Close()
	cases := []struct {
		name   string
		script chattest.Script
		url    string
		calls  int // upstream calls to the failing provider (retries = 1)
	}{
		{"5xx", chattest.Script{FailFirst: 100, FailStatus: 503}, "", 2},
		{"refused", chattest.Script{}, refused, 0},
		{"model-404", chattest.Script{Models: []string{"other"}}, "", 1},
		{"timeout", chattest.Script{HeaderDelay: 5 * time.Second}, "", 1},
		{"broke-before-token", chattest.Script{BreakAfter: 1, Tokens: []string{"", "x"}, Abort: true}, "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := chattest.NewOllama(tc.script)
			defer bad.Close()
			good := chattest.NewOpenAI(chattest.Script{Tokens: []string{"ok"}})
			defer good.Close()
			cfg := config(t)
			u := bad.URL
			if tc.url != "" {
				u = tc.url
			}
			configure(t, cfg, "ollama", u)
			configure(t, cfg, "opencode", good.Base())
			cfg.Chatd.Fallback = []string{"ollama", "openrouter", "opencode"} // openrouter unregistered: skipped
			// The good provider's first token must come within it: 1 s, not
			// 300 ms, for a loaded host.
			cfg.Chatd.Timeout = shared.Duration{Duration: time.Second}
			e := start(t, cfg)
			for _, stream := range []bool{true, false} {
				resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": userMsg("hi"), "stream": stream})
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "opencode" || !strings.Contains(string(b), `"ok"`) {
					t.Fatalf("stream=%v: %d %v %s", stream, resp.StatusCode, resp.Header, b)
				}
			}
			if n := len(bad.Calls()); n != 2*tc.calls {
				t.Fatalf("failing provider got %d calls, want %d", n, 2*tc.calls)
			}
			if c := good.Calls(); len(c) != 2 || c[0].Model != "qwen3-coder" {
				t.Fatalf("fallback calls = %+v", c)
			}
		})
	}
}

// TestNoFallbackAfterFirstToken: once a token went out, a broken upstream
// ends the stream with an error event (SSE) / error line (NDJSON); the next
// provider is never asked.
func TestNoFallbackAfterFirstToken(t *testing.T) {
	for _, u := range upstreams {
		for _, abort := range []bool{false, true} {
			t.Run(u.name+map[bool]string{false: "/error-event", true: "/cut"}[abort], func(t *testing.T) {
				bad, base := u.start(chattest.Script{Tokens: chattest.Tokens(5), BreakAfter: 2, Abort: abort})
				defer bad.Close()
				next := chattest.NewOpenAI(chattest.Script{})
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
				content, _ := chunks(t, evs[:len(evs)-1])
				if content != "t0 t1 " {
					t.Fatalf("content before the break %q", content)
				}
				var ev struct {
					Error chat.WireError `json:"error"`
				}
				json.Unmarshal([]byte(evs[len(evs)-1].data), &ev)
				if ev.Error.Kind != errs.Unavailable || !strings.Contains(ev.Error.Message, u.name+" broke mid-answer") || ev.Error.RequestID == "" {
					t.Fatalf("error event %s", evs[len(evs)-1].data)
				}

				// Native: the typed client's Next returns the error after two chunks.
				st, err := e.client.ChatStream(context.Background(), chat.Request{Messages: userMsg("hi")})
				if err != nil {
					t.Fatal(err)
				}
				var n int
				for ; ; n++ {
					if _, err = st.Next(); err != nil {
						break
					}
				}
				st.Close()
				if n != 2 || !errs.Is(err, errs.Unavailable) {
					t.Fatalf("native: %d chunks then %v", n, err)
				}
				if len(next.Calls()) != 0 {
					t.Fatal("fell back after the first token")
				}
			})
		}
	}
}

// TestRetries: transient answers (429, 503) are retried on the same
// provider with backoff; Retry-After above max_retry_wait is not waited for.
func TestRetries(t *testing.T) {
	for _, status := range []int{429, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e, up := withUpstream(t, "openrouter", chattest.Script{FailFirst: 1, FailStatus: status, Tokens: []string{"fine"}})
			r, err := e.client.Chat(context.Background(), chat.Request{Provider: "openrouter", Messages: userMsg("hi")})
			if err != nil || r.Message.Content != "fine" || len(up.Calls()) != 2 {
				t.Fatalf("%+v %v calls=%d", r, err, len(up.Calls()))
			}
			// Two failures with retries = 1: a 503 (the upstream is busy,
			// ADR-114; a 502 before) naming the provider and status.
			up.SetScript(chattest.Script{FailFirst: 2, FailStatus: status})
			_, err = e.client.ChatStream(context.Background(), chat.Request{Provider: "openrouter", Messages: userMsg("hi")})
			if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 503 || !strings.Contains(err.Error(), "openrouter: HTTP "+itoa(status)) ||
				!strings.Contains(err.Error(), "after 2 tries") {
				t.Fatalf("err = %v (%d)", err, errs.StatusOf(err))
			}
		})
	}
	// Retry-After: 30 s is above max_retry_wait (10 s): no retry.
	e, up := withUpstream(t, "ollama", chattest.Script{FailFirst: 1, FailStatus: 429, RetryAfter: "30"})
	t0 := time.Now()
	_, err := e.client.Chat(context.Background(), chat.Request{Messages: userMsg("hi")})
	if !errs.Is(err, errs.Unavailable) || len(up.Calls()) != 1 || time.Since(t0) > 5*time.Second {
		t.Fatalf("retry-after: %v calls=%d", err, len(up.Calls()))
	}
	// A 400 from the upstream is not retried and stays a 400.
	up.SetScript(chattest.Script{FailFirst: 1, FailStatus: 400})
	_, err = e.client.Chat(context.Background(), chat.Request{Provider: "ollama", Messages: userMsg("hi")})
	if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != 400 || len(up.Calls()) != 2 {
		t.Fatalf("400: %v calls=%d", err, len(up.Calls()))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAllProvidersFailed(t *testing.T) {
	cfg := config(t)
	fakeUpstream(t, cfg, "ollama", chattest.Script{FailFirst: 100, FailStatus: 500})
	fakeUpstream(t, cfg, "opencode", chattest.Script{Key: "right-key"}) // key file says sk-oc: 401
	cfg.Chatd.Fallback = []string{"ollama", "opencode"}
	e := start(t, cfg)
	for _, path := range []string{chat.RouteChat, chat.RouteCompletions} {
		for _, stream := range []bool{false, true} {
			resp := e.post(t, path, map[string]any{"provider": "auto", "messages": userMsg("hi"), "stream": stream})
			msg := errBody(t, resp, 502, "unavailable")
			for _, want := range []string{"all providers failed", "ollama: HTTP 500: scripted failure 500 (after 2 tries)", "opencode: the upstream rejected the API key: HTTP 401: Incorrect API key provided."} {
				if !strings.Contains(msg, want) {
					t.Fatalf("%s stream=%v: %q lacks %q", path, stream, msg, want)
				}
			}
		}
	}
}

func TestUnregisteredAndUnknownProviders(t *testing.T) {
	cfg := config(t)
	cfg.Chatd.KimiURL, cfg.Chatd.OpenRouterURL = "", "" // default URLs, but no keys
	e := start(t, cfg)                                  // nothing registered
	cases := []struct {
		body   any
		status int
		kind   string
		want   string
	}{
		{map[string]any{"provider": "kimi", "messages": userMsg("hi")}, 404, "not_found", "provider kimi is not registered (no API key: set KIMI_API_KEY"},
		{map[string]any{"model": "openrouter/anthropic/claude", "messages": userMsg("hi")}, 404, "not_found", "provider openrouter is not registered"},
		{map[string]any{"provider": "openai", "messages": userMsg("hi")}, 400, "invalid", `provider "openai": want auto or one of ollama, ollama_cloud, openrouter, opencode, kimi`},
		{map[string]any{"messages": userMsg("hi")}, 503, "unavailable", "no provider to try"},
	}
	for _, tc := range cases {
		for _, path := range []string{chat.RouteChat, chat.RouteCompletions} {
			msg := errBody(t, e.post(t, path, tc.body), tc.status, tc.kind)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s %v: %q lacks %q", path, tc.body, msg, tc.want)
			}
		}
	}
}

func TestBadRequests(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	cases := []struct {
		name, body, want string
		native, openai   bool
	}{
		{"no messages", `{"model":"m","messages":[]}`, "messages: at least one message is required", true, true},
		{"missing messages", `{"model":"m"}`, "messages: at least one message is required", true, true},
		{"bad role", `{"messages":[{"role":"wizard","content":"hi"}]}`, `messages[0].role "wizard"`, true, true},
		{"no role", `{"messages":[{"content":"hi"}]}`, "messages[0].role: required", true, true},
		{"temperature", `{"messages":[{"role":"user","content":"hi"}],"temperature":2.5}`, "temperature 2.5: want a number from 0 to 2", true, true},
		{"negative temperature", `{"messages":[{"role":"user","content":"hi"}],"temperature":-1}`, "temperature -1", true, true},
		{"max_tokens", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, "max_tokens 0: want at least 1", true, true},
		{"two problems", `{"messages":[{"role":"x","content":"hi"}],"temperature":9}`, `messages[0].role "x": want system, user, assistant or tool; temperature 9`, true, true},
		{"not json", `{"messages":`, "request body is not valid JSON", true, true},
		{"empty", ``, "empty request body", true, true},
		{"unknown field (native is strict)", `{"messages":[{"role":"user","content":"hi"}],"tempreature":1}`, `unknown field "tempreature"`, true, false},
		{"tools", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}`, "tools[0].function: want an object", false, true},
		{"functions", `{"messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}`, "functions (the legacy form; use tools): not supported", false, true},
		{"n", `{"messages":[{"role":"user","content":"hi"}],"n":2}`, "n 2: chatd answers one choice", false, true},
		{"image part", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, `field "messages[0].content[0]": a part of type "image_url": only text parts`, false, true},
	}
	for _, tc := range cases {
		for path, ok := range map[string]bool{chat.RouteChat: tc.native, chat.RouteCompletions: tc.openai} {
			if !ok {
				continue
			}
			msg := errBody(t, e.post(t, path, tc.body), 400, "invalid")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s %s: %q lacks %q", tc.name, path, msg, tc.want)
			}
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("bad requests reached the upstream %d times", n)
	}
}

// TestUpstreamTimeout: no first token within [chatd].timeout is a 504;
// a stall mid-stream past stream_idle_timeout ends the stream with a
// timeout error event.
func TestUpstreamTimeout(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{HeaderDelay: 5 * time.Second})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			// The stream below must get its first token within the timeout:
			// 1 s, not 200 ms, for a loaded host.
			cfg.Chatd.Timeout = shared.Duration{Duration: time.Second}
			cfg.Chatd.StreamIdleTimeout = shared.Duration{Duration: 200 * time.Millisecond}
			e := start(t, cfg)
			for _, stream := range []bool{false, true} {
				t0 := time.Now()
				resp := e.post(t, chat.RouteCompletions, map[string]any{"provider": u.name, "messages": userMsg("hi"), "stream": stream})
				msg := errBody(t, resp, 504, "timeout")
				if !strings.Contains(msg, u.name+": no first token within 1s") || time.Since(t0) > 4*time.Second {
					t.Fatalf("%q after %v", msg, time.Since(t0))
				}
			}
			if n := len(up.Calls()); n != 2 {
				t.Fatalf("timeouts are not retried: %d calls", n)
			}
			up.SetScript(chattest.Script{Tokens: []string{"a", "b"}, Delay: 3 * time.Second})
			resp := e.post(t, chat.RouteCompletions, map[string]any{"provider": u.name, "messages": userMsg("hi"), "stream": true})
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			last := evs[len(evs)-1].data
			if !done || !strings.Contains(last, `"kind":"timeout"`) || !strings.Contains(last, "no chunk for 200ms") {
				t.Fatalf("idle: done=%v %v", done, evs)
			}
		})
	}
}

// TestClientGoneCancelsUpstream: a client that hangs up mid-stream ends
// the upstream request too (streams are bounded by the request's ctx).
func TestClientGoneCancelsUpstream(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: chattest.Tokens(100), Delay: 20 * time.Millisecond})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			st, err := e.client.ChatStream(ctx, chat.Request{Messages: userMsg("hi")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Next(); err != nil {
				t.Fatal(err)
			}
			cancel()
			st.Close()
			deadline := time.Now().Add(3 * time.Second)
			for up.Gone() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the upstream kept streaming after the client left")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
