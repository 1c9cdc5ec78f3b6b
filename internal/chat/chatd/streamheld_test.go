package chatd_test

import (
	"io"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/shared"
)

// TestStreamedAnswerNotHeld (ADR-107): chatd holds nothing of a streamed
// answer's text — it goes out as it comes — so a streamed answer of 3 ×
// chat.MaxAnswerBytes is relayed whole (no cap: request_timeout and the
// client end it), on the SSE and the native NDJSON route, with Langfuse
// tracing on (which keeps at most 64 KiB of it), and the heap rises by far
// less than the answer. A decision's test, not a fix's: it passed before.
func TestStreamedAnswerNotHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("a large answer")
	}
	// The heap's peak counts garbage not yet collected: with GOGC 100 on a
	// loaded CI host it read 19 MiB once (6-13 MiB here). A lower GOGC keeps
	// that headroom small; an answer held whole (96 MiB) still shows.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	sink := &langfuseSink{}
	lf := httptest.NewServer(sink)
	defer lf.Close()
	piece := strings.Repeat("x", 64<<10)
	toks := slices.Repeat([]string{piece}, 3*chat.MaxAnswerBytes/len(piece))
	cfg := config(t)
	fakeUpstream(t, cfg, "openrouter", chattest.Script{Tokens: toks})
	cfg.Langfuse.URL, cfg.Langfuse.PublicKey, cfg.Langfuse.SecretKey = lf.URL, "pk-lf-chat", "sk-lf-chat"
	cfg.Langfuse.FlushInterval = shared.Duration{Duration: 20 * time.Millisecond}
	e := start(t, cfg)

	for _, route := range []string{chat.RouteCompletions, chat.RouteChat} {
		var n int64
		var status int
		rise := peakHeap(func() {
			resp := e.post(t, route, `{"model":"openrouter/m","stream":true,"messages":[{"role":"user","content":"go on"}]}`)
			n, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		})
		t.Logf("%s: %d, %d MiB relayed, heap rose %d MiB", route, status, n>>20, rise>>20)
		if status != 200 || n < 3*chat.MaxAnswerBytes {
			t.Fatalf("%s: %d, %d bytes: want the whole answer", route, status, n)
		}
		if rise > 16<<20 {
			t.Fatalf("%s: the heap rose %d MiB relaying a streamed answer", route, rise>>20)
		}
	}

}
