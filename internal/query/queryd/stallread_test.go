package queryd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
)

// TestStreamToAClientThatStopsReading: an ndjson or CSV answer to a client
// that stops reading it (a paused pager, a stuck consumer; its connection
// open) ends at the query's time limit (and streamGrace), and its query
// slot is free again.
// The stream blocked in its write for good once the socket buffers were
// full: the query kept its slot (and DuckDB connection) until the client
// went away, so [queryd].max_concurrent such clients made queryd answer
// every other query "busy" or "timed out while queued".
func TestStreamToAClientThatStopsReading(t *testing.T) {
	for _, format := range []string{"ndjson", "csv"} {
		t.Run(format, func(t *testing.T) {
			cfg := inproc.Config(t)
			cfg.Queryd.MaxConcurrent = 1
			cfg.Queryd.MaxQueue = 4
			cfg.Queryd.MaxRows = 10_000_000
			s, err := shared.Start(context.Background(), "queryd", cfg, queryd.New, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(context.Background()) })

			// 50 MB of answer: far more than the socket buffers hold.
			body := fmt.Sprintf(`{"sql":"SELECT range AS id, repeat('x', 1000) AS pad FROM range(50000)","format":%q,"timeout_ms":6000}`, format)
			sent := time.Now()
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", query.Route, len(body), body)
			// Read the head and a little of the answer, then stop reading.
			buf := make([]byte, 64<<10)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if n, err := io.ReadAtLeast(c, buf, len(buf)); err != nil {
				t.Fatalf("%v: %q", err, buf[:n])
			}
			if !strings.HasPrefix(string(buf), "HTTP/1.1 200") {
				t.Fatalf("the stream's head: %.200s", buf)
			}

			// The stalled query is past its 6 s; another gets the slot.
			time.Sleep(time.Until(sent.Add(7 * time.Second)))
			start := time.Now()
			resp, err := http.Post(s.URL()+query.Route, "application/json", strings.NewReader(`{"sql":"SELECT 42 AS answer","timeout_ms":15000}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "42") {
				t.Fatalf("a query while a client that stopped reading a stream is still connected: %d %s after %v (its slot still held?)",
					resp.StatusCode, b, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
