package convert

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFuzzScratchLeavesNothing: the fuzz targets' inputs share one
// directory; what an input wrote there (its input and output, a JSON
// array's transcoded copy beside the output, a refused input's partial
// output) is gone when the input ends, whether it was converted, refused,
// or failed its oracle, so no input sees another's files.
func TestFuzzScratchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{TempDir: filepath.Join(dir, "duck"), Threads: 1, MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &fuzzEnv{c: c, dir: dir}
	left := func() []string {
		var names []string
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range ents {
			if en.Name() != "duck" {
				names = append(names, en.Name())
			}
		}
		return names
	}
	inputs := []struct {
		name string
		data string
		in   Input
	}{
		{"csv", "a,b\n1,2\n3,4\n", Input{Format: CSV}},
		{"csv refused", "a,a\n1,2\n", Input{Format: CSV}},
		{"jsonl", "{\"a\":1}\n{\"a\":2}\n", Input{Format: JSONL}},
		{"jsonl refused", "{\"a\":1}\n{\"a\":\n", Input{Format: JSONL}},
		{"json array", "[{\"a\":1},{\"a\":2}]", Input{Format: JSON}},
		{"json refused", "[{\"a\":1},", Input{Format: JSON}},
		{"csv schema", "id,d\n1,2.5\n", Input{Format: CSV, Schema: []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DECIMAL(6,2)"}}}},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			res := convertBytes(t, e, []byte(in.data), in.in)
			if res != nil {
				for _, f := range res.Files {
					if _, err := os.Stat(f.Path); err != nil {
						t.Fatalf("converted file %s: %v", f.Path, err)
					}
				}
			}
			if len(left()) == 0 {
				t.Fatal("the input's files are not in the shared directory")
			}
		})
		if names := left(); len(names) != 0 {
			t.Fatalf("after %s: %v left in the fuzz inputs' shared directory", in.name, names)
		}
	}
}
