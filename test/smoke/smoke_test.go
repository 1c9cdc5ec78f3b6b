// Package smoke drives the real binaries: every daemon started as a child
// process on free loopback ports with a temporary config, reached through
// the gateway. These are the core smokes of `just verify`.
package smoke

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/testutil/suite"
)

func TestAllDaemonsHealthyThroughGateway(t *testing.T) {
	s := suite.Start(t, suite.Options{})
	took, err := s.WaitHealthy(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all eleven daemons healthy %v after launch", took)
	resp, body, err := s.Do(context.Background(), "GET", "/v1/health", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep gateway.HealthReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || rep.Status != "ok" || len(rep.Daemons) != 10 {
		t.Fatalf("aggregate health: %d %s", resp.StatusCode, body)
	}
	for name, h := range rep.Daemons {
		if h.Status != "ok" || h.Version == "" {
			t.Errorf("%s: %+v", name, h)
		}
	}
	// Every /v1 prefix reaches its daemon: the answer is never the gateway's 502.
	for _, rt := range gateway.Routes {
		resp, body, err := s.Do(context.Background(), "GET", rt.Prefix+"/smoke-probe", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 502 || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d %s", rt.Prefix, resp.StatusCode, body)
		}
	}
	// The gateway runs with its [gateway].procs default (ADR-072), visible in
	// its own Go metrics.
	if os.Getenv("GOMAXPROCS") == "" {
		want, _ := gateway.Procs(0, os.Getenv, runtime.NumCPU())
		_, body, err := s.Do(context.Background(), "GET", "/metrics", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if line := fmt.Sprintf("\ngo_sched_gomaxprocs_threads %d\n", want); !strings.Contains(string(body), line) {
			t.Errorf("gateway /metrics lacks %q", strings.TrimSpace(line))
		}
	}
	// A daemon that dies shows in /v1/health and its routes answer 502 naming it.
	s.Kill("chatd")
	resp, body, _ = s.Do(context.Background(), "GET", "/v1/health", "", nil)
	json.Unmarshal(body, &rep)
	if resp.StatusCode != 503 || rep.Daemons["chatd"].Status != "down" {
		t.Fatalf("dead chatd not reported: %s", body)
	}
	resp, body, _ = s.Do(context.Background(), "GET", "/v1/chat/providers", "", nil)
	var eb errs.Body
	json.Unmarshal(body, &eb)
	if resp.StatusCode != 502 || eb.Error.Kind != errs.Unavailable || !strings.Contains(eb.Error.Message, "chatd") {
		t.Fatalf("502 naming chatd: %d %s", resp.StatusCode, body)
	}
	// SIGTERM: everyone else exits 0.
	if bad := s.Stop(); len(bad) > 0 {
		t.Fatalf("unclean exits: %v", bad)
	}
}

func TestAuthOnAndOff(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		s := suite.Start(t, suite.Options{Daemons: []string{"gateway", "observerd"}})
		if _, err := s.WaitHealthy(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		resp, body, _ := s.Do(context.Background(), "GET", "/v1/health", "", nil)
		if resp.StatusCode == 401 {
			t.Fatalf("auth off but 401: %s", body)
		}
	})
	t.Run("on", func(t *testing.T) {
		s := suite.Start(t, suite.Options{Daemons: []string{"gateway", "observerd"}, Env: []string{"AUTH_TOKEN=smoke-primary", "AUTH_SECONDARY_TOKEN=smoke-next"}})
		if _, err := s.WaitHealthy(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			url, token string
			want       int
		}{
			{s.Gateway() + "/health", "", 200},
			{s.Gateway() + "/v1/health", "", 401},
			{s.Gateway() + "/v1/observer/stats", "wrong", 401},
			{s.Gateway() + "/v1/observer/stats", "smoke-primary", 0},
			{s.Gateway() + "/v1/observer/stats", "smoke-next", 0},
			{s.URL("observerd") + "/v1/observer/stats", "", 401}, // daemons check too, not only the gateway
		} {
			req, _ := http.NewRequest("GET", c.url, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if c.want == 0 && (resp.StatusCode == 401 || resp.StatusCode == 502) || c.want != 0 && resp.StatusCode != c.want {
				t.Errorf("%s token=%q: %d %s", c.url, c.token, resp.StatusCode, b)
			}
		}
	})
}

func TestStartGates(t *testing.T) {
	bin, err := suite.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	// The gates refuse before anything binds, so no non-loopback socket is opened.
	for _, c := range []struct {
		env  []string
		want []string
	}{
		{nil, []string{"refuse non-loopback bind without auth.token", "see audit R-001"}},
		{[]string{"AUTH_TOKEN=x"}, []string{"refusing non-loopback bind", "LH_VECTORD_ALLOW_NONLOOPBACK", "see audit R-001"}},
		{[]string{"LH_VECTORD_ALLOW_NONLOOPBACK=1"}, []string{"refuse non-loopback bind without auth.token"}},
	} {
		cmd := exec.Command(filepath.Join(bin, "vectord"))
		cmd.Env = append([]string{"LH_VECTORD_BIND=0.0.0.0:3215", "PATH=/usr/bin:/bin", "LAKEHOUSE_DATA_DIR=" + t.TempDir()}, c.env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("env %v: started on a non-loopback bind", c.env)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("env %v: want %q in %q", c.env, w, out)
			}
		}
	}
}

// ingestion is a Langfuse ingestion endpoint that records batches.
type ingestion struct {
	mu     sync.Mutex
	events []map[string]any
	auth   []string
}

func (f *ingestion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Batch []map[string]any `json:"batch"`
	}
	if r.URL.Path != "/api/public/ingestion" || json.NewDecoder(r.Body).Decode(&body) != nil {
		http.Error(w, "bad", 400)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, body.Batch...)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	succ := []map[string]any{}
	for _, e := range body.Batch {
		succ = append(succ, map[string]any{"id": e["id"], "status": 201})
	}
	w.WriteHeader(207)
	json.NewEncoder(w).Encode(map[string]any{"successes": succ, "errors": []any{}})
}

func TestLangfuseEndToEnd(t *testing.T) {
	fake := &ingestion{}
	ts := httptest.NewServer(fake)
	defer ts.Close()
	s := suite.Start(t, suite.Options{
		Daemons:   []string{"gateway", "observerd"},
		Env:       []string{"LANGFUSE_URL=" + ts.URL, "LANGFUSE_PUBLIC_KEY=pk-lf-1", "LANGFUSE_SECRET_KEY=sk-lf-1", "AUTH_TOKEN=tok"},
		ExtraTOML: "[langfuse]\nflush_interval = \"50ms\"\n",
	})
	if _, err := s.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	resp, _, err := s.Do(context.Background(), "GET", "/v1/observer/stats", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	reqID := resp.Header.Get("X-Request-Id")
	if bad := s.Stop(); len(bad) > 0 { // SIGTERM flushes the queues
		t.Fatal(bad)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("pk-lf-1:sk-lf-1"))
	for _, a := range fake.auth {
		if a != want {
			t.Fatalf("auth header %q", a)
		}
	}
	spans := map[string]bool{}
	for _, e := range fake.events {
		b, _ := e["body"].(map[string]any)
		if e["type"] == "span-create" && b["traceId"] == reqID {
			spans[strings.SplitN(b["name"].(string), " ", 2)[0]] = true
		}
		if b["name"] == "GET /health" || strings.HasSuffix(b["name"].(string), "/health") {
			t.Fatalf("/health traced: %v", e)
		}
	}
	if !spans["gateway"] || !spans["observerd"] {
		t.Fatalf("want spans from gateway and observerd in trace %s, got %v (events %d)", reqID, spans, len(fake.events))
	}
}

// TestSIGTERMDrainsInFlight: systemctl stop/restart signals a daemon
// directly; a request in flight then is answered in full, and the daemon
// exits 0 (the signal cancelled every request's context: a running query
// was a 503 "query canceled" before the drain began).
func TestSIGTERMDrainsInFlight(t *testing.T) {
	s := suite.Start(t, suite.Options{Daemons: []string{"storaged", "catalogd", "queryd"}})
	url := s.URL("queryd") + "/v1/sql"
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL("queryd") + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("queryd not healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	type answer struct {
		status int
		body   []byte
		took   time.Duration
		err    error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"sql":"SELECT count(*) AS n FROM range(200000000) t(i) WHERE hash(i) % 7 = 0"}`))
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{status: resp.StatusCode, body: b, took: time.Since(start)}
	}()
	time.Sleep(400 * time.Millisecond)
	p := s.Process("queryd")
	p.Signal(syscall.SIGTERM)
	a := <-done
	if a.err != nil || a.status != 200 || !strings.Contains(string(a.body), `"rows":[[`) {
		t.Fatalf("in-flight query across SIGTERM: %v %d %s", a.err, a.status, a.body)
	}
	if a.took < 400*time.Millisecond {
		t.Fatalf("the query ended in %v, before the signal: make it longer", a.took)
	}
	t.Logf("the query took %v across the signal", a.took)
	if bad := s.Stop(); len(bad) > 0 {
		t.Fatalf("unclean exits: %v", bad)
	}
}

// TestRequestTraceAcrossDaemons: the request id a client gets back finds,
// through GET /v1/observer/events?request_id=, what every daemon the
// request went through reported of it: a matrix search with a where passes
// the gateway, matrixd, embedd (the query's vector), vectord, catalogd
// (the latest version, ADR-136) and queryd (the where's prefilter), each
// forwarding the id (ADR-097). storaged may be asked too (catalogd's
// reads, unless cached), so the trace must hold those six, and only this
// request's events.
func TestRequestTraceAcrossDaemons(t *testing.T) {
	s := suite.Start(t, suite.Options{})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if resp, body, err := s.Do(ctx, "POST", "/v1/ingest?name=docs", "text/csv", strings.NewReader("id,text\n1,the quick brown fox\n2,a lazy dog\n")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest: %v %s", err, body)
	}
	if resp, body, err := s.Do(ctx, "POST", "/v1/matrix/indexes", "application/json",
		strings.NewReader(`{"dataset":"docs","id_column":"id","text_columns":["text"]}`)); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("index: %v %s", err, body)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		// Ready, and its rows kept (read in the background after the
		// build, ADR-136): the search then asks catalogd for the latest
		// version and queryd for the where's prefilter. Before the rows are
		// kept it hydrates through queryd instead and catalogd may not be
		// asked (the CI host, loaded, searched before the read ended).
		_, body, err := s.Do(ctx, "GET", "/v1/matrix/indexes/docs", "", nil)
		var st struct {
			State    string
			RowStore struct{ State string } `json:"row_store"`
		}
		if err == nil && json.Unmarshal(body, &st) == nil && st.State == "ready" && st.RowStore.State == "kept" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, body, err := s.Do(ctx, "POST", "/v1/matrix/search", "application/json", strings.NewReader(`{"query":"fox","datasets":["docs"],"k":1,"where":"id > 0"}`))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), "quick brown fox") {
		t.Fatalf("search: %v %s", err, body)
	}
	id := resp.Header.Get("X-Request-Id")
	want := []string{"catalogd", "embedd", "gateway", "matrixd", "queryd", "vectord"}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; { // the harness reports in batches
		_, body, err := s.Do(ctx, "GET", "/v1/observer/events?request_id="+id, "", nil)
		var out struct {
			Events []struct {
				Service   string `json:"service"`
				RequestID string `json:"request_id"`
			} `json:"events"`
		}
		if err != nil || json.Unmarshal(body, &out) != nil {
			t.Fatalf("events: %v %s", err, body)
		}
		seen := map[string]bool{}
		for _, e := range out.Events {
			if e.RequestID != id {
				t.Fatalf("event of request %q under request_id=%s", e.RequestID, id)
			}
			seen[e.Service] = true
		}
		got = got[:0]
		for svc := range seen {
			got = append(got, svc)
		}
		slices.Sort(got)
		all := true
		for _, w := range want {
			all = all && seen[w]
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s: events from %v, want %v", id, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSIGHUPKeepsServing: the daemons have no reload (no unit has
// ExecReload=), and Go's default for SIGHUP is to die at once: a `kill -HUP`
// (a log-rotation script, an operator trying a reload) cut every request in
// flight, flushed nothing, and — systemd counting SIGHUP as a clean end —
// Restart=on-failure left the daemon down. SIGHUP is now ignored with a
// WARN line saying a restart applies a changed config.
func TestSIGHUPKeepsServing(t *testing.T) {
	s := suite.Start(t, suite.Options{Daemons: []string{"observerd"}})
	health := func() int {
		resp, err := http.Get(s.URL("observerd") + "/health")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for health() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("observerd not healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Process("observerd").Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := health(); st != 200 {
		t.Fatalf("after SIGHUP /health answered %d, want 200 (the daemon must keep serving)", st)
	}
	if logs := s.Logs(); !strings.Contains(logs, "SIGHUP ignored") {
		t.Fatalf("no WARN line for the SIGHUP in the log:\n%s", logs)
	}
	if bad := s.Stop(); len(bad) > 0 {
		t.Fatalf("unclean exits after SIGHUP then SIGTERM: %v", bad)
	}
}
