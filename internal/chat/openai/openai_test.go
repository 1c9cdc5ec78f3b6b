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
		// The SSE spec allows a bare CR as the line end: same answer.
		"CR line ends": {strings.ReplaceAll(role+": keep-alive\n\n"+
			`data: {"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":null}]}`+"\n\n"+
			`data: {"choices":[{"index":0,"delta":{"content":"r"},"finish_reason":"stop"}]}`+"\n\n"+
			`data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2}}`+"\n\n"+
			"data: [DONE]\n\n", "\n", "\r"), "cr", 4, ""},
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

// TestJSONAnswerWith200: a 200 answer that is one JSON document instead of
// an event stream. Error bodies are the upstream's error with the status
// their code or type names (and the answer's Retry-After); a
// chat.completion (stream=true ignored) is its content and end.
func TestJSONAnswerWith200(t *testing.T) {
	cases := map[string]struct {
		body   string
		status int
		msg    string
	}{
		"openrouter code":      {`{"error":{"message":"Rate limit exceeded: free-models-per-min.","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"20"},"provider_name":null}},"user_id":"user_2x"}`, 429, "Rate limit exceeded: free-models-per-min."},
		"leading white space":  {"\n\n   " + `{"error":{"message":"Provider returned error","code":502}}`, 502, "Provider returned error"},
		"openai type and code": {`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, 429, "You exceeded your current quota"},
		"string status code":   {`{"error":{"message":"no such model","type":"invalid_request_error","code":"404"}}`, 404, "no such model"},
		"type only":            {`{"error":{"message":"bad field","type":"invalid_request_error","param":"x","code":null}}`, 400, "bad field"},
		"nothing to go on":     {`{"error":{"message":"it broke"}}`, 502, "it broke"},
		"error as text":        {`{"error":"upstream overloaded"}`, 502, "upstream overloaded"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "4")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			st, err := openai.New(srv.URL, "k", &http.Client{Timeout: 5 * time.Second}).Chat(context.Background(), chat.ProviderRequest{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = st.Next()
			var ue *chat.UpstreamError
			if !errors.As(err, &ue) || ue.Status != tc.status || ue.Message != tc.msg || !ue.InBand || ue.RetryAfter != 4*time.Second {
				t.Fatalf("%#v", err)
			}
			if _, err := st.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the error: %v", err)
			}
		})
	}

	// A whole chat.completion where a stream was asked for.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c9","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	}))
	defer srv.Close()
	st, err := openai.New(srv.URL, "k", &http.Client{Timeout: 5 * time.Second}).Chat(context.Background(), chat.ProviderRequest{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c1, err1 := st.Next()
	c2, err2 := st.Next()
	_, err3 := st.Next()
	if err1 != nil || err2 != nil || !errors.Is(err3, io.EOF) || c1.Content != "whole" || c1.Done || !c2.Done ||
		c2.DoneReason != "length" || c2.Usage == nil || c2.Usage.TotalTokens != 5 || c2.ID != "c9" {
		t.Fatalf("%+v %v / %+v %v / %v", c1, err1, c2, err2, err3)
	}
}

// TestStreamErrorEventStatus: an error event inside the stream carries
// its code as the status, so a 429 before the first token is retried.
func TestStreamErrorEventStatus(t *testing.T) {
	_, err := collect(t, `data: {"error":{"message":"Rate limited upstream","code":429}}`+"\n\n")
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 429 || !ue.InBand || !ue.Transient() {
		t.Fatalf("%#v", err)
	}
}

// TestReasoningShapes: the reasoning forms of OpenAI-compatible upstreams
// become Chunk.Thinking: OpenRouter's delta.reasoning (its
// reasoning_details repeat it: taken once), reasoning_details alone (text
// and summary entries; encrypted ones have no text), DeepSeek's and Kimi's
// reasoning_content (with vLLM's reasoning alongside: taken once), and the
// message fields of a whole JSON answer.
func TestReasoningShapes(t *testing.T) {
	end := `data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	cases := map[string]struct{ body, want string }{
		"openrouter":        {role + `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Hm","reasoning_details":[{"type":"reasoning.text","text":"Hm","format":"unknown","index":0}]},"finish_reason":null}]}` + "\n\n" + end, "Hm"},
		"details only":      {role + `data: {"choices":[{"index":0,"delta":{"reasoning_details":[{"type":"reasoning.summary","summary":"Sum"},{"type":"reasoning.encrypted","data":"xx"},{"type":"reasoning.text","text":"Txt"}]},"finish_reason":null}]}` + "\n\n" + end, "SumTxt"},
		"reasoning_content": {role + `data: {"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Why","reasoning":"Why"},"finish_reason":null}]}` + "\n\n" + end, "Why"},
		"whole answer":      {`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok","reasoning_content":"Whole"},"finish_reason":"stop"}]}`, "Whole"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cs, err := collect(t, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			var th, ct strings.Builder
			for _, c := range cs {
				th.WriteString(c.Thinking)
				ct.WriteString(c.Content)
			}
			if th.String() != tc.want || ct.String() != "ok" || !cs[len(cs)-1].Done {
				t.Fatalf("thinking %q content %q: %+v", th.String(), ct.String(), cs)
			}
		})
	}
}
