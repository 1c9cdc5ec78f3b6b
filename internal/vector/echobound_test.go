package vector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestOutOfRangeEchoBounded: a vector element beyond float32's range is
// named with its first 64 bytes and its length; a million-digit one was
// echoed whole (a 1 MB error body).
func TestOutOfRangeEchoBounded(t *testing.T) {
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(context.Background(), "r", CreateIndexRequest{Dims: 3, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	num := "1" + strings.Repeat("0", 1_000_000)
	resp, err := http.Post(srv.URL+IndexesPath+"/r/search", "application/json", strings.NewReader(`{"vector":[1,2,`+num+`],"k":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "vector[2] = 1000000000"
	mark := fmt.Sprintf("...(%d bytes): out of float32 range", len(num))
	if resp.StatusCode != 400 || len(b) > 1024 || !strings.Contains(string(b), want) || !strings.Contains(string(b), mark) {
		t.Fatalf("%d, a body of %d bytes: %.300s; want a 400 under 1 KiB with %q and %q", resp.StatusCode, len(b), b, want, mark)
	}
}
