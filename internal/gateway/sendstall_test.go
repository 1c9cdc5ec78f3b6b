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
	setClientSendStall(t, stall)
	cfg := storagetest.Config(t)
	sc, st := storagetest.Start(t, cfg)
	data := storagetest.RandomBytes(32 << 20)
	storagetest.MustPut(t, sc, "big", data)
	get := slowclient.Request(http.MethodGet, storage.ObjectsPath+"/big", nil)

	for _, fast := range []string{"1", "0"} {
		t.Run("fastpath="+fast, func(t *testing.T) {
			t.Setenv("LH_GATEWAY_FASTPATH", fast)
			gw := inproc.Start(t, cfg, "gateway", New)

			slowclient.SendBound(t, gw, get, data, stall, st)
		})
	}
}

// setClientSendStall sets the gateway's send stall to d until tb ends.
func setClientSendStall(tb testing.TB, d time.Duration) {
	old := clientSendStall
	clientSendStall = d
	tb.Cleanup(func() { clientSendStall = old })
}

// BenchmarkFastProxyGETSendStall is BenchmarkFastProxyGET with the send
// stall off (as before it) and on, in one binary, one after the other.
func BenchmarkFastProxyGETSendStall(b *testing.B) {
	for _, stall := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("stall=%v", stall), func(b *testing.B) {
			setClientSendStall(b, stall)
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
	setClientSendStall(t, stall)
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
