package convert

import (
	"database/sql"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
)

// strictColumnSQLBefore is strictColumnSQL as it was before ADR-142 (the
// printed-value test after the invalid-value refusal, whose regexp every
// value paid): the differential test holds the new expression to it.
func strictColumnSQLBefore(i int, typ string, scale int) string {
	c, v := fmt.Sprintf("c%d", i), fmt.Sprintf("v%d", i)
	tag := func(kind string) string {
		return fmt.Sprintf("error(%s || %s)", sqlString(fmt.Sprintf("%s%d:%s:%s:", badValueTag, i, kind, typ)), c)
	}
	p := sqlString(decimalPattern)
	group := func(n int) string { return fmt.Sprintf("replace(regexp_extract(%s, %s, %d), '_', '')", c, p, n) }
	digits := group(1) + " || " + group(2)
	exp := fmt.Sprintf("regexp_extract(%s, %s, 3)", c, p)
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN NULL
 WHEN %[2]s IS NULL OR NOT regexp_matches(%[1]s, '[0-9]') OR %[10]s THEN %[3]s
 WHEN %[2]s::VARCHAR = %[1]s THEN %[2]s
 WHEN strlen(%[1]s) <= 15 AND TRY_CAST(%[1]s AS DOUBLE) = %[2]s::DOUBLE AND (%[2]s <> 0 OR NOT (contains(%[1]s, 'e') OR contains(%[1]s, 'E'))) THEN %[2]s
 WHEN regexp_full_match(%[1]s, '^\s*[+-]?0[xXbB][0-9a-fA-F_]+\s*$') THEN %[2]s
 WHEN NOT regexp_full_match(%[1]s, %[5]s) THEN %[4]s
 WHEN rtrim(%[6]s, '0') = '' THEN %[2]s
 WHEN coalesce(length(%[7]s) - (CASE WHEN %[8]s = '' THEN 0 ELSE TRY_CAST(%[8]s AS INTEGER) END)::BIGINT - (length(%[6]s) - length(rtrim(%[6]s, '0'))) <= %[9]d, false) THEN %[2]s
 ELSE %[4]s END`, c, v, tag("invalid"), tag("inexact"), p, digits, group(2), exp, scale, decimalRangeSQL(v, typ))
}

// strictOutcome is what the strict projection of one value gives: the
// stored value printed, NULL, or the error it raises.
func strictOutcome(t *testing.T, db *sql.DB, expr, typ string, value *string) string {
	t.Helper()
	var out sql.NullString
	err := db.QueryRow(fmt.Sprintf("SELECT (%s)::VARCHAR FROM (SELECT c0, %s AS v0 FROM (SELECT ?::VARCHAR AS c0))", expr, castText("c0", typ)), value).Scan(&out)
	switch {
	case err != nil:
		return "error: " + rawMessage(err)
	case !out.Valid:
		return "NULL"
	}
	return "value: " + out.String
}

// TestStrictColumnSameAsBefore runs the strict cast of ADR-142 and the one
// before it over adversarial and random texts in every exact type: each
// value is kept as the same stored value, or refused with the same error.
func TestStrictColumnSameAsBefore(t *testing.T) {
	c, err := Open(Options{Threads: 1, TempDir: filepath.Join(t.TempDir(), "tmp")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	values := []string{
		"42", "+42", " 42", "42 ", " -7 ", "\t7", "7\n", "-0", "0", "00", "007", "-00", "+0",
		"0x1F", "0X1f", "0x", "0b101", "-0x10", "0x_1", "1_000", "_1", "1__0",
		"1e3", "1E3", "1e+3", "1e-3", "0e5", "0E0", "1e", "e3", "1e400", "100e-2", "1.0e-1", "12e-1",
		"١٢", "٣", "１２", "1 2", "", " ", "-", "+", ".", ".5", "5.", "abc", "NULL", "inf", "-inf", "nan", "Infinity",
		"7.5", "1.005", "12.50", "12.5", "1.00", "0.00", "-0.00", "-0.5", "99.99", "99.995", "100", "999", "1000", "-999",
		"7768.43000E6", "7768.43E2", "1.5e1",
		"12345678901234567890", "99999999999999999999", "123456789012345678901234567890",
		"-9223372036854775808", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616", "127", "128", "-128", "-129", "255", "256",
		"2147483647", "2147483648", "170141183460469231731687303715884105727", "170141183460469231731687303715884105728",
		"2024-02-30", "02/03/2024", " 2024-01-01", "2024-01-01", "10:00:00",
		"1.0000000000000001", "12345678901234567890.4", "9007199254740993", "9007199254740993.0", "0.0000000000000000001",
		"99999999.99", "100000000.00", "9999999999", "-9999999999.99", "0.1", "0.01", "0.001",
	}
	rng := rand.New(rand.NewSource(142))
	const alphabet = "0123456789000999+-._eExXbB \t1a٣"
	runes := []rune(alphabet)
	for range 120 {
		var b strings.Builder
		for range rng.Intn(24) {
			b.WriteRune(runes[rng.Intn(len(runes))])
		}
		values = append(values, b.String())
	}
	types := []string{"BIGINT", "INTEGER", "TINYINT", "UTINYINT", "UBIGINT", "HUGEINT",
		"DECIMAL(10,2)", "DECIMAL(3,0)", "DECIMAL(4,4)", "DECIMAL(20,0)", "DECIMAL(38,10)", "DECIMAL(18,3)"}
	checked := 0
	for _, typ := range types {
		typ, scale, ok := exactType(typ)
		if !ok {
			t.Fatalf("%s is no exact type", typ)
		}
		before, after := strictColumnSQLBefore(0, typ, scale), strictColumnSQL(0, typ, scale)
		if before == after {
			t.Fatalf("%s: the expression is the old one", typ)
		}
		for k := -1; k < len(values); k++ {
			var v *string // -1: SQL NULL
			if k >= 0 {
				v = &values[k]
			}
			want, got := strictOutcome(t, c.db, before, typ, v), strictOutcome(t, c.db, after, typ, v)
			if got != want {
				shown := "NULL"
				if v != nil {
					shown = fmt.Sprintf("%q", *v)
				}
				t.Errorf("%s %s: before %s, now %s", typ, shown, want, got)
			}
			checked++
		}
	}
	t.Logf("%d type/value pairs agree", checked)
}
