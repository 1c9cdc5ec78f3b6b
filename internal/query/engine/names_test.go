package engine

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// reference is an unrestricted DuckDB, the one an analyst runs in the CLI
// or from Python: what queryd must answer alike.
func reference(t testing.TB) *sql.DB {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// describe is DuckDB's DESCRIBE of q: column names and type names.
func describe(t testing.TB, db *sql.DB, q string) (names, types []string, err error) {
	t.Helper()
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE " + q + ")")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			return nil, nil, err
		}
		names, types = append(names, n), append(types, ty)
	}
	return names, types, rows.Err()
}

// TestDuplicateColumnNames: SELECT 1 a, 2 a answered columns a, a_1 —
// queryd's LIMIT wrapper made DuckDB rename the repeated name — where
// DuckDB's CLI and Python API answer a, a. Names are now the statement's
// own, in every path (converted columns, parameters), with the row cap and
// truncation as before.
func TestDuplicateColumnNames(t *testing.T) {
	e, _ := open(t)
	ref := reference(t)
	for _, tc := range []struct {
		sql    string
		params []any
		want   string
		rows   string
	}{
		{"SELECT 1 a, 2 a", nil, "a,a", "[1,2]"},
		{"SELECT 1 a, 2 A, 3 a", nil, "a,A,a", "[1,2,3]"},
		{"SELECT 1 a, 2 a, 3 a_1", nil, "a,a,a_1", "[1,2,3]"},
		{`SELECT 1 "a_1", 2 "a", 3 "a"`, nil, "a_1,a,a", "[1,2,3]"},
		{"SELECT 1 a, 2 a_1", nil, "a,a_1", "[1,2]"}, // genuinely a_1: kept
		{"SELECT * FROM (VALUES (1, 2)) t(x, y), (VALUES (3)) u(x)", nil, "x,y,x", "[1,2,3]"},
		{"SELECT 1::VARIANT a, 2 a", nil, "a,a", "[1,2]"},                                      // converted by DuckDB
		{"SELECT TIME '24:00:00' t, TIME '01:00:00' t", nil, "t,t", `["24:00:00","01:00:00"]`}, // converted
		{"SELECT MAP {[1]: 2} m, 3 m", nil, "m,m", `[[{"key":[1],"value":2}],3]`},              // map_entries
		{"SELECT $1::INTEGER AS a, $2::INTEGER AS a", []any{1, 2}, "a,a", "[1,2]"},
	} {
		res, err := run(e, tc.sql, 10, tc.params...)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if got := strings.Join(res.cols, ","); got != tc.want || strings.Join(res.rows, "|") != tc.rows {
			t.Errorf("%s: columns %s rows %v, want %s %s", tc.sql, got, res.rows, tc.want, tc.rows)
		}
		if tc.params != nil {
			continue
		}
		rows, err := ref.Query(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := rows.Columns()
		rows.Close()
		if !slices.Equal(names, res.cols) {
			t.Errorf("%s: queryd %v, DuckDB %v", tc.sql, res.cols, names)
		}
	}
	// The row cap and its truncation flag hold with repeated names.
	res, err := run(e, "SELECT range a, range * 2 a FROM range(100000000000)", 3)
	if err != nil || strings.Join(res.cols, ",") != "a,a" || len(res.rows) != 3 || !res.truncated {
		t.Fatalf("capped: %v %+v", err, res)
	}
	res, err = run(e, "SELECT range a, range a FROM range(3)", 3)
	if err != nil || len(res.rows) != 3 || res.truncated {
		t.Fatalf("exactly the cap: %v %+v", err, res)
	}
	// DuckDB's located errors still name the caller's line.
	if _, err := run(e, "SELECT 1 a, 2 a,\n nope", 3); err == nil || !strings.Contains(err.Error(), "LINE 2:") {
		t.Fatalf("error line: %v", err)
	}
}

// TestMaybeDeduplicated: only names DuckDB's renaming can produce make
// queryd prepare the bare statement; the usual query pays nothing.
func TestMaybeDeduplicated(t *testing.T) {
	for names, want := range map[string]bool{
		"a,a_1": true, "a,A_1": true, "a,a_1,a_1_1": true, "a,A_2": true, "x,y,x_1": true,
		"a,b,c": false, "a_1,a": false, "a,a_": false, "a,a_x": false, "_1,x": false, "id,name,total_2024": false,
		"a,b_1": false, "": false,
	} {
		if got := maybeDeduplicated(strings.Split(names, ",")); got != want {
			t.Errorf("%s: %v, want %v", names, got, want)
		}
	}
}

// TestTypeNamesAsDuckDB: an ENUM column's type was "ENUM", DuckDB's
// DESCRIBE says ENUM('a', 'b'); STRUCT and UNION fields were always quoted
// (STRUCT("a" INTEGER), DuckDB STRUCT(a INTEGER)); TIMESTAMPTZ and TIMETZ
// stood for TIMESTAMP WITH TIME ZONE and TIME WITH TIME ZONE. Every
// column's type is now DuckDB's own text, checked against DESCRIBE.
func TestTypeNamesAsDuckDB(t *testing.T) {
	e, _ := open(t)
	ref := reference(t)
	for _, q := range []string{
		"SELECT 'a'::ENUM('a', 'b') e",
		`SELECT 'it''s'::ENUM('it''s', 'x"y', '') e`,
		"SELECT [['a'::ENUM('a', 'b')]] e, {'e': 'a'::ENUM('a')} s, MAP {'k': 'a'::ENUM('a')} m",
		"SELECT ['a'::ENUM('a')]::ENUM('a')[1] e",
		"SELECT 1.5::DECIMAL(10,2) d, 1::DECIMAL(38,0) w, 1.0 x, 0.5::DECIMAL(4,4) z",
		"SELECT [1, 2]::INTEGER[] l, [1, 2, 3]::INTEGER[3] a, [[1, 2]]::INTEGER[2][] la, [[1], [2]] ll",
		"SELECT {'a': 1, 'b': 'x'} s",
		`SELECT {'a b': 1, 'select': 2, 'A"q': 3, 'Name': 4, '_x': 5, 'x1': 6, '1x': 7, 'é': 8, 'FROM': 9, 'Year': 10, 'x$': 11} s`,
		"SELECT MAP {'k': 1} m, MAP {1: {'a': [1.5::DECIMAL(4,1)]}} n",
		"SELECT MAP {[1]: 2} m",
		"SELECT union_value(num := 2)::UNION(num INTEGER, str VARCHAR) u, union_value(\"select\" := 1) v",
		"SELECT now() tz, '12:00:00+01'::TIMETZ ttz, [now()] l, {'t': '12:00:00'::TIMETZ} s",
		`SELECT '{}'::JSON j, ['{}'::JSON] l, {'j': '{"a":1}'::JSON} s`,
		"SELECT 1::BIGNUM n, '1010'::BIT b, gen_random_uuid() u, INTERVAL 1 DAY i, 'x'::BLOB b2",
		"SELECT 1::HUGEINT h, 1::UHUGEINT uh, 1::TINYINT t, 1::UTINYINT ut, 1::SMALLINT s, 1::USMALLINT us, 1::UINTEGER ui, 1::UBIGINT ub",
		"SELECT 1::FLOAT f, 1::DOUBLE d, true b, 'x' v, 'x' COLLATE nocase c, DATE '2020-01-01' d2, TIME '01:02' t",
		"SELECT '2020-01-01'::TIMESTAMP ts, '2020-01-01'::TIMESTAMP_S s, '2020-01-01'::TIMESTAMP_MS ms, '2020-01-01'::TIMESTAMP_NS ns",
		"SELECT '01:02:03'::TIME_NS tn, 1::VARIANT v, {'v': 1::VARIANT} s",
		"SELECT NULL n, [NULL] l, {'n': NULL} s",
		"SELECT * FROM (VALUES ('a'::ENUM('a', 'b'), 1.5::DECIMAL(3,1))) t(e, d) UNION ALL SELECT 'b', 2.5",
	} {
		names, want, err := describe(t, ref, q)
		if err != nil {
			t.Fatalf("%s: DESCRIBE: %v", q, err)
		}
		res, err := run(e, q, 5)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if !slices.Equal(res.types, want) || !slices.Equal(res.cols, names) {
			t.Errorf("%s:\n queryd %q %q\n DuckDB %q %q", q, res.cols, res.types, names, want)
		}
	}
}

// FuzzTypeName compares the type queryd reports for a STRUCT field, a
// UNION member and an ENUM value of any name with DuckDB's DESCRIBE.
func FuzzTypeName(f *testing.F) {
	for _, s := range []string{"a", "A", "select", "SELECT", "Name", "year", "1a", "a1", "_", "é", `a"b`, "a'b", "a b", "x$", "int", "ENUM", ""} {
		f.Add(s, s)
	}
	e, _ := open(f)
	ref := reference(f)
	f.Fuzz(func(t *testing.T, field, value string) {
		if field == "" || strings.ContainsRune(field+value, 0) || !utf8.ValidString(field+value) {
			t.Skip()
		}
		q := "SELECT struct_pack(" + sqlIdent(field) + " := " + sqlString(value) + "::ENUM(" + sqlString(value) + ")) s, " +
			"union_value(" + sqlIdent(field) + " := 1) u"
		names, want, err := describe(t, ref, q)
		if err != nil {
			t.Skip() // DuckDB refuses it too
		}
		res, err := run(e, q, 1)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !slices.Equal(res.types, want) || !slices.Equal(res.cols, names) {
			t.Fatalf("%s:\n queryd %q %q\n DuckDB %q %q", q, res.cols, res.types, names, want)
		}
	})
}
