package gateway

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadContinueHead: the fast path's read of a daemon's first answer to
// Expect: 100-continue (respHead.readContinue) never panics, stops only at
// a 100 Continue or a final answer, and agrees with read: a final answer
// it returns is the one read returns for the same bytes, a failure is one
// read has too, and after a 100 read finds the final answer read finds
// past it (interim answers before the 100 skipped alike; read alone
// may count one interim answer too many).
//
//	go test -run '^$' -fuzz '^FuzzReadContinueHead$' ./internal/gateway/
func FuzzReadContinueHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 100 Cont",
		"HTTP/1.0 100 Continue\n\nHTTP/1.0 401 Unauthorized\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole respHead
		_, werr := whole.read(bufio.NewReaderSize(bytes.NewReader(data), 64))
		var first respHead
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		if _, err := first.readContinue(br); err != nil {
			if werr == nil {
				t.Fatalf("readContinue failed (%v) where read took status %d", err, whole.status)
			}
			return
		}
		switch {
		case first.status == 100:
			var rest respHead
			_, rerr := rest.read(br)
			if werr == errBadResponse && rerr == nil {
				return // over maxInterim in all: read counts the 100 too
			}
			if rerr == nil && (werr != nil || rest.status != whole.status || !bytes.Equal(rest.raw, whole.raw)) {
				t.Fatalf("after the 100: %d %q; read of the whole: %d %q %v", rest.status, rest.raw, whole.status, whole.raw, werr)
			}
		case first.status < 200:
			t.Fatalf("stopped at interim status %d", first.status)
		default:
			if werr != nil || first.status != whole.status || !bytes.Equal(first.raw, whole.raw) || first.cl != whole.cl || first.chunked != whole.chunked || first.close != whole.close {
				t.Fatalf("final %d %q; read: %d %q %v", first.status, first.raw, whole.status, whole.raw, werr)
			}
		}
	})
}
