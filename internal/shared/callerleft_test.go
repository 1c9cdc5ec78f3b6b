package shared_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

// downstreamRoute fails as a daemon's downstream call fails when its
// request's context ends (matrixd's call to queryd, ingestd's DuckDB
// interrupt): a 503 naming the cause, after started is closed.
func downstreamRoute(started chan<- struct{}) shared.Builder {
	return func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Post("/v1/wait", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				io.Copy(io.Discard, r.Body) // net/http watches for a hang-up once the body is read
				close(started)
				<-r.Context().Done()
				return errs.E("wait", errs.Unavailable, "queryd POST /v1/sql: request canceled", r.Context().Err())
			}))
		}}, nil
	}
}

// TestCallerLeftIsNot5xx: a request whose caller closed its connection,
// failing because of it, is nginx's 499 with one INFO line — not an ERROR
// "request failed" line and a 503 in the metrics. Every daemon but queryd
// logged a client's hang-up at ERROR (matrixd, ingestd, chatd).
func TestCallerLeftIsNot5xx(t *testing.T) {
	cfg := stallConfig(t)
	cfg.Log.Level = "info"
	cfg.Log.Access = true
	logs := &syncbuf.Buffer{}
	started := make(chan struct{})
	s, err := shared.Start(context.Background(), "matrixd", cfg, downstreamRoute(started), logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/wait HTTP/1.1\r\nHost: x\r\nX-Request-Id: left-1\r\nContent-Length: 2\r\n\r\n{}")
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never ran")
	}
	c.Close()

	access := regexp.MustCompile(`msg=request svc=matrixd req_id=left-1 op="POST /v1/wait" status=(\d+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no access line:\n%s", logs.String())
		}
		m = access.FindStringSubmatch(logs.String())
	}
	out := logs.String()
	if m[1] != "499" {
		t.Errorf("access status %s, want 499", m[1])
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("a caller's hang-up logged at ERROR:\n%s", out)
	}
	if !strings.Contains(out, `level=INFO msg="request abandoned: the client closed the connection before the answer" svc=matrixd req_id=left-1`) {
		t.Errorf("no INFO line saying the caller left:\n%s", out)
	}
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), `status="503"`) || !strings.Contains(string(b), `status="499"`) {
		t.Errorf("metrics count the hang-up as a 503, or not as a 499")
	}
}

// TestStopIsNotCallerLeft: a request cut by the daemon's own stop (its
// context ended with shared.ErrStopping) keeps its 5xx — the client must
// know to retry — while a plain cancel (net/http's, the caller leaving)
// is the 499, and a deadline keeps its own status.
func TestStopIsNotCallerLeft(t *testing.T) {
	fail := errs.E("op", errs.Unavailable, "downstream call failed")
	req := func(ctx context.Context) *http.Request {
		return (&http.Request{Method: "POST", Header: http.Header{}}).WithContext(ctx)
	}
	stopped, stop := context.WithCancelCause(context.Background())
	stop(shared.ErrStopping)
	left, leave := context.WithCancel(context.Background())
	leave()
	late, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-late.Done()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"stopping", stopped, fail, 503},
		{"caller left", left, fail, 499},
		{"deadline", late, fail, 503},
		{"live", context.Background(), fail, 503},
		{"caller left, a 4xx", left, errs.E("op", errs.NotFound, "no such thing"), 404},
	} {
		got, _ := errs.CallerLeft(req(c.ctx), c.err)
		if s := errs.StatusOf(got); s != c.want {
			t.Errorf("%s: status %d, want %d", c.name, s, c.want)
		}
	}
}

// TestStopCutKeeps503: a request the daemon's own stop cuts (the drain ran
// out) keeps its 503: its caller is still there and must know to retry.
func TestStopCutKeeps503(t *testing.T) {
	cfg := stallConfig(t)
	cfg.Matrixd.ShutdownTimeout.Duration = 2 * time.Second
	started := make(chan struct{})
	s, err := shared.Start(context.Background(), "matrixd", cfg, downstreamRoute(started), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(s.URL()+"/v1/wait", "application/json", strings.NewReader("{}"))
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{status: resp.StatusCode}
	}()
	<-started
	s.Shutdown(context.Background())
	if a := <-done; a.err != nil || a.status != 503 {
		t.Fatalf("a request cut by the daemon's stop: %d %v, want its 503", a.status, a.err)
	}
}
