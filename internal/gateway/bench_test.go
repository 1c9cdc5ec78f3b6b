package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"lakehouse-go/internal/shared"
)

// fixedUpstream answers every request head it reads (bodies: none) with
// the same bytes, allocating nothing per request: what a benchmark of the
// gateway measures is then the gateway (and its client loop).
func fixedUpstream(b *testing.B, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						if _, err := io.WriteString(c, answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkFastProxyGET is one keep-alive client's plain GET through the
// fast path (the common case of issue 2's wrk comparison), end to end
// over loopback; allocs/op counts the gateway's and this loop's.
func BenchmarkFastProxyGET(b *testing.B) {
	up := fixedUpstream(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	gw := startBenchGateway(b, up)
	c, err := net.Dial("tcp", gw)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n")
	br := bufio.NewReaderSize(c, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		// head, then the 2-byte body
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
				b.Fatalf("%q", line)
			}
		}
		if _, err := br.Discard(2); err != nil {
			b.Fatal(err)
		}
	}
}

// startBenchGateway runs the gateway (fast path on, auth on, no access
// log) with /v1/storage routed to upURL and returns its address.
func startBenchGateway(b *testing.B, upURL string) string {
	b.Setenv("LH_GATEWAY_FASTPATH", "1")
	cfg := shared.Default(b.TempDir())
	for _, n := range shared.Daemons {
		cfg.Section(n).Bind = "127.0.0.1:0"
	}
	cfg.Storaged.URL = upURL
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	cfg.Auth.Token = "tok"
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	s, err := shared.Start(context.Background(), "gateway", cfg, New, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.Addr
}
