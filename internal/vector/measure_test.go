package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMeasureRangeAndScroll prints, over real HTTP on 100k items of 64
// dims, the search p50 without a filter, with an equality filter and with
// range filters of 50%, 5% and 0.1% selectivity, and the wall time of
// scrolling all 100k items at limit 100 and 10000. A measurement, not a
// check: runs only with LAKEHOUSE_VECTOR_MEASURE=1.
func TestMeasureRangeAndScroll(t *testing.T) {
	if os.Getenv("LAKEHOUSE_VECTOR_MEASURE") == "" {
		t.Skip("set LAKEHOUSE_VECTOR_MEASURE=1")
	}
	const n, dims = 100_000, 64
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "m", CreateIndexRequest{Dims: dims}); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	t0 := time.Now()
	for from := 0; from < n; from += 5000 {
		var its []Item
		for i := from; i < from+5000; i++ {
			its = append(its, Item{ID: fmt.Sprintf("m%06d", i), Vector: randVec(rnd, dims), Metadata: Metadata{"x": float64(i), "cat": fmt.Sprint(i % 10)}})
		}
		if _, err := s.Upsert(ctx, "m", its); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built %d x %d in %v", n, dims, time.Since(t0).Round(time.Millisecond))
	post := func(body string) time.Duration {
		t0 := time.Now()
		resp, err := http.Post(srv.URL+IndexesPath+"/m/search", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		var sr SearchResponse
		if resp.StatusCode != 200 || json.Unmarshal(b, &sr) != nil || len(sr.Results) != 10 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return d
	}
	queries := make([]string, 200)
	for i := range queries {
		q, _ := json.Marshal(randVec(rnd, dims))
		queries[i] = string(q)
	}
	fmt.Printf("%-34s %9s %9s\n", "search (k 10, 200 queries)", "p50", "p90")
	for _, c := range []struct{ name, filter string }{
		{"no filter", ""},
		{"equality, 10%", `{"cat":"3"}`},
		{"range, 50%", `{"x":{"lt":50000}}`},
		{"range, 5%", `{"x":{"gte":20000,"lt":25000}}`},
		{"range, 0.1%", `{"x":{"gte":70000,"lt":70100}}`},
		{"range 50% and equality", `{"x":{"gte":50000},"cat":"3"}`},
	} {
		var ds []time.Duration
		for _, q := range queries {
			body := `{"vector":` + q + `,"k":10}`
			if c.filter != "" {
				body = `{"vector":` + q + `,"k":10,"filter":` + c.filter + `}`
			}
			ds = append(ds, post(body))
		}
		slices.Sort(ds)
		fmt.Printf("%-34s %9v %9v\n", c.name, ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*9/10].Round(time.Microsecond))
	}
	for _, limit := range []int{100, 10000} {
		for _, withVector := range []bool{false, true} {
			t0 := time.Now()
			total, after, pages := 0, "", 0
			for {
				u := fmt.Sprintf("%s%s/m/items?limit=%d&with_vector=%v", srv.URL, IndexesPath, limit, withVector)
				if after != "" {
					u += "&after=" + after
				}
				code, b := getURL(t, u)
				var p ScrollResponse
				if code != 200 || json.Unmarshal(b, &p) != nil {
					t.Fatalf("%d %s", code, b)
				}
				total += len(p.Items)
				pages++
				if p.Next == nil {
					break
				}
				after = *p.Next
			}
			if total != n {
				t.Fatalf("scrolled %d", total)
			}
			fmt.Printf("scroll %d items, limit %5d, with_vector %-5v: %v (%d pages)\n", n, limit, withVector, time.Since(t0).Round(time.Millisecond), pages)
		}
	}
}
