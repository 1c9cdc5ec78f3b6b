package ollama

import (
	"errors"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
)

// FuzzNDJSONStream: any 200 answer body from an Ollama upstream through
// the adapter's line parser ends — io.EOF after a done line, or an error
// with a message — within as many chunks as it has bytes, never a panic;
// tool calls are numbered 0, 1, 2, ... in the order they came, with
// arguments that are a JSON object.
func FuzzNDJSONStream(f *testing.F) {
	f.Add("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":1,\"eval_count\":2}\n")
	f.Add("{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":[1,{\"b\":null}]}}},{\"id\":\"x\",\"function\":{\"name\":\"g\",\"arguments\":{}}}]},\"done\":false}\n\r\n{\"done\":true}")
	f.Add("{\"error\":\"model crashed\"}\n")
	f.Add("{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":\"text\"}}]},\"done\":true}\n")
	f.Add("<html>\xff</html>")
	f.Add("{\"model\":\"m\",\"created_at\":\"2026-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Hm\"},\"done\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":true,\"done_reason\":\"stop\"}\n")
	f.Fuzz(func(t *testing.T, body string) {
		s := &lineStream{body: io.NopCloser(nil), lr: chat.NewLineReader(strings.NewReader(body), chat.MaxLine)}
		done, calls := false, 0
		for i := 0; ; i++ {
			c, err := s.Next()
			if err != nil {
				if errors.Is(err, io.EOF) != done || err.Error() == "" {
					t.Fatalf("after done %v: %v", done, err)
				}
				return
			}
			if done {
				t.Fatal("a chunk after Done")
			}
			done = c.Done
			for _, tc := range c.ToolCalls {
				if tc.Index != calls || !strings.HasPrefix(tc.Arguments, "{") {
					t.Fatalf("call %d: %+v", calls, tc)
				}
				calls++
			}
			if i > len(body)+1 {
				t.Fatalf("%d chunks from %d bytes", i, len(body))
			}
		}
	})
}
