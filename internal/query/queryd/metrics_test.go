package queryd_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestQueryMetrics: queryd's /metrics after real queries on a stack whose
// storaged is a real MinIO (so queryd reads data files through its Parquet
// cache): queries by outcome, rows returned, the cache's misses then hits.
func TestQueryMetrics(t *testing.T) {
	mc := miniotest.Start(t, "lakehouse-go-metrics")
	cfg := inproc.Config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = mc.Endpoint()
	cfg.S3.Bucket = mc.Bucket
	cfg.S3.SecretsPath = mc.WriteSecrets(t)
	srv := map[string]*shared.Server{}
	for _, b := range []struct {
		name string
		b    shared.Builder
	}{{"storaged", storaged.New}, {"catalogd", catalog.New}, {"queryd", queryd.New}, {"ingestd", ingestd.New}} {
		srv[b.name] = inproc.Start(t, cfg, b.name, b.b)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "m.csv")
	fw.Write([]byte("id,name\n1,a\n2,b\n3,c\n"))
	mw.Close()
	resp, err := http.Post(srv["ingestd"].URL()+"/v1/ingest?name=m", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
	sql := func(body string, want int) {
		t.Helper()
		resp, err := http.Post(srv["queryd"].URL()+"/v1/sql", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	sql(`{"sql":"SELECT * FROM m"}`, 200)
	sql(`{"sql":"SELECT id FROM m WHERE id > 1","format":"ndjson"}`, 200)
	sql(`{"sql":"SELEC nonsense"}`, 400)
	sql(`{"sql":"SELECT 1","bogus":1}`, 400)
	m := metricstest.Scrape(t, srv["queryd"].URL())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lakehouse_queryd_queries_total", []string{"outcome", "ok"}, 2},
		{"lakehouse_queryd_queries_total", []string{"outcome", "invalid"}, 2},
		{"lakehouse_queryd_query_duration_seconds", []string{"outcome", "ok"}, 2},
		{"lakehouse_queryd_rows_returned_total", nil, 5},
		{"lakehouse_queryd_parquet_cache_misses_total", nil, 1},
		{"lakehouse_queryd_parquet_cache_hits_total", nil, 1},
	} {
		if got := m.Get(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := m.Get("lakehouse_queryd_parquet_cache_bytes"); got <= 0 {
		t.Errorf("parquet_cache_bytes = %v, want the cached file's size", got)
	}
	m.Lint(t, "lakehouse_queryd_")
}
