package chat_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"lakehouse-go/internal/chat"
)

// FuzzFrames: any upstream bytes through the SSE and NDJSON readers end in
// io.EOF or an error, never a panic or an endless loop, and never yield more
// data than was sent.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\r\ndata: x\r\ndata: y\r\n\r\n"))
	f.Add([]byte("{\"done\":false}\n{\"done\":true}"))
	f.Add([]byte("data:"))
	f.Add(bytes.Repeat([]byte("a"), 70000))
	f.Fuzz(func(t *testing.T, data []byte) {
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
