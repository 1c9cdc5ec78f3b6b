package local

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"lakehouse-go/internal/storage"
)

// TestPutRacesDeleteOfSiblings: PUTs and DELETEs of keys that share
// directories, side by side (ingestd's pending markers: one per ingest
// under _ingest/pending/<name>/, written and removed by concurrent
// ingests). Delete removes the directories it leaves empty; a Put that
// meets a directory removed under it makes it again instead of failing
// (1 in 35 concurrent ingests answered 503 "mkdir ...: no such file or
// directory").
func TestPutRacesDeleteOfSiblings(t *testing.T) {
	st, err := Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				key := fmt.Sprintf("_ingest/pending/t1/w%d-%d.json", g, i)
				if _, err := st.Put(ctx, key, bytes.NewReader([]byte("{}")), 2, storage.PutOptions{CreateOnly: i%2 == 0}); err != nil {
					errc <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				if err := st.Delete(ctx, key); err != nil {
					errc <- fmt.Errorf("delete %s: %w", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
