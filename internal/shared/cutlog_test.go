package shared_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/testutil/syncbuf"
)

var cutErr = regexp.MustCompile(`^client took no byte for 0\.3s: answer cut at (\d+) of (\d+) bytes$`)

// TestAnswerCutShowsInAccessLine: a daemon's JSON answer (12 MB, through
// WriteJSON) cut because its client took no byte for AnswerStall keeps
// status 200 in its access line (the head was out) but gets err, saying
// so with the body bytes written (the line's bytes) of the
// Content-Length, and lakehouse_http_answers_cut_total{route} (present at
// 0 from the start) moves by exactly one. A complete answer to a client
// that reads has no err and moves nothing. Before, the cut answer's line
// read as a success: 200, no err, nothing counted. Real daemon, real TCP,
// both log formats.
func TestAnswerCutShowsInAccessLine(t *testing.T) {
	const n = 12 << 20
	slowclient.SetAnswerStall(t, 300*time.Millisecond)
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			cfg := stallConfig(t)
			cfg.Log.Access, cfg.Log.Format, cfg.Log.Level = true, format, "info"
			var log syncbuf.Buffer
			s, err := shared.Start(context.Background(), "matrixd", cfg, bigJSON(n), &log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(context.Background()) })
			const cutName = "lakehouse_http_answers_cut_total"
			f := metricstest.Scrape(t, s.URL())
			for _, route := range []string{"/v1/big", "/health"} {
				if v, found := f.Value(cutName, "route", route); !found || v != 0 {
					t.Fatalf("%s{route=%q} at start: %v, found %v; want present at 0", cutName, route, v, found)
				}
			}
			f.Lint(t, "lakehouse_http_answers")

			slowclient.NeverReads(t, s, slowclient.Request("GET", "/v1/big", nil), 20*time.Second)
			var status, bytes, errMsg string
			if format == "json" {
				line := log.AccessLines(t, "GET /v1/big", 1)[0]
				status, bytes = fmt.Sprint(line["status"]), fmt.Sprint(line["bytes"])
				errMsg, _ = line["err"].(string)
			} else {
				re := regexp.MustCompile(`msg=request .*op="GET /v1/big" status=(\d+) bytes=(\d+) dur_ms=\d+ peer=\S+(?: err="([^"]*)")?\n`)
				var m []string
				for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					m = re.FindStringSubmatch(log.String())
				}
				if m == nil {
					t.Fatalf("no access line of the cut GET:\n%s", log.String())
				}
				status, bytes, errMsg = m[1], m[2], m[3]
			}
			em := cutErr.FindStringSubmatch(errMsg)
			if status != "200" || em == nil || em[1] != bytes {
				t.Fatalf("the cut answer's access line: status %s, bytes %s, err %q; want 200, err %q with its bytes", status, bytes, errMsg, cutErr)
			}
			sent, _ := strconv.Atoi(em[1])
			total, _ := strconv.Atoi(em[2])
			if total <= n || sent <= 0 || sent >= total {
				t.Fatalf("cut at %d of %d bytes: want some, short of an answer over %d", sent, total, n)
			}
			if v := metricstest.Scrape(t, s.URL()).Get(cutName, "route", "/v1/big"); v != 1 {
				t.Fatalf("%s{route=/v1/big} = %v after one cut, want 1", cutName, v)
			}

			// A client that reads gets everything: no err, nothing counted.
			resp, err := http.Get(s.URL() + "/v1/big")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || got != int64(total) {
				t.Fatalf("complete GET: %d of %d bytes, %v", got, total, err)
			}
			if format == "json" {
				line := log.AccessLines(t, "GET /v1/big", 2)[1]
				if _, has := line["err"]; has || fmt.Sprint(line["bytes"]) != strconv.Itoa(total) || fmt.Sprint(line["status"]) != "200" {
					t.Fatalf("the complete answer's access line: %v; want 200, all bytes, no err", line)
				}
			} else {
				var lines []string
				for deadline := time.Now().Add(10 * time.Second); len(lines) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					lines = regexp.MustCompile(`.*op="GET /v1/big".*`).FindAllString(log.String(), -1)
				}
				if len(lines) != 2 || strings.Contains(lines[1], "err=") || !strings.Contains(lines[1], " status=200 bytes="+strconv.Itoa(total)+" ") {
					t.Fatalf("the complete answer's access line: %q; want 200, all bytes, no err", lines)
				}
			}
			if v := metricstest.Scrape(t, s.URL()).Get(cutName, "route", "/v1/big"); v != 1 {
				t.Fatalf("%s{route=/v1/big} = %v after a complete answer, want still 1", cutName, v)
			}
		})
	}
}

// TestCutMessage: the err of a cut, with and without a known length.
func TestCutMessage(t *testing.T) {
	for _, c := range []struct {
		stall       time.Duration
		sent, total int64
		want        string
	}{
		{30 * time.Second, 4194304, 12500000, "client took no byte for 30s: answer cut at 4194304 of 12500000 bytes"},
		{60 * time.Second, 0, -1, "client took no byte for 60s: answer cut at 0 bytes"},
		{300 * time.Millisecond, 7, 9, "client took no byte for 0.3s: answer cut at 7 of 9 bytes"},
	} {
		if got := shared.CutMessage(c.stall, c.sent, c.total); got != c.want {
			t.Errorf("CutMessage(%v, %d, %d) = %q, want %q", c.stall, c.sent, c.total, got, c.want)
		}
	}
}
