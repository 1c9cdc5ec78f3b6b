package shared_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/testutil/syncbuf"
)

// writeTimeoutRoutes is a daemon with a 12 MB JSON answer (/v1/big), a
// small one written after the handler worked for slow (/v1/slow) and a
// small one at once (/v1/small), all through shared.WriteJSON.
func writeTimeoutRoutes(slow time.Duration) shared.Builder {
	big := map[string]string{"pad": strings.Repeat("x", 12<<20)}
	return func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Get("/v1/big", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				return shared.WriteJSON(w, http.StatusOK, big)
			}))
			r.Get("/v1/slow", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				time.Sleep(slow)
				return shared.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
			}))
			r.Get("/v1/small", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				return shared.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
			}))
		}}, nil
	}
}

// TestWriteTimeoutCutShowsInAccessLine: with the section's write_timeout
// set (2 s; net/http's WriteTimeout is then in charge of the answer, not
// AnswerStall), an answer the timeout cuts says so as a send stall's cut
// does: its access line keeps the status sent (200) and gets err "write
// timed out after write_timeout 2s: answer cut at X of Y bytes", X the
// line's bytes, and lakehouse_http_answers_cut_total{route} moves by
// exactly one. Two ways a write_timeout cuts:
//   - a 12 MB answer to a client that never reads: a write of the handler
//     fails (X short of Y);
//   - a small answer of a handler that worked past the timeout: it sat in
//     net/http's buffers, flushed only after the access line, so the
//     expired deadline failed it unseen (X is 0: none of it left).
//
// A small answer in time has no err and moves nothing. Before, both cuts
// read as a success: 200, no err, nothing counted. Real daemon, real TCP.
func TestWriteTimeoutCutShowsInAccessLine(t *testing.T) {
	const wt = 2 * time.Second // the 12 MB answer's encoding must be done well within it
	cfg := stallConfig(t)
	cfg.Log.Access, cfg.Log.Format, cfg.Log.Level = true, "json", "info"
	cfg.Matrixd.WriteTimeout = shared.Duration{Duration: wt}
	var log syncbuf.Buffer
	s, err := shared.Start(context.Background(), "matrixd", cfg, writeTimeoutRoutes(wt+wt/4), &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	const cutName = "lakehouse_http_answers_cut_total"
	cuts := func() (big, slow, small float64) {
		f := metricstest.Scrape(t, s.URL())
		return f.Get(cutName, "route", "/v1/big"), f.Get(cutName, "route", "/v1/slow"), f.Get(cutName, "route", "/v1/small")
	}
	errRe := regexp.MustCompile(`^write timed out after write_timeout 2s: answer cut at (\d+) of (\d+) bytes$`)
	cutLine := func(t *testing.T, op string) (sent, total int) {
		t.Helper()
		line := log.AccessLines(t, op, 1)[0]
		errMsg, _ := line["err"].(string)
		m := errRe.FindStringSubmatch(errMsg)
		if fmt.Sprint(line["status"]) != "200" || m == nil || m[1] != fmt.Sprint(line["bytes"]) {
			t.Fatalf("the cut answer's access line: %v; want status 200, err %q with its bytes", line, errRe)
		}
		sent, _ = strconv.Atoi(m[1])
		total, _ = strconv.Atoi(m[2])
		return sent, total
	}

	t.Run("never reads", func(t *testing.T) {
		slowclient.NeverReads(t, s, slowclient.Request("GET", "/v1/big", nil), 20*time.Second)
		if sent, total := cutLine(t, "GET /v1/big"); total <= 12<<20 || sent <= 0 || sent >= total {
			t.Fatalf("cut at %d of %d bytes: want some, short of an answer over 12 MiB", sent, total)
		}
		if big, slow, small := cuts(); big != 1 || slow != 0 || small != 0 {
			t.Fatalf("%s after one cut of /v1/big: big %v, slow %v, small %v; want 1, 0, 0", cutName, big, slow, small)
		}
	})
	t.Run("handler past the timeout", func(t *testing.T) {
		// One request on a connection of its own (http.Get would send it
		// again on the connection's close without an answer).
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(slowclient.Request("GET", "/v1/slow", nil))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("an answer past write_timeout reached the client: %d %q", resp.StatusCode, b)
		}
		if sent, total := cutLine(t, "GET /v1/slow"); sent != 0 || total <= 0 {
			t.Fatalf("cut at %d of %d bytes: want 0 of the answer's length (none of it left)", sent, total)
		}
		if big, slow, small := cuts(); big != 1 || slow != 1 || small != 0 {
			t.Fatalf("%s after a cut of /v1/slow: big %v, slow %v, small %v; want 1, 1, 0", cutName, big, slow, small)
		}
	})
	t.Run("in time", func(t *testing.T) {
		resp, err := http.Get(s.URL() + "/v1/small")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "{\"ok\":true}\n" {
			t.Fatalf("GET /v1/small: %d %q %v", resp.StatusCode, b, err)
		}
		line := log.AccessLines(t, "GET /v1/small", 1)[0]
		if _, has := line["err"]; has || fmt.Sprint(line["bytes"]) != strconv.Itoa(len(b)) || fmt.Sprint(line["status"]) != "200" {
			t.Fatalf("the complete answer's access line: %v; want 200, all bytes, no err", line)
		}
		if big, slow, small := cuts(); big != 1 || slow != 1 || small != 0 {
			t.Fatalf("%s after a complete answer: big %v, slow %v, small %v; want 1, 1, 0", cutName, big, slow, small)
		}
	})
}

// TestWriteTimeoutMessage: the err of a write_timeout's cut.
func TestWriteTimeoutMessage(t *testing.T) {
	for _, c := range []struct {
		wt          time.Duration
		sent, total int64
		want        string
	}{
		{5 * time.Second, 0, 81, "write timed out after write_timeout 5s: answer cut at 0 of 81 bytes"},
		{1500 * time.Millisecond, 7, -1, "write timed out after write_timeout 1.5s: answer cut at 7 bytes"},
	} {
		if got := shared.WriteTimeoutMessage(c.wt, c.sent, c.total); got != c.want {
			t.Errorf("WriteTimeoutMessage(%v, %d, %d) = %q, want %q", c.wt, c.sent, c.total, got, c.want)
		}
	}
}
