package hnsw

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkBuild times one batch upsert of LAKEHOUSE_HNSW_BUILD_N (default
// 20000) clustered 100-d vectors (the built-in embedder's dims) into an
// empty cosine index, M 16, ef_construction 200, in batches of 1000 (the
// size a bulk load sends). It reports rows/s.
//
//	nice go test -run XXX -bench Build -benchtime 1x -count 5 ./internal/vector/hnsw
func BenchmarkBuild(b *testing.B) {
	n := 20000
	if s := os.Getenv("LAKEHOUSE_HNSW_BUILD_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	vecs := clustered(n, 100, 11)
	items := make([]Item, n)
	for i, v := range vecs {
		items[i] = Item{ID: fmt.Sprintf("id%d", i), Vector: v}
	}
	var took time.Duration
	for b.Loop() {
		ix, err := New(Params{Dims: 100, M: 16, EfConstruction: 200})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := 0; i < n; i += 1000 {
			if err := ix.Upsert(items[i:min(i+1000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		took += time.Since(t0)
	}
	b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(n), "ns/insert")
}
