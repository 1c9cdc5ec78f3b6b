package vector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector/wal"
)

// TestUpsertTooLargeForTheLog: a batch within the body limit and the item
// count whose log record would pass wal.MaxPayload (1030 items of 65536
// zeros: 135 MB of JSON, 270 MB as float32) is a 413 too_large that says
// to send smaller batches, and nothing is applied or logged. It was a 503
// "the disk refused the write ... retry once the disk takes writes again",
// which a client retried for ever.
func TestUpsertTooLargeForTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 135 MB")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, newObjects(t), dir)
	defer s.Close(ctx)
	r := chi.NewRouter()
	Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	if _, err := s.CreateIndex(ctx, "big", CreateIndexRequest{Dims: 65536, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	walPath := filepath.Join(dir, "vectord.wal")
	before, err := os.Stat(walPath)
	if err != nil {
		t.Fatal(err)
	}
	const n, dims = 1030, 65536
	if n*dims*4 <= wal.MaxPayload || n > MaxUpsertItems {
		t.Fatalf("the batch must pass the log's record limit within MaxUpsertItems")
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		zeros := strings.TrimSuffix(strings.Repeat("0,", dims), ",")
		bw.WriteString(`{"items":[`)
		for i := range n {
			if i > 0 {
				bw.WriteString(",")
			}
			fmt.Fprintf(bw, `{"id":"i%d","vector":[%s]}`, i, zeros)
		}
		bw.WriteString(`]}`)
		pw.CloseWithError(bw.Flush())
	}()
	resp, err := http.Post(srv.URL+IndexesPath+"/big/upsert", "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error struct{ Kind, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &e) != nil || e.Error.Kind != "too_large" ||
		!strings.Contains(e.Error.Message, "smaller batches") || !strings.Contains(e.Error.Message, "256 MiB") {
		t.Fatalf("upsert too large for one log record: %d %s", resp.StatusCode, body)
	}
	if info, err := s.GetIndex(ctx, "big"); err != nil || info.Count != 0 {
		t.Fatalf("after the refused batch: %+v %v", info, err)
	}
	if after, err := os.Stat(walPath); err != nil || after.Size() != before.Size() {
		t.Fatalf("the refused batch reached the log: %d -> %d bytes", before.Size(), after.Size())
	}
	// The log takes the next batch.
	if _, err := s.Upsert(ctx, "big", []Item{{ID: "one", Vector: make([]float32, dims)}}); err != nil {
		t.Fatal(err)
	}
}
