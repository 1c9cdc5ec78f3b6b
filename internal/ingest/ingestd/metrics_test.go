package ingestd_test

import (
	"testing"

	"lakehouse-go/internal/testutil/metricstest"
)

// TestIngestMetrics: ingestd's /metrics counts ingests by format and
// outcome, the rows they committed and the bytes they received, after
// real uploads: one good CSV of 3 rows, one refused CSV (its rows not
// counted), one gzip JSONL upload of 2 rows.
func TestIngestMetrics(t *testing.T) {
	st := startStack(t, config(t))
	ingestd := st.servers["ingestd"].URL()
	good := []byte("id,name\n1,a\n2,b\n3,c\n")
	if a := st.upload(t, "name=m&format=csv", "m.csv", good); a.Status != 200 {
		t.Fatalf("ingest: %d %s", a.Status, a.Body)
	}
	m := metricstest.Scrape(t, ingestd)
	if v := m.Get("lakehouse_ingestd_rows_total"); v != 3 {
		t.Errorf("rows_total = %v, want 3", v)
	}
	if v := m.Get("lakehouse_ingestd_ingests_total", "format", "csv", "outcome", "ok"); v != 1 {
		t.Errorf("ingests_total{csv,ok} = %v, want 1", v)
	}
	if v := m.Get("lakehouse_ingestd_received_bytes_total"); v != float64(len(good)) {
		t.Errorf("received_bytes_total = %v, want %d", v, len(good))
	}
	if v := m.Get("lakehouse_ingestd_ingest_duration_seconds", "outcome", "ok"); v != 1 {
		t.Errorf("ingest_duration_seconds{ok} count = %v, want 1", v)
	}

	bad := []byte("id,name\n7.5,x\n")
	if a := st.upload(t, "name=m&mode=append&format=csv", "bad.csv", bad); a.Status != 400 {
		t.Fatalf("bad append: %d %s", a.Status, a.Body)
	}
	m = metricstest.Scrape(t, ingestd)
	if v := m.Get("lakehouse_ingestd_rows_total"); v != 3 {
		t.Errorf("rows_total after a refused ingest = %v, want 3", v)
	}
	if v := m.Get("lakehouse_ingestd_ingests_total", "format", "csv", "outcome", "invalid"); v != 1 {
		t.Errorf("ingests_total{csv,invalid} = %v, want 1", v)
	}
	if v := m.Get("lakehouse_ingestd_ingests_total", "format", "csv", "outcome", "ok"); v != 1 {
		t.Errorf("ingests_total{csv,ok} after a refused ingest = %v, want 1", v)
	}
	if v := m.Get("lakehouse_ingestd_received_bytes_total"); v != float64(len(good)+len(bad)) {
		t.Errorf("received_bytes_total = %v, want %d (a refused upload was received too)", v, len(good)+len(bad))
	}
	m.Lint(t, "lakehouse_ingestd_")
}
