package gateway

import (
	"slices"
	"strings"
	"testing"
)

// TestFastErrorHeaderOrder: an error the fast path answers itself (here a
// path with an invalid URL escape) has its header lines in the same order
// every time — name order, as net/http writes a header. They were written
// ranging over the header map, so the same request's answer came with
// X-Request-Id, Content-Type and the rest in a different order from call
// to call (bytes that differ for no reason: caches, recorded fixtures and
// diffs of responses see a change).
func TestFastErrorHeaderOrder(t *testing.T) {
	s, _ := startGatewayWith(t, true, okUpstream(t).URL, nil)
	addr := strings.TrimPrefix(s.URL(), "http://")
	var first []string
	for i := range 30 {
		resp := rawExchange(t, addr, "GET /v1/storage/p%zz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		head, _, ok := strings.Cut(resp, "\r\n\r\n")
		if !ok || !strings.HasPrefix(head, "HTTP/1.1 400 ") {
			t.Fatalf("call %d: %q", i, resp)
		}
		var names []string
		for _, line := range strings.Split(head, "\r\n")[1:] {
			name, _, _ := strings.Cut(line, ":")
			if name != "Date" && name != "Content-Length" && name != "Connection" {
				names = append(names, name)
			}
		}
		if len(names) < 2 {
			t.Fatalf("call %d: want at least two header fields besides Date and Content-Length: %q", i, head)
		}
		if !slices.IsSorted(names) {
			t.Errorf("call %d: header fields not in name order: %v", i, names)
		}
		if first == nil {
			first = names
		} else if !slices.Equal(names, first) {
			t.Errorf("call %d: header fields %v, first call %v", i, names, first)
		}
	}
}
