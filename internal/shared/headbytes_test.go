package shared_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
)

// TestMaxHeaderBytesConfig: every daemon section has max_header_bytes
// (ADR-198), 64 KiB by default; 0 is the default too; a value below 8 KiB
// or above net/http's own bound (1 MiB plus its 4 KiB of slack), or not a
// whole number, is named with the others at load.
func TestMaxHeaderBytesConfig(t *testing.T) {
	def := shared.Default(t.TempDir())
	for _, name := range shared.Daemons {
		if s := def.Section(name); s.MaxHeaderBytes != 65536 || s.HeaderBytes() != 65536 {
			t.Errorf("[%s].max_header_bytes default %d (%d), want 65536", name, s.MaxHeaderBytes, s.HeaderBytes())
		}
	}
	if s := (shared.ServerConfig{}); s.HeaderBytes() != shared.DefaultHeaderBytes {
		t.Errorf("max_header_bytes 0: %d, want the default", s.HeaderBytes())
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	file := `data_dir = "` + dir + `"
[gateway]
max_header_bytes = 8191
[storaged]
max_header_bytes = -1
[catalogd]
max_header_bytes = 1052673
[queryd]
max_header_bytes = "64k"
[vectord]
max_header_bytes = 0
[embedd]
max_header_bytes = 8192
[chatd]
max_header_bytes = 1052672
`
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := shared.Load(p, func(string) string { return "" })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"[gateway].max_header_bytes 8191: want 0 (65536, 64 KiB) or between 8192 (8 KiB) and 1052672",
		"[storaged].max_header_bytes -1: want 0",
		"[catalogd].max_header_bytes 1052673: want 0",
		`[queryd].max_header_bytes "64k": want a whole number`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error should name %q; got:\n%v", want, err)
		}
	}
	for _, ok := range []string{"[vectord].max_header_bytes", "[embedd].max_header_bytes", "[chatd].max_header_bytes"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

// TestDaemonMaxHeaderBytes: a daemon's max_header_bytes bounds the request
// heads its net/http server reads (ADR-198; it was net/http's 1 MiB
// whatever the config): a head of the limit, and of up to net/http's 4 KiB
// of slack more (room for what the gateway adds to a head it forwards),
// is served; a byte more is 431 in DESIGN.md's body, naming the limit.
// Real storaged, started through the harness.
func TestDaemonMaxHeaderBytes(t *testing.T) {
	for _, limit := range []int{0, 16384} {
		cfg := stallConfig(t)
		cfg.Storaged.MaxHeaderBytes = limit
		st := startDaemon(t, cfg, "storaged", storaged.New)
		want := cfg.Storaged.HeaderBytes()
		for _, tc := range []struct {
			size, status int
		}{
			{want, http.StatusOK},
			{want + shared.HeaderSlack, http.StatusOK},
			{want + shared.HeaderSlack + 1, http.StatusRequestHeaderFieldsTooLarge},
			{2 * want, http.StatusRequestHeaderFieldsTooLarge},
		} {
			h := "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "
			h += strings.Repeat("a", tc.size-len(h)-len("\r\n\r\n")) + "\r\n\r\n"
			c, err := net.Dial("tcp", st.Addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(c, h)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("max_header_bytes %d, a head of %d bytes: %v", limit, tc.size, err)
			}
			b, _ := io.ReadAll(resp.Body)
			c.Close()
			var e errs.Body
			jerr := json.Unmarshal(b, &e)
			msg := fmt.Sprintf("request header section over %d bytes", want)
			switch {
			case resp.StatusCode != tc.status:
				t.Errorf("max_header_bytes %d, a head of %d bytes: %d %s, want %d", limit, tc.size, resp.StatusCode, b, tc.status)
			case tc.status == http.StatusRequestHeaderFieldsTooLarge && (jerr != nil || e.Error.Kind != errs.TooLarge || e.Error.Message != msg || !resp.Close):
				t.Errorf("max_header_bytes %d, a head of %d bytes: %s (close %v), want too_large %q and the connection closed", limit, tc.size, b, resp.Close, msg)
			}
		}
	}
}
