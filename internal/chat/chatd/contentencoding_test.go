package chatd_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestContentEncodingRefused: on the native, OpenAI and Ollama routes a
// body sent with Content-Encoding gzip is a 415 (kind invalid, in the
// route's error shape) naming the coding, and the provider is never
// called: a gzip body was "request body is not valid JSON: invalid
// character '\x1f'", and a plain body labelled gzip was sent on as if
// unlabelled.
func TestContentEncodingRefused(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	plain := []byte(`{"model":"m","stream":false,"messages":[{"role":"user","content":"hi"}]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	post := func(path string, body []byte, coding string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.srv.URL()+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if coding != "" {
			req.Header.Set("Content-Encoding", coding)
		}
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, path := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		for _, body := range [][]byte{gz.Bytes(), plain} {
			resp := post(path, body, "gzip")
			// RFC 9110 15.5.16: the 415 names the codings taken, in every body shape.
			if ae := resp.Header.Values("Accept-Encoding"); len(ae) != 1 || ae[0] != "identity" {
				t.Errorf("%s: Accept-Encoding %q, want identity", path, ae)
			}
			msg := errBody(t, resp, http.StatusUnsupportedMediaType, "invalid")
			if !strings.Contains(msg, `Content-Encoding "gzip" is not accepted`) {
				t.Errorf("%s: %q does not name the coding", path, msg)
			}
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("refused requests reached the provider %d times", n)
	}
	resp := post(chat.RouteCompletions, plain, "identity")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.Calls()) != 1 {
		t.Fatalf("identity body: %d, %d provider calls", resp.StatusCode, len(up.Calls()))
	}
}
