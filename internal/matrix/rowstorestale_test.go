package matrix_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

// rowStoreOf is the row_store of dataset in GET status and in GET list
// through the gateway (the wire form both answer).
func (st *stack) rowStoreOf(t *testing.T, dataset string) (status, listed *matrix.RowStoreStatus) {
	t.Helper()
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(st.gateway + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	var s matrix.IndexStatus
	get(matrix.IndexesPath+"/"+dataset, &s)
	var l matrix.ListResponse
	get(matrix.IndexesPath, &l)
	for _, x := range l.Indexes {
		if x.Dataset == dataset {
			return s.RowStore, x.RowStore
		}
	}
	t.Fatalf("%s not in the list %s", dataset, mustJSON(l))
	return nil, nil
}

// TestRowStoreStatusStale (ADR-147): once a newer version of the dataset
// is committed, the index status and the list say the rows kept are of
// the version before — row_store state "stale" with both versions and a
// reason — not "kept", while searches hydrate through queryd until the
// refresh; after the refresh they say kept at the new version again. A
// deleted dataset's rows are stale too. Before: "kept" at the served
// version until the refresh.
func TestRowStoreStatusStale(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.PollInterval.Duration = time.Hour // no refresh but the one a search starts
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "stale", "replace", rowStoreCSV)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "stale", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "stale", 1)
	kept := st.waitKept(t, "stale", 1).RowStore
	if s, l := st.rowStoreOf(t, "stale"); s.State != matrix.RowStoreKept || l.State != matrix.RowStoreKept {
		t.Fatalf("before the append: status %s, list %s; want kept", mustJSON(s), mustJSON(l))
	}

	st.ingest(t, "stale", "append", "id,name,role,pay,note\n8,Hal,Astronaut,1,q\n")
	s, l := st.rowStoreOf(t, "stale")
	for what, rs := range map[string]*matrix.RowStoreStatus{"status": s, "list": l} {
		if rs.State != matrix.RowStoreStale || rs.Version != 1 || rs.LatestVersion != 2 || rs.Rows != kept.Rows || rs.Bytes != kept.Bytes ||
			!strings.Contains(rs.Reason, "version 2") {
			t.Errorf("%s after an append committed version 2: row_store %s; want stale, version 1, latest_version 2, the rows kept and why", what, mustJSON(rs))
		}
	}
	// The index still serves version 1 (no refresh yet).
	if x, err := st.mx.Status(ctx, "stale"); err != nil || x.Version != 1 {
		t.Fatalf("status %v %s: want version 1 still served", err, mustJSON(x))
	}

	// A search starts the refresh; then the rows of version 2 are kept.
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Datasets: []string{"stale"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "stale", 2)
	st.waitKept(t, "stale", 2)
	if s, l := st.rowStoreOf(t, "stale"); s.State != matrix.RowStoreKept || s.LatestVersion != 0 || l.State != matrix.RowStoreKept || s.Rows != kept.Rows+1 {
		t.Errorf("after the refresh: status %s, list %s; want kept at version 2 with one more id", mustJSON(s), mustJSON(l))
	}

	// The dataset deleted: its rows are not used either.
	cat := catalog.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	if _, err := cat.Delete(ctx, "stale", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s, l = st.rowStoreOf(t, "stale")
	for what, rs := range map[string]*matrix.RowStoreStatus{"status": s, "list": l} {
		if rs.State != matrix.RowStoreStale || rs.Version != 2 || rs.LatestVersion != 0 || !strings.Contains(rs.Reason, "deleted") {
			t.Errorf("%s after the dataset was deleted: row_store %s; want stale at version 2, the dataset deleted", what, mustJSON(rs))
		}
	}
}
