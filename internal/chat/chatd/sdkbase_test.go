package chatd_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestOpenAISDKBaseURL: an OpenAI SDK takes one base URL and appends
// /models and /chat/completions to it. chatd's models list is
// GET /v1/chat/models, so the base is http://gateway/v1/chat (as the
// Ollama host is, ADR-062); the SDK then posts to
// /v1/chat/chat/completions, which was a 404 "no route" (ADR-114). With
// base /v1 the chat worked and client.models.list() was the 404 instead:
// no base URL served both. The requests are the bytes the official openai
// npm SDK (v6) sends, seen on the wire.
func TestOpenAISDKBaseURL(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	base := e.srv.URL() + "/v1/chat" // new OpenAI({baseURL})

	resp, err := e.http.Get(base + "/models") // client.models.list()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ml struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &ml) != nil || ml.Object != "list" || len(ml.Data) != 1 || ml.Data[0].ID != "ollama/llama3.2" {
		t.Fatalf("GET {base}/models: %d %s", resp.StatusCode, b)
	}

	// client.chat.completions.create({model, messages})
	resp = e.post(t, strings.TrimPrefix(base, e.srv.URL())+"/chat/completions",
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var c chat.Completion
	if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil || c.Object != "chat.completion" || len(c.Choices) != 1 ||
		string(c.Choices[0].Message.Content) != "Hello world!" || c.Choices[0].FinishReason != "stop" {
		t.Fatalf("POST {base}/chat/completions: %d %s", resp.StatusCode, b)
	}

	// ...with stream: true, stream_options: {include_usage: true}
	resp = e.post(t, "/v1/chat/chat/completions",
		`{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("streamed POST {base}/chat/completions: %d %s", resp.StatusCode, b)
	}
	evs, done := readSSE(t, resp.Body, nil)
	content, cs := chunks(t, evs)
	last := cs[len(cs)-1]
	if !done || content != "Hello world!" || len(last.Choices) != 0 || last.Usage == nil || last.Usage.TotalTokens == 0 {
		t.Fatalf("stream: done=%v content=%q last=%+v", done, content, last)
	}
	if n := len(up.Calls()); n != 2 {
		t.Fatalf("upstream got %d calls, want 2", n)
	}
}
