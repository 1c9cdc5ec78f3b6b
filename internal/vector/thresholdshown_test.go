package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// TestScoreThresholdAtShownScore: a hit's score as the search answer shows
// it (float32's shortest decimal, e.g. 0.8930387), sent back as
// score_threshold, keeps that hit ("equal is kept") for cosine, dot and l2.
// A float64 comparison dropped about half of them: the decimal read as a
// float64 is a little above (cosine, dot) or below (l2) the float32 score.
func TestScoreThresholdAtShownScore(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	base := srv.URL + IndexesPath
	rnd := rand.New(rand.NewPCG(11, 12))
	const n, dims, k = 300, 4, 30
	var its []Item
	for i := range n {
		its = append(its, Item{ID: fmt.Sprintf("s%03d", i), Vector: randVec(rnd, dims)})
	}
	// The hits as the wire shows them: scores kept as the decimal text.
	search := func(index, body string) []struct {
		ID    string
		Score json.Number
	} {
		t.Helper()
		resp, err := http.Post(base+"/"+index+"/search", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
		var sr struct {
			Results []struct {
				ID    string
				Score json.Number
			}
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(&sr); err != nil {
			t.Fatal(err)
		}
		return sr.Results
	}
	for _, metric := range []string{"cosine", "dot", "l2"} {
		if _, err := s.CreateIndex(ctx, metric, CreateIndexRequest{Dims: dims, Metric: metric}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upsert(ctx, metric, its); err != nil {
			t.Fatal(err)
		}
		qj, _ := json.Marshal(randVec(rnd, dims))
		hits := search(metric, fmt.Sprintf(`{"vector":%s,"k":%d}`, qj, k))
		if len(hits) != k {
			t.Fatalf("%s: %d hits", metric, len(hits))
		}
		dropped := 0
		for i, h := range hits {
			got := search(metric, fmt.Sprintf(`{"vector":%s,"k":%d,"score_threshold":%s}`, qj, k, h.Score))
			// Every hit up to this one, and those tied with it after it.
			want := i + 1
			for want < len(hits) && hits[want].Score == h.Score {
				want++
			}
			if len(got) != want {
				dropped++
				t.Errorf("%s: score_threshold %s (hit %d, %s): %d hits, want %d", metric, h.Score, i, h.ID, len(got), want)
			}
		}
		if dropped > 0 {
			t.Errorf("%s: %d of %d hits lost at their own shown score", metric, dropped, k)
		}
	}
}
