package chat_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"lakehouse-go/internal/chat"
)

// FuzzFrames: any upstream bytes through the SSE and NDJSON readers end in
// io.EOF or an error, never a panic or an endless loop, and never yield more
// data than was sent. The SSE reader gives the same events whether the
// lines end with CRLF, LF or CR (the input with every line end made "\n"),
// and whether the bytes come at once or one at a time.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\r\ndata: x\r\ndata: y\r\n\r\n"))
	f.Add([]byte("{\"done\":false}\n{\"done\":true}"))
	f.Add([]byte("data:"))
	f.Add(bytes.Repeat([]byte("a"), 70000))
	f.Add([]byte("data: a\rdata: b\r\rdata: c\r\n\r: x\rdata: [DONE]\r\r"))
	f.Add([]byte("data: x\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events := func(r io.Reader) []string {
			var out []string
			sr := chat.NewSSEReader(r)
			for i := 0; i <= len(data)+1; i++ {
				ev, err := sr.Next()
				if err != nil {
					return append(out, "error: "+err.Error())
				}
				out = append(out, string(ev))
			}
			t.Fatal("SSE reader did not terminate")
			return nil
		}
		got := events(bytes.NewReader(data))
		lf := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		if want := events(bytes.NewReader(lf)); !slices.Equal(got, want) {
			t.Fatalf("CR/CRLF/LF line ends: %q, with LF only %q", got, want)
		}
		if one := events(iotest.OneByteReader(bytes.NewReader(data))); !slices.Equal(got, one) {
			t.Fatalf("at once %q, a byte at a time %q", got, one)
		}
		sr := chat.NewSSEReader(bytes.NewReader(data))
		total := 0
		for i := 0; ; i++ {
			ev, err := sr.Next()
			total += len(ev)
			if err != nil || i > len(data)+1 {
				if err == nil {
					t.Fatal("SSE reader did not terminate")
				}
				break
			}
		}
		if total > len(data) {
			t.Fatalf("SSE reader produced %d bytes from %d", total, len(data))
		}
		lr := chat.NewLineReader(bytes.NewReader(data), chat.MaxLine)
		for i := 0; ; i++ {
			_, err := lr.Line()
			if err != nil {
				if !errors.Is(err, io.EOF) && err.Error() == "" {
					t.Fatal("empty error")
				}
				break
			}
			if i > len(data)+1 {
				t.Fatal("line reader did not terminate")
			}
		}
	})
}
