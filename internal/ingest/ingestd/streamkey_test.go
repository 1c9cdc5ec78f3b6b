package ingestd_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
)

// TestStreamStoreKey: [ingestd].stream_store decides whether a real
// ingestd, started through the harness on the same host as storaged (its
// socket configured), stores Parquet while DuckDB writes it (the default)
// or after the conversion (false), as an operator who wants the old path
// back expects. The ingest's log line counts the files stored while
// converting.
func TestStreamStoreKey(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			cfg := config(t)
			if !cfg.Ingestd.StreamStore {
				t.Fatal("stream_store is off by default")
			}
			cfg.Ingestd.StreamStore = on
			cfg.Ingestd.FileRows, cfg.Ingestd.RowGroupSize = 20000, 5000
			cfg.Log.Level = "info"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if cfg.StoragedSocket() == "" {
				t.Fatal("no storaged socket in the test config")
			}
			logs := &logBuf{}
			var ing *shared.Server
			for _, d := range []struct {
				name string
				b    shared.Builder
			}{{"storaged", storaged.New}, {"catalogd", catalog.New}, {"ingestd", ingestd.New}} {
				var w io.Writer = io.Discard
				if d.name == "ingestd" {
					w = logs
				}
				s, err := shared.Start(context.Background(), d.name, cfg, d.b, w)
				if err != nil {
					t.Fatalf("start %s: %v", d.name, err)
				}
				t.Cleanup(func() { s.Shutdown(context.Background()) })
				ing = s
			}
			resp, err := http.Post(ing.URL()+"/v1/ingest?name=keyed&format=csv", "text/csv", strings.NewReader(streamCSV(90_000, 0)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("ingest: %d %s", resp.StatusCode, body)
			}
			// The harness's log writer flushes on a timer: wait for the line.
			var m []string
			for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				m = reStreamed.FindStringSubmatch(logs.String())
			}
			switch {
			case m == nil:
				t.Fatalf("no files_stored_while_converting in the log: %s", logs.String())
			case on && m[1] == "0", !on && m[1] != "0":
				t.Errorf("stream_store %v: %s files stored while converting", on, m[1])
			}
		})
	}
}
