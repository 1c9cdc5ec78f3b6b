package chatd_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestStopSequences: stop through every route to an Ollama that applies
// it as Ollama's runner does. An empty stop sequence ("stop":"" from a
// client's empty field, or "" in a list) is dropped: Ollama ends every
// answer at it before its first token. The Ollama route takes any number
// of options.stop, as Ollama does (OpenAI's limit of 4 stays on the
// OpenAI and native routes). Before: "stop":"" answered an empty message
// with 200, and the Ollama route refused a fifth stop sequence with 400.
func TestStopSequences(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})

	resp := e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],"stop":""}`)
	var comp chat.Completion
	json.NewDecoder(resp.Body).Decode(&comp)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(comp.Choices) != 1 || comp.Choices[0].Message.Content != "Hello world!" {
		t.Fatalf(`OpenAI route, stop "": %d %+v`, resp.StatusCode, comp)
	}

	r, err := e.client.Chat(t.Context(), chat.Request{Model: "ollama/m", Messages: userMsg("hi"), Stop: []string{"", " world"}})
	if err != nil || r.Message.Content != "Hello" {
		t.Fatalf(`native, stop ["", " world"]: %v %q`, err, r.Message.Content)
	}
	if sent := string(up.Calls()[1].Body); !strings.Contains(sent, `"stop":[" world"]`) {
		t.Fatalf("sent upstream: %s", sent)
	}

	resp = e.post(t, chat.RouteOllamaChat, `{"model":"ollama/m","stream":false,"messages":[{"role":"user","content":"hi"}],
		"options":{"stop":["<|eot_id|>","<|start_header_id|>","<|end_header_id|>","</s>","[INST]","!"]}}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var o chat.OllamaChatResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &o) != nil || o.Message.Content != "Hello world" {
		t.Fatalf("Ollama route, 6 stop sequences: %d %s", resp.StatusCode, b)
	}

	msg := errBody(t, e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}`), 400, "invalid")
	if !strings.Contains(msg, "stop") {
		t.Fatalf("OpenAI route, 5 stop sequences: %q", msg)
	}
}

// TestMaxCompletionTokensNamed: max_completion_tokens (OpenAI's newer
// name, what openai-python sends for o-series and newer models) below 1
// is a 400 naming max_completion_tokens, the field the client sent.
// Before: "max_tokens 0: want at least 1", a field it never sent.
func TestMaxCompletionTokensNamed(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	for _, n := range []string{"0", "-5"} {
		msg := errBody(t, e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":`+n+`}`), 400, "invalid")
		if !strings.Contains(msg, "max_completion_tokens "+n+": want at least 1") || strings.Contains(msg, "max_tokens") {
			t.Fatalf("max_completion_tokens %s: %q", n, msg)
		}
	}
	resp := e.post(t, chat.RouteCompletions, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7}`)
	resp.Body.Close()
	if calls := up.Calls(); resp.StatusCode != 200 || len(calls) != 1 || !strings.Contains(string(calls[0].Body), `"num_predict":7`) {
		t.Fatalf("max_completion_tokens 7: %d %v", resp.StatusCode, calls)
	}
}
