package matrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
)

// benchCSV is bench/matrixbench's dataset shape: id,name,role,city,salary.
func benchCSV(n int, seed uint64) string {
	adjs := []string{"senior", "junior", "lead", "chief", "assistant", "night", "remote", "trainee"}
	roles := []string{"forklift driver", "accountant", "baker", "nurse", "welder", "chef", "pilot", "plumber", "tailor", "gardener", "teacher", "engineer"}
	cities := []string{"Lisbon", "Oslo", "Lyon", "Turin", "Ghent", "Brno", "Porto", "Malmo"}
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("id,name,role,city,salary\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,Person %d,%s %s %s,%s,%d\n", i, i, adjs[rng.IntN(len(adjs))], roles[rng.IntN(len(roles))], roles[rng.IntN(len(roles))], cities[rng.IntN(len(cities))], 20000+rng.IntN(80000))
	}
	return b.String()
}

func quantiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

// TestHydrateCost measures a search's hydration step (ADR-133) on a
// dataset of LH_HYDRATE_ROWS rows (default 1,000,000; bench/matrixbench's
// shape, ingested through ingestd): the rows of 20 random ids (k=10's
// first window) read through queryd as hydrateRows does — one Parquet scan
// — against the row store's catalog check and lookup, alternately in one
// run, checking that both give the same rows. Then, unless LH_SEARCH_ROWS
// is 0, whole hybrid searches (k=10, through the gateway) over an index of
// LH_SEARCH_ROWS rows (default 50,000), with and without the row store,
// alternately. A measurement, not a check: it runs only with
// LH_MEASURE_HYDRATE=1.
//
//	LH_MEASURE_HYDRATE=1 go test -count=1 -run '^TestHydrateCost$' -v -timeout 30m ./internal/matrix
func TestHydrateCost(t *testing.T) {
	if os.Getenv("LH_MEASURE_HYDRATE") == "" {
		t.Skip("a measurement: set LH_MEASURE_HYDRATE=1")
	}
	rows := envInt("LH_HYDRATE_ROWS", 1_000_000)
	rounds := envInt("LH_HYDRATE_ROUNDS", 200)
	cfg := stackConfig(t)
	cfg.Matrixd.PollInterval.Duration = time.Hour
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	hc := shared.NewHTTPClient(time.Minute)
	cat := catalog.NewClient(&shared.Client{Service: "catalogd", Base: st.servers["catalogd"].URL(), HTTP: hc})
	qd := query.NewClient(&shared.Client{Service: "queryd", Base: st.servers["queryd"].URL(), HTTP: hc})

	if rows > 0 {
		start := time.Now()
		st.ingest(t, "big", "replace", benchCSV(rows, 1))
		t.Logf("ingested %d rows in %s", rows, time.Since(start).Round(time.Millisecond))
		d, err := cat.Get(ctx, "big", 0)
		if err != nil {
			t.Fatal(err)
		}
		h := matrix.NewHydrator(cat, qd, matrix.IndexRequest{Dataset: "big", IDColumn: "id", TextColumns: []string{"name", "role"}}, "BIGINT", d.Version)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start = time.Now()
		n, size, err := h.LoadStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		load := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("row store: %d rows, %.1f MB counted, Go heap +%.1f MB, read in %s", n, float64(size)/1e6,
			(float64(after.HeapAlloc)-float64(before.HeapAlloc))/1e6, load.Round(time.Millisecond))
		rng := rand.New(rand.NewPCG(2, 3))
		var scan, store []time.Duration
		for r := range rounds {
			ids := make([]string, 20)
			for i := range ids {
				ids[i] = strconv.Itoa(1 + rng.IntN(rows))
			}
			var a, b map[string]map[string]any
			for _, first := range []bool{r%2 == 0, r%2 != 0} {
				start := time.Now()
				if first {
					if a, err = h.Scan(ctx, ids); err != nil {
						t.Fatal(err)
					}
					scan = append(scan, time.Since(start))
				} else {
					if b, err = h.FromStore(ctx, ids); err != nil {
						t.Fatal(err)
					}
					store = append(store, time.Since(start))
				}
			}
			if ja, jb := mustJSON(a), mustJSON(b); ja != jb || len(a) != len(uniq(ids)) {
				t.Fatalf("ids %v: through queryd %s, from the row store %s", ids, ja, jb)
			}
		}
		s50, s99 := quantiles(scan)
		r50, r99 := quantiles(store)
		t.Logf("| hydration of 20 ids | %d rows | through queryd (Parquet scan) p50 %.2f ms p99 %.2f ms | row store (catalog GET + lookup) p50 %.2f ms p99 %.2f ms |",
			rows, ms(s50), ms(s99), ms(r50), ms(r99))
	}

	if n := envInt("LH_SEARCH_ROWS", 50_000); n > 0 {
		st.ingest(t, "srch", "replace", benchCSV(n, 4))
		start := time.Now()
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "srch", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Minute)
		for {
			s, err := st.mx.Status(ctx, "srch")
			if err != nil || s.State == matrix.StateFailed || time.Now().After(deadline) {
				t.Fatalf("%+v %v", s, err)
			}
			if s.State == matrix.StateReady {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("indexed %d rows in %s", n, time.Since(start).Round(time.Second))
		ready := time.Now()
		queries := []string{"senior forklift driver", "night nurse", "chief accountant baker", "remote welder", "trainee pilot plumber", "lead chef"}
		search := func(q string) (time.Duration, string) {
			start := time.Now()
			res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: q, Datasets: []string{"srch"}, Mode: "hybrid", K: 10})
			if err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			b, _ := json.Marshal(res)
			return el, string(b)
		}
		// The first search starts reading the rows: wait until searches
		// send queryd nothing.
		for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			before := qc.n.Load()
			search(queries[0])
			if qc.n.Load() == before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("row store not read within 10 min")
			}
		}
		t.Logf("row store read %s after the index was ready", time.Since(ready).Round(time.Millisecond))
		var off, on []time.Duration
		for r := range rounds {
			q := queries[r%len(queries)]
			var a, b string
			for _, useStore := range []bool{r%2 == 0, r%2 != 0} {
				matrix.SetRowStore(t, useStore)
				el, out := search(q)
				if useStore {
					on, b = append(on, el), out
				} else {
					off, a = append(off, el), out
				}
			}
			if a != b {
				t.Fatalf("%q: through queryd %s, from the row store %s", q, a, b)
			}
		}
		o50, o99 := quantiles(off)
		n50, n99 := quantiles(on)
		t.Logf("| hybrid search k=10 through the gateway | %d rows | through queryd p50 %.2f ms p99 %.2f ms | row store p50 %.2f ms p99 %.2f ms |",
			n, ms(o50), ms(o99), ms(n50), ms(n99))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func uniq(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}
