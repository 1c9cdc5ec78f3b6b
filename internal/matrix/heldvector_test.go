package matrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector"
)

// holdVectorIndex stops vectord gracefully (its snapshots stored, the log
// truncated behind them), flips a byte in the middle of index's snapshot
// object and starts vectord again: vectord holds the index (ADR-095).
func (st *stack) holdVectorIndex(t *testing.T, index string) {
	t.Helper()
	ctx := context.Background()
	if err := st.servers["vectord"].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	objects := storage.NewClient(&shared.Client{Service: "storaged", Base: st.servers["storaged"].URL(), HTTP: shared.NewHTTPClient(30 * time.Second)})
	key := vector.SnapshotPrefix + index + "/index.lhv1"
	rc, _, err := objects.Get(ctx, key, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)/2] ^= 0x10
	if _, err := objects.Put(ctx, key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := shared.Start(ctx, "vectord", st.cfg, vector.New, logs())
	if err != nil {
		t.Fatalf("restart vectord: %v", err)
	}
	st.servers["vectord"] = s
	vc := vector.NewClient(&shared.Client{Service: "vectord", Base: s.URL(), HTTP: shared.NewHTTPClient(30 * time.Second)})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		l, err := vc.ListAll(ctx)
		if err == nil && len(l.Unreadable) == 1 && l.Unreadable[0].Name == index {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vectord does not hold %s: %+v %v", index, l, err)
		}
	}
}

// rawJSON sends body (nil: none) to the gateway and returns the status and
// the decoded answer.
func (st *stack) rawJSON(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(mustJSON(body))
	}
	req, _ := http.NewRequest(method, st.gateway+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// TestHeldVectorIndex (ADR-103): vectord holds the vector index behind a
// dataset's search index (a damaged snapshot, ADR-095). The status said
// "ready" with nothing about it while every vector and hybrid search
// failed; a refresh of an appended version failed saying the model's dims
// had changed; a POST /v1/matrix/indexes answered "ready" and changed
// nothing. Now the status names vectord's error (vector_error), vector and
// hybrid searches are a 502 naming vectord, the index and the way out,
// keyword search works, a background refresh fails once with that error
// (not retried, the held index left alone for a restore), and a POST
// rebuilds: matrixd drops the index it owns and embeds every row again.
func TestHeldVectorIndex(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 30, ""))
	st.holdVectorIndex(t, matrix.VectorIndex("docs"))
	snap := vector.SnapshotPrefix + matrix.VectorIndex("docs") + "/index.lhv1"

	// (1) The status tells.
	code, got := st.rawJSON(t, http.MethodGet, matrix.IndexesPath+"/docs", nil)
	ve, _ := got["vector_error"].(map[string]any)
	if code != 200 || got["state"] != matrix.StateReady || ve == nil || ve["index"] != matrix.VectorIndex("docs") ||
		ve["kind"] != "unavailable" || !strings.Contains(ve["message"].(string), snap) {
		t.Fatalf("status of a dataset whose vector index vectord holds: %d %v", code, got)
	}
	list, err := st.mx.List(ctx)
	if err != nil || len(list) != 1 || list[0].VectorError == nil || list[0].VectorError.Index != matrix.VectorIndex("docs") {
		t.Fatalf("list: %+v %v", list, err)
	}

	// (2) Vector and hybrid searches: vectord's error, named; keyword works.
	for _, mode := range []string{matrix.ModeVector, matrix.ModeHybrid} {
		code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: mode})
		e, _ := got["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if (code != 502 && code != 503) || e["kind"] != "unavailable" || !strings.Contains(msg, "vectord") ||
			!strings.Contains(msg, `"docs"`) || !strings.Contains(msg, snap) || !strings.Contains(msg, "POST "+matrix.IndexesPath) ||
			!strings.Contains(msg, `mode "keyword"`) {
			t.Fatalf("%s search: %d %v", mode, code, got)
		}
		t.Logf("%s search: %d %s", mode, code, msg)
		if strings.Contains(msg, "  ") {
			t.Fatalf("%s search: %q", mode, msg)
		}
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword, K: 5})
	if err != nil || len(res.Results) != 5 {
		t.Fatalf("keyword search: %+v %v", res, err)
	}

	// A background refresh (the poll sees an appended version) fails once
	// with vectord's error and leaves the held index to the operator.
	st.ingest(t, "docs", "append", "id,txt,n\nd100,appended warehouse row,100\n")
	var failed matrix.IndexStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if failed, err = st.mx.Status(ctx, "docs"); err != nil {
			t.Fatal(err)
		}
		if failed.State == matrix.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh over a held vector index: %+v", failed)
		}
	}
	if !strings.Contains(failed.Error, snap) || !strings.Contains(failed.Error, "POST "+matrix.IndexesPath) ||
		strings.Contains(failed.Error, "dims") || strings.Contains(failed.Error, "  ") || failed.Version != before.Version || failed.VectorError == nil {
		t.Fatalf("failed refresh: %+v", failed)
	}
	t.Logf("failed refresh: %s", failed.Error)
	time.Sleep(time.Second) // 5 polls: not run again
	if again, _ := st.mx.Status(ctx, "docs"); !again.FinishedAt.Equal(failed.FinishedAt) || again.State != matrix.StateFailed {
		t.Fatalf("a refresh over a held vector index ran again: %+v then %+v", failed, again)
	}
	vc := vector.NewClient(&shared.Client{Service: "vectord", Base: st.servers["vectord"].URL(), HTTP: shared.NewHTTPClient(30 * time.Second)})
	if l, err := vc.ListAll(ctx); err != nil || len(l.Unreadable) != 1 {
		t.Fatalf("the background refresh touched the held index: %+v %v", l, err)
	}

	// (3) POST rebuilds: the held index is dropped and built again.
	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", before.Version+1)
	if after.Refresh != "full" || after.Docs != 31 || after.VectorError != nil {
		t.Fatalf("rebuild: %+v", after)
	}
	if l, err := vc.ListAll(ctx); err != nil || len(l.Unreadable) != 0 {
		t.Fatalf("still held after the rebuild: %+v %v", l, err)
	}
	for _, mode := range []string{matrix.ModeVector, matrix.ModeHybrid} {
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "appended warehouse row", Datasets: []string{"docs"}, Mode: mode, K: 3})
		if err != nil || len(res.Results) != 3 || res.Results[0].ID != "d100" {
			t.Fatalf("%s search after the rebuild: %+v %v", mode, res, err)
		}
	}
}

// TestHeldVectorIndexPostRebuilds (ADR-103): a POST /v1/matrix/indexes of
// the same spec at the same dataset version, over a vector index vectord
// holds, answered at once and went "ready" with nothing done: every
// vector search still failed. It rebuilds now, dropping the held index.
func TestHeldVectorIndexPostRebuilds(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	st.holdVectorIndex(t, matrix.VectorIndex("docs"))
	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", before.Version)
	for deadline := time.Now().Add(time.Minute); !after.FinishedAt.After(before.FinishedAt) || after.State != matrix.StateReady; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no rebuild: %+v", after)
		}
		after = st.waitReady(t, "docs", before.Version)
	}
	if after.Refresh != "full" || after.VectorError != nil || after.Docs != 20 {
		t.Fatalf("rebuild: %+v", after)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 3})
	if err != nil || len(res.Results) != 3 {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
}
