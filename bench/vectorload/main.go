// Command vectorload measures how long vectord takes to load a 1M-vector
// index at start-up: it builds a synthetic LHV1 snapshot (1M x 100-d unit
// vectors, 32 layer-0 links each, one metadata field), stores it through a
// real storaged (local backend, HTTP on 127.0.0.1), and times vector.Open —
// list, download, decode, validate — plus lhv1.Decode from a local file.
//
//	go run ./bench/vectorload [-n 1000000] [-dims 100]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/vector"
	"lakehouse-go/internal/vector/hnsw"
	"lakehouse-go/internal/vector/lhv1"
)

func main() {
	n := flag.Int("n", 1_000_000, "vectors")
	dims := flag.Int("dims", 100, "dimensions")
	flag.Parse()
	if err := run(*n, *dims); err != nil {
		fmt.Fprintln(os.Stderr, "vectorload:", err)
		os.Exit(1)
	}
}

func run(n, dims int) error {
	dir, err := os.MkdirTemp("", "vectorload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	t0 := time.Now()
	p := hnsw.Params{Dims: dims, Metric: hnsw.Cosine, M: 16, EfConstruction: 200}.WithDefaults()
	b, err := hnsw.NewBuilder(p, n, 0, 0, uint64(n))
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	chunk := make([]float32, 0, 4096*dims)
	for i := 0; i < n; i++ {
		v := make([]float32, dims)
		var ss float64
		for j := range v {
			v[j] = float32(r.NormFloat64())
			ss += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(ss))
		}
		chunk = append(chunk, v...)
		if len(chunk) == cap(chunk) || i == n-1 {
			if err := b.AddVectors(chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
	}
	links := make([]uint32, 32)
	for i := 0; i < n; i++ {
		if err := b.AddNode(fmt.Sprint("v", i), 0, false); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		for j := range links {
			l := uint32(r.IntN(n))
			if int(l) == i {
				l = uint32((i + 1) % n)
			}
			links[j] = l
		}
		if err := b.SetLinks(i, 0, links); err != nil {
			return err
		}
		if err := b.SetMetadata(i, hnsw.Metadata{"n": float64(i % 1000)}); err != nil {
			return err
		}
	}
	ix, err := b.Finish()
	if err != nil {
		return err
	}
	snap := filepath.Join(dir, "index.lhv1")
	f, err := os.Create(snap)
	if err != nil {
		return err
	}
	if err := lhv1.Encode(f, ix); err != nil {
		return err
	}
	f.Close()
	st, _ := os.Stat(snap)
	fmt.Fprintf(os.Stderr, "built and encoded a %d-vector snapshot (%d MiB) in %v\n", n, st.Size()>>20, time.Since(t0).Round(time.Millisecond))
	ix = nil
	runtime.GC()

	// lhv1.Decode from a local file.
	f, _ = os.Open(snap)
	t1 := time.Now()
	_, err = lhv1.Decode(f)
	f.Close()
	if err != nil {
		return err
	}
	decodeDur := time.Since(t1)
	runtime.GC()

	// vector.Open through a real storaged over HTTP.
	cfg := shared.Default(filepath.Join(dir, "data"))
	for _, name := range shared.Daemons {
		cfg.Section(name).Bind = "127.0.0.1:0"
	}
	cfg.Report.Enabled, cfg.Log.Access = false, false
	srv, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, io.Discard)
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	objects := storage.NewClient(&shared.Client{Service: "storaged", Base: srv.URL(), HTTP: shared.NewHTTPClient(0)})
	f, _ = os.Open(snap)
	if _, err := objects.Put(context.Background(), vector.SnapshotPrefix+"big/index.lhv1", f, st.Size(), storage.PutOptions{}); err != nil {
		return err
	}
	f.Close()
	t2 := time.Now()
	s, err := vector.Open(context.Background(), quiet, objects, filepath.Join(dir, "vectord"), time.Second)
	if err != nil {
		return err
	}
	openDur := time.Since(t2)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	info, _ := s.GetIndex(context.Background(), "big")
	q := make([]float32, dims)
	q[0] = 1
	t3 := time.Now()
	res, err := s.Search(context.Background(), "big", vector.SearchRequest{Vector: q, K: 10})
	if err != nil || len(res) != 10 {
		return fmt.Errorf("search after load: %v %d", err, len(res))
	}
	fmt.Printf("\n### vectord start-up load of a %d x %d-d index (%s, %d MiB LHV1)\n\n", n, dims, time.Now().UTC().Format("2006-01-02"), st.Size()>>20)
	fmt.Println("| step | time |")
	fmt.Println("|---|---:|")
	fmt.Printf("| lhv1.Decode from a local file | %.2f s |\n", decodeDur.Seconds())
	fmt.Printf("| vector.Open: list + GET from storaged (HTTP, local backend) + decode | %.2f s |\n", openDur.Seconds())
	fmt.Printf("| first search after load | %.2f ms |\n", float64(time.Since(t3).Microseconds())/1000)
	fmt.Printf("\nloaded %d items; Go heap in use after load %d MiB\n", info.Count, ms.HeapInuse>>20)
	return s.Close(context.Background())
}
