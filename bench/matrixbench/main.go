// Command matrixbench measures matrixd and prints markdown tables:
//
//  1. Retrieval quality on WordNet (Princeton WordNet 3.0 as shipped by
//     Debian's wordnet-base: /usr/share/wordnet/data.noun). Each sampled noun
//     synset's gloss is a document; for a sample of them, one lemma whose
//     words do not occur in the gloss is the query, and that synset is the
//     one relevant document. recall@10 and nDCG@10 for keyword (matrixd's
//     BM25 index), vector (builtin embedder + vectord's HNSW engine) and
//     hybrid (matrixd's Fuse), with the same code matrixd runs.
//
//     go run ./bench/matrixbench -quality -docs 20000 -queries 1000
//
//  2. Pipeline: a generated CSV ingested through ingestd, indexed by matrixd
//     (queryd pages -> embedd builtin -> vectord + BM25), and search latency
//     through the gateway, all daemons in-process on loopback.
//
//     go run ./bench/matrixbench -pipeline -rows 100000 -searches 500
//
// Builtin embedder throughput on its own: bench/embedbench.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/vector"
	"lakehouse-go/internal/vector/hnsw"
)

func main() {
	quality := flag.Bool("quality", false, "WordNet retrieval quality")
	pipeline := flag.Bool("pipeline", false, "ingest + index + search through the daemons")
	wn := flag.String("wordnet", "/usr/share/wordnet/data.noun", "WordNet data file")
	docs := flag.Int("docs", 20000, "quality: synsets in the corpus")
	queries := flag.Int("queries", 1000, "quality: queries")
	depths := flag.String("depths", "100", "quality: candidate depths per list, comma separated")
	weights := flag.String("weights", "1:1", "quality: RRF weights vector:keyword, comma separated")
	seed := flag.Uint64("seed", 1, "sampling seed")
	rows := flag.Int("rows", 100000, "pipeline: rows of the generated dataset")
	searches := flag.Int("searches", 500, "pipeline: searches for the latency figures")
	keptTimeout := flag.Duration("kept-timeout", 10*time.Minute, "pipeline: how long after the build to wait for the index status to say the rows are kept")
	flag.Parse()
	if !*quality && !*pipeline {
		*quality = true
	}
	fmt.Printf("matrixbench: %s, GOMAXPROCS %d, %s/%s\n\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	if *quality {
		if err := runQuality(*wn, *docs, *queries, *depths, *weights, *seed); err != nil {
			log.Fatal(err)
		}
	}
	if *pipeline {
		if err := runPipeline(*rows, *searches, *seed, *keptTimeout); err != nil {
			log.Fatal(err)
		}
	}
}

type synset struct {
	id     string
	lemmas []string
	gloss  string
}

func readWordNet(path string) ([]synset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install -y wordnet-base)", err)
	}
	defer f.Close()
	var out []synset
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") {
			continue // license header
		}
		bar := strings.Index(line, " | ")
		if bar < 0 {
			continue
		}
		f := strings.Fields(line[:bar])
		if len(f) < 4 {
			continue
		}
		n, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || len(f) < 4+2*int(n) {
			continue
		}
		s := synset{id: f[0], gloss: strings.TrimSpace(line[bar+3:])}
		for i := 0; i < int(n); i++ {
			w := f[4+2*i]
			if j := strings.IndexByte(w, '('); j > 0 { // adjective markers
				w = w[:j]
			}
			s.lemmas = append(s.lemmas, strings.ReplaceAll(w, "_", " "))
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

var nonWord = regexp.MustCompile(`[^\pL\pN']+`)

type query struct {
	text string
	doc  string
}

type scores struct{ recall, ndcg float64 }

func runQuality(path string, ndocs, nq int, depthList, weightList string, seed uint64) error {
	all, err := readWordNet(path)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if ndocs > len(all) {
		ndocs = len(all)
	}
	corpus := all[:ndocs]
	// queries: the first lemma that does not occur in the gloss as a phrase
	// (case-insensitive, on word boundaries), as the task states it. Words of
	// a multi-word lemma may still occur in the gloss.
	var qs []query
	for _, s := range corpus {
		if len(qs) == nq {
			break
		}
		gl := " " + strings.Join(strings.Fields(strings.ToLower(nonWord.ReplaceAllString(s.gloss, " "))), " ") + " "
		for _, l := range s.lemmas {
			ll := " " + strings.Join(strings.Fields(strings.ToLower(nonWord.ReplaceAllString(l, " "))), " ") + " "
			if strings.TrimSpace(ll) != "" && !strings.Contains(gl, ll) {
				qs = append(qs, query{text: l, doc: s.id})
				break
			}
		}
	}
	ctx := context.Background()
	bi, err := builtin.New()
	if err != nil {
		return err
	}
	emb, err := embed.New(embed.Config{DefaultModel: builtin.Model, CacheBytes: -1}, bi)
	if err != nil {
		return err
	}
	t0 := time.Now()
	kw := keyword.New()
	texts := make([]string, len(corpus))
	kdocs := make([]keyword.Doc, len(corpus))
	for i, s := range corpus {
		texts[i] = s.gloss
		kdocs[i] = keyword.Doc{ID: s.id, Text: s.gloss}
	}
	kw.Add(kdocs)
	kwTime := time.Since(t0)
	t0 = time.Now()
	ix, err := hnsw.New(hnsw.Params{Dims: builtin.Dims, Metric: hnsw.Cosine, Capacity: len(corpus)})
	if err != nil {
		return err
	}
	for start := 0; start < len(texts); start += 2048 {
		end := min(start+2048, len(texts))
		r, err := emb.Embed(ctx, embed.EmbedRequest{Input: texts[start:end]})
		if err != nil {
			return err
		}
		items := make([]hnsw.Item, end-start)
		for i := range items {
			items[i] = hnsw.Item{ID: corpus[start+i].id, Vector: r.Embeddings[i]}
		}
		if err := ix.Upsert(items); err != nil {
			return err
		}
	}
	vecTime := time.Since(t0)
	qtexts := make([]string, len(qs))
	for i, q := range qs {
		qtexts[i] = q.text
	}
	qv, err := emb.Embed(ctx, embed.EmbedRequest{Input: qtexts})
	if err != nil {
		return err
	}

	fmt.Printf("## Retrieval quality: WordNet 3.0 nouns (Debian wordnet-base)\n\n")
	fmt.Printf("%d synsets sampled (seed %d) of %d; %d queries (a lemma not occurring in its own gloss; 1 relevant doc each). ",
		len(corpus), seed, len(all), len(qs))
	fmt.Printf("Keyword index built in %s, vectors (builtin-glove-100d -> HNSW M=16 efC=200) in %s.\n\n", kwTime.Round(time.Millisecond), vecTime.Round(time.Millisecond))
	fmt.Println("| mode | depth | weights v:k | recall@10 | nDCG@10 | MRR@10 |")
	fmt.Println("|---|---:|---|---:|---:|---:|")
	for _, ds := range strings.Split(depthList, ",") {
		depth, err := strconv.Atoi(strings.TrimSpace(ds))
		if err != nil {
			return err
		}
		type lists struct {
			v []vector.Result
			k []keyword.Hit
		}
		ls := make([]lists, len(qs))
		for i, q := range qs {
			v, err := ix.Search(qv.Embeddings[i], depth, max(depth, 64), nil)
			if err != nil {
				return err
			}
			ls[i] = lists{v: v, k: kw.Search(q.text, depth, nil)}
		}
		eval := func(mode string, wv, wk float64) (float64, float64, float64) {
			var rec, ndcg, mrr float64
			for i, q := range qs {
				fz := matrix.Fuse(mode, ls[i].v, ls[i].k, wv, wk)
				if mode == matrix.ModeVector {
					fz = matrix.Fuse(mode, ls[i].v, nil, wv, wk)
				} else if mode == matrix.ModeKeyword {
					fz = matrix.Fuse(mode, nil, ls[i].k, wv, wk)
				}
				for r := 0; r < len(fz) && r < 10; r++ {
					if fz[r].ID == q.doc {
						rec++
						ndcg += 1 / math.Log2(float64(r+2))
						mrr += 1 / float64(r+1)
						break
					}
				}
			}
			n := float64(len(qs))
			return rec / n, ndcg / n, mrr / n
		}
		for _, m := range []string{matrix.ModeKeyword, matrix.ModeVector} {
			r, n, mr := eval(m, 1, 1)
			fmt.Printf("| %s | %d | - | %.3f | %.3f | %.3f |\n", m, depth, r, n, mr)
		}
		for _, w := range strings.Split(weightList, ",") {
			a, b, _ := strings.Cut(strings.TrimSpace(w), ":")
			wv, _ := strconv.ParseFloat(a, 64)
			wk, _ := strconv.ParseFloat(b, 64)
			r, n, mr := eval(matrix.ModeHybrid, wv, wk)
			fmt.Printf("| hybrid (RRF k=60) | %d | %s | %.3f | %.3f | %.3f |\n", depth, w, r, n, mr)
		}
	}
	fmt.Println()
	return nil
}

// ---- pipeline ----

var stackDaemons = []struct {
	name string
	b    shared.Builder
}{
	{"storaged", storaged.New}, {"catalogd", catalog.New}, {"queryd", queryd.New},
	{"ingestd", ingestd.New}, {"vectord", vector.New}, {"embedd", embedd.New},
	{"matrixd", matrix.New}, {"gateway", gateway.New},
}

var roles = strings.Fields(`forklift operator truck driver accountant engineer nurse chef clerk manager welder
	electrician plumber teacher cashier analyst designer mechanic pilot pharmacist baker carpenter painter
	courier dispatcher librarian surveyor architect chemist biologist technician receptionist auditor`)
var adjs = strings.Fields(`senior junior night lead assistant certified trainee chief head regional remote
	part-time contract field floor shift`)
var cities = strings.Fields(`Berlin Paris Lyon Madrid Rome Oslo Porto Vienna Prague Dublin Leeds Bristol`)

func genCSV(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	b.WriteString("id,name,role,city,salary\n")
	for i := 1; i <= n; i++ {
		r1 := roles[rng.IntN(len(roles))]
		r2 := roles[rng.IntN(len(roles))]
		fmt.Fprintf(&b, "%d,Person %d,%s %s %s,%s,%d\n", i, i, adjs[rng.IntN(len(adjs))], r1, r2, cities[rng.IntN(len(cities))], 20000+rng.IntN(80000))
	}
	return b.Bytes()
}

func runPipeline(rows, searches int, seed uint64, keptTimeout time.Duration) error {
	dir, err := os.MkdirTemp("", "matrixbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := shared.Default(dir)
	ports, err := suite.FreePorts(len(stackDaemons))
	if err != nil {
		return err
	}
	for _, n := range shared.Daemons {
		cfg.Section(n).Bind = "127.0.0.1:0"
	}
	for i, d := range stackDaemons {
		cfg.Section(d.name).Bind = fmt.Sprintf("127.0.0.1:%d", ports[i])
	}
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	cfg.Log.Level = "warn"
	cfg.Matrixd.PollInterval = shared.Duration{Duration: -1}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var servers []*shared.Server
	for _, d := range stackDaemons {
		s, err := shared.Start(context.Background(), d.name, cfg, d.b, io.Discard)
		if err != nil {
			return fmt.Errorf("start %s: %w", d.name, err)
		}
		servers = append(servers, s)
	}
	defer func() {
		for i := len(servers) - 1; i >= 0; i-- {
			servers[i].Shutdown(context.Background())
		}
	}()
	gw := servers[len(servers)-1].URL()
	hc := shared.NewHTTPClient(30 * time.Minute)
	mx := matrix.NewClient(&shared.Client{Service: "gateway", Base: gw, HTTP: hc})
	ctx := context.Background()

	csv := genCSV(rows, seed)
	t0 := time.Now()
	resp, err := hc.Post(gw+"/v1/ingest?format=csv&name=bench", "text/csv", bytes.NewReader(csv))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("ingest: %d %s", resp.StatusCode, body)
	}
	ingestTime := time.Since(t0)

	t0 = time.Now()
	if _, err := mx.Index(ctx, matrix.IndexRequest{Dataset: "bench", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		return err
	}
	var st matrix.IndexStatus
	lastLog := time.Now()
	for {
		st, err = mx.Status(ctx, "bench")
		if err != nil {
			return err
		}
		if st.State == matrix.StateFailed {
			return fmt.Errorf("index failed: %s", st.Error)
		}
		if st.State == matrix.StateReady {
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "  indexing %d/%d rows, %.0f rows/s\n", st.RowsDone, st.RowsTotal, st.RowsPerSec)
			lastLog = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	indexTime := time.Since(t0)

	readyAt := time.Now()

	// Searches right after the build hydrate through queryd until the
	// rows are kept (ADR-133, ADR-136): they are timed apart. A search
	// counts as before-kept only when the status after it still says the
	// rows are not kept (the status calls are not timed); the phase ends at
	// the first that does not.
	kept := func() (bool, error) {
		st, err := mx.Status(ctx, "bench")
		if err != nil {
			return false, err
		}
		rs := st.RowStore
		return rs != nil && rs.State == matrix.RowStoreKept && rs.Version == st.Version, nil
	}
	qrng := rand.New(rand.NewPCG(seed, 9))
	type lat struct {
		mode  string
		where string
		ds    []time.Duration
	}
	search := func(l *lat) (time.Duration, error) {
		q := adjs[qrng.IntN(len(adjs))] + " " + roles[qrng.IntN(len(roles))]
		t := time.Now()
		res, err := mx.Search(ctx, matrix.SearchRequest{Query: q, Datasets: []string{"bench"}, K: 10, Mode: l.mode, Where: l.where})
		if err != nil {
			return 0, err
		}
		if len(res.Results) == 0 {
			return 0, fmt.Errorf("no results for %q", q)
		}
		return time.Since(t), nil
	}
	newRuns := func() []*lat {
		return []*lat{{mode: "hybrid"}, {mode: "keyword"}, {mode: "vector"}, {mode: "hybrid", where: "salary > 50000"}}
	}
	before := newRuns()
	ended := false
	for i := 0; i < searches && !ended; i++ {
		for _, l := range before {
			d, err := search(l)
			if err != nil {
				return err
			}
			k, err := kept()
			if err != nil {
				return err
			}
			if k {
				ended = true
				break
			}
			l.ds = append(l.ds, d)
		}
	}
	for {
		k, err := kept()
		if err != nil {
			return err
		}
		if k {
			break
		}
		if time.Since(readyAt) > keptTimeout {
			return fmt.Errorf("the rows were not kept %s after the index was ready (-kept-timeout)", keptTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	keptAfter := time.Since(readyAt)
	if st, err = mx.Status(ctx, "bench"); err != nil {
		return err
	}
	runs := newRuns()
	for _, l := range runs {
		for i := 0; i < searches; i++ {
			d, err := search(l)
			if err != nil {
				return err
			}
			l.ds = append(l.ds, d)
		}
	}

	fmt.Printf("## Pipeline: ingest -> index -> search through the gateway (all daemons in-process, loopback)\n\n")
	fmt.Printf("Dataset: %d rows generated (id,name,role,city,salary; %.1f MB CSV); text columns name+role; builtin-glove-100d; vectord HNSW M=16 efC=200; [matrixd] batch_rows %d.\n\n",
		rows, float64(len(csv))/1e6, cfg.Matrixd.BatchRows)
	fmt.Println("| step | rows | time | rows/s |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| ingest (CSV -> Parquet, ingestd) | %d | %s | %.0f |\n", rows, ingestTime.Round(time.Millisecond), float64(rows)/ingestTime.Seconds())
	fmt.Printf("| index (queryd pages -> embedd -> vectord + BM25) | %d | %s | %.0f |\n", st.Docs, indexTime.Round(time.Millisecond), float64(st.Docs)/indexTime.Seconds())
	if rows < 1_000_000 {
		fmt.Printf("| index, 1M rows: EXTRAPOLATED linearly from the row above (HNSW insert cost grows ~log n, so expect slower) | 1000000 | ~%s | ~%.0f |\n",
			(time.Duration(float64(indexTime) * 1e6 / float64(rows))).Round(time.Second), float64(st.Docs)/indexTime.Seconds())
	}
	fmt.Println()
	fmt.Printf("Rows kept for search %s after the index was ready: %d ids, %.1f MB counted against row_store_bytes.\n\n",
		keptAfter.Round(time.Millisecond), st.RowStore.Rows, float64(st.RowStore.Bytes)/1e6)
	fmt.Printf("Search latency through the gateway, k=10, up to %d sequential searches each; \"queryd\": right after the build, before the rows were kept (hydration scans Parquet); \"kept\": once the status said they were:\n\n", searches)
	fmt.Println("| rows | mode | where | searches | p50 | p95 | p99 |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|")
	for _, ph := range []struct {
		name string
		runs []*lat
	}{{"queryd", before}, {"kept", runs}} {
		for _, l := range ph.runs {
			w := l.where
			if w == "" {
				w = "-"
			}
			if len(l.ds) == 0 {
				fmt.Printf("| %s | %s | %s | 0 | - | - | - |\n", ph.name, l.mode, w)
				continue
			}
			sort.Slice(l.ds, func(i, j int) bool { return l.ds[i] < l.ds[j] })
			p := func(q float64) string {
				return fmt.Sprintf("%.2f ms", float64(l.ds[int(q*float64(len(l.ds)-1))].Microseconds())/1000)
			}
			fmt.Printf("| %s | %s | %s | %d | %s | %s | %s |\n", ph.name, l.mode, w, len(l.ds), p(0.5), p(0.95), p(0.99))
		}
	}
	fmt.Println()
	return nil
}
