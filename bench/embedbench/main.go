// Command embedbench measures the built-in embedder's throughput through
// embed.Embedder: cold (cache disabled, every sentence computed) and cache
// hit (every sentence already cached), at each GOMAXPROCS in -procs. It
// prints a table a person can read (and -json for machines).
//
//	go run ./bench/embedbench -n 200000 -procs 1,2
//
// Sentences are synthetic but realistic: 6-18 tokens drawn from English
// words, with identifiers (camelCase, snake_case), numbers and typos mixed in.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
)

var words = strings.Fields(`the of and to in a is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their has would when who will
more if no out so said what up its about than into them can only other new some could time these two
may then do first any my now such like our over man me even most made after also did many before must
through back years where much your way well down should because each just those people how too little
state good very make world still own see men work long get here between both life being under never
day same another know while last might us great old year off come since against go came right used take
three database customer invoice payment server request latency cluster storage query index vector search
report revenue quarter market shares price order shipping delivery account password session error
timeout upload download stream replica backup weather forecast rain morning evening football match team`)

var extras = []string{"getUserName", "customer_id", "orderTotal", "HTTPServer", "user_42", "recieve",
	"adress", "accomodation", "definately", "2024", "3.14", "kubernetes", "postgres", "S3", "api_key"}

func corpus(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		k := 6 + rng.IntN(13)
		for j := 0; j < k; j++ {
			if j > 0 {
				b.WriteByte(' ')
			}
			if rng.IntN(10) == 0 {
				b.WriteString(extras[rng.IntN(len(extras))])
			} else {
				b.WriteString(words[rng.IntN(len(words))])
			}
		}
		b.WriteString(" #")
		b.WriteString(strconv.Itoa(i)) // every sentence distinct
		out[i] = b.String()
	}
	return out
}

type row struct {
	Procs     int     `json:"procs"`
	Path      string  `json:"path"`
	Sentences int     `json:"sentences"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"sentences_per_s"`
}

func main() {
	n := flag.Int("n", 200_000, "sentences per measurement")
	procsFlag := flag.String("procs", "1,2", "GOMAXPROCS values")
	batch := flag.Int("batch", 1000, "texts per Embed request")
	asJSON := flag.Bool("json", false, "print JSON rows instead of a table")
	flag.Parse()

	p, err := builtin.New()
	if err != nil {
		log.Fatal(err)
	}
	sents := corpus(*n, 1)
	var rows []row
	for _, f := range strings.Split(*procsFlag, ",") {
		procs, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			log.Fatal(err)
		}
		runtime.GOMAXPROCS(procs)
		cold, _ := embed.New(embed.Config{DefaultModel: builtin.Model, CacheBytes: -1, MaxConcurrent: procs}, p)
		rows = append(rows, measure(procs, "cold (no cache)", cold, sents, *batch))
		hot, _ := embed.New(embed.Config{DefaultModel: builtin.Model, CacheBytes: 1 << 30, MaxConcurrent: procs}, p)
		measure(procs, "", hot, sents, *batch) // fill
		rows = append(rows, measure(procs, "cache hit", hot, sents, *batch))
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(rows)
		return
	}
	fmt.Printf("builtin embedder (%s, %d dims), %s, %d-token avg sentences, batches of %d\n",
		builtin.Model, builtin.Dims, runtime.Version(), avgTokens(sents), *batch)
	fmt.Printf("%-6s %-16s %10s %9s %14s\n", "procs", "path", "sentences", "seconds", "sentences/s")
	for _, r := range rows {
		fmt.Printf("%-6d %-16s %10d %9.3f %14.0f\n", r.Procs, r.Path, r.Sentences, r.Seconds, r.PerSec)
	}
}

// measure sends the sentences as concurrent requests of batch texts, one
// worker per proc (a daemon serving that many concurrent requests).
func measure(procs int, path string, e *embed.Embedder, sents []string, batch int) row {
	ctx := context.Background()
	jobs := make(chan []string)
	done := make(chan struct{})
	start := time.Now()
	for w := 0; w < procs; w++ {
		go func() {
			for b := range jobs {
				if _, err := e.Embed(ctx, embed.EmbedRequest{Input: b}); err != nil {
					log.Fatal(err)
				}
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < len(sents); i += batch {
		jobs <- sents[i:min(i+batch, len(sents))]
	}
	close(jobs)
	for w := 0; w < procs; w++ {
		<-done
	}
	d := time.Since(start).Seconds()
	return row{Procs: procs, Path: path, Sentences: len(sents), Seconds: d, PerSec: float64(len(sents)) / d}
}

func avgTokens(s []string) int {
	t := 0
	for _, x := range s {
		t += len(strings.Fields(x))
	}
	return t / len(s)
}
