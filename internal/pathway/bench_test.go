package pathway

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/pathway/journal"
)

// noSync writes through and skips fsync (benchmarks only).
type noSync struct{ journal.WriteSyncer }

func (noSync) Sync() error { return nil }

// BenchmarkStoreAdd measures acknowledged (fsynced, visible) adds per
// second through Store.Add: verbatim adds (infer false) with 1 and 32
// writers, and inferred adds (decisions) with 8 writers each writing to a
// user who already has seedPerUser memories. Run with a fixed count, e.g.
// go test -run '^$' -bench BenchmarkStoreAdd -benchtime 4000x ./internal/pathway/
func BenchmarkStoreAdd(b *testing.B) {
	const seedPerUser = 5000
	ctx := context.Background()
	no, yes := false, true
	for _, tc := range []struct {
		name    string
		writers int
		infer   bool
		nosync  bool // fsync is a no-op: the CPU and lock cost without the disk's noise
	}{
		{"infer=false/writers=1", 1, false, false},
		{"infer=false/writers=32", 32, false, false},
		{"infer=false/writers=32/nosync", 32, false, true},
		{"infer=true/memories=5000/writers=8", 8, true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var n atomic.Int64
			opts := Options{Path: filepath.Join(b.TempDir(), "state.jsonl"), Embedder: embedder(b),
				NewID: func() string { return fmt.Sprintf("m%09d", n.Add(1)) }}
			if tc.nosync {
				opts.wrapJournal = func(w journal.WriteSyncer) journal.WriteSyncer { return noSync{w} }
			}
			s, _, err := Open(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			if tc.infer {
				for w := 0; w < tc.writers; w++ {
					msgs := make([]Message, seedPerUser)
					for i := range msgs {
						msgs[i] = Message{Role: "user", Content: fmt.Sprintf("Likes seed%dtopic%d", w, i)}
					}
					for start := 0; start < len(msgs); start += 250 {
						if _, err := s.Add(ctx, AddRequest{Messages: msgs[start : start+250], Infer: &no, Scope: Scope{UserID: fmt.Sprint("u", w)}}); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			per := b.N/tc.writers + 1
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					infer := &no
					if tc.infer {
						infer = &yes
					}
					for i := 0; i < per; i++ {
						text := fmt.Sprintf("I like writer%d thing%d", w, i)
						if _, err := s.Add(ctx, AddRequest{Text: text, Infer: infer, Scope: Scope{UserID: fmt.Sprint("u", w)}}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*tc.writers)/time.Since(t0).Seconds(), "acked_adds/s")
		})
	}
}
