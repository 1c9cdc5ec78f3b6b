package matrix_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
)

// TestUnknownQueryParams: no matrixd route takes a query parameter; one
// is a 400 invalid naming it, and nothing changes (ADR-099).
// POST /v1/matrix/search?k=1 answered the default 10 results,
// DELETE .../staff?purge=false dropped the index, POST .../indexes?wait=true
// started a build in the background (Qdrant's wait). The typed client is
// still answered.
func TestUnknownQueryParams(t *testing.T) {
	ctx := context.Background()
	st := startStack(t, stackConfig(t))
	st.ingest(t, "staff", "replace", people)
	st.ingest(t, "jobs", "replace", "code,title\nJ1,Forklift certification course\nJ2,Baking bread\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "staff", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "staff", 1)
	const none = "(this route takes: none)"
	for _, tc := range []struct {
		method, path, body string
		want, hint         string
	}{
		{"POST", matrix.IndexesPath + "?wait=true", `{"dataset":"jobs","id_column":"code","text_columns":["title"]}`, `unknown query parameter "wait" ` + none, "always runs in the background"},
		{"POST", matrix.IndexesPath + "?dataset=jobs", `{"dataset":"jobs","id_column":"code","text_columns":["title"]}`, `unknown query parameter "dataset" ` + none, "JSON body"},
		{"GET", matrix.IndexesPath + "?dataset=jobs", "", `unknown query parameter "dataset" ` + none, ""},
		{"GET", matrix.IndexesPath + "/staff?version=1", "", `unknown query parameter "version" ` + none, ""},
		{"DELETE", matrix.IndexesPath + "/staff?purge=false", "", `unknown query parameter "purge" ` + none, ""},
		{"DELETE", matrix.IndexesPath + "/staff?a;b", "", "query string: ", ""},
		{"POST", matrix.SearchPath + "?k=1&mode=keyword", `{"query":"forklift","datasets":["staff"]}`, `unknown query parameters "k", "mode" ` + none, "JSON body"},
	} {
		req, err := http.NewRequest(tc.method, st.gateway+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errs.Body
		json.Unmarshal(b, &e)
		if resp.StatusCode != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) || !strings.Contains(e.Error.Message, tc.hint) || e.Error.RequestID == "" {
			t.Errorf("%s %s: %d %s, want a 400 saying %q and %q", tc.method, tc.path, resp.StatusCode, b, tc.want, tc.hint)
		}
	}
	// Nothing changed: staff's index is there, no index of jobs was started.
	if s, err := st.mx.Status(ctx, "staff"); err != nil || s.State != matrix.StateReady {
		t.Fatalf("staff after the refused drop: %+v %v", s, err)
	}
	if s, err := st.mx.Status(ctx, "jobs"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("jobs after the refused index builds: %+v %v, want not found", s, err)
	}
	// The typed client sends nothing the routes refuse.
	if ls, err := st.mx.List(ctx); err != nil || len(ls) != 1 {
		t.Fatalf("client List: %+v %v", ls, err)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift", Datasets: []string{"staff"}, K: 1, Mode: "keyword"})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "1" {
		t.Fatalf("client Search: %+v %v", res, err)
	}
	if err := st.mx.Drop(ctx, "staff"); err != nil {
		t.Fatalf("client Drop: %v", err)
	}
}
