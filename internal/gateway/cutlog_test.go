package gateway

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestSendStallCutShowsInAccessLine: a client (4 KiB receive buffer) that
// sends GET /v1/storage/objects/<32 MiB> to the gateway and never reads is
// cut by the gateway's send stall (shortened to 1 s); the request's access
// line keeps status 200 (the head was out) and gets err naming the stall
// and the body bytes that left, of the object's size (the line's bytes);
// lakehouse_http_answers_cut_total{route="/v1/storage/*"} and
// lakehouse_gateway_upstream_requests_total{service="storaged",
// outcome="client_stalled"} (both served at 0 from the start) move by
// exactly one, outcome ok not at all. A complete GET then has no err and
// moves only ok. Before, the cut read as a success: 200, no err, counted
// ok. Real storaged and a real gateway over loopback, on the fast path and
// on the net/http path.
func TestSendStallCutShowsInAccessLine(t *testing.T) {
	const stall = time.Second
	old := clientSendStall
	clientSendStall = stall
	defer func() { clientSendStall = old }()
	scfg := storagetest.Config(t)
	sc, st := storagetest.Start(t, scfg)
	const size = 32 << 20
	storagetest.MustPut(t, sc, "big", storagetest.RandomBytes(size))
	path := storage.ObjectsPath + "/big"
	op := "GET " + path
	errRe := regexp.MustCompile(`^client took no byte for 1s: answer cut at (\d+) of ` + strconv.Itoa(size) + ` bytes$`)

	paths(t, func(t *testing.T, fast bool) {
		gw, log := startGatewayWith(t, fast, st.URL(), func(c *shared.Config) {
			c.Log.Access, c.Log.Format, c.Log.Level = true, "json", "info"
		})
		const (
			cutName = "lakehouse_http_answers_cut_total"
			reqName = "lakehouse_gateway_upstream_requests_total"
			route   = "/v1/storage/*"
		)
		counts := func() (cut, stalled, ok float64) {
			f := metricstest.Scrape(t, gw.URL())
			return f.Get(cutName, "route", route), f.Get(reqName, "service", "storaged", "outcome", "client_stalled"), f.Get(reqName, "service", "storaged", "outcome", "ok")
		}
		start := metricstest.Scrape(t, gw.URL())
		for _, s := range [][]string{{cutName, "route", route}, {reqName, "service", "storaged", "outcome", "client_stalled"}} {
			if v, found := start.Value(s[0], s[1:]...); !found || v != 0 {
				t.Fatalf("%v at start: %v, found %v; want present at 0", s, v, found)
			}
		}
		start.Lint(t, "lakehouse_")

		slowclient.NeverReads(t, gw, slowclient.Request("GET", path, nil), 30*time.Second)
		line := log.AccessLines(t, op, 1)[0]
		errMsg, _ := line["err"].(string)
		m := errRe.FindStringSubmatch(errMsg)
		if fmt.Sprint(line["status"]) != "200" || m == nil || m[1] != fmt.Sprint(line["bytes"]) {
			t.Fatalf("the cut answer's access line: %v; want status 200, err %q with its bytes", line, errRe)
		}
		if sent, _ := strconv.Atoi(m[1]); sent <= 0 || sent >= size {
			t.Fatalf("cut at %d of %d bytes: want some, short of the object", sent, size)
		}
		if cut, stalled, ok := counts(); cut != 1 || stalled != 1 || ok != 0 {
			t.Fatalf("after one cut: answers_cut %v, client_stalled %v, ok %v; want 1, 1, 0", cut, stalled, ok)
		}

		resp, err := http.Get(gw.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || got != size {
			t.Fatalf("complete GET: %d, %d of %d bytes, %v", resp.StatusCode, got, size, err)
		}
		line = log.AccessLines(t, op, 2)[1]
		if _, has := line["err"]; has || fmt.Sprint(line["bytes"]) != strconv.Itoa(size) || fmt.Sprint(line["status"]) != "200" {
			t.Fatalf("the complete answer's access line: %v; want 200, all bytes, no err", line)
		}
		if cut, stalled, ok := counts(); cut != 1 || stalled != 1 || ok != 1 {
			t.Fatalf("after a complete GET: answers_cut %v, client_stalled %v, ok %v; want 1, 1, 1", cut, stalled, ok)
		}
	})
}
