package vector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/vector"
)

// startVectord starts a real storaged and vectord, vectord with the given
// TOML lines of its section, and waits until both are healthy; skipped
// under -short.
func startVectord(t *testing.T, settings string) *suite.Suite {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	s := suite.Start(t, suite.Options{Daemons: []string{"storaged", "vectord"}, Settings: map[string]string{"vectord": settings}})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s
}

func client(s *suite.Suite) *vector.Client {
	return vector.NewClient(&shared.Client{Service: "vectord", Base: s.URL("vectord"), HTTP: shared.NewHTTPClient(30 * time.Second)})
}

// Repeated kill -9 of a real vectord during concurrent upserts and deletes:
// after each restart every acknowledged item is found with its metadata,
// and every acknowledged delete stays deleted.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"300ms\"\nsnapshot_ops = 500")
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "crash", vector.CreateIndexRequest{Dims: 8}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]float64{}     // id -> metadata n
	deleted := map[string]bool{}      // acknowledged deletes
	maybeDeleted := map[string]bool{} // deletes cut by the kill: either outcome is right
	var next atomic.Int64
	for round := 0; round < 4; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					base := next.Add(20) - 20
					batch := make([]vector.Item, 20)
					for i := range batch {
						v := make([]float32, 8)
						for j := range v {
							v[j] = r.Float32() + 0.01
						}
						batch[i] = vector.Item{ID: fmt.Sprint("i", base+int64(i)), Vector: v, Metadata: vector.Metadata{"n": float64(base + int64(i))}}
					}
					if _, err := c.Upsert(ctx, "crash", batch); err != nil {
						return // the daemon died mid-request: not acknowledged
					}
					mu.Lock()
					for _, it := range batch {
						acked[it.ID] = it.Metadata["n"].(float64)
					}
					mu.Unlock()
					if base%100 == 0 {
						id := batch[0].ID
						_, err := c.Delete(ctx, "crash", []string{id})
						mu.Lock()
						if err == nil {
							deleted[id] = true
						} else {
							maybeDeleted[id] = true
						}
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
		s.Kill("vectord")
		close(stop)
		wg.Wait()
		if err := s.StartDaemon("vectord"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitHealthy(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		for id, n := range acked {
			it, err := c.GetItem(ctx, "crash", id)
			if maybeDeleted[id] && !deleted[id] {
				if err != nil && !errs.Is(err, errs.NotFound) {
					t.Fatalf("round %d: %s: %v", round, id, err)
				}
				continue
			}
			if deleted[id] {
				if !errs.Is(err, errs.NotFound) {
					t.Fatalf("round %d: acknowledged delete of %s undone: %v", round, id, err)
				}
				continue
			}
			if err != nil || it.Metadata["n"] != n {
				t.Fatalf("round %d: acknowledged %s lost: %+v %v", round, id, it, err)
			}
		}
		t.Logf("round %d: %d acknowledged items, %d deletes, all present after kill -9", round, len(acked), len(deleted))
		mu.Unlock()
	}
}
