package chat_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
)

func TestSSEReader(t *testing.T) {
	in := ": OPENROUTER PROCESSING\n\n" +
		"event: message\r\nid: 1\r\ndata: {\"a\":1}\r\n\r\n" +
		"data:{\"b\":2}\n\n" +
		"data: line1\ndata: line2\n\n" +
		"retry: 100\n\n" +
		"data: [DONE]\n\n" +
		"data: trailing-without-blank-line"
	sr := chat.NewSSEReader(strings.NewReader(in))
	var got []string
	for {
		d, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(d))
	}
	want := []string{`{"a":1}`, `{"b":2}`, "line1\nline2", "[DONE]", "trailing-without-blank-line"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestLineReaderLimit(t *testing.T) {
	lr := chat.NewLineReader(strings.NewReader(strings.Repeat("x", 100)+"\nok\n"), 50)
	if _, err := lr.Line(); err == nil {
		t.Fatal("over-long line accepted")
	}
	long := strings.Repeat("y", 40<<10) // longer than the bufio buffer
	lr = chat.NewLineReader(strings.NewReader(long+"\r\nshort"), 1<<20)
	if l, err := lr.Line(); err != nil || string(l) != long {
		t.Fatalf("long line: %d %v", len(l), err)
	}
	if l, err := lr.Line(); err != nil || string(l) != "short" {
		t.Fatalf("last line: %q %v", l, err)
	}
	if _, err := lr.Line(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

func TestUpstreamMessage(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":{"message":"Rate limit","code":429}}`: "Rate limit",
		`{"error":"model 'x' not found"}`:               "model 'x' not found",
		`{"message":"bad"}`:                             "bad",
		`<html>502 Bad Gateway</html>`:                  "<html>502 Bad Gateway</html>",
	} {
		if got := chat.UpstreamMessage([]byte(in)); got != want {
			t.Errorf("%s: %q", in, got)
		}
	}
}

func TestCompletionRequestDecoding(t *testing.T) {
	var c chat.CompletionRequest
	err := jsonDecode(`{"model":"m","messages":[{"role":"system","content":null},{"role":"user","content":[{"type":"text","text":"Context: a"},{"type":"text","text":"Question: b?"}]}],"stop":"END","max_completion_tokens":9}`, &c)
	if err != nil {
		t.Fatal(err)
	}
	// Text parts are one a line (as vLLM joins them), never glued together.
	r, err := c.ToRequest()
	if err != nil || r.Messages[1].Content != "Context: a\nQuestion: b?" || r.Stop[0] != "END" || *r.MaxTokens != 9 {
		t.Fatalf("%+v %v", r, err)
	}
}
