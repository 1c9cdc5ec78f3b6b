package gateway

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// rowStoreJSON is an index status's row_store as matrixd answers it
// (ADR-136, ADR-147).
type rowStoreJSON struct {
	State         string `json:"state"`
	Version       int64  `json:"version"`
	LatestVersion int64  `json:"latest_version"`
	Rows          int64  `json:"rows"`
	Bytes         int64  `json:"bytes"`
	Reason        string `json:"reason"`
}

// rowStoreOf is the row_store of dataset's index in GET
// /v1/matrix/indexes (the list the console reads).
func rowStoreOf(t *testing.T, s *suite.Suite, dataset string) rowStoreJSON {
	t.Helper()
	b := mustDo(t, s, "GET", "/v1/matrix/indexes", "", "", 200)
	var l struct {
		Indexes []struct {
			Dataset  string        `json:"dataset"`
			RowStore *rowStoreJSON `json:"row_store"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("index list: %v %.300s", err, b)
	}
	for _, x := range l.Indexes {
		if x.Dataset == dataset && x.RowStore != nil {
			return *x.RowStore
		}
	}
	return rowStoreJSON{}
}

// waitRowStoreKept polls until dataset's rows are kept at version.
func waitRowStoreKept(t *testing.T, s *suite.Suite, dataset string, version int64) rowStoreJSON {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		rs := rowStoreOf(t, s, dataset)
		if rs.State == "kept" && rs.Version == version {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rows of %s version %d are not kept: %+v", dataset, version, rs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// binarySize is the console's size(): binary units, one decimal above
// 1 KiB.
func binarySize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// datasetRow is the console's datasets table row of name (nil when not
// shown).
func datasetRow(r probeResult, name string) []probeCell {
	for _, row := range r.DatasetRows {
		if len(row) > 0 && row[0].Text == name {
			return row
		}
	}
	return nil
}

// TestConsoleRowStore: the datasets table shows each index's row_store
// (ADR-151): for rows kept the state, the version, the ids and the bytes
// in binary units; for rows stale (a version committed after them, the
// index not refreshed: poll_interval 1h and no search) also the catalog's
// latest version and why, beside and on hover. With matrixd down the
// datasets still show, their index "unknown" and the message says why.
func TestConsoleRowStore(t *testing.T) {
	chromium := consoleBrowser(t)
	s := suite.Start(t, suite.Options{
		Env:      []string{"AUTH_TOKEN=" + consoleToken},
		Settings: map[string]string{"matrixd": `poll_interval = "1h"`},
	})
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := newConsoleProbe(t, chromium, s)

	// kept_rows: enough rows for thousands and KiB; stale_rows: a
	// version appended after its rows were kept.
	var csv strings.Builder
	csv.WriteString("id,note\n")
	for i := range 1500 {
		fmt.Fprintf(&csv, "%d,note number %d about a zebra\n", i, i)
	}
	mustDo(t, s, "POST", "/v1/ingest?name=kept_rows", "text/csv", csv.String(), 200)
	mustDo(t, s, "POST", "/v1/ingest?name=stale_rows", "text/csv", "id,note\n1,alpha\n2,beta\n3,gamma\n", 200)
	for _, ds := range []string{"kept_rows", "stale_rows"} {
		mustDo(t, s, "POST", "/v1/matrix/indexes", "application/json",
			`{"dataset":"`+ds+`","id_column":"id","text_columns":["note"]}`, 202)
	}
	for _, ds := range []string{"kept_rows", "stale_rows"} {
		waitIndexReady(t, s, ds)
	}
	kept := waitRowStoreKept(t, s, "kept_rows", 1)
	waitRowStoreKept(t, s, "stale_rows", 1)
	mustDo(t, s, "POST", "/v1/ingest?name=stale_rows&mode=append", "text/csv", "id,note\n4,delta\n", 200)
	stale := rowStoreOf(t, s, "stale_rows")
	if stale.State != "stale" || stale.Version != 1 || stale.LatestVersion != 2 || stale.Reason == "" {
		t.Fatalf("stale_rows after an append: row_store %+v; want stale at version 1, latest 2", stale)
	}
	if kept.Rows != 1500 || kept.Bytes < 1024 {
		t.Fatalf("kept_rows: row_store %+v; want 1500 rows over 1 KiB", kept)
	}

	r, reqs := p.load(url.Values{"token": {consoleToken}}.Encode())
	noScriptRan(t, r, reqs)
	t.Logf("datasets: %+v", r.DatasetRows)
	const col = 7 // name version rows files columns updated index [rows kept]
	t.Run("kept", func(t *testing.T) {
		row := datasetRow(r, "kept_rows")
		if len(row) <= col {
			t.Fatalf("kept_rows: row %+v has no rows-kept cell", row)
		}
		if row[col-1].Text != "ready" {
			t.Errorf("kept_rows: index %q, want ready", row[col-1].Text)
		}
		want := "kept · version 1 · 1,500 rows · " + binarySize(kept.Bytes)
		if row[col].Text != want || row[col].Title != "" {
			t.Errorf("kept_rows: rows kept %q (title %q), want %q", row[col].Text, row[col].Title, want)
		}
	})
	t.Run("stale", func(t *testing.T) {
		row := datasetRow(r, "stale_rows")
		if len(row) <= col {
			t.Fatalf("stale_rows: row %+v has no rows-kept cell", row)
		}
		want := fmt.Sprintf("stale · version 1, latest 2 · 3 rows · %s%s", binarySize(stale.Bytes), stale.Reason)
		if row[col].Text != want || row[col].Title != stale.Reason {
			t.Errorf("stale_rows: rows kept %q (title %q), want %q (title the reason)", row[col].Text, row[col].Title, want)
		}
		// The dataset's own version is the catalog's: 2.
		if row[1].Text != "2" {
			t.Errorf("stale_rows: dataset version %q, want 2", row[1].Text)
		}
	})
	t.Run("matrixd down", func(t *testing.T) {
		s.Kill("matrixd")
		r, reqs := p.load(url.Values{"token": {consoleToken}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("matrixd down: %q", r.Text["datasets-msg"])
		if m := r.Text["datasets-msg"]; !strings.HasPrefix(m, "2 datasets · search indexes: ") {
			t.Errorf("matrixd down: the message does not say the indexes are unknown: %q", m)
		}
		for _, ds := range []string{"kept_rows", "stale_rows"} {
			row := datasetRow(r, ds)
			if len(row) <= col || row[col-1].Text != "unknown" || row[col].Text != "" {
				t.Errorf("matrixd down: %s row %+v; want its index unknown, no rows kept", ds, row)
			}
		}
	})
}
