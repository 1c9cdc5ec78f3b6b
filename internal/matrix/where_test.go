package matrix

import (
	"database/sql"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"

	_ "github.com/duckdb/duckdb-go/v2"
)

var testCols = []string{"id", "name", "role", "Salary", "select", "hired"}

func TestCompileWhereAccepts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`role = 'Forklift Operator'`, `(("role" = 'Forklift Operator'))`},
		{`salary > 10 and NOT name ilike 'a%'`, `((("Salary" > 10) AND (NOT ("name" ILIKE 'a%'))))`},
		{`"select" IS NOT NULL or id in (1, 2, 3)`, `((("select" IS NOT NULL) OR ("id" IN (1, 2, 3))))`},
		{`name = 'O''Brien; DROP TABLE x --'`, `(("name" = 'O''Brien; DROP TABLE x --'))`},
		{`lower(role) LIKE '%driver%'`, `((lower("role") LIKE '%driver%'))`},
		{`hired BETWEEN DATE '2020-01-01' AND DATE '2021-01-01'`, `(("hired" BETWEEN DATE '2020-01-01' AND DATE '2021-01-01'))`},
		{`CAST(id AS varchar) = '7' and id::bigint % 2 = 1`, `(((CAST("id" AS VARCHAR) = '7') AND (("id"::BIGINT % 2) = 1)))`},
		{`CASE WHEN salary > 5 THEN true ELSE false END`, `(CASE WHEN ("Salary" > 5) THEN TRUE ELSE FALSE END)`},
		{`-salary < -1.5e3`, `(((-"Salary") < (-1.5e3)))`},
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
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "nested deeper than 200"},
		{strings.Repeat("NOT ", 300) + "true", "nested deeper than 200"},
		// 32 IN lists inside one another are 32 levels (within
		// maxWhereLevels) but 65 parentheses once rendered.
		{strings.Repeat("id IN (", 32) + "1" + strings.Repeat(")", 32), "nested deeper than 64"},
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

// FuzzCompileWhere: what CompileWhere accepts is one parenthesised
// expression — outside its string literals and quoted names no ';', no
// comment opener, and no ')' closing the outermost '(' before its end —
// that compiles again, and that DuckDB parses as the WHERE clause of a
// select over a table of testCols (DuckDB may still refuse it while
// binding, e.g. for a type mismatch: matrixd answers that with a 400; a
// parser error would be a predicate CompileWhere passed but cannot render).
func FuzzCompileWhere(f *testing.F) {
	for _, s := range []string{`role = 'x'`, `id in (1,2)`, `name = 'a''b'`, `"select" = 1`, `1=1; drop`,
		`salary - -1 > 2`, `"a""b" = 'c'`, `hired BETWEEN DATE '2020-01-01' AND DATE '2021-01-01'`, `id::bigint % 2 = 1`,
		`CASE WHEN salary > 5 THEN true ELSE false END`, `NOT NOT id IS NULL`, `salary - (1 - id) > 2`,
		`(id + 1) * 2 = 4 OR (name || 'x') = 'ax'`, `-(id)::int = -1`, strings.Repeat("+", 31) + "0"} {
		f.Add(s)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id BIGINT, name VARCHAR, role VARCHAR, "Salary" DOUBLE, "select" VARCHAR, hired DATE);
		INSERT INTO t VALUES (1, 'a', 'driver', 5.5, 'x', DATE '2020-02-03'), (2, NULL, 'Forklift', -1, NULL, NULL),
			(-3, 'b''c', '', 0, '', DATE '1999-12-31'), (NULL, 'ax', NULL, NULL, 'y', DATE '2021-01-01')`); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := CompileWhere(s, testCols)
		if err != nil {
			return
		}
		again, err := CompileWhere(out, testCols)
		if err != nil {
			t.Fatalf("%q -> %q does not recompile: %v", s, out, err)
		}
		if again != out {
			t.Fatalf("%q -> %q -> %q: rendering a rendered predicate changed it", s, out, again)
		}
		if msg := oneExpression(out); msg != "" {
			t.Fatalf("%q -> %q: %s", s, out, msg)
		}
		if _, err := db.Exec("SELECT count(*) FROM t WHERE " + out); err != nil && strings.Contains(err.Error(), "Parser Error") {
			t.Fatalf("%q -> %q: DuckDB cannot parse it: %v", s, out, err)
		}
		// What is rendered means what was written: on every row DuckDB
		// computes the same value from both (when it computes one at all:
		// a type DuckDB refuses, or a cast that fails, fails either way).
		var differ int
		if err := db.QueryRow("SELECT count(*) FROM t WHERE (" + s + "\n) IS DISTINCT FROM " + out).Scan(&differ); err == nil && differ != 0 {
			t.Fatalf("%q -> %q: DuckDB computes a different value from the two on %d rows", s, out, differ)
		}
	})
}

// oneExpression says what is wrong with out as one parenthesised
// expression ("" when nothing): scanned as DuckDB lexes it, a quote
// doubled inside its own quotes standing for itself.
func oneExpression(out string) string {
	if out == "" || out[0] != '(' {
		return "does not start with '('"
	}
	depth := 0
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(out); j++ {
				if out[j] == c {
					if j+1 < len(out) && out[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(out) {
				return "unterminated quote"
			}
			i = j
		case c == ';':
			return "';' outside quotes"
		case strings.HasPrefix(out[i:], "--") || strings.HasPrefix(out[i:], "/*"):
			return "comment outside quotes"
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 && i != len(out)-1 {
				return "the outermost '(' closes before the end"
			}
			if depth < 0 {
				return "unbalanced ')'"
			}
		}
	}
	if depth != 0 {
		return "unbalanced '('"
	}
	return ""
}
