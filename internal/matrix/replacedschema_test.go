package matrix_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
)

// TestReplacedWithoutColumnsNotRerun (ADR-106): a dataset replaced by one
// without the indexed columns fails its refresh (the served index stays).
// The failure did not record the version it was about, so the poll ran
// the failing job again every poll_interval, for as long as the dataset
// stayed so. Now it fails once per version, as any failed refresh
// (ADR-033); a newer version or a POST tries again.
func TestReplacedWithoutColumnsNotRerun(t *testing.T) {
	st := startStack(t, stackConfig(t)) // poll_interval 200 ms
	ctx := context.Background()
	st.ingest(t, "shift", "replace", "id,txt\n1,hello alpha\n2,hello beta\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "shift", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "shift", 1)
	st.ingest(t, "shift", "replace", "id,other\n1,hello gamma\n")
	var failed matrix.IndexStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if failed, err = st.mx.Status(ctx, "shift"); err != nil {
			t.Fatal(err)
		}
		if failed.State == matrix.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh of a dataset without its indexed columns: %+v", failed)
		}
	}
	if !strings.Contains(failed.Error, "txt") || failed.Version != 1 || failed.TargetVersion != 2 {
		t.Fatalf("failed refresh: %+v", failed)
	}
	time.Sleep(1500 * time.Millisecond) // 7 polls
	if again, _ := st.mx.Status(ctx, "shift"); !again.FinishedAt.Equal(failed.FinishedAt) || again.State != matrix.StateFailed {
		t.Fatalf("the failed refresh ran again on the same version: %+v then %+v", failed, again)
	}
	// A newer version is tried (and, with the columns back, builds).
	st.ingest(t, "shift", "replace", "id,txt\n1,hello delta\n")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		s, err := st.mx.Status(ctx, "shift")
		if err == nil && s.State == matrix.StateReady && s.Version == 3 && s.Docs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("version 3: %+v %v", s, err)
		}
	}
}
