package chatd

import (
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
)

// TestGenTraceToolCallsBounded (ADR-107): a traced attempt keeps at most
// genMaxText of its tool calls' names and arguments, as of its text; a
// streamed call of 20 MiB of arguments (under chat.MaxAnswerBytes, in
// pieces of 1 MiB as an upstream streams them) was kept whole until the
// answer ended, though the generation's output is cut to 64 KiB. The
// first calls are kept, in order, the one at the bound cut short.
func TestGenTraceToolCallsBounded(t *testing.T) {
	g := &genTrace{}
	piece := strings.Repeat("z", 1<<20)
	g.add(chat.Response{ToolCallDeltas: []chat.ToolCallDelta{{Index: 0, ID: "call_a", Name: "small", Arguments: `{"q":1}`}}})
	g.add(chat.Response{ToolCallDeltas: []chat.ToolCallDelta{{Index: 1, ID: "call_b", Name: "big", Arguments: `{"a":"`}}})
	for range 20 {
		g.add(chat.Response{ToolCallDeltas: []chat.ToolCallDelta{{Index: 1, Arguments: piece}}})
	}
	g.add(chat.Response{ToolCallDeltas: []chat.ToolCallDelta{{Index: 2, ID: "call_c", Name: "late", Arguments: `{}`}}})
	calls := g.calls.Calls()
	held := 0
	for _, c := range calls {
		held += len(c.Function.Name) + len(c.Function.Arguments)
	}
	if held > genMaxText+64 || len(calls) != 2 || calls[0].Function.Name != "small" || calls[1].Function.Name != "big" {
		t.Fatalf("the trace holds %d bytes of %d calls (want at most %d, the first two)", held, len(calls), genMaxText)
	}
}
