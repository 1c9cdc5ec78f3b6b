package chatd_test

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// peakHeap runs f and returns how far the live heap rose above where it
// stood before (sampled every few milliseconds).
func peakHeap(f func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak - base
}

// TestAnswerOverLimitBounded: an upstream that streams 8 × chat.MaxAnswerBytes
// of content to a non-streamed client (every route, both wire protocols)
// is cut at the limit: a 502 unavailable naming the provider and the
// limit, and the heap never rises by more than 6 × the limit (it rose 80
// to 115 MiB here, garbage of the fake's and chatd's 1 MiB lines
// included; before, the whole 256 MiB answer was gathered and encoded
// again for the client).
func TestAnswerOverLimitBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a large answer")
	}
	// 1 MiB pieces, one string shared by every piece: the fake's script
	// costs nothing, only what goes over the wire does.
	piece := strings.Repeat("x", 1<<20)
	toks := slices.Repeat([]string{piece}, 8*chat.MaxAnswerBytes/len(piece))
	for _, u := range upstreams {
		up, url := u.start(chattest.Script{Tokens: toks})
		cfg := config(t)
		configure(t, cfg, u.name, url)
		cfg.Chatd.RequestTimeout.Duration = 2 * time.Minute
		e := start(t, cfg)
		for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
			body := fmt.Sprintf(`{"model":%q,"stream":false,"messages":[{"role":"user","content":"go on forever"}]}`, u.name+"/m")
			var status int
			var b []byte
			rise := peakHeap(func() {
				resp := e.post(t, route, body)
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			})
			t.Logf("%s %s: %d, %d bytes, heap rose %d MiB", u.name, route, status, len(b), rise>>20)
			if rise > 6*chat.MaxAnswerBytes {
				t.Fatalf("%s %s: the heap rose %d MiB for an answer cut at %d MiB", u.name, route, rise>>20, chat.MaxAnswerBytes>>20)
			}
			kind, msg := errFields(route, b)
			if status != 502 || kind != "unavailable" || !strings.Contains(msg, u.name+": ") ||
				!strings.Contains(msg, fmt.Sprintf("%d MiB", chat.MaxAnswerBytes>>20)) {
				t.Fatalf("%s %s: %d %.300s: want a 502 unavailable naming the provider and the limit", u.name, route, status, b)
			}
		}
		// Not retried (the same prompt would run away again): one call
		// per request.
		if n := len(up.Calls()); n != 3 {
			t.Fatalf("%s: %d upstream calls for 3 requests", u.name, n)
		}
		up.Close()
	}
}

// TestAnswerOverLimitFallsBack: with auto, an answer over the limit is
// that attempt's failure, and the next provider answers; the attempt is
// named in the answer's attempts.
func TestAnswerOverLimitFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("a large answer")
	}
	piece := strings.Repeat("y", 1<<20)
	cfg := config(t)
	bad := fakeUpstream(t, cfg, "ollama", chattest.Script{Thinking: slices.Repeat([]string{piece}, chat.MaxAnswerBytes/len(piece)+2)})
	fakeUpstream(t, cfg, "opencode", chattest.Script{Tokens: []string{"ok"}})
	cfg.Chatd.Fallback = []string{"ollama", "opencode"}
	e := start(t, cfg)
	resp := e.post(t, chat.RouteChat, `{"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(chat.ProviderHeader) != "opencode" || !strings.Contains(string(b), `"ok"`) ||
		!strings.Contains(string(b), "MiB") {
		t.Fatalf("%d %v %.500s", resp.StatusCode, resp.Header, b)
	}
	if n := len(bad.Calls()); n != 1 {
		t.Fatalf("the runaway provider got %d calls, want 1 (not retried)", n)
	}
}

// TestAnswerTooManyToolCalls: an upstream answer with more than
// chat.MaxToolCalls tool calls is a 502 naming the provider and the limit
// (non-streamed, every route, both protocols; streamed, the stream's
// error); one with exactly MaxToolCalls is answered whole.
func TestAnswerTooManyToolCalls(t *testing.T) {
	calls := func(n int) []chattest.ToolCall {
		out := make([]chattest.ToolCall, n)
		for i := range out {
			out[i] = chattest.ToolCall{Name: "f", Arguments: `{"a":1}`}
		}
		return out
	}
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, url := u.start(chattest.Script{Tokens: []string{}, ToolCalls: calls(chat.MaxToolCalls + 1)})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, url)
			e := start(t, cfg)
			want := fmt.Sprintf("%s: the answer has more than %d tool calls", u.name, chat.MaxToolCalls)
			for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
				body := fmt.Sprintf(`{"model":%q,"stream":false,"messages":[{"role":"user","content":"call"}]}`, u.name+"/m")
				if msg := errBody(t, e.post(t, route, body), 502, "unavailable"); !strings.Contains(msg, want) {
					t.Fatalf("%s: %q, want %q", route, msg, want)
				}
				// Streamed: the client is told too (before the first
				// byte, or in the stream's error frame).
				body = strings.Replace(body, `"stream":false`, `"stream":true`, 1)
				resp := e.post(t, route, body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(b), want) {
					t.Fatalf("%s streamed: %d %.300s", route, resp.StatusCode, b)
				}
			}
			up.SetScript(chattest.Script{Tokens: []string{}, ToolCalls: calls(chat.MaxToolCalls)})
			for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
				body := fmt.Sprintf(`{"model":%q,"stream":false,"messages":[{"role":"user","content":"call"}]}`, u.name+"/m")
				resp := e.post(t, route, body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || strings.Count(string(b), `"name":"f"`) != chat.MaxToolCalls {
					t.Fatalf("%s at the limit: %d %.300s", route, resp.StatusCode, b)
				}
			}
		})
	}
}

// TestStreamedToolCallArgumentsBounded: streamed, an answer's text is not
// gathered (it goes out as it comes), but its tool calls are — the NDJSON
// routes hold each call until it is whole — so their arguments count
// toward chat.MaxAnswerBytes: calls of 40 MiB of arguments end the stream
// with its error naming the provider and the limit.
func TestStreamedToolCallArgumentsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a large answer")
	}
	args := `{"a":"` + strings.Repeat("z", 4<<20) + `"}`
	calls := slices.Repeat([]chattest.ToolCall{{Name: "f", Arguments: args}}, 10)
	e, _ := withUpstream(t, "openrouter", chattest.Script{Tokens: []string{"let me"}, ToolCalls: calls})
	want := fmt.Sprintf("openrouter: the answer passed chatd's limit of %d MiB", chat.MaxAnswerBytes>>20)
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		resp := e.post(t, route, `{"model":"openrouter/m","stream":true,"messages":[{"role":"user","content":"call"}]}`)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d, %d bytes, no %q: %.300s", route, resp.StatusCode, len(b), want, b)
		}
	}
}
