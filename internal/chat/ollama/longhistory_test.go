package ollama_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/ollama"
)

// TestLongToolHistoryRequest: the adapter names each tool result's tool in
// one pass over the history. 40,000 calls and results took seconds of CPU
// (chat.ToolName scanned back for every result), inside the first-token
// watchdog: a 504 for a request Ollama never saw.
func TestLongToolHistoryRequest(t *testing.T) {
	const n = 40000
	msgs := []chat.Message{{Role: chat.RoleUser, Content: "hi"}}
	for i := 0; i < n; i++ {
		msgs = append(msgs, chat.Message{Role: chat.RoleAssistant, ToolCalls: []chat.ToolCall{{ID: fmt.Sprintf("c%d", i), Type: "function",
			Function: chat.FunctionCall{Name: fmt.Sprintf("f%d", i), Arguments: json.RawMessage("{}")}}}})
	}
	for i := 0; i < n; i++ {
		msgs = append(msgs, chat.Message{Role: chat.RoleTool, Content: "r", ToolCallID: fmt.Sprintf("c%d", i)})
	}
	var got struct {
		Messages []struct {
			ToolName   string `json:"tool_name"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
		io.WriteString(w, `{"model":"m","message":{"role":"assistant","content":""},"done":true}`+"\n")
	}))
	defer up.Close()
	t0 := time.Now()
	st, err := ollama.New(up.URL, "", up.Client()).Chat(context.Background(), chat.ProviderRequest{Model: "m", Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if d := time.Since(t0); d > 15*time.Second && !raceOn { // the quadratic scan took 28-60 s; ~1 s now, 6.5 s seen on a loaded machine
		t.Fatalf("a history of %d calls took %v", n, d)
	}
	if len(got.Messages) != 2*n+1 {
		t.Fatalf("%d messages upstream", len(got.Messages))
	}
	for i, m := range got.Messages[n+1:] {
		if m.ToolName != fmt.Sprintf("f%d", i) || m.ToolCallID != fmt.Sprintf("c%d", i) {
			t.Fatalf("result %d: %+v", i, m)
		}
	}
}
