package chatd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// startBinaries runs the real chatd and gateway binaries on free loopback
// ports with [chatd] extra keys in lakehouse.toml, AUTH_TOKEN on, and no
// provider key from the environment.
func startBinaries(t *testing.T, chatdTOML string) *suite.Suite {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	// Build only the two binaries this test runs (faster than ./cmd/...,
	// and independent of other daemons' build state), unless LH_BIN_DIR
	// already points at built ones.
	if os.Getenv("LH_BIN_DIR") == "" {
		dir := t.TempDir()
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/chatd", "./cmd/gateway")
		cmd.Dir = suite.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		t.Setenv("LH_BIN_DIR", dir)
	}
	env := []string{"AUTH_TOKEN=e2e-token"}
	for _, d := range []string{"OLLAMA_CLOUD_API_KEY", "OPENROUTER_API_KEY", "OPENCODE_API_KEY", "KIMI_API_KEY"} {
		env = append(env, d+"=")
	}
	s, err := suite.StartE(t.TempDir(), suite.Options{Daemons: []string{}, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	bind := fmt.Sprintf("[chatd]\nbind = \"127.0.0.1:%d\"\n", s.Ports["chatd"])
	if !strings.Contains(string(b), bind) {
		t.Fatalf("suite config has no %q", bind)
	}
	cfg := strings.Replace(string(b), bind, bind+chatdTOML+"\n", 1)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"chatd", "gateway"} {
		if err := s.StartDaemon(d); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if bad := s.Stop(); len(bad) > 0 {
			t.Errorf("daemons did not exit cleanly: %v", bad)
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", s.Logs())
		}
	})
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for _, d := range []string{"chatd", "gateway"} {
		for {
			resp, err := hc.Get(s.URL(d) + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not healthy: %v\n%s", d, err, s.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}

// TestGatewayEndToEnd: an OpenAI-style streamed chat through the real
// gateway binary to the real chatd binary to a fake Ollama on loopback,
// configured through lakehouse.toml; the first chunk reaches the client
// while the upstream still holds its last one.
func TestGatewayEndToEnd(t *testing.T) {
	hold := make(chan struct{})
	up := chattest.NewOllama(chattest.Script{Tokens: chattest.Tokens(20), Hold: hold, Models: []string{"llama3.2"}})
	defer up.Close()
	s := startBinaries(t, fmt.Sprintf(`ollama_url = %q
ollama_model = "llama3.2"
ollama_cloud_url = "off"
openrouter_url = "off"
opencode_url = "off"
kimi_url = "off"
retries = 2
retry_backoff = "5ms"
timeout = "10s"`, up.URL))
	gw := s.Gateway()
	ctx := context.Background()

	// Providers through the gateway, with the typed client (auth on).
	client := chat.NewClient(&shared.Client{Service: "chatd", Base: gw, HTTP: shared.NewHTTPClient(0), Token: s.Token})
	ps, err := client.Providers(ctx)
	if err != nil || len(ps) != 5 || !ps[0].Registered || ps[2].Registered {
		t.Fatalf("providers = %+v, %v", ps, err)
	}

	// Streamed OpenAI answer through the gateway, chunk by chunk.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw+chat.RouteCompletions,
		strings.NewReader(`{"model":"llama3.2","messages":[{"role":"user","content":"count"}],"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	guard := time.AfterFunc(10*time.Second, func() { close(hold) })
	sawFirst := false
	evs, done := readSSE(t, resp.Body, func(ev sseEvent) {
		if !sawFirst && strings.Contains(ev.data, `"t0 "`) {
			sawFirst = true
			if !guard.Stop() {
				t.Error("the first chunk passed the gateway only after the upstream's last")
				return
			}
			close(hold)
		}
	})
	content, _ := chunks(t, evs)
	if !done || !sawFirst || content != strings.Join(chattest.Tokens(20), "") {
		t.Fatalf("done=%v first=%v content=%q", done, sawFirst, content)
	}

	// Native NDJSON through the gateway with the typed client; an upstream
	// 503 is retried inside chatd.
	up.SetScript(chattest.Script{Tokens: []string{"x", "y"}, FailFirst: 1, FailStatus: 503})
	st, err := client.ChatStream(ctx, chat.Request{Provider: "ollama", Messages: userMsg("hi")})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for {
		r, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got += r.Message.Content
	}
	st.Close()
	if got != "xy" || len(up.Calls()) != 3 {
		t.Fatalf("native %q, upstream calls %d", got, len(up.Calls()))
	}
	// Without the token the gateway path is refused by chatd's auth.
	resp2, err := http.Post(gw+chat.RouteChat, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 401 {
		t.Fatalf("no token: %d", resp2.StatusCode)
	}
}
