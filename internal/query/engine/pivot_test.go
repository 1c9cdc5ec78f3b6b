package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestPivotWithoutIn: DuckDB runs `PIVOT t ON col USING ...` (no IN list)
// as statements of its own, so queryd answered "one statement per request
// (found several)" to a user who wrote one. The 400 now says why and what
// to write (ADR-148); the IN form answers, and two statements keep their
// message.
func TestPivotWithoutIn(t *testing.T) {
	e, data := open(t)
	f := filepath.Join(data, "p.parquet")
	writeParquet(t, f, "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'a')) v(id, name)")
	if err := e.ReplaceView(context.Background(), "people", []string{f}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PIVOT people ON name USING sum(id)",
		"SELECT * FROM (PIVOT people ON name USING sum(id))",
		"pivot people on name",
	} {
		_, err := run(e, q, 10)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "PIVOT without an IN list") ||
			!strings.Contains(errs.Message(err), "IN ('a', 'b')") {
			t.Errorf("%s: want a 400 naming the IN list, got %v", q, err)
		}
	}
	res, err := run(e, "PIVOT people ON name IN ('a', 'b') USING sum(id)", 10)
	if err != nil || strings.Join(res.rows, ",") != `[4,2]` {
		t.Fatalf("PIVOT with IN: %v %v", res.rows, err)
	}
	_, err = run(e, "SELECT 1; SELECT 2", 10)
	if !errs.Is(err, errs.Invalid) || errs.Message(err) != "sql: one statement per request (found several)" {
		t.Fatalf("two statements: %v", err)
	}
}
