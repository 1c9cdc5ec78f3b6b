package smoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/suite"
)

// hostB is the second "host" of a split deployment: another loopback
// address with its own lakehouse.toml and data dir.
const hostB = "127.0.0.2"

// splitHosts puts storaged, catalogd and vectord on host B; the other
// daemons stay on 127.0.0.1 (host A) and reach them by [<daemon>].url.
var splitHosts = map[string]string{"storaged": hostB, "catalogd": hostB, "vectord": hostB}

// TestSplitDeploymentS3 runs the README's journey through host A's
// gateway with storaged, catalogd and vectord on host B, the s3 backend on
// a real MinIO, a token on every daemon, and host A's config naming no
// backend at all (an operator's host A does not run storaged).
func TestSplitDeploymentS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eleven daemons and MinIO")
	}
	m := miniotest.Start(t, "lakehouse-go-primary")
	s3 := fmt.Sprintf("[s3]\nendpoint = %q\nbucket = %q\nsecrets_path = %q\n", m.Endpoint(), m.Bucket, m.WriteSecrets(t))
	s := suite.Start(t, suite.Options{
		Env:      []string{"AUTH_TOKEN=split-token"},
		Hosts:    splitHosts,
		Settings: map[string]string{"storaged": `backend = "s3"`},
		HostTOML: map[string]string{hostB: s3},
	})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	journey(t, s)
	if n := cacheMisses(t, s); n == 0 {
		t.Errorf("queryd on host A downloaded no file through storaged")
	}
	noObjectDir(t, s)
}

// noObjectDir: host A runs no storaged, and nothing there makes a
// <data_dir>/objects (queryd made an empty objects/data/datasets/; ADR-199).
func noObjectDir(t *testing.T, s *suite.Suite) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.HostDir("127.0.0.1"), "data", "objects")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("host A's data_dir has objects/: %v; want none", err)
	}
}

// cacheMisses is queryd's lakehouse_queryd_parquet_cache_misses_total: the
// files it fetched through storaged rather than read where they lie.
func cacheMisses(t *testing.T, s *suite.Suite) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL("queryd")+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "lakehouse_queryd_parquet_cache_misses_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(line)
			}
			return n
		}
	}
	t.Fatalf("no cache misses metric in %d %s", resp.StatusCode, b)
	return 0
}

// TestSameHostQuerydReadsDirectly: on storaged's host (local backend, one
// config) queryd still reads the dataset's Parquet files where storaged
// keeps them, confirmed through storaged's socket: nothing is downloaded
// into its cache.
func TestSameHostQuerydReadsDirectly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five daemons")
	}
	s := suite.Start(t, suite.Options{Env: []string{"AUTH_TOKEN=one-host"},
		Daemons: []string{"storaged", "catalogd", "ingestd", "queryd", "gateway"}})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ingestAppendCount(t, s)
	if n := cacheMisses(t, s); n != 0 {
		t.Errorf("queryd on storaged's host downloaded %v files through storaged", n)
	}
}

// TestSameHostSocketOff: on storaged's host with [storaged].socket = "off"
// queryd cannot confirm storaged's directory as its own (ADR-194), so it
// reads every file through storaged, into its cache, and the answers are
// the same; it creates nothing under [storaged].dir itself (ADR-199).
func TestSameHostSocketOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five daemons")
	}
	s := suite.Start(t, suite.Options{Env: []string{"AUTH_TOKEN=one-host"},
		Daemons:  []string{"storaged", "catalogd", "ingestd", "queryd", "gateway"},
		Settings: map[string]string{"storaged": `socket = "off"`}})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ingestAppendCount(t, s)
	if n := cacheMisses(t, s); n != 2 {
		t.Errorf("queryd fetched %v files through storaged; want 2 (one per ingest: the socket is off)", n)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "data", "storaged.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("storaged.sock with socket = \"off\": %v", err)
	}
}

// journey is the README's curl journey, checked answer by answer.
func journey(t *testing.T, s *suite.Suite) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		ctype := "application/json"
		switch b := body.(type) {
		case nil:
			rd = bytes.NewReader(nil)
			ctype = ""
		case []byte:
			rd, ctype = bytes.NewReader(b), "text/csv"
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
		resp, out, err := s.Do(ctx, method, path, ctype, rd)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		if resp.StatusCode >= 300 {
			t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return resp.StatusCode, v
	}
	count := func(want float64) {
		t.Helper()
		_, v := call("POST", "/v1/sql", map[string]any{"sql": "SELECT COUNT(*) FROM probe"})
		rows, _ := v["rows"].([]any)
		if len(rows) != 1 || rows[0].([]any)[0] != want {
			t.Errorf("SELECT COUNT(*) FROM probe = %v, want %v", v, want)
		}
	}

	// Ingest, query, append, query again (the new version is seen).
	csv := []byte("id,name,role\n1,Alice,Forklift Operator\n2,Bob,Accountant\n")
	if _, v := call("POST", "/v1/ingest?name=probe", csv); v["rows"] != 2.0 || v["version"] != 1.0 {
		t.Errorf("ingest: %v", v)
	}
	count(2)
	if _, v := call("POST", "/v1/ingest?name=probe&mode=append", []byte("id,name,role\n3,Carol,Welder\n")); v["version"] != 2.0 {
		t.Errorf("append: %v", v)
	}
	count(3)
	if _, v := call("POST", "/v1/sql", map[string]any{"sql": "SELECT name FROM probe WHERE id = 3"}); fmt.Sprint(v["rows"]) != "[[Carol]]" {
		t.Errorf("SELECT name: %v", v)
	}
	if _, v := call("GET", "/v1/catalog/datasets/probe", nil); v["version"] != 2.0 || v["row_count"] != 3.0 {
		t.Errorf("catalog: %v", v)
	}

	// Matrix: build, wait until ready, search.
	call("POST", "/v1/matrix/indexes", map[string]any{"dataset": "probe", "id_column": "id", "text_columns": []string{"name", "role"}})
	deadline := time.Now().Add(time.Minute)
	for {
		_, v := call("GET", "/v1/matrix/indexes/probe", nil)
		if v["state"] == "ready" {
			break
		}
		if v["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("matrix index: %v", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, v := call("POST", "/v1/matrix/search", map[string]any{"query": "forklift driver", "datasets": []string{"probe"}, "k": 5})
	if res, _ := v["results"].([]any); len(res) == 0 || fmt.Sprint(res[0].(map[string]any)["id"]) != "1" {
		t.Errorf("matrix search: %v", v)
	}

	// Embeddings and vectors.
	if _, v := call("POST", "/v1/embed", map[string]any{"input": []string{"forklift driver", "truck"}}); len(v["embeddings"].([]any)) != 2 {
		t.Errorf("embed: %v", v)
	}
	call("PUT", "/v1/vectors/indexes/demo", map[string]any{"dims": 3, "metric": "cosine"})
	call("POST", "/v1/vectors/indexes/demo/upsert", map[string]any{"items": []any{
		map[string]any{"id": "a", "vector": []float64{1, 0, 0}, "metadata": map[string]any{"team": "red"}},
		map[string]any{"id": "b", "vector": []float64{0, 1, 0}, "metadata": map[string]any{"team": "blue"}},
	}})
	_, v = call("POST", "/v1/vectors/indexes/demo/search", map[string]any{"vector": []float64{1, 0.1, 0}, "k": 5, "filter": map[string]any{"team": "red"}})
	if res, _ := v["results"].([]any); len(res) != 1 || res[0].(map[string]any)["id"] != "a" {
		t.Errorf("vector search: %v", v)
	}

	// Pathway memories.
	call("POST", "/v1/pathway/memories", map[string]any{"text": "I live in Lisbon", "user_id": "ana"})
	_, v = call("POST", "/v1/pathway/search", map[string]any{"query": "where does ana live", "user_id": "ana"})
	if res, _ := v["results"].([]any); len(res) == 0 || !strings.Contains(fmt.Sprint(res[0]), "Lisbon") {
		t.Errorf("pathway search: %v", v)
	}

	// Host B's daemons report their operations to host A's observerd.
	for _, svc := range []string{"storaged", "catalogd", "vectord"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, v := call("GET", "/v1/observer/events?limit=1&service="+svc, nil)
			if ev, _ := v["events"].([]any); len(ev) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("observer: no event of %s: %v", svc, v)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Every daemon healthy through the gateway.
	if _, v := call("GET", "/v1/health", nil); v["status"] != "ok" {
		t.Errorf("health: %v", v)
	}
}

// TestSplitDeploymentLocal is the same split with storaged's local
// backend: host A's daemons cannot reach its directory or its socket, so
// everything they read and write goes over HTTP.
func TestSplitDeploymentLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eleven daemons")
	}
	s := suite.Start(t, suite.Options{
		Env:   []string{"AUTH_TOKEN=split-token"},
		Hosts: splitHosts,
	})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	journey(t, s)
	noObjectDir(t, s)
}

// ingestAppendCount ingests a dataset of two rows, counts it, appends a
// row and counts it again, all through the gateway.
func ingestAppendCount(t *testing.T, s *suite.Suite) {
	t.Helper()
	ctx := context.Background()
	for _, step := range []struct{ path, ctype, body, want string }{
		{"/v1/ingest?name=probe", "text/csv", "id,name\n1,Alice\n2,Bob\n", `"version":1`},
		{"/v1/sql", "application/json", `{"sql":"SELECT COUNT(*) FROM probe"}`, `"rows":[[2]]`},
		{"/v1/ingest?name=probe&mode=append", "text/csv", "id,name\n3,Carol\n", `"version":2`},
		{"/v1/sql", "application/json", `{"sql":"SELECT COUNT(*) FROM probe"}`, `"rows":[[3]]`},
	} {
		resp, b, err := s.Do(ctx, "POST", step.path, step.ctype, strings.NewReader(step.body))
		if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), step.want) {
			t.Fatalf("%s: %v %v %s", step.path, err, resp, b)
		}
	}
}
