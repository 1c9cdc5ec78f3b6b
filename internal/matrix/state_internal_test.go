package matrix

import (
	"os"
	"path/filepath"
	"testing"
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
	})
}
