package openai

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"lakehouse-go/internal/chat"
)

// FuzzSSEStream: any 200 answer body from an OpenAI-compatible upstream
// (event stream, a whole JSON answer or error, garbage) through the
// adapter's parser ends — io.EOF after a Done chunk, or an error with a
// message — within as many chunks as it has bytes, never a panic; chunks
// after Done never come, and an *chat.UpstreamError carries a status of 0
// or 400-599.
func FuzzSSEStream(f *testing.F) {
	f.Add("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", "")
	f.Add("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\"}}]}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n", "1")
	f.Add(`{"error":{"code":429,"message":"slow down","metadata":{}},"user_id":"u"}`, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(`{"error":"plain"}`, "x")
	f.Add(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"whole","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`, "")
	f.Add("data: {\"error\":{\"message\":\"boom\",\"code\":\"rate_limit_exceeded\"}}\n\n", "")
	f.Add(": OPENROUTER PROCESSING\n\ndata: [DONE]\n\n", "")
	f.Add("<html>\xff</html>", "-1")
	f.Add("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"Hm\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"Hm\",\"format\":\"unknown\",\"index\":0}]},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", "")
	f.Add("data: {\"choices\":[{\"delta\":{\"reasoning_details\":[{\"type\":\"reasoning.summary\",\"summary\":\"S\"},{\"type\":\"reasoning.encrypted\",\"data\":\"e\"}]}}]}\n\n", "")
	f.Add(`{"choices":[{"message":{"role":"assistant","content":null,"reasoning_content":"why"},"finish_reason":"length"}]}`, "")
	// ADR-113: arguments as an object; usage before the first token and a
	// later one that gives only the completion's count.
	f.Add("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\": [1, 2]}}}]}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n", "")
	f.Add("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7}}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", "")
	f.Fuzz(func(t *testing.T, body, retryAfter string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		br := bufio.NewReaderSize(strings.NewReader(body), 16<<10)
		s := &sseStream{body: io.NopCloser(nil), br: br, sr: chat.NewSSEReader(br), header: h}
		done := false
		for i := 0; ; i++ {
			c, err := s.Next()
			if err != nil {
				if errors.Is(err, io.EOF) != done {
					t.Fatalf("EOF %v after done %v: %v", errors.Is(err, io.EOF), done, err)
				}
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				var ue *chat.UpstreamError
				if errors.As(err, &ue) && ue.Status != 0 && (ue.Status < 400 || ue.Status > 599 || ue.RetryAfter < 0) {
					t.Fatalf("upstream error %+v", ue)
				}
				if _, err := s.Next(); err == nil {
					t.Fatal("a chunk after the end")
				}
				return
			}
			if done {
				t.Fatal("a chunk after Done")
			}
			done = c.Done
			if i > len(body)+2 {
				t.Fatalf("%d chunks from %d bytes", i, len(body))
			}
			if !utf8.ValidString(body) {
				continue
			}
			if c.Content != "" && !strings.Contains(body, c.Content) && !strings.Contains(body, `\`) {
				t.Fatalf("content %q is not in the body", c.Content)
			}
			if c.Thinking != "" && !strings.Contains(body, c.Thinking) && !strings.Contains(body, `\`) && !strings.Contains(body, "reasoning_details") {
				t.Fatalf("reasoning %q is not in the body", c.Thinking)
			}
		}
	})
}
