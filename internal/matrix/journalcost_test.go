package matrix_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
)

// TestJournalCost measures what the written-ids journal (ADR-121: one
// write + fsync per embed batch) costs a full build: datasets of
// LH_JOURNAL_ROWS rows (default 50,000) indexed with the builtin embedder
// over the real stack, alternately with and without the journal, in one
// run. A measurement, not a check: it runs only with
// LH_MEASURE_JOURNAL=1 and fails only when a build does.
//
//	LH_MEASURE_JOURNAL=1 go test -count=1 -run '^TestJournalCost$' -v ./internal/matrix
func TestJournalCost(t *testing.T) {
	if os.Getenv("LH_MEASURE_JOURNAL") == "" {
		t.Skip("a measurement: set LH_MEASURE_JOURNAL=1")
	}
	rows := 50_000
	if n, err := strconv.Atoi(os.Getenv("LH_JOURNAL_ROWS")); err == nil && n > 0 {
		rows = n
	}
	cfg := stackConfig(t)
	if n, err := strconv.Atoi(os.Getenv("LH_JOURNAL_BATCH")); err == nil && n > 0 {
		cfg.Matrixd.BatchRows = n
	}
	cfg.Matrixd.PollInterval.Duration = time.Hour // no poll-started jobs
	st := startStack(t, cfg)
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("id,txt,n\n")
	for i := range rows {
		fmt.Fprintf(&b, "d%d,%s warehouse row %d of the journal measurement,%d\n", i, compactWord(i), i, i)
	}
	csv := b.String()
	times := map[bool][]time.Duration{}
	for i, on := range []bool{true, false, false, true} {
		ds := fmt.Sprintf("j%d", i)
		st.ingest(t, ds, "replace", csv)
		matrix.SetJournal(t, on)
		start := time.Now()
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: ds, IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
			t.Fatal(err)
		}
		var s matrix.IndexStatus
		for deadline := start.Add(30 * time.Minute); s.State != matrix.StateReady; time.Sleep(20 * time.Millisecond) {
			var err error
			if s, err = st.mx.Status(ctx, ds); err != nil || s.State == matrix.StateFailed || time.Now().After(deadline) {
				t.Fatalf("%s: %+v %v", ds, s, err)
			}
		}
		el := time.Since(start)
		if s.Docs != rows {
			t.Fatalf("%s: %+v", ds, s)
		}
		times[on] = append(times[on], el)
		t.Logf("%s journal=%v: %d rows in %v (%.0f rows/s)", ds, on, rows, el.Round(time.Millisecond), float64(rows)/el.Seconds())
	}
	avg := func(ds []time.Duration) time.Duration {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return s / time.Duration(len(ds))
	}
	with, without := avg(times[true]), avg(times[false])
	t.Logf("mean with journal %v, without %v: %+.1f%%", with.Round(time.Millisecond), without.Round(time.Millisecond), 100*(with.Seconds()-without.Seconds())/without.Seconds())
	batch := cfg.Matrixd.BatchRows
	if batch <= 0 {
		batch = 2048 // matrix.Options' default
	}
	batches := (rows + batch - 1) / batch
	d, err := matrix.JournalWrites(t.TempDir(), batches, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the journal's own writes for %d rows: %d batches of %d ids (write + fsync each) in %v, %v a batch", rows, batches, batch, d.Round(time.Microsecond), (d / time.Duration(batches)).Round(time.Microsecond))
}
