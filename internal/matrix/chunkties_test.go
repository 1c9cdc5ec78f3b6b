package matrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// TestChunkedFilterTiesDeterministic (ADR-031, determinism): a where
// matching more ids than one vectord search is restricted to (50,000) is
// searched in chunks whose lists are merged. The chunks were cut from the
// allow-set in map order and merged by score alone, so hits of equal score
// (rows with the same text: the same vector) came in chunk order — the
// same search answered tied hits in a different order, and a different
// subset of them, from call to call, and hybrid mode fused those shuffled
// vector ranks into different scores. The chunks are cut from the sorted
// ids and a tie is merged in id order, as vectord orders one: a chunked
// search answers exactly what one vectord search over the whole allow-set
// does, every time. (The chunk is lowered to 4 ids so 30 matching rows
// make 8 chunks.)
func TestChunkedFilterTiesDeterministic(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("id,txt,n\n")
	for i := range 40 {
		txt := "same shared words" // 30 rows of one text: tied vector scores
		if i >= 30 {
			txt = fmt.Sprintf("other row %d words", i)
		}
		fmt.Fprintf(&b, "t%02d,%s,%d\n", i, txt, i)
	}
	st.ingest(t, "ties", "replace", b.String())
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "ties", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "ties", 1)

	search := func(mode string) string {
		t.Helper()
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "same shared words", Datasets: []string{"ties"}, Mode: mode, K: 10, Where: "n < 30"})
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(res.Results)
		return string(js)
	}
	modes := []string{matrix.ModeVector, matrix.ModeHybrid}
	// One chunk: vectord's own answer, ties in id order.
	want := map[string]string{}
	for _, mode := range modes {
		want[mode] = search(mode)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "same shared words", Datasets: []string{"ties"}, Mode: matrix.ModeVector, K: 10, Where: "n < 30"})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09"}
	if got := ids(res.Results); !slices.Equal(got, wantIDs) {
		t.Fatalf("one chunk, vector mode: %v, want the tied rows in id order %v", got, wantIDs)
	}

	matrix.SetFilterChunk(t, 4)
	differ := 0
	for i := range 20 {
		for _, mode := range modes {
			if got := search(mode); got != want[mode] {
				differ++
				if differ <= 3 {
					t.Errorf("call %d, %s mode, 8 chunks:\n got %s\nwant %s", i, mode, got, want[mode])
				}
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of 40 chunked searches answered other than one vectord search", differ)
	}
}
