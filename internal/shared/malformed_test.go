package shared

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
)

// TestHandlerBytesNotMalformed: a handler's Write that starts as
// net/http's answer to a malformed request and goes on (a body sent after
// its head went out: an object that holds such text) was taken for
// net/http's answer and replaced by a JSON error; only net/http's own
// bytes, whole, are replaced now.
func TestHandlerBytesNotMalformed(t *testing.T) {
	mimic := "HTTP/1.1 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request, and then some"
	build := func(ctx context.Context, env *Env) (*Daemon, error) {
		return &Daemon{Routes: func(r chi.Router) {
			r.Get("/v1/mimic", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(mimic)))
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				io.WriteString(w, mimic)
			})
		}}, nil
	}
	s, err := Start(context.Background(), "storaged", testConfig(t), build, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	resp, b := get(t, s.URL()+"/v1/mimic", "")
	if resp.StatusCode != 200 || string(b) != mimic {
		t.Errorf("/v1/mimic: %d %q, want the handler's bytes", resp.StatusCode, b)
	}
}

// FuzzNetHTTPError: netHTTPError never panics, finds every answer of the
// shape net/http writes for a request it could not parse (status and
// reason back), and never one that a handler's answer takes (a Date field
// follows the headers, or the body is not net/http's).
func FuzzNetHTTPError(f *testing.F) {
	f.Add(400, "missing required Host header", []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.Add(431, "", []byte("HTTP/1.1 400 Bad Request"+netHTTPErrorHeaders))
	f.Add(505, "unsupported protocol version", []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: x\r\n\r\n400 Bad Request"))
	f.Add(501, "", []byte("HTTP/1.1 4"))
	f.Add(501, "", []byte("HTTP/1.1 501 Not Implemented"+netHTTPErrorHeaders+"Unsupported transfer encoding"))
	f.Add(417, "", []byte("HTTP/1.0 417 Expectation Failed\r\nConnection: close\r\nDate: Mon, 30 Nov 2026 07:58:28 GMT\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, status int, reason string, raw []byte) {
		if st, _, ok := netHTTPError(raw); ok && !expectationFailed(raw) {
			eol := bytes.Index(raw, []byte("\r\n"))
			body := string(raw[eol+len(netHTTPErrorHeaders):])
			if !bytes.HasPrefix(raw, []byte("HTTP/1.1 ")) || !bytes.HasPrefix(raw[eol:], []byte(netHTTPErrorHeaders)) || st < 400 || st > 599 ||
				(body != string(raw[9:eol]) && body != "Unsupported transfer encoding") {
				t.Fatalf("%q taken as net/http's error answer %d", raw, st)
			}
		}
		if b, ok := MalformedAnswer(raw, DefaultHeaderBytes); ok {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
			var e errs.Body
			if err != nil || !resp.Close || json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error.RequestID == "" {
				t.Fatalf("the answer to %q: %q, not a JSON error answer", raw, b)
			}
		}
		status = 400 + (status%200+200)%200
		reason = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, reason)
		text := http.StatusText(status)
		if text == "" {
			return
		}
		// net/http's three shapes (server.go, conn.serve).
		var p string
		if reason != "" {
			p = fmt.Sprintf("HTTP/1.1 %d %s: %s%s%d %s: %s", status, text, reason, netHTTPErrorHeaders, status, text, reason)
		} else {
			p = fmt.Sprintf("HTTP/1.1 %d %s%s%d %s", status, text, netHTTPErrorHeaders, status, text)
		}
		st, r, ok := netHTTPError([]byte(p))
		if !ok || st != status || (reason != "" && r != reason && !strings.Contains(reason, text+": ")) {
			t.Fatalf("%q: %d %q %v, want %d %q", p, st, r, ok, status, reason)
		}
		// A handler's answer: a Date field after the same lines, or a
		// body Write that starts as net/http's answer and goes on.
		h := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: Mon, 30 Nov 2026 00:00:00 GMT\r\n\r\n%s", status, text, reason)
		if _, _, ok := netHTTPError([]byte(h)); ok {
			t.Fatalf("a handler's answer taken as net/http's: %q", h)
		}
		if _, _, ok := netHTTPError([]byte(p + "\n")); ok {
			t.Fatalf("a handler's body taken as net/http's answer: %q", p+"\n")
		}
		// A handler's 417: the harness's X-Request-Id and a Content-Type.
		h = "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Type: application/json\r\nDate: x\r\nX-Request-Id: " + reason + "\r\nContent-Length: 0\r\n\r\n"
		if _, _, ok := netHTTPError([]byte(h)); ok {
			t.Fatalf("a handler's 417 taken as net/http's: %q", h)
		}
	})
}
