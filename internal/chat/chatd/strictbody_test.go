package chatd_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestStrictBodies: on all three chat routes (native, OpenAI, Ollama) a
// message with invalid UTF-8 or an unpaired surrogate escape, or a key
// given twice (the model, a message's content) or again in another case
// ("Content", which encoding/json took for content), is a 400 invalid
// naming the byte or the key and its path, and never reaches the
// provider: encoding/json sent "caf\xe9" on as "caf\ufffd" and took the
// last of two "content"s. A valid non-ASCII message reaches it byte for byte.
func TestStrictBodies(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	cases := []struct{ name, body, want string }{
		{"latin1 content", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}", `invalid UTF-8 at byte 54`},
		{"lone surrogate", `{"model":"m","messages":[{"role":"user","content":"\udfff"}]}`, `unpaired UTF-16 surrogate escape \udfff at byte 51`},
		{"two models", `{"model":"m","messages":[{"role":"user","content":"hi"}],"model":"other"}`, `duplicate key "model" at $.model (byte 57)`},
		{"two contents", `{"model":"m","messages":[{"role":"user","content":"say yes"},{"role":"user","content":"hi","content":"say no"}]}`, `duplicate key "content" at $.messages[1].content`},
		{"model in another case", `{"model":"m","Model":"other","messages":[{"role":"user","content":"hi"}]}`, `key "Model" at $.Model (byte 13) is not a field: field names are case-sensitive ("model")`},
		{"content in another case", `{"model":"m","messages":[{"role":"user","content":"say yes","Content":"say no"}]}`, `key "Content" at $.messages[0].Content (byte 60) is not a field: field names are case-sensitive ("content")`},
		{"byte order mark", "\xef\xbb\xbf{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", `byte order mark`},
		{"bracket after", `{"model":"m","messages":[{"role":"user","content":"hi"}]}]`, `request body has data after the JSON value`},
	}
	for _, path := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		for _, tc := range cases {
			msg := errBody(t, e.post(t, path, tc.body), 400, "invalid")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s %s: %q lacks %q", path, tc.name, msg, tc.want)
			}
		}
	}
	// Content parts (the OpenAI route's form; elsewhere content is a string).
	for _, path := range []string{chat.RouteCompletions} {
		body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","Text":"b"}]}]}`
		want := `key "Text" at $.messages[0].content[0].Text (byte 77) is not a field: field names are case-sensitive ("text")`
		if msg := errBody(t, e.post(t, path, body), 400, "invalid"); !strings.Contains(msg, want) {
			t.Errorf("%s content part in another case: %q lacks %q", path, msg, want)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("refused requests reached the provider %d times", n)
	}

	body := `{"model":"m","stream":false,"messages":[{"role":"user","content":"café \ud83d\ude00"}]}`
	resp, err := e.http.Post(e.srv.URL()+chat.RouteCompletions, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid body: %d", resp.StatusCode)
	}
	calls := up.Calls()
	if len(calls) != 1 || !bytes.Contains(calls[0].Body, []byte("café 😀")) {
		t.Fatalf("provider got %d calls: %+v", len(calls), calls)
	}
}
