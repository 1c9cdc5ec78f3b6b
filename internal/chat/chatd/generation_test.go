package chatd_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/shared"
)

// langfuseSink speaks Langfuse's ingestion API (Basic auth, {"batch":[...]},
// 207 with per-event successes) and keeps what it was sent.
type langfuseSink struct {
	mu     sync.Mutex
	events []struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Body map[string]any `json:"body"`
	}
}

func (s *langfuseSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/api/public/ingestion" ||
		r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("pk-lf-chat:sk-lf-chat")) {
		http.Error(w, `{"message":"unauthorized"}`, 401)
		return
	}
	var body struct {
		Batch []struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Body map[string]any `json:"body"`
		} `json:"batch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	type ok struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	}
	resp := struct {
		Successes []ok  `json:"successes"`
		Errors    []any `json:"errors"`
	}{Errors: []any{}}
	s.mu.Lock()
	for _, e := range body.Batch {
		s.events = append(s.events, e)
		resp.Successes = append(resp.Successes, ok{e.ID, 201})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(207)
	json.NewEncoder(w).Encode(resp)
}

// generations are the generation-create bodies of trace traceID, in order.
func (s *langfuseSink) generations(traceID string) (gens []map[string]any, spanID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Body["traceId"] != traceID {
			continue
		}
		switch e.Type {
		case "span-create":
			spanID, _ = e.Body["id"].(string)
		case "generation-create":
			gens = append(gens, e.Body)
		}
	}
	return gens, spanID
}

// TestLangfuseGenerations: with Langfuse on, every attempt a chat request
// makes is a generation of the request's trace, under its span — the
// failed ones at level ERROR with the failure, the answered one with its
// model, parameters, messages, answer, token usage and time to first
// token — on the streamed and the whole route alike.
func TestLangfuseGenerations(t *testing.T) {
	sink := &langfuseSink{}
	lf := httptest.NewServer(sink)
	defer lf.Close()
	cfg := config(t)
	fakeUpstream(t, cfg, "ollama", chattest.Script{FailFirst: 100, FailStatus: 503})
	fakeUpstream(t, cfg, "opencode", chattest.Script{Tokens: []string{"Hel", "lo"}, Thinking: []string{"hmm"}, PromptTokens: 11, CompletionTokens: 2, Delay: 20 * time.Millisecond})
	cfg.Chatd.Fallback = []string{"ollama", "opencode"}
	cfg.Chatd.Retries = 1
	cfg.Langfuse.URL, cfg.Langfuse.PublicKey, cfg.Langfuse.SecretKey = lf.URL, "pk-lf-chat", "sk-lf-chat"
	cfg.Langfuse.FlushInterval = shared.Duration{Duration: 20 * time.Millisecond}
	e := start(t, cfg)

	var reqIDs []string
	for _, stream := range []bool{true, false} {
		resp := e.post(t, chat.RouteCompletions, map[string]any{"messages": userMsg("say hello"), "stream": stream, "temperature": 0.3, "max_tokens": 50})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "lo") {
			t.Fatalf("stream=%v: %d %s", stream, resp.StatusCode, b)
		}
		reqIDs = append(reqIDs, resp.Header.Get("X-Request-Id"))
	}
	if err := e.srv.Shutdown(context.Background()); err != nil { // flushes Langfuse
		t.Fatal(err)
	}
	for i, id := range reqIDs {
		gens, spanID := sink.generations(id)
		if len(gens) != 3 || spanID == "" {
			t.Fatalf("request %d: want 3 generations (ollama twice, opencode) under a span, got %d (span %q): %v", i, len(gens), spanID, gens)
		}
		for j, g := range gens {
			if g["parentObservationId"] != spanID {
				t.Fatalf("request %d generation %d not under the request's span: %v", i, j, g)
			}
		}
		for _, g := range gens[:2] {
			if g["name"] != "chat ollama" || g["level"] != "ERROR" || !strings.Contains(g["statusMessage"].(string), "503") || g["output"] != nil || g["completionStartTime"] != nil {
				t.Fatalf("request %d: failed attempt: %v", i, g)
			}
		}
		g := gens[2]
		usage, _ := g["usageDetails"].(map[string]any)
		params, _ := g["modelParameters"].(map[string]any)
		out, _ := g["output"].(map[string]any)
		in, _ := g["input"].([]any)
		meta, _ := g["metadata"].(map[string]any)
		if g["name"] != "chat opencode" || g["level"] != "DEFAULT" || g["model"] == "" ||
			usage["input"] != 11.0 || usage["output"] != 2.0 || usage["total"] != 13.0 ||
			params["temperature"] != 0.3 || params["max_tokens"] != 50.0 ||
			out["content"] != "Hello" || out["reasoning"] != "hmm" || len(in) != 1 || meta["finish_reason"] != "stop" || meta["provider"] != "opencode" {
			t.Fatalf("request %d: answered attempt: %v", i, g)
		}
		st, _ := time.Parse(time.RFC3339Nano, g["startTime"].(string))
		ft, _ := time.Parse(time.RFC3339Nano, g["completionStartTime"].(string))
		et, _ := time.Parse(time.RFC3339Nano, g["endTime"].(string))
		if !st.Before(ft) || et.Sub(ft) < 20*time.Millisecond { // two more chunks, 20 ms apart, after the first token
			t.Fatalf("request %d: start %v, first token %v, end %v", i, st, ft, et)
		}
	}
}
