package gateway

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
)

// TestNotModifiedThroughGateway: catalogd's conditional dataset GET
// (ADR-137) through the gateway. The client's If-None-Match reaches the
// daemon, the daemon's 304 comes back with its ETag and no body, and the
// requests after it on the same client connection, and on the pooled
// daemon connection the 304 came over, are answered in step. The daemon's
// 304 carries the Content-Length of the representation it stands for, as
// RFC 9110 8.6 allows: a 304 has no body whatever its headers say
// (15.4.5), so a proxy that waited for those bytes, or took the next
// answer's bytes for them, would break every answer after it.
func TestNotModifiedThroughGateway(t *testing.T) {
	const full = `{"name":"sales","version":3}`
	etag := catalog.ETag("sales", 3)
	paths(t, func(t *testing.T, fast bool) {
		var conditional atomic.Int32 // conditional requests the daemon saw
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			if r.Header.Get("If-None-Match") == etag {
				conditional.Add(1)
				return "HTTP/1.1 304 Not Modified\r\nETag: " + etag + "\r\nContent-Length: 28\r\n\r\n"
			}
			return "HTTP/1.1 200 OK\r\nETag: " + etag + "\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n" + full
		})
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", func(c *shared.Config) { c.Catalogd.URL = up.url() })
		cond := "GET /v1/catalog/datasets/sales HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n"
		plain := "GET /v1/catalog/datasets/sales HTTP/1.1\r\nHost: x\r\n\r\n"
		answers, bodies, _ := exchange(t, gw.Addr, cond+plain+cond+plain, 4, false)
		if len(answers) != 4 {
			t.Fatalf("%d answers to 4 pipelined requests: %q", len(answers), bodies)
		}
		for i, a := range answers {
			want, wantBody := http.StatusNotModified, ""
			if i%2 == 1 {
				want, wantBody = http.StatusOK, full
			}
			if a.StatusCode != want || bodies[i] != wantBody || a.Header.Get("ETag") != etag {
				t.Errorf("answer %d: %d ETag %q body %q; want %d ETag %q body %q", i, a.StatusCode, a.Header.Get("ETag"), bodies[i], want, etag, wantBody)
			}
		}
		if n := conditional.Load(); n != 2 {
			t.Errorf("the daemon saw %d conditional requests, want 2 (If-None-Match forwarded): %q", n, up.seen())
		}
		for _, r := range up.seen() {
			if !strings.HasPrefix(r, "GET /v1/catalog/datasets/sales ") {
				t.Errorf("the daemon saw %q", r)
			}
		}
	})
}
