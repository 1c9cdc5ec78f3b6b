package observer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/observer"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
)

func config(t *testing.T) *shared.Config { return inproc.Config(t) }

// start runs observerd on cfg (keepAlive 0 = observer.New, the real
// constructor) and points cfg's observerd URL at it.
func start(t *testing.T, cfg *shared.Config, keepAlive time.Duration) (*shared.Server, *observer.Client) {
	t.Helper()
	build := observer.New
	if keepAlive > 0 {
		build = func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
			o, err := observer.Open(observer.Options{
				Path:     cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl"),
				RingSize: cfg.Observerd.RingSize, Log: env.Log, Metrics: env.Metrics,
			})
			if err != nil {
				return nil, err
			}
			return &shared.Daemon{Routes: observer.Routes(env, o, keepAlive), Close: o.Close}, nil
		}
	}
	s, err := shared.Start(context.Background(), "observerd", cfg, build, io.Discard)
	if err != nil {
		t.Fatalf("start observerd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Observerd.URL = s.URL()
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(10 * time.Second)}
	return s, observer.NewClient(env.Client("observerd"))
}

// base is two hours ago: events must have ended within observer.MaxEventAge.
var base = time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)

func mk(i int, service, op string, status int) observer.Event {
	return observer.Event{TS: base.Add(time.Duration(i) * time.Second), Service: service, Op: op, Status: status,
		DurationMS: float64(i), RequestID: fmt.Sprint("req-", i)}
}

func post(t *testing.T, url, body string) (int, errs.Body) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b errs.Body
	json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestIngestQueryStats(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg, 0)
	var evs []observer.Event
	for i := 0; i < 20; i++ {
		status := 200
		switch i % 5 {
		case 3:
			status = 404
		case 4:
			status = 500
		}
		evs = append(evs, mk(i, []string{"storaged", "queryd"}[i%2], "GET /v1/x", status))
	}
	res, err := c.Ingest(ctx, evs)
	if err != nil || res.Accepted != 20 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	// No ts: stamped with the receive time.
	if _, err := c.Ingest(ctx, []observer.Event{{Service: "chatd", Op: "POST /v1/chat", Status: 200}}); err != nil {
		t.Fatal(err)
	}

	got, err := c.Events(ctx, observer.Filter{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Service != "chatd" || got[0].TS.IsZero() || got[1].RequestID != "req-19" || got[2].RequestID != "req-18" {
		t.Fatalf("newest first, limit 3: %+v", got)
	}
	got, _ = c.Events(ctx, observer.Filter{Service: "queryd", Since: base.Add(15 * time.Second)}, 0)
	if len(got) != 3 || got[0].RequestID != "req-19" || got[2].RequestID != "req-15" {
		t.Fatalf("service+since: %+v", got)
	}
	got, _ = c.Events(ctx, observer.Filter{Op: "POST /v1/chat"}, 0)
	if len(got) != 1 {
		t.Fatalf("op filter: %+v", got)
	}
	// since as a duration: only the stamped chatd event is that recent.
	code, body := get(t, s.URL()+"/v1/observer/events?since=1h")
	var er observer.EventsResponse
	json.Unmarshal(body, &er)
	if code != 200 || len(er.Events) != 1 || er.Order != "newest_first" {
		t.Fatalf("since=1h: %d %s", code, body)
	}

	st, err := c.Stats(ctx, observer.Filter{Since: base.Add(-time.Hour), Op: "GET /v1/x"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Count != 20 || st.Errors != 4 || st.ClientErrors != 4 || len(st.Ops) != 2 || len(st.Services) != 2 || st.RingSize != observer.DefaultRingSize {
		t.Fatalf("stats: %+v", st)
	}
	// queryd has durations 1,3,...,19 (10 values): nearest rank p50 = 9, p95 = p99 = 19.
	q := st.Ops[0]
	if q.Service != "queryd" || q.Count != 10 || q.P50MS != 9 || q.P95MS != 19 || q.P99MS != 19 || q.MaxMS != 19 || q.MeanMS != 10 || q.Errors != 2 || q.ClientErrors != 2 {
		t.Fatalf("queryd stats: %+v", q)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		kind       errs.Kind
		msg        string
	}{
		{"not json", "{", 400, errs.Invalid, "not valid JSON"},
		{"empty", `{"events":[]}`, 400, errs.Invalid, "at least one"},
		{"unknown field", `{"events":[{"service":"s","op":"o","bogus":1}]}`, 400, errs.Invalid, "bogus"},
		{"missing service", `{"events":[{"op":"o"}]}`, 400, errs.Invalid, "events[0].service: required"},
		{"too many", `{"events":[` + strings.Repeat(`{"service":"s","op":"o"},`, observer.MaxBatch) + `{"service":"s","op":"o"}]}`, 413, errs.TooLarge, "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := post(t, s.URL()+observer.EventsPath, tc.body)
			if code != tc.status || b.Error.Kind != tc.kind || !strings.Contains(b.Error.Message, tc.msg) {
				t.Fatalf("%d %+v", code, b)
			}
		})
	}
	for _, q := range []string{"limit=0", "limit=x", "since=yesterday", "since=-5m"} {
		if code, b := get(t, s.URL()+observer.EventsPath+"?"+q); code != 400 || !bytes.Contains(b, []byte(`"invalid"`)) {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
	if code, _ := get(t, s.URL()+observer.StatsPath+"?since=nope"); code != 400 {
		t.Errorf("stats since=nope: %d", code)
	}
	// Rejected batches recorded nothing.
	if got, _ := c.Events(ctx, observer.Filter{Service: "s"}, 0); len(got) != 0 {
		t.Fatalf("rejected batch leaked: %+v", got)
	}
}

// sseReader reads raw SSE blocks ("...\n\n") from a stream.
type sseReader struct{ r *bufio.Reader }

func (s sseReader) next(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream read: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\n" {
			return b.String()
		}
	}
}

func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, sseReader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, sseReader{bufio.NewReader(resp.Body)}
}

func TestStreamSSE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config(t)
	s, c := start(t, cfg, 100*time.Millisecond)
	_, sr := openStream(t, ctx, s.URL()+observer.StreamPath+"?service=queryd")
	if got := sr.next(t); got != ": connected\n\n" {
		t.Fatalf("first block %q", got)
	}
	if got := sr.next(t); got != ": keep-alive\n\n" {
		t.Fatalf("idle block %q", got)
	}
	e := mk(1, "queryd", "POST /v1/sql", 200)
	if _, err := c.Ingest(ctx, []observer.Event{mk(0, "storaged", "GET /v1/x", 200), e}); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e)
	for {
		got := sr.next(t)
		if got == ": keep-alive\n\n" {
			continue
		}
		if got != "data: "+string(want)+"\n\n" {
			t.Fatalf("event block %q, want %q", got, "data: "+string(want)+"\n\n")
		}
		break
	}
}

func TestClientSubscribe(t *testing.T) {
	cfg := config(t)
	_, c := start(t, cfg, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan observer.Event, 100)
	done := make(chan error, 1)
	sctx, scancel := context.WithCancel(ctx)
	go func() {
		done <- c.Subscribe(sctx, observer.Filter{Op: "op"}, func(e observer.Event) error { got <- e; return nil })
	}()
	// Keep publishing until the subscription is live and sees one.
	var first observer.Event
	for first.Service == "" {
		c.Ingest(ctx, []observer.Event{mk(1, "a", "other", 200), mk(2, "a", "op", 201)})
		select {
		case first = <-got:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event")
		}
	}
	if first.Op != "op" || first.Status != 201 || !first.TS.Equal(base.Add(2*time.Second)) {
		t.Fatalf("event %+v", first)
	}
	scancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("subscribe after cancel: %v", err)
	}
}

// A stream client that stops reading must not slow ingestion: it loses
// events and is told so with a ": lagged" comment when it reads again.
func TestSlowConsumerDoesNotBlockIngest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := config(t)
	s, c := start(t, cfg, 0)
	_, sr := openStream(t, ctx, s.URL()+observer.StreamPath)
	sr.next(t) // connected; now stop reading
	batch := make([]observer.Event, 100)
	for i := range batch {
		batch[i] = mk(i, "storaged", "PUT /v1/storage/objects/{key...}", 200)
		batch[i].Attrs = map[string]any{"pad": strings.Repeat("x", 3500)}
	}
	// Fill the socket buffers and the subscriber's queue until observerd
	// reports dropping events for it.
	n := 0
	for metric(t, s.URL(), "lakehouse_observer_stream_dropped_total") == "lakehouse_observer_stream_dropped_total 0" {
		if _, err := c.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if n++; n > 2000 {
			t.Fatal("subscriber never lagged")
		}
	}
	// Now the subscriber is stuck for good; ingestion still runs freely.
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if _, err := c.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("ingest %d with a stuck subscriber took %v", i, d)
		}
	}
	if got, _ := c.Events(ctx, observer.Filter{}, 1); len(got) != 1 {
		t.Fatal("ring empty")
	}
	// Reading again, the client eventually learns that it lost events.
	for {
		b := sr.next(t)
		if strings.HasPrefix(b, ": lagged: ") && strings.Contains(b, "events dropped") {
			break
		}
	}
	t.Logf("subscriber lagged after %d batches of %d events", n, len(batch))
}

func TestShutdownEndsStreams(t *testing.T) {
	cfg := config(t)
	s, c := start(t, cfg, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var live atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(ctx, observer.Filter{}, func(observer.Event) error { live.Store(true); return nil })
	}()
	for !live.Load() {
		c.Ingest(ctx, []observer.Event{mk(1, "a", "b", 200)})
		time.Sleep(10 * time.Millisecond)
	}
	t0 := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if err := <-done; !errs.Is(err, errs.Unavailable) {
		t.Fatalf("subscribe after shutdown: %v", err)
	}
}

func TestRestartReloadsTail(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	cfg.Observerd.RingSize = 25
	s, c := start(t, cfg, 0)
	for b := 0; b < 10; b++ {
		var evs []observer.Event
		for j := 0; j < 7; j++ {
			evs = append(evs, mk(b*7+j, "svc", "op", 200))
		}
		if _, err := c.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := c.Stats(ctx, observer.Filter{})
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, c = start(t, cfg, 0)
	got, err := c.Events(ctx, observer.Filter{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 || got[0].RequestID != "req-69" || got[24].RequestID != "req-45" {
		t.Fatalf("reloaded %d events: first %+v", len(got), got[0])
	}
	after, _ := c.Stats(ctx, observer.Filter{})
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("stats changed across restart:\n%+v\n%+v", before, after)
	}
}

// The harness of another daemon reports its requests to observerd.
func TestHarnessReports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config(t)
	_, c := start(t, cfg, 0)
	cfg.Report.Enabled = true
	cfg.Report.FlushInterval = shared.Duration{Duration: 10 * time.Millisecond}
	other, err := shared.Start(ctx, "chatd", cfg, shared.NotImplemented("/v1/chat"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown(ctx)
	resp, err := http.Post(other.URL()+"/v1/chat", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for {
		got, err := c.Events(ctx, observer.Filter{Service: "chatd"}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			if got[0].Op != "POST /v1/chat" || got[0].Status != 501 || got[0].RequestID != resp.Header.Get("X-Request-Id") {
				t.Fatalf("reported %+v", got[0])
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("chatd's request never reached observerd")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The stream flushes through the gateway: an event arrives while the
// connection stays open.
func TestStreamThroughGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config(t)
	obs, c := start(t, cfg, 0)
	gw, err := shared.Start(ctx, "gateway", cfg, gateway.New, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, sr := openStream(t, ctx, gw.URL()+observer.StreamPath)
	if got := sr.next(t); got != ": connected\n\n" {
		t.Fatalf("first block via gateway %q", got)
	}
	e := mk(7, "vectord", "POST /v1/vectors/indexes/{name}/search", 200)
	if _, err := c.Ingest(ctx, []observer.Event{e}); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e)
	if got := sr.next(t); got != "data: "+string(want)+"\n\n" {
		t.Fatalf("via gateway %q", got)
	}
	// observerd shutting down ends the stream through the gateway too, so
	// neither waits out its shutdown timeout.
	t0 := time.Now()
	if err := obs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sr.r.ReadString('\n'); err != io.EOF {
		t.Fatalf("stream via gateway after observerd shutdown: %v", err)
	}
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

func metric(t *testing.T, url, name string) string {
	t.Helper()
	_, b := get(t, url+"/metrics")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}
