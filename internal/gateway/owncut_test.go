package gateway

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/testutil/syncbuf"
)

// cutLines are the access lines of log with an err, once there are want
// of them (within 30 s; fails t with more).
func cutLines(t *testing.T, log *syncbuf.Buffer, want int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var out []map[string]any
		for _, line := range strings.Split(log.String(), "\n") {
			if !strings.Contains(line, `"msg":"request"`) || !strings.Contains(line, `"err":`) {
				continue
			}
			var m map[string]any
			d := json.NewDecoder(strings.NewReader(line))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Fatalf("access line %q: %v", line, err)
			}
			out = append(out, m)
		}
		if len(out) > want {
			t.Fatalf("%d access lines with err, want %d: %v", len(out), want, out)
		}
		if len(out) == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access lines with err after 30 s, want %d", len(out), want)
		}
	}
}

// pipelineNeverRead sends req over and over on one connection with a
// 4 KiB receive window and never reads: the gateway's own small answers
// to them fill the socket buffers until one of them is cut.
func pipelineNeverRead(t *testing.T, addr, req string) {
	c := slowclient.DialSmallWindow(t, addr)
	batch := []byte(strings.Repeat(req, 64))
	go func() {
		for {
			if _, err := c.Write(batch); err != nil {
				return // the gateway closed the connection, or the test ended
			}
		}
	}()
}

// TestOwnAnswerCutShowsInAccessLine: the gateway's own answers (here its
// 502 for a daemon that is down, DESIGN.md's error body, and the
// console page, GET /) cut by the send stall (shortened to 1 s) say so as a
// relayed answer's cut does: one access line keeps the status sent and
// gets err "client took no byte for 1s: answer cut at X of Y bytes" (X
// the line's bytes, Y the body's length), and
// lakehouse_http_answers_cut_total moves by exactly one; the connection
// ends. The client pipelines requests and never reads, so the answers
// fill the socket buffers. Before, such a cut read as a success on both
// paths: on the fast path writeSimple dropped its flush's error, on the
// net/http path net/http flushed the answer after the access line. Both
// paths; the console on the net/http path only (the fast path hands its
// connection to net/http).
func TestOwnAnswerCutShowsInAccessLine(t *testing.T) {
	old := clientSendStall
	clientSendStall = time.Second
	defer func() { clientSendStall = old }()
	const up = "http://127.0.0.1:1" // nothing listens: the gateway's 502
	errRe := regexp.MustCompile(`^client took no byte for 1s: answer cut at (\d+) of (\d+) bytes$`)
	cases := []struct {
		name, req, op string
		status        int
		fast          []bool
	}{
		{"502", "GET /v1/storage/objects/x HTTP/1.1\r\nHost: x\r\n\r\n", "GET /v1/storage/objects/x", 502, []bool{true, false}},
		{"console", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /", 200, []bool{false}},
	}
	for _, tc := range cases {
		for _, fast := range tc.fast {
			name := tc.name + "/fast"
			if !fast {
				name = tc.name + "/net-http"
			}
			t.Run(name, func(t *testing.T) {
				gw, log := startGatewayWith(t, fast, up, func(c *shared.Config) {
					c.Log.Access, c.Log.Format, c.Log.Level = true, "json", "info"
				})
				const cutName = "lakehouse_http_answers_cut_total"
				if v := metricstest.Scrape(t, gw.URL()).Sum(cutName); v != 0 {
					t.Fatalf("%s at start: %v", cutName, v)
				}
				pipelineNeverRead(t, gw.Addr, tc.req)
				line := cutLines(t, log, 1)[0]
				errMsg, _ := line["err"].(string)
				m := errRe.FindStringSubmatch(errMsg)
				if line["op"] != tc.op || fmt.Sprint(line["status"]) != fmt.Sprint(tc.status) || m == nil || m[1] != fmt.Sprint(line["bytes"]) || m[2] == "0" {
					t.Fatalf("the cut answer's access line: %v; want %s, status %d, err %q with its bytes", line, tc.op, tc.status, errRe)
				}
				for deadline := time.Now().Add(20 * time.Second); slowclient.OthersInFlight(t, gw) != 0; time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("a request still in flight 20 s after the cut")
					}
				}
				if v := metricstest.Scrape(t, gw.URL()).Sum(cutName); v != 1 {
					t.Fatalf("%s after one cut: %v, want 1", cutName, v)
				}
				// No later request of that connection was answered: it ended.
				time.Sleep(500 * time.Millisecond)
				cutLines(t, log, 1)
			})
		}
	}
}

// TestWriteTimeoutCutShowsInAccessLine: with [gateway].write_timeout set
// (1 s; the send stall is then off), a relayed 32 MiB object cut by it
// says so: the access line keeps status 200 and gets err "write timed
// out after write_timeout 1s: answer cut at X of 33554432 bytes" (X the
// line's bytes), lakehouse_http_answers_cut_total{route="/v1/storage/*"}
// and the upstream outcome client_stalled move by one, ok not at all.
// Before, the cut read as a success (200, no err, outcome ok). Real
// storaged and a real gateway, both paths.
func TestWriteTimeoutCutShowsInAccessLine(t *testing.T) {
	scfg := storagetest.Config(t)
	sc, st := storagetest.Start(t, scfg)
	const size = 32 << 20
	storagetest.MustPut(t, sc, "big", storagetest.RandomBytes(size))
	path := storage.ObjectsPath + "/big"
	errRe := regexp.MustCompile(`^write timed out after write_timeout 1s: answer cut at (\d+) of ` + strconv.Itoa(size) + ` bytes$`)
	paths(t, func(t *testing.T, fast bool) {
		gw, log := startGatewayWith(t, fast, st.URL(), func(c *shared.Config) {
			c.Log.Access, c.Log.Format, c.Log.Level = true, "json", "info"
			c.Gateway.WriteTimeout = shared.Duration{Duration: time.Second}
		})
		const (
			cutName = "lakehouse_http_answers_cut_total"
			reqName = "lakehouse_gateway_upstream_requests_total"
		)
		slowclient.NeverReads(t, gw, slowclient.Request("GET", path, nil), 30*time.Second)
		line := log.AccessLines(t, "GET "+path, 1)[0]
		errMsg, _ := line["err"].(string)
		m := errRe.FindStringSubmatch(errMsg)
		if fmt.Sprint(line["status"]) != "200" || m == nil || m[1] != fmt.Sprint(line["bytes"]) {
			t.Fatalf("the cut answer's access line: %v; want status 200, err %q with its bytes", line, errRe)
		}
		f := metricstest.Scrape(t, gw.URL())
		if cut, stalled, ok := f.Get(cutName, "route", "/v1/storage/*"), f.Get(reqName, "service", "storaged", "outcome", "client_stalled"), f.Get(reqName, "service", "storaged", "outcome", "ok"); cut != 1 || stalled != 1 || ok != 0 {
			t.Fatalf("after one cut: answers_cut %v, client_stalled %v, ok %v; want 1, 1, 0", cut, stalled, ok)
		}
	})
}
