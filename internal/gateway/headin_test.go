package gateway

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// TestHeadInAnyBytes: headIn answers as the search of the whole buffer for
// buffers of any bytes (a body byte after the head, a CR or LF inside a
// value, a head cut anywhere), not only CR, LF and one letter.
func TestHeadInAnyBytes(t *testing.T) {
	ref := func(b []byte) bool {
		return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
	}
	rng := rand.New(rand.NewPCG(29, 5))
	alpha := []byte("\r\n\r\n\n\x00a:\xff ")
	for range 200000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = alpha[rng.IntN(len(alpha))]
			}
		}
		if got, want := headIn(b), ref(b); got != want {
			t.Fatalf("headIn(%q) = %v, the search says %v", b, got, want)
		}
	}
}

// TestHeadBufferedAcrossReads: a head that arrives a few bytes a read (its
// blank line split between reads every way) is told whole exactly when
// the buffer holds its blank line, as before (the search of the buffer).
func TestHeadBufferedAcrossReads(t *testing.T) {
	for _, head := range []string{
		"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /x HTTP/1.1\nHost: h\n\n",
		"GET /x HTTP/1.1\r\nHost: h\n\r\n", // LF then CRLF: no blank line as either
		"GET /x HTTP/1.1\r\nHost: h\r\n\n",
	} {
		for _, tail := range []string{"", "body\r\n\r\n", "\n"} {
			msg := head + tail
			for chunk := 1; chunk <= 5; chunk++ {
				pr, pw := io.Pipe()
				go func() {
					for i := 0; i < len(msg); i += chunk {
						pw.Write([]byte(msg[i:min(i+chunk, len(msg))]))
					}
					pw.Close()
				}()
				br := bufio.NewReaderSize(pr, 4096)
				for n := 0; n < len(msg); {
					// One read into the buffer: what a pipe write gave.
					if _, err := br.Peek(n + 1); err != nil {
						t.Fatal(err)
					}
					n = br.Buffered()
					b, _ := br.Peek(n)
					want := bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
					if got := headBuffered(br); got != want {
						t.Fatalf("%q in reads of %d, %q buffered: headBuffered %v, want %v", msg, chunk, b, got, want)
					}
				}
				pr.Close()
			}
		}
	}
}
