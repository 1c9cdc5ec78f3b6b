package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// TestGatewayServerKeysTakeEffect: [gateway] read_header_timeout,
// idle_timeout and max_body_bytes bound the gateway's clients on both
// serving paths (the fast path reads heads itself, ADR-070, so net/http's
// fields alone would not): a client that never finishes its head, or a
// keep-alive connection left idle, is closed after the configured time,
// not the default's 10 s or 2 min; a body over max_body_bytes is 413.
func TestGatewayServerKeysTakeEffect(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := okUpstream(t)
		gw, _ := startGatewayWith(t, fast, up.URL, func(c *shared.Config) {
			c.Gateway.ReadHeaderTimeout = shared.Duration{Duration: 300 * time.Millisecond}
			c.Gateway.IdleTimeout = shared.Duration{Duration: 300 * time.Millisecond}
			c.Gateway.MaxBodyBytes = 100
		})
		closedAfter := func(c net.Conn) time.Duration {
			t.Helper()
			start := time.Now()
			c.SetReadDeadline(start.Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("the gateway did not close the connection: %v", err)
			}
			return time.Since(start)
		}

		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /v1/storage/objects/x HTTP/1.1\r\nHost: gw\r\n") // the head never ends
		if d := closedAfter(c); d > 2*time.Second {
			t.Errorf("read_header_timeout 300ms: an unfinished head held the connection %v", d)
		}

		c2, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		io.WriteString(c2, "GET /v1/storage/objects/x HTTP/1.1\r\nHost: gw\r\n\r\n")
		buf := make([]byte, 4096)
		c2.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c2.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Fatalf("first answer: %q %v", buf[:n], err)
		}
		if d := closedAfter(c2); d > 2*time.Second {
			t.Errorf("idle_timeout 300ms: an idle keep-alive connection stayed open %v", d)
		}

		req, _ := http.NewRequest(http.MethodPut, "http://"+gw.Addr+"/v1/storage/objects/x", strings.NewReader(strings.Repeat("x", 1000)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"too_large"`) {
			t.Errorf("max_body_bytes 100: a 1000-byte body answered %d %s", resp.StatusCode, b)
		}
	})
}

// TestHealthTimeoutTakesEffect: [gateway].health_timeout bounds each
// daemon's probe in GET /v1/health: a daemon whose /health hangs is
// reported down after it, not after the 2 s default.
func TestHealthTimeoutTakesEffect(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	defer hung.CloseClientConnections()
	gw, _ := startGatewayWith(t, true, okUpstream(t).URL, func(c *shared.Config) {
		c.Gateway.HealthTimeout = shared.Duration{Duration: 300 * time.Millisecond}
		c.Catalogd.URL = hung.URL
	})
	start := time.Now()
	resp, err := http.Get("http://" + gw.Addr + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	var rep HealthReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.Daemons["catalogd"].Status != "down" {
		t.Fatalf("catalogd: %+v", rep.Daemons["catalogd"])
	}
	if took > 1500*time.Millisecond {
		t.Fatalf("health_timeout 300ms: /v1/health took %v", took)
	}
}

// TestGatewayWriteTimeoutTakesEffect: [gateway].write_timeout bounds a
// whole answer on both serving paths: a daemon's answer that keeps
// streaming past it is cut there (0, the default, never cuts one).
func TestGatewayWriteTimeoutTakesEffect(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 30; i++ { // 3 s of answer
				if _, err := io.WriteString(w, strings.Repeat("x", 100)+"\n"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}))
		defer up.Close()
		gw, _ := startGatewayWith(t, fast, up.URL, func(c *shared.Config) {
			c.Gateway.WriteTimeout = shared.Duration{Duration: 500 * time.Millisecond}
		})
		start := time.Now()
		resp, err := http.Get("http://" + gw.Addr + "/v1/storage/objects/x")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err == nil || took > 2*time.Second {
			t.Fatalf("write_timeout 500ms: the answer ran %v (%d bytes, err %v), want it cut at about 500ms", took, n, err)
		}
	})
}
