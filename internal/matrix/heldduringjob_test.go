package matrix_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// TestHeldDuringRefresh (ADR-106 addendum over ADR-103): vectord comes to
// hold matrix.<dataset> (a damaged snapshot, ADR-095) after an append
// refresh's own held check, before it asks vectord for the index; no POST
// follows. The refresh failed on vectord's 502 as an outage: the status
// said failed with vectord's bare message, a retry was scheduled with
// backoff and only that retry reported the held index. Now the job fails
// at once with ADR-103's held conflict for the new version, and no retry
// is scheduled (retry_at absent from state.json).
func TestHeldDuringRefresh(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
	}{
		// The append refresh lists the versions after its held check:
		// vectord holds the index when it is asked for it (GetIndex).
		{"append", "append"},
		// The append refresh reads its first page after GetIndex:
		// vectord holds the index when the first batch creates it (409;
		// the refresh said the model's dims had changed).
		{"append-load", "append"},
		// The full rebuild of a replaced version reads its first page
		// after the check: the job dropped the held index on vectord's
		// 409 and rebuilt it, with no POST (its snapshot lost).
		{"full", "replace"},
	} {
		t.Run(tc.name, func(t *testing.T) { heldDuringRefresh(t, tc.name, tc.mode) })
	}
}

func heldDuringRefresh(t *testing.T, step, mode string) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := &hookVersions{Service: catalog.NewClient(gw), t: t}
	q := &hookQuery{Service: query.NewClient(gw), t: t}
	dir := t.TempDir()
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: cat, Query: q, Embed: embed.NewClient(gw), Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: dir, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })

	st.ingest(t, "docs", "replace", compactRows(0, 20, ""))
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	refreshTo(t, m, spec, 1)
	st.ingest(t, "docs", mode, compactRows(20, 5, ""))
	hold := func() error { st.holdVectorIndex(t, matrix.VectorIndex("docs")); return nil }
	switch step {
	case "append":
		cat.arm(hold)
	case "append-load":
		q.arm(" OFFSET ", hold)
	default:
		q.arm(" ORDER BY ", hold)
	}
	if _, err := m.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, m, "docs", 2*time.Minute, func(s matrix.IndexStatus) bool {
		return s.State == matrix.StateReady || s.State == matrix.StateFailed
	})
	snap := vector.SnapshotPrefix + matrix.VectorIndex("docs") + "/index.lhv1"
	if s.State != matrix.StateFailed || !strings.Contains(s.Error, "vectord holds its vector index") ||
		!strings.Contains(s.Error, snap) || !strings.Contains(s.Error, "POST "+matrix.IndexesPath) ||
		s.Version != 1 || s.TargetVersion != 2 || s.VectorError == nil {
		t.Fatalf("refresh over an index vectord came to hold during it: %+v", s)
	}
	b, err := os.ReadFile(filepath.Join(dir, "docs", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved map[string]any
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if _, ok := saved["retry_at"]; ok {
		t.Fatalf("a held index is no outage, yet a retry is scheduled: %s", b)
	}
}
