package matrix

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeState(t testing.TB, dir, dataset string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, dataset), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dataset, "state.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const stateOther = `{"spec":{"dataset":"other","id_column":"id","text_columns":["txt"]},"status":{"dataset":"other","state":"pending"}}`

// TestLoadStateOfAnotherDataset: a state.json whose spec names another
// dataset than its directory (a copied directory) is refused at load. It
// was served under the directory's name while searching, refreshing and
// writing the vector index of the dataset it named.
func TestLoadStateOfAnotherDataset(t *testing.T) {
	dir := t.TempDir()
	m := &Matrix{opts: Options{Dir: dir}.withDefaults()}
	writeState(t, dir, "copy", []byte(stateOther))
	if x, err := m.loadIndex("copy"); err == nil {
		t.Fatalf("state of dataset %q loaded as %q", x.spec.Dataset, "copy")
	}
	writeState(t, dir, "other", []byte(stateOther))
	if x, err := m.loadIndex("other"); err != nil || x.spec.Dataset != "other" {
		t.Fatalf("own state: %+v %v", x, err)
	}
	writeState(t, dir, "bad", []byte(`{"spec":{"dataset":"bad","id_column":"","text_columns":[]},"status":{}}`))
	if _, err := m.loadIndex("bad"); err == nil {
		t.Fatal("state with an invalid spec loaded")
	}
}

// FuzzLoadState: any state.json either loads as an index of its own
// directory's dataset with a valid spec, or is an error; never a panic.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(stateOther))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"building","version":0},"rows":-5,"id_type":"BIGINT); DROP","columns":["id"]}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"version":3}}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"failed"},"retry_at":"2026-11-29T20:00:00Z","retries":3}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"failed"},"retry_at":"9999-12-31T23:59:59Z","retries":-7}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"ready"},"retry_at":"2026-11-29T20:00:00Z"}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"pending","version":2},"full":true,"drop_vectors":true}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"ready"},"drop_vectors":true}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"failed","version":2,"model":"m","dims":8},"model_changed":{"model":"m","dims":4}}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"ready"},"model_changed":{"model":"","dims":-1}}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"failed","version":2,"model":"m","dims":8,"model_revision":"0f8f47f9fb66aa"},"model_changed":{"model":"m","dims":8,"revision":"d3b7a04179cc"}}`))
	f.Add([]byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"ready","version":2,"model":"m","dims":8,"model_revision":"\u00e9\u0000"},"model_changed":{"model":"n","dims":8,"revision":""}}`))
	f.Add([]byte(`{"spec":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	dir := f.TempDir()
	m := &Matrix{opts: Options{Dir: dir}.withDefaults()}
	f.Fuzz(func(t *testing.T, b []byte) {
		writeState(t, dir, "ds", b)
		x, err := m.loadIndex("ds")
		if err != nil {
			return
		}
		if x.spec.Dataset != "ds" {
			t.Fatalf("loaded the state of %q as ds", x.spec.Dataset)
		}
		if err := x.spec.Validate(); err != nil {
			t.Fatalf("loaded an invalid spec: %v", err)
		}
		// A retry is scheduled only for a failed job, within the longest
		// backoff from now whatever the file says.
		if !x.retryAt.IsZero() && (x.status.State != StateFailed || x.retryAt.After(time.Now().Add(maxRetryWait)) || x.retries < 0 || x.retries > 64) {
			t.Fatalf("retry schedule loaded: state %s, at %v, retries %d", x.status.State, x.retryAt, x.retries)
		}
		// Dropping the vector index means embedding every row again.
		if x.dropVectors && !x.full {
			t.Fatal("drop_vectors loaded without a full rebuild")
		}
		// A model change is of some dims (ADR-112).
		if x.modelChange != nil && x.modelChange.Dims <= 0 {
			t.Fatalf("model change loaded with dims %d", x.modelChange.Dims)
		}
		// The status's conflict is written from whatever the file holds
		// (revisions of any length or bytes, ADR-115).
		if ve := x.modelVectorError(); x.modelChange != nil && (ve == nil || ve.Kind != "conflict") {
			t.Fatalf("model change without the status's conflict: %+v", ve)
		}
	})
}

// TestLoadRetrySchedule: state.json keeps the retry schedule of a job that
// failed on an outage; one written before it (no retry_at) loads as a
// failed index the poll does not retry, as before.
func TestLoadRetrySchedule(t *testing.T) {
	dir := t.TempDir()
	m := &Matrix{opts: Options{Dir: dir}.withDefaults()}
	at := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	x := &dsIndex{spec: IndexRequest{Dataset: "ds", IDColumn: "id", TextColumns: []string{"txt"}},
		status: IndexStatus{Dataset: "ds", State: StateFailed, Error: "embedd down"}, retryAt: at, retries: 2}
	if err := m.saveState(x); err != nil {
		t.Fatal(err)
	}
	y, err := m.loadIndex("ds")
	if err != nil || !y.retryAt.Equal(at) || y.retries != 2 {
		t.Fatalf("loaded %+v %v, want a retry at %v, 2 retries", y, err, at)
	}
	writeState(t, dir, "old", []byte(`{"spec":{"dataset":"old","id_column":"id","text_columns":["txt"]},"status":{"dataset":"old","state":"failed","error":"embedd down"}}`))
	if y, err := m.loadIndex("old"); err != nil || !y.retryAt.IsZero() || y.status.State != StateFailed {
		t.Fatalf("old-format state: %+v %v", y, err)
	}
}

// TestLoadDropVectorsMark (ADR-106): state.json keeps the "drop the held
// vector index and rebuild" mark of a POST (ADR-103); a state written
// before it (no drop_vectors) loads without the mark, as before.
func TestLoadDropVectorsMark(t *testing.T) {
	dir := t.TempDir()
	m := &Matrix{opts: Options{Dir: dir}.withDefaults()}
	x := &dsIndex{spec: IndexRequest{Dataset: "ds", IDColumn: "id", TextColumns: []string{"txt"}},
		status: IndexStatus{Dataset: "ds", State: StatePending}, dropVectors: true}
	x.markFull()
	if err := m.saveState(x); err != nil {
		t.Fatal(err)
	}
	if y, err := m.loadIndex("ds"); err != nil || !y.dropVectors || !y.full {
		t.Fatalf("loaded %+v %v, want the drop and full marks", y, err)
	}
	writeState(t, dir, "old", []byte(`{"spec":{"dataset":"old","id_column":"id","text_columns":["txt"]},"status":{"dataset":"old","state":"pending"},"full":true}`))
	if y, err := m.loadIndex("old"); err != nil || y.dropVectors || !y.full || y.status.State != StatePending {
		t.Fatalf("old-format state: %+v %v", y, err)
	}
}
