package chat_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

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

// TestSSELineEnds: an event stream may end its lines with CRLF, LF or a
// bare CR (WHATWG); all three, mixed, and a CRLF split across reads (one
// byte at a time) give the same events. A bare CR used to be no line end:
// a CR-only stream was one line with no event in it.
func TestSSELineEnds(t *testing.T) {
	lf := ": ping\n\ndata: {\"a\":1}\n\nevent: x\ndata: l1\ndata: l2\n\ndata: [DONE]\n\n"
	want := []string{`{"a":1}`, "l1\nl2", "[DONE]"}
	inputs := map[string]string{
		"LF":    lf,
		"CRLF":  strings.ReplaceAll(lf, "\n", "\r\n"),
		"CR":    strings.ReplaceAll(lf, "\n", "\r"),
		"mixed": ": ping\r\rdata: {\"a\":1}\r\n\nevent: x\rdata: l1\ndata: l2\r\n\r\ndata: [DONE]\r\r",
	}
	for name, in := range inputs {
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if split {
				r = iotest.OneByteReader(r)
			}
			sr := chat.NewSSEReader(r)
			var got []string
			for {
				d, err := sr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got = append(got, string(d))
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("%s (one byte a read %v): got %q, want %q", name, split, got, want)
			}
		}
	}
	// An event is delivered as soon as its blank line's CR came: the
	// reader does not wait for a possible LF.
	pr, pw := io.Pipe()
	go pw.Write([]byte("data: now\r\r"))
	sr := chat.NewSSEReader(pr)
	if d, err := sr.Next(); err != nil || string(d) != "now" {
		t.Fatalf("%q %v", d, err)
	}
	pw.Close()
}
