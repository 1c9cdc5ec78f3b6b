package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestSendStallReleasesGatewayAndStoraged: a client (4 KiB receive
// buffer) that sends GET /v1/storage/objects/<32 MiB> to the gateway and
// never reads the answer is cut once it took no byte for the gateway's
// send stall (shortened to 2 s; storaged's stays at its 60 s): the
// gateway's request ends, and so does storaged's, as the gateway closes
// its upstream connection — both in-flight gauges go back to 0. Without
// the bound both requests stayed in flight for as long as the client
// stayed connected. A slow client that keeps reading (longer than the
// stall in all) gets the whole object, byte for byte. Real storaged
// (local backend) and a real gateway over loopback, on the fast path and
// on the net/http path.
func TestSendStallReleasesGatewayAndStoraged(t *testing.T) {
	const stall = 2 * time.Second
	old := clientSendStall
	clientSendStall = stall
	defer func() { clientSendStall = old }()
	cfg := storagetest.Config(t)
	sc, st := storagetest.Start(t, cfg)
	data := storagetest.RandomBytes(32 << 20)
	storagetest.MustPut(t, sc, "big", data)
	get := fmt.Sprintf("GET %s/big HTTP/1.1\r\nHost: x\r\n\r\n", storage.ObjectsPath)

	for _, fast := range []string{"1", "0"} {
		t.Run("fastpath="+fast, func(t *testing.T) {
			t.Setenv("LH_GATEWAY_FASTPATH", fast)
			gw := inproc.Start(t, cfg, "gateway", New)

			t.Run("never reads", func(t *testing.T) {
				nc := slowclient.DialSmallWindow(t, gw.Addr)
				if _, err := io.WriteString(nc, get); err != nil {
					t.Fatal(err)
				}
				sent := time.Now()
				time.Sleep(300 * time.Millisecond)
				if g, s := slowclient.OthersInFlight(t, gw), slowclient.OthersInFlight(t, st); g != 1 || s != 1 {
					t.Fatalf("in flight: gateway %d, storaged %d; want 1 and 1", g, s)
				}
				for {
					g, s := slowclient.OthersInFlight(t, gw), slowclient.OthersInFlight(t, st)
					if g == 0 && s == 0 {
						break
					}
					if time.Since(sent) > 5*stall+10*time.Second {
						t.Fatalf("still in flight after %v (stall %v): gateway %d, storaged %d", time.Since(sent).Round(time.Millisecond), stall, g, s)
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Logf("both ended after %v", time.Since(sent).Round(time.Millisecond))
				nc.SetReadDeadline(time.Now().Add(20 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
				if err != nil {
					t.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 || n >= int64(len(data)) {
					t.Fatalf("after the cut: %d, %d of %d bytes; want 200 and short", resp.StatusCode, n, len(data))
				}
			})

			t.Run("slow reader", func(t *testing.T) {
				nc := slowclient.DialSmallWindow(t, gw.Addr)
				start := time.Now()
				if _, err := io.WriteString(nc, get); err != nil {
					t.Fatal(err)
				}
				nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
				resp, err := http.ReadResponse(bufio.NewReaderSize(nc, 4096), nil)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				buf := make([]byte, 64<<10)
				for {
					// 64 KiB, then a pause: about 4 stalls in all, or slower.
					n, err := io.ReadFull(resp.Body, buf)
					got.Write(buf[:n])
					if err == io.EOF || err == io.ErrUnexpectedEOF {
						break
					}
					if err != nil {
						t.Fatalf("after %d bytes in %v: %v", got.Len(), time.Since(start).Round(time.Millisecond), err)
					}
					time.Sleep(stall / 128)
				}
				took := time.Since(start)
				if resp.StatusCode != 200 || !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("slow reader: %d, %d bytes, not the object's %d", resp.StatusCode, got.Len(), len(data))
				}
				if took < 2*stall {
					t.Fatalf("the read took %v: not slower than the stall, proves nothing", took)
				}
				t.Logf("slow reader: %d bytes in %v", got.Len(), took.Round(time.Millisecond))
			})
		})
	}
}

// BenchmarkFastProxyGETSendStall is BenchmarkFastProxyGET with the send
// stall off (as before it) and on, in one binary, one after the other.
func BenchmarkFastProxyGETSendStall(b *testing.B) {
	for _, stall := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("stall=%v", stall), func(b *testing.B) {
			old := clientSendStall
			clientSendStall = stall
			defer func() { clientSendStall = old }()
			BenchmarkFastProxyGET(b)
		})
	}
}

// TestSendStallIdleKeepAlive: the send stall's deadline, set when a
// connection began, expires while it idles; the answers after are whole,
// the gateway's own error answers too (a write that finds the deadline
// past goes on once it is moved, on both paths).
func TestSendStallIdleKeepAlive(t *testing.T) {
	const stall = 300 * time.Millisecond
	old := clientSendStall
	clientSendStall = stall
	defer func() { clientSendStall = old }()
	cfg := storagetest.Config(t)
	sc, _ := storagetest.Start(t, cfg)
	storagetest.MustPut(t, sc, "small", []byte("small object"))
	for _, fast := range []string{"1", "0"} {
		t.Run("fastpath="+fast, func(t *testing.T) {
			t.Setenv("LH_GATEWAY_FASTPATH", fast)
			gw := inproc.Start(t, cfg, "gateway", New)

			// The deadline set when the connection began expires while
			// it idles: the answers after are whole, the gateway's own
			// error answer too.
			nc, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			for i, req := range []string{
				fmt.Sprintf("GET %s/small HTTP/1.1\r\nHost: x\r\n\r\n", storage.ObjectsPath),
				fmt.Sprintf("GET %s/small HTTP/1.1\r\nHost: x\r\n\r\n", storage.ObjectsPath),
				fmt.Sprintf("GET %s/nope HTTP/1.1\r\nHost: x\r\n\r\n", storage.ObjectsPath),
				"GET /v1/storage/objects/small HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
			} {
				time.Sleep(2*stall + stall/2)
				if _, err := io.WriteString(nc, req); err != nil {
					t.Fatal(err)
				}
				nc.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d after an idle spell: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := []int{200, 200, 404, 400}[i]
				if err != nil || resp.StatusCode != want || (want == 200 && string(b) != "small object") || (want != 200 && !bytes.Contains(b, []byte(`"error"`))) {
					t.Fatalf("request %d after an idle spell: %d %q %v; want %d", i, resp.StatusCode, b, err, want)
				}
			}
		})
	}
}
