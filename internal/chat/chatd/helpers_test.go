package chatd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chatd"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

// env is one chatd under test.
type env struct {
	srv    *shared.Server
	client *chat.Client
	http   *http.Client
	logs   *syncbuf.Buffer
}

// config is a chatd config for tests: every provider "off" (never the
// internet, never a local Ollama), fast retries, keys in a temp keys_dir.
func config(t testing.TB) *shared.Config {
	cfg := shared.Default(t.TempDir())
	cfg.Chatd.Bind = "127.0.0.1:0"
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	c := &cfg.Chatd
	c.OllamaURL, c.OllamaCloudURL, c.OpenRouterURL, c.OpenCodeURL, c.KimiURL = chatd.Off, chatd.Off, chatd.Off, chatd.Off, chatd.Off
	c.KeysDir = t.TempDir()
	c.RetryBackoff = shared.Duration{Duration: time.Millisecond}
	return cfg
}

// key writes <keys_dir>/<name>.key.
func key(t testing.TB, cfg *shared.Config, name, k string) {
	if err := os.WriteFile(filepath.Join(cfg.Chatd.KeysDir, name+".key"), []byte(k+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs chatd in-process on a free loopback port.
func start(t testing.TB, cfg *shared.Config) *env {
	t.Helper()
	// Keys from the environment would register real providers: keep them out.
	for _, d := range chatd.Defaults {
		if d.KeyEnv != "" && os.Getenv(d.KeyEnv) != "" {
			t.Skipf("%s is set in the environment; unset it to run chatd tests", d.KeyEnv)
		}
	}
	logs := &syncbuf.Buffer{}
	srv, err := shared.Start(context.Background(), "chatd", cfg, chatd.New, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if t.Failed() {
			t.Logf("chatd logs:\n%s", logs.String())
		}
	})
	hc := shared.NewHTTPClient(0)
	return &env{srv: srv, logs: logs, http: hc,
		client: chat.NewClient(&shared.Client{Service: "chatd", Base: srv.URL(), HTTP: hc})}
}

// post sends a JSON body and returns the response (body unread).
func (e *env) post(t testing.TB, path string, body any) *http.Response {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	resp, err := e.http.Post(e.srv.URL()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sseEvent is one event as the openai libraries see it.
type sseEvent struct {
	data string
	at   time.Time
}

// readSSE parses an SSE body the way openai-go's ssestream does: "data:"
// lines, blank line ends an event; it stops after [DONE] and reports
// whether [DONE] came. onEvent (optional) sees each event as it arrives.
func readSSE(t testing.TB, body io.Reader, onEvent func(sseEvent)) ([]sseEvent, bool) {
	t.Helper()
	sr := chat.NewSSEReader(body)
	var out []sseEvent
	for {
		data, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return out, false
		}
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		if string(data) == "[DONE]" {
			return out, true
		}
		ev := sseEvent{data: string(data), at: time.Now()}
		out = append(out, ev)
		if onEvent != nil {
			onEvent(ev)
		}
	}
}

// chunks decodes SSE events into chunks, failing on an error event.
func chunks(t testing.TB, evs []sseEvent) (content string, cs []chat.CompletionChunk) {
	t.Helper()
	for _, ev := range evs {
		var c chat.CompletionChunk
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			t.Fatalf("chunk %q: %v", ev.data, err)
		}
		if c.Error != nil {
			t.Fatalf("error event: %s", ev.data)
		}
		if c.Object != "chat.completion.chunk" || !strings.HasPrefix(c.ID, "chatcmpl") || c.Created == 0 || c.Model == "" {
			t.Fatalf("chunk header: %s", ev.data)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				content += *ch.Delta.Content
			}
		}
		cs = append(cs, c)
	}
	return content, cs
}

// errBody decodes DESIGN.md's error body and checks status and kind.
func errBody(t testing.TB, resp *http.Response, status int, kind string) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if resp.Request != nil && resp.Request.URL.Path == chat.RouteOllamaChat {
		// Ollama's body on its route (ADR-114): {"error":"<message>"} with
		// kind and request_id beside it.
		var o chat.OllamaErrorBody
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatalf("Ollama-route error body %q: %v", b, err)
		}
		e = map[string]string{"kind": string(o.Kind), "message": o.Error, "request_id": o.RequestID}
	} else {
		var raw map[string]map[string]string
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("error body %q: %v", b, err)
		}
		e = raw["error"]
	}
	if resp.StatusCode != status || e["kind"] != kind || e["message"] == "" || e["request_id"] == "" {
		t.Fatalf("got %d %s, want %d kind %s", resp.StatusCode, b, status, kind)
	}
	return e["message"]
}

// errFields is an error answer's kind and message on route: DESIGN.md's
// body, or Ollama's on the Ollama route (ADR-114); empty when b is neither.
func errFields(route string, b []byte) (kind, msg string) {
	if route == chat.RouteOllamaChat {
		var o chat.OllamaErrorBody
		json.Unmarshal(b, &o)
		return string(o.Kind), o.Error
	}
	var eb struct {
		Error struct{ Kind, Message string }
	}
	json.Unmarshal(b, &eb)
	return eb.Error.Kind, eb.Error.Message
}

func ptr[T any](v T) *T { return &v }

func userMsg(s string) []chat.Message { return []chat.Message{{Role: "user", Content: s}} }

// fakeUpstream starts a fake upstream with script sc speaking provider's
// protocol — Ollama's NDJSON for ollama and ollama_cloud, OpenAI's SSE
// for the others — and points provider at it in cfg (with a key for the
// keyed ones). It is closed when the test ends, after chatd.
func fakeUpstream(t testing.TB, cfg *shared.Config, provider string, sc chattest.Script) *chattest.Server {
	t.Helper()
	var up *chattest.Server
	switch provider {
	case chat.Ollama, chat.OllamaCloud:
		up = chattest.NewOllama(sc)
		configure(t, cfg, provider, up.URL)
	default:
		up = chattest.NewOpenAI(sc)
		configure(t, cfg, provider, up.Base())
	}
	t.Cleanup(up.Close)
	return up
}

// withUpstream is the preamble most tests share: one fake upstream for
// provider (fakeUpstream) and chatd started over it.
func withUpstream(t testing.TB, provider string, sc chattest.Script) (*env, *chattest.Server) {
	t.Helper()
	cfg := config(t)
	up := fakeUpstream(t, cfg, provider, sc)
	return start(t, cfg), up
}
