package convert

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzConvertCSV: any bytes uploaded as CSV either become Parquet with a
// schema, or are refused as invalid input (never an internal error, never a
// panic) — bad input gets a clear error.
func FuzzConvertCSV(f *testing.F) {
	for _, s := range []string{
		"id,name,role\n1,Alice,Forklift Operator\n",
		"a,b\n1,2,3\n",
		"a,a\n1,2\n",
		"\xff\xfe,x\n1,2\n",
		"a;b\n1;2\n",
		"x\n\"unterminated\n",
		"",
		"h\n",
		"a,b\n1,\n,2\n\"q\"\"q\",3\n",
	} {
		f.Add([]byte(s))
	}
	tmp := f.TempDir()
	c, err := Open(Options{TempDir: filepath.Join(tmp, "duck"), Threads: 1, MemoryLimit: "256MB"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.csv")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Skip()
		}
		res, err := c.Convert(context.Background(), Input{Path: in, Format: CSV}, filepath.Join(dir, "out"))
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid && k != errs.TooLarge {
				t.Fatalf("bad CSV %q got %s (%v), want invalid", data, k, err)
			}
			return
		}
		if len(res.Schema) == 0 || res.Rows < 0 {
			t.Fatalf("accepted %q with schema %v rows %d", data, res.Schema, res.Rows)
		}
	})
}
