package matrix

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
)

// TestCheckModelIgnoresOlderListing (ADR-124): the status's model listing
// is kept for ModelCheckEvery, so one asked before a rebuild recorded the
// model's new revision still lists the old one. Taken at its word it
// flagged the freshly rebuilt index as built with other weights (a false
// 409 for every vector search until one more POST). A listing asked
// before the index's revision was recorded is not compared; one asked
// after is, and a change it shows is recorded like a search's.
func TestCheckModelIgnoresOlderListing(t *testing.T) {
	dir := t.TempDir()
	m := &Matrix{opts: Options{Dir: dir}.withDefaults()}
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	x := &dsIndex{spec: IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}, revAt: now,
		status: IndexStatus{Dataset: "docs", Model: "embed-m", Dims: 8, ModelRevision: "r2"}}
	listed := func(at time.Time, rev string) modelListing {
		return modelListing{at: at, models: []embed.ModelInfo{{Name: "other", Revision: "zz"}, {Name: "Embed-M:latest", Dims: 8, Revision: rev}}}
	}
	m.checkModel(x, listed(now.Add(-time.Second), "r1"))
	if x.modelChange != nil {
		t.Fatalf("a listing older than the index's revision flagged it: %+v", x.modelChange)
	}
	m.checkModel(x, listed(now.Add(time.Second), "r2"))
	if x.modelChange != nil {
		t.Fatalf("the index's own revision flagged: %+v", x.modelChange)
	}
	m.checkModel(x, listed(now.Add(time.Second), "r3"))
	if mc := x.modelChange; mc == nil || mc.Revision != "r3" || mc.Dims != 8 || mc.Model != "embed-m" {
		t.Fatalf("a newer listing with other weights: %+v", mc)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "state.json")); err != nil || len(b) == 0 {
		t.Fatalf("change not saved: %v", err)
	}
}
