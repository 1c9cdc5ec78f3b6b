package matrix_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
)

// TestWhereDepthLimit (ADR-106): a where with a chain of ~1000 operators
// reached DuckDB's expression depth limit and the user got DuckDB's
// "Use SET max_expression_depth TO x", a statement queryd refuses; chains
// of 200-600 operators passed and took DuckDB 1 s to past queryd's
// timeout to plan, and 30 chains of 61 took 15 s. matrixd refuses a
// predicate more than 64 levels deep, or with more than 64 arithmetic
// operators, with its own 400 before any SQL is sent; one at either
// limit, in any of the shapes that nest, searches as before, and a wide
// one (a 250-term OR, a 900-value IN list) is not limited.
func TestWhereDepthLimit(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	st.ingest(t, "pay", "replace", "id,txt,amount\n1,hello alpha,5\n2,hello beta,0\n3,hello gamma,\n4,hello delta,-2\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "pay", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "pay", 1)

	// chain is amount with n "+ 1": 1 + n levels, and "> 0" one more.
	chain := func(n int) string { return "amount" + strings.Repeat(" + 1", n) + " > 0" }
	// wide is n terms "amount + 1 > 0" AND'ed: n arithmetic operators, 4 levels.
	wide := func(n int) string { return strings.TrimSuffix(strings.Repeat("amount + 1 > 0 AND ", n), " AND ") }
	for _, where := range []string{chain(63), chain(100), chain(1000), strings.Repeat("abs(", 63) + "amount" + strings.Repeat(")", 63) + " > 0",
		"amount" + strings.Repeat("::int", 63) + " > 0", strings.Repeat("NOT ", 63) + "amount > 0", wide(65),
		"txt" + strings.Repeat(" || 'x'", 61) + " > '' AND amount * 2 + amount * 3 - 1 > 0"} {
		start := time.Now()
		code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: "hello", Datasets: []string{"pay"}, Where: where})
		e, _ := got["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 400 || e["kind"] != "invalid" || !strings.Contains(msg, "more than 64 ") || strings.Contains(msg, "SET") ||
			strings.Contains(msg, "max_expression_depth") || !strings.Contains(msg, "dataset pay") {
			t.Fatalf("where %.60q... (%d bytes): %d %v", where, len(where), code, got)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("refusing a deep where took %v", el)
		}
		t.Logf("%d bytes: %s", len(where), msg)
	}

	// At the limit: every shape works, and answers as the short form does.
	for _, c := range []struct {
		where string
		want  []string
	}{
		{chain(62), []string{"1", "2", "4"}},
		{"amount" + strings.Repeat(" * 1", 62) + " > 0", []string{"1"}},
		{"txt" + strings.Repeat(" || 'x'", 62) + " LIKE '%alpha%'", []string{"1"}},
		{strings.Repeat("abs(", 62) + "amount" + strings.Repeat(")", 62) + " > 1", []string{"1", "4"}},
		{"amount" + strings.Repeat("::bigint", 62) + " > 0", []string{"1"}},
		{strings.Repeat("NOT ", 62) + "amount > 0", []string{"1"}},
		{strings.Repeat("NOT ", 60) + "amount + 1 > 0 AND id < 3", []string{"1", "2"}},
		// Wide is not deep: an OR list and an IN list are one level.
		{strings.Repeat("amount = -9 OR ", 250) + "amount = 5", []string{"1"}},
		{"amount IN (" + strings.Repeat("-9, ", 900) + "0)", []string{"2"}},
		{wide(64), []string{"1", "2"}},
		{"txt" + strings.Repeat(" || 'x'", 61) + " > '' AND amount * 2 + amount * 3 > 0", []string{"1"}}, // 64 of each
	} {
		start := time.Now()
		for _, mode := range []string{matrix.ModeHybrid, matrix.ModeKeyword, matrix.ModeVector} {
			res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "hello", Datasets: []string{"pay"}, Mode: mode, Where: c.where})
			if err != nil {
				t.Fatalf("%s where %.60q... (%d bytes): %v", mode, c.where, len(c.where), err)
			}
			got := ids(res.Results)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s where %.60q...: %v, want %v", mode, c.where, got, c.want)
			}
		}
		t.Logf("%.40q... (%d bytes): 3 searches in %v", c.where, len(c.where), time.Since(start))
	}
}
