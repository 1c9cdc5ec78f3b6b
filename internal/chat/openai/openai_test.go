package openai_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/openai"
)

// serve answers every request with body as an SSE stream.
func serve(body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
}

func collect(t *testing.T, body string) ([]chat.Chunk, error) {
	srv := serve(body)
	defer srv.Close()
	p := openai.New(srv.URL, "k", &http.Client{Timeout: 5 * time.Second})
	st, err := p.Chat(context.Background(), chat.ProviderRequest{Model: "m", Messages: []chat.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []chat.Chunk
	for {
		c, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

const role = `data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"

func TestStreamShapes(t *testing.T) {
	cases := map[string]struct {
		body    string
		content string
		usage   int
		err     string
	}{
		"usage chunk after finish": {role +
			`data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
			`data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}` + "\n\n" +
			"data: [DONE]\n\n", "a", 3, ""},
		"content and finish and usage in one chunk (Moonshot style)": {role + ": keep-alive\n\n" +
			`data: {"choices":[{"index":0,"delta":{"content":"ab"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}` + "\n\n" +
			"data: [DONE]\n\n", "ab", 3, ""},
		"no [DONE] after finish": {role +
			`data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}` + "\n\n", "x", 0, ""},
		"cut before finish":      {role + `data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}` + "\n\n", "x", 0, "unexpected EOF"},
		"openrouter error event": {role + `data: {"error":{"code":502,"message":"Provider returned error"}}` + "\n\n", "", 0, "Provider returned error"},
		"finish_reason error":    {role + `data: {"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n", "", 0, "finish_reason error"},
		"garbage":                {"data: {not json\n\n", "", 0, "undecodable SSE chunk"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cs, err := collect(t, tc.body)
			var sb strings.Builder
			for _, c := range cs {
				sb.WriteString(c.Content)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			last := cs[len(cs)-1]
			if sb.String() != tc.content || !last.Done {
				t.Fatalf("chunks = %+v", cs)
			}
			if got := 0; last.Usage != nil {
				got = last.Usage.TotalTokens
				if got != tc.usage {
					t.Fatalf("usage = %+v", last.Usage)
				}
			} else if tc.usage != 0 {
				t.Fatal("usage lost")
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.URL.Path != "/chat/completions" {
			t.Errorf("request %s %v", r.URL.Path, r.Header)
		}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(429)
		io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit_exceeded"}}`)
	}))
	defer srv.Close()
	_, err := openai.New(srv.URL+"/", "k", &http.Client{Timeout: 5 * time.Second}).Chat(context.Background(), chat.ProviderRequest{Model: "m"})
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 429 || ue.Message != "slow down" || ue.RetryAfter != 3*time.Second || !ue.Transient() {
		t.Fatalf("%#v", err)
	}
}
