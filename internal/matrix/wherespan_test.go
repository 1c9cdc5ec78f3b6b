package matrix_test

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// TestWhereOnColumnSomeDatasetsLack (ADR-149): a search of every index
// whose where names a column only some indexed datasets have matches
// nothing in the others (as a Qdrant filter on a payload field a point
// lacks) and answers from the datasets that have it; a column no indexed
// dataset has is still a 400 naming it (a typo); an unsafe predicate is
// still refused whatever columns it names (ADR-106); a search naming a
// dataset that lacks the column keeps its 400. Before: the search of
// every index was a 400 "dataset nest: where: unknown column".
func TestWhereOnColumnSomeDatasetsLack(t *testing.T) {
	st := startStack(t, stackConfig(t))
	st.indexDataset(t, "nest", "id,txt\n1,red forklift pallet\n2,blue forklift chair\n")
	st.indexDataset(t, "shop", "id,txt,price\n10,yellow forklift battery,5\n11,green forklift lamp,50\n")

	search := func(req matrix.SearchRequest) (int, map[string]any) {
		t.Helper()
		return st.rawJSON(t, http.MethodPost, matrix.SearchPath, req)
	}
	for _, mode := range []string{matrix.ModeHybrid, matrix.ModeKeyword, matrix.ModeVector} {
		for _, tc := range []struct {
			where string
			want  []string
		}{
			{"price > 10", []string{"shop/11"}},
			{"PRICE < 10", []string{"shop/10"}},
			{"price IS NULL", nil},                    // nest has no price to be null
			{"NOT (price > 10)", []string{"shop/10"}}, // nor to be not > 10
			{"id = 1 OR price > 10", []string{"shop/11"}},
			{"id > 0", []string{"nest/1", "nest/2", "shop/10", "shop/11"}},
		} {
			req := matrix.SearchRequest{Query: "forklift", K: 10, Mode: mode, Where: tc.where}
			code, got := search(req)
			if code != http.StatusOK {
				t.Errorf("%s: %d %s; want 200", mustJSON(req), code, mustJSON(got))
				continue
			}
			var have []string
			res, _ := got["results"].([]any)
			for _, r := range res {
				m := r.(map[string]any)
				have = append(have, m["dataset"].(string)+"/"+m["id"].(string))
			}
			sort.Strings(have)
			if !slices.Equal(have, tc.want) {
				t.Errorf("%s: results %v, want %v", mustJSON(req), have, tc.want)
			}
		}
	}

	for _, tc := range []struct {
		req  matrix.SearchRequest
		msgs []string
	}{
		// a column no indexed dataset has: the typo is reported
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "prcie > 10"}, []string{`unknown column \"prcie\" at offset 0`, "no indexed dataset has it"}},
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 1 AND colour = 'red'"}, []string{`unknown column \"colour\" at offset 14`}},
		// unsafe predicates stay refused, also beside a missing column
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 1 OR id IN (SELECT 1)"}, []string{"where:"}},
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 1 OR read_csv('/etc/passwd') IS NULL"}, []string{"where:"}},
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 1; DROP TABLE x"}, []string{"where:"}},
		// the datasets named: a column one of them lacks stays a 400
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 10", Datasets: []string{"nest"}}, []string{`dataset nest: where: unknown column \"price\"`}},
		{matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 10", Datasets: []string{"nest", "shop"}}, []string{`dataset nest: where: unknown column \"price\"`}},
	} {
		code, got := search(tc.req)
		msg := mustJSON(got)
		if code != http.StatusBadRequest || !strings.Contains(msg, `"invalid"`) {
			t.Errorf("%s: %d %s; want 400 invalid", mustJSON(tc.req), code, msg)
			continue
		}
		for _, w := range tc.msgs {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %s; want it to say %s", mustJSON(tc.req), msg, w)
			}
		}
	}
	// the datasets named, all having the column: as before
	code, got := search(matrix.SearchRequest{Query: "forklift", K: 5, Where: "price > 10", Datasets: []string{"shop"}})
	if res, _ := got["results"].([]any); code != http.StatusOK || len(res) != 1 {
		t.Errorf("shop named: %d %s", code, mustJSON(got))
	}
}
