package matrix

import (
	"strings"
	"testing"
)

// FuzzCompileWhereSpan (ADR-149): the all-index form of the where parser
// refuses exactly what CompileWhere refuses except unknown columns. A
// predicate CompileWhere accepts compiles to the same SQL with nothing
// missing; one it refuses for anything but an unknown column is refused
// too (ADR-106's unsafe predicates stay refused whatever the columns);
// and every missing column is one CompileWhere does not know.
func FuzzCompileWhereSpan(f *testing.F) {
	for _, s := range []string{`role = 'x'`, `price > 1 OR id IN (SELECT 1)`, `colour IS NULL`, `NOT (price > 2) AND id = 1`, `price > 1; drop`, `read_csv('x') IS NULL OR zz = 1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strict, serr := CompileWhere(s, testCols)
		span, missing, err := compileWhereSpan(s, testCols)
		if serr == nil {
			if err != nil || len(missing) != 0 || span != strict {
				t.Fatalf("%q: CompileWhere %q; span %q %v %v", s, strict, span, missing, err)
			}
			return
		}
		if err == nil && len(missing) == 0 {
			t.Fatalf("%q: CompileWhere refused (%v), span accepted %q with nothing missing", s, serr, span)
		}
		if err != nil && strings.Contains(err.Error(), "unknown column") {
			t.Fatalf("%q: span refused an unknown column: %v", s, err)
		}
		for c, tk := range missing {
			if _, err := CompileWhere(tk.raw+" = 1", testCols); err == nil || c != strings.ToLower(tk.text) {
				t.Fatalf("%q: %q (%q) reported missing", s, c, tk.text)
			}
		}
	})
}

// TestCompileWhereSpan: the missing columns, and the refusals kept.
func TestCompileWhereSpan(t *testing.T) {
	_, missing, err := compileWhereSpan(`Price > 1 AND role = 'x' OR price < 0 OR "Colour" IS NULL`, testCols)
	if err != nil || len(missing) != 2 || missing["price"].pos != 0 || missing["colour"].text != "Colour" {
		t.Fatalf("missing %+v err %v", missing, err)
	}
	for _, s := range []string{`price > 1 OR id IN (SELECT 1)`, `price > 1; drop table x`, `read_csv('/etc/passwd') IS NULL OR price = 1`, `price.x = 1`, `price(1) = 1`} {
		if _, _, err := compileWhereSpan(s, testCols); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
