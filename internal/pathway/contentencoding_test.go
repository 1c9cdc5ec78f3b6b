package pathway_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPContentEncodingRefused: pathwayd through its real HTTP server:
// a memory add, a search, an update and a trace append sent with
// Content-Encoding gzip are each a 415 invalid naming the coding, and
// nothing is stored: the gzip body was "invalid character '\x1f'", and a
// plain body labelled gzip was added as a memory.
func TestHTTPContentEncodingRefused(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	base := s.URL()
	send := func(method, path, body, coding string) (int, string) {
		t.Helper()
		b := []byte(body)
		if coding == "gzip" && strings.HasPrefix(path, pathway.MemoriesPath+"?gz") {
			path = pathway.MemoriesPath
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			b = buf.Bytes()
		}
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if coding != "" {
			req.Header.Set("Content-Encoding", coding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, body := send("POST", pathway.MemoriesPath, `{"text":"I like tea","user_id":"ce","infer":false}`, "")
	if code != 200 {
		t.Fatalf("plain add: %d %s", code, body)
	}
	id := getMemories(t, base+pathway.MemoriesPath+"?user_id=ce").Results[0].ID
	for _, tc := range []struct{ method, path, body, coding string }{
		{"POST", pathway.MemoriesPath + "?gz", `{"text":"I like coffee","user_id":"ce","infer":false}`, "gzip"},
		{"POST", pathway.MemoriesPath, `{"text":"I like coffee","user_id":"ce","infer":false}`, "gzip"},
		{"POST", pathway.MemoriesPath, `{"text":"I like coffee","user_id":"ce","infer":false}`, "br"},
		{"PUT", pathway.MemoriesPath + "/" + id, `{"text":"I like coffee"}`, "gzip"},
		{"POST", pathway.SearchPath, `{"query":"tea","user_id":"ce"}`, "deflate"},
		{"POST", pathway.TracesPath, `{"run_id":"ce-run","steps":[{"type":"llm"}]}`, "zstd"},
	} {
		code, body := send(tc.method, tc.path, tc.body, tc.coding)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(body, `"kind":"invalid"`) ||
			!strings.Contains(body, `Content-Encoding \"`+tc.coding+`\" is not accepted`) {
			t.Errorf("%s %s with %s: %d %s, want 415 invalid naming the coding", tc.method, tc.path, tc.coding, code, body)
		}
	}
	p := getMemories(t, base+pathway.MemoriesPath+"?user_id=ce")
	if len(p.Results) != 1 || !strings.Contains(p.Results[0].Memory, "tea") || strings.Contains(p.Results[0].Memory, "coffee") {
		t.Fatalf("memories after refused requests: %+v", p.Results)
	}
	if code, body := do(t, "GET", base+pathway.TracesPath+"/ce-run", ""); code != 404 {
		t.Fatalf("trace of a refused append: %d %s", code, body)
	}
}
