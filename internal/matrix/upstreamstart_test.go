package matrix_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// storagedGate is a reverse proxy to the real storaged that drops every
// connection until it is opened: storaged as vectord sees it while it is
// still starting after a restart of the whole suite.
func storagedGate(t *testing.T, storaged string) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	target, err := url.Parse(storaged)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var open atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			panic(http.ErrAbortHandler) // the connection closes without an answer
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &open
}

// restartVectordBehind stops vectord and starts it again with its
// storaged reached through gate (HTTP, no socket), on the same port. It
// returns once vectord serves: after its start grace (2 s) it serves with
// its indexes not loaded while the gate is shut.
func restartVectordBehind(t *testing.T, st *stack, gate string) {
	t.Helper()
	if err := st.servers["vectord"].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	vcfg := *st.cfg
	vcfg.Storaged.URL = gate
	vcfg.Storaged.Socket = "off"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s, err := shared.Start(context.Background(), "vectord", &vcfg, vector.New, logs())
		if err == nil {
			st.servers["vectord"] = s
			return
		}
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			t.Fatalf("restart vectord: %v", err)
		}
	}
}

// TestVectordLoadingIsNotAnOutage: after a restart vectord answers 503
// "vector indexes are not loaded yet" for a few seconds, with Retry-After:
// 1. An index job that meets it waits a second and tries again, the
// status saying what it waits for; it never says failed and the index is
// ready within seconds of vectord's load. Before, the job failed as an
// outage and the status said failed for the 30 s of its first retry wait.
func TestVectordLoadingIsNotAnOutage(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	st.ingest(t, "docs", "replace", "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n3,quick thinking saves the day\n")
	gate, open := storagedGate(t, cfg.URL("storaged"))
	restartVectordBehind(t, st, gate.URL)

	// vectord's own answer: 503, the reason, and when to ask again.
	req, _ := http.NewRequest(http.MethodGet, st.servers["vectord"].URL()+vector.IndexesPath, nil)
	if cfg.Auth.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Auth.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("vectord loading: status %d, Retry-After %q; want 503 with Retry-After: 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := st.mx.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	opened := time.AfterFunc(3*time.Second, func() { open.Store(true) })
	defer opened.Stop()
	start := time.Now()
	waiting, _ := waitThroughLoad(t, st, start, nil)
	t.Logf("ready %v after the POST; waiting said: %s", time.Since(start).Round(time.Millisecond), waiting)
	res, err := st.mx.Search(context.Background(), matrix.SearchRequest{Query: "quick fox", Datasets: []string{"docs"}, Mode: "vector", K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 {
		t.Fatalf("vector search after the wait: %d results, want 3: %+v", len(res.Results), res.Results)
	}
}

// waitThroughLoad polls the status of docs until it is ready: never
// failed, and saying what it waited for (returned). at, when set, runs
// once at the first status that says so; after counts the statuses that
// said so after it.
func waitThroughLoad(t *testing.T, st *stack, start time.Time, at func()) (waiting string, after int) {
	t.Helper()
	ran := false
	for {
		s, err := st.mx.Status(context.Background(), "docs")
		if err != nil {
			t.Fatal(err)
		}
		if s.State == matrix.StateFailed {
			t.Fatalf("index failed %v after the POST while vectord was loading: %s", time.Since(start).Round(time.Millisecond), s.Error)
		}
		if s.Waiting != "" {
			if s.Error != "" {
				t.Fatalf("waiting with an error: %+v", s)
			}
			if ran {
				after++
			}
			if !ran && at != nil {
				at()
				ran = true
			}
			waiting = s.Waiting
		}
		if s.State == matrix.StateReady {
			if s.Waiting != "" {
				t.Fatalf("ready and still waiting: %+v", s)
			}
			break
		}
		if time.Since(start) > 25*time.Second {
			t.Fatalf("index not ready 25 s after the POST: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(waiting, "vectord") || !strings.Contains(waiting, "vector indexes are") || !strings.Contains(waiting, "quick retry") {
		t.Errorf("the status never said what the job waited for (waiting %q)", waiting)
	}
	return waiting, after
}

// TestVectordLoadingAfterMatrixdRestart: the job a restarted matrixd
// resumes at once meets vectord still loading (a restart of the whole
// suite): it waits for it the same way, never failed.
func TestVectordLoadingAfterMatrixdRestart(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	st.ingest(t, "docs", "replace", "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n")
	gate, open := storagedGate(t, cfg.URL("storaged"))
	restartVectordBehind(t, st, gate.URL)
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := st.mx.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, after := waitThroughLoad(t, st, start, func() {
		// Waiting: matrixd restarts and resumes the job, which meets
		// vectord still loading; the gate opens 3 s later.
		st.restartMatrixd(t)
		time.AfterFunc(3*time.Second, func() { open.Store(true) })
	})
	t.Logf("ready %v after the POST", time.Since(start).Round(time.Millisecond))
	if after == 0 {
		t.Error("the resumed job was never seen waiting for vectord")
	}
}

// TestVectordDownIsAnOutage: vectord not answering at all (connection
// refused) is an outage as before: the job fails with the reason at once
// and is retried with backoff, not quickly.
func TestVectordDownIsAnOutage(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	st.ingest(t, "docs", "replace", "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n")
	if err := st.servers["vectord"].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	delete(st.servers, "vectord")
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := st.mx.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := st.mx.Status(context.Background(), "docs")
		if err != nil {
			t.Fatal(err)
		}
		if s.Waiting != "" {
			t.Fatalf("an outage taken for a start: %+v", s)
		}
		if s.State == matrix.StateFailed {
			if !strings.Contains(s.Error, "vectord") {
				t.Fatalf("failed without naming vectord: %s", s.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not failed with vectord down: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSearchWhileVectordLoadsSaysRetryAfter: a vector search that meets
// vectord still loading its indexes is matrixd's 503 with vectord's
// Retry-After passed on, through the gateway, so a client knows to ask
// again in a second (it had no Retry-After: the shared client dropped
// vectord's, and the answer could not carry one).
func TestSearchWhileVectordLoadsSaysRetryAfter(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	st.ingest(t, "docs", "replace", "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n")
	if _, err := st.mx.Index(context.Background(), matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "docs", 1)
	gate, open := storagedGate(t, cfg.URL("storaged"))
	restartVectordBehind(t, st, gate.URL)
	req, _ := http.NewRequest(http.MethodPost, st.gateway+matrix.SearchPath, strings.NewReader(`{"query":"quick fox","datasets":["docs"],"mode":"vector"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), `"unavailable"`) {
		t.Fatalf("search while vectord loads: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	open.Store(true)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := st.mx.Search(context.Background(), matrix.SearchRequest{Query: "quick fox", Datasets: []string{"docs"}, Mode: "vector", K: 2})
		if err == nil && len(res.Results) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search after the load: %v %+v", err, res)
		}
	}
}
