package gateway

import (
	"strings"
	"testing"
)

// TestExtensionMethodForwarded: a method outside chi's table (PROPFIND, a
// lower-case "get") on a /v1 prefix was refused by the gateway itself with
// a 405 naming all seven methods as allowed — storaged takes only GET and
// HEAD on /v1/storage/objects — instead of being forwarded unchanged like
// any other method. It now reaches the daemon, whose 405 names what the
// route takes, on both serving paths; such a method on a path no prefix
// owns is a 404, as GET there is.
func TestExtensionMethodForwarded(t *testing.T) {
	st, _ := startRealStoraged(t)
	for _, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, st.URL(), nil)
		for _, m := range []string{"PROPFIND", "get"} {
			out := rawExchange(t, gw.Addr, m+" /v1/storage/objects HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(out, "HTTP/1.1 405 ") || !strings.Contains(out, "\r\nAllow: GET, HEAD\r\n") {
				t.Errorf("fast %v: %s /v1/storage/objects: want storaged's 405 with Allow: GET, HEAD, got\n%s", fast, m, out)
			}
			out = rawExchange(t, gw.Addr, m+" /v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(out, "HTTP/1.1 404 ") || !strings.Contains(out, `"kind":"not_found"`) {
				t.Errorf("fast %v: %s /v1/nowhere: want 404 not_found, got\n%s", fast, m, out)
			}
		}
	}
}

// TestConnectAuthorityAllow: a CONNECT host:port (a forward-proxy probe)
// has no path; chi routes it as "/", the console's GET and HEAD, and the
// gateway answered 405 without the Allow header RFC 9110 15.5.6 requires:
// the list was looked up for the empty path. It names GET, HEAD now.
func TestConnectAuthorityAllow(t *testing.T) {
	for _, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", nil)
		out := rawExchange(t, gw.Addr, "CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 405 ") || !strings.Contains(out, "\r\nAllow: GET, HEAD\r\n") {
			t.Errorf("fast %v: CONNECT 127.0.0.1:80: want 405 with Allow: GET, HEAD, got\n%s", fast, out)
		}
	}
}
