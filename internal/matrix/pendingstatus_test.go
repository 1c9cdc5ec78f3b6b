package matrix_test

import (
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
)

// TestPendingStatusShowsNoOldJob (ADR-149): right after a POST that
// changes an index's spec, the status (the POST's answer, and GET's until
// the job starts) is pending with no job figures of its own: the previous
// job's times and counts are under previous_job, not shown as the new
// job's. Once the new job builds, its own figures replace them and
// previous_job is gone. A POST that finds nothing to build ends ready
// with the last job's figures back in place. Before: pending beside the
// previous job's started_at, finished_at, rows_done, rows_total and
// rows_per_sec, as if the queued job had run.
func TestPendingStatusShowsNoOldJob(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	spec, first := st.indexDataset(t, "docs", "id,txt,extra\n1,red forklift,pallet jack\n2,blue chair,office desk\n3,green lamp,\n")
	if first.RowsTotal != 3 || first.RowsDone != 3 || first.StartedAt.IsZero() || first.FinishedAt.IsZero() || first.PreviousJob != nil {
		t.Fatalf("first build: %+v", first)
	}

	spec.TextColumns = []string{"txt", "extra"}
	got, err := st.mx.Index(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	pendingHonest := func(what string, s matrix.IndexStatus) {
		t.Helper()
		if s.State != matrix.StatePending || s.RowsDone != 0 || s.RowsTotal != 0 || s.RowsPerSec != 0 || s.Refresh != "" ||
			s.TargetVersion != 0 || !s.StartedAt.IsZero() || !s.FinishedAt.IsZero() || !s.UpdatedAt.IsZero() {
			t.Errorf("%s: pending with a job's figures: %+v", what, s)
		}
		p := s.PreviousJob
		if p == nil || p.RowsDone != 3 || p.RowsTotal != 3 || p.Refresh != "full" || p.TargetVersion != first.Version ||
			!p.StartedAt.Equal(first.StartedAt) || !p.FinishedAt.Equal(first.FinishedAt) {
			t.Errorf("%s: previous_job %+v, want the first build's figures (%+v)", what, p, first)
		}
		if s.Version != first.Version || s.Docs != first.Docs {
			t.Errorf("%s: the served index changed: version %d docs %d", what, s.Version, s.Docs)
		}
	}
	pendingHonest("the POST's answer", got)
	if s, err := st.mx.Status(ctx, "docs"); err != nil {
		t.Fatal(err)
	} else if s.State == matrix.StatePending {
		pendingHonest("GET right after", s)
	} else if s.PreviousJob != nil || s.StartedAt.Before(first.FinishedAt) {
		t.Errorf("GET right after, %s: %+v", s.State, s)
	}

	second := st.waitReady(t, "docs", 0)
	for second.StartedAt.Equal(first.StartedAt) || second.PreviousJob != nil {
		time.Sleep(50 * time.Millisecond)
		second = st.waitReady(t, "docs", 0)
	}
	if second.RowsDone != 3 || second.RowsTotal != 3 || second.StartedAt.Before(first.FinishedAt) || second.FinishedAt.IsZero() {
		t.Errorf("second build: %+v", second)
	}

	// Nothing to build: the POST's answer sets the figures aside, the job
	// puts them back.
	got, err = st.mx.Index(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got.State == matrix.StatePending && (got.PreviousJob == nil || !got.PreviousJob.StartedAt.Equal(second.StartedAt) || !got.StartedAt.IsZero()) {
		t.Errorf("same spec POST's answer: %+v", got)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := st.mx.Status(ctx, "docs")
		if err != nil {
			t.Fatal(err)
		}
		if s.State == matrix.StateReady {
			if s.PreviousJob != nil || !s.StartedAt.Equal(second.StartedAt) || !s.FinishedAt.Equal(second.FinishedAt) || s.RowsDone != 3 || s.RowsTotal != 3 || s.Refresh != "full" {
				t.Errorf("same spec POST, ready: %+v; want the second build's figures back", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("same spec POST: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
