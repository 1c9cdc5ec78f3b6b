package hnsw

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkBuild times one batch upsert of LAKEHOUSE_HNSW_BUILD_N (default
// 20000) clustered 100-d vectors (the built-in embedder's dims) into an
// empty cosine index, M 16, ef_construction 200, in batches of 1000 (the
// size a bulk load sends). It reports rows/s. With
// LAKEHOUSE_HNSW_BUILD_SEARCH=1 one goroutine searches (k 10, ef 64)
// throughout the build and the p50/p99/max search latency is reported.
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
	search := os.Getenv("LAKEHOUSE_HNSW_BUILD_SEARCH") == "1"
	var took time.Duration
	var lat []time.Duration
	for b.Loop() {
		ix, err := New(Params{Dims: 100, M: 16, EfConstruction: 200})
		if err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; search; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				res, err := ix.Search(vecs[i%len(vecs)], 10, 64, nil)
				if err != nil {
					b.Error(err)
					return
				}
				if len(res) > 0 { // not the empty index before the first chunk
					lat = append(lat, time.Since(t))
				}
			}
		}()
		t0 := time.Now()
		for i := 0; i < n; i += 1000 {
			if err := ix.Upsert(items[i:min(i+1000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		took += time.Since(t0)
		close(stop)
		<-done
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-search-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-search-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-search-µs")
		b.ReportMetric(float64(len(lat))/float64(b.N), "searches")
	}
	b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(n), "ns/insert")
}
