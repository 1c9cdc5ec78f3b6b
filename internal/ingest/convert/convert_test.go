package convert

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

func newConv(t *testing.T) *Converter {
	t.Helper()
	c, err := Open(Options{Threads: 2, TempDir: filepath.Join(t.TempDir(), "tmp"), MaxLineBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConvertOK(t *testing.T) {
	c := newConv(t)
	bigField := strings.Repeat("x", 10<<20)
	ints := func(typ string) []Column { return []Column{{Name: "id", Type: typ}, {Name: "t", Type: "VARCHAR"}} }
	late := func(v string) string { return "id\n" + strings.Repeat("1\n", 30000) + v + "\n" }
	// Values that DuckDB stores exactly as written are accepted; in
	// [values], the rows after the first as text (v|v;...) or "" (not checked).
	cases := []struct {
		name, format, data string
		rows               int64
		schema             string
		in                 []Column // append: the dataset's schema
		values             string
	}{
		{"probe", CSV, "id,name,role\n1,Alice,Forklift Operator\n", 1, "id BIGINT,name VARCHAR,role VARCHAR", nil, ""},
		{"crlf+bom", CSV, "\ufeffid,when\r\n1,2024-01-02\r\n2,2024-01-03\r\n", 2, "id BIGINT,when DATE", nil, ""},
		{"semicolon", CSV, "a;b\n1;x,y\n", 1, "a BIGINT,b VARCHAR", nil, ""},
		{"tab", CSV, "a\tb\n1.5\t\"q\"\"q\"\n", 1, "a DOUBLE,b VARCHAR", nil, ""},
		{"quoted newline", CSV, "a,b\n1,\"two\nlines\"\n", 1, "a BIGINT,b VARCHAR", nil, ""},
		{"10MB field", CSV, "a,b\n1,\"" + bigField + "\"\n", 1, "a BIGINT,b VARCHAR", nil, ""},
		{"jsonl", JSONL, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n", 2, "a BIGINT,b VARCHAR", nil, ""},
		// Header names as DuckDB reads them (ADR-023): blanks before an
		// opening quote (one) and after a closing quote, Zs trimmed.
		{"quoted header with blanks", CSV, "\"id\", \"name\"\n1, \"bob\"\n", 1, "id BIGINT,name VARCHAR", nil, "1|bob"},
		{"quoted header blanks after", CSV, "\"id\" , \"name\"  \r\n1,bob\r\n", 1, "id BIGINT,name VARCHAR", nil, "1|bob"},
		{"quoted header blank first", CSV, "\ufeff \"id\",\"name\"\n1,bob\n", 1, "id BIGINT,name VARCHAR", nil, "1|bob"},
		{"unquoted header with blanks", CSV, " id ,  name \n1,bob\n", 1, "id BIGINT,name VARCHAR", nil, "1|bob"},
		{"quoted header escapes and separators", CSV, "\"a\"\"b\", \" c d \",\u00a0e\u3000\n1,x,y\n", 1, "a\"b BIGINT,c d VARCHAR,e VARCHAR", nil, "1|x|y"},
		{"quoted header delimiter inside", CSV, "\"a;b\" ; \"c\"\n1;x\n", 1, "a;b BIGINT,c VARCHAR", nil, "1|x"},
		{"append quoted header with blanks", CSV, "\"id\", \"t\"\n7, \"a\"\n", 1, "id BIGINT,t VARCHAR", ints("BIGINT"), "7|a"},
		// Integer columns: a whole number in any notation DuckDB reads is exact (7.0 is 7).
		{"append bigint whole", CSV, "id,t\n7,a\n7.0,b\n7.,c\n 7 ,d\n1e2,e\n100e-2,f\n0x10,g\n-0.0,h\n7.000000000000000000000000,i\n1_000,j\n,k\n", 11, "id BIGINT,t VARCHAR", ints("BIGINT"),
			"7|a;7|b;7|c;7|d;100|e;1|f;16|g;0|h;7|i;1000|j;NULL|k"},
		{"append tinyint range", CSV, "id,t\n127,a\n-128,b\n", 2, "id TINYINT,t VARCHAR", ints("TINYINT"), "127|a;-128|b"},
		{"append smallint range", CSV, "id,t\n32767,a\n-32768,b\n", 2, "id SMALLINT,t VARCHAR", ints("SMALLINT"), "32767|a;-32768|b"},
		{"append integer range", CSV, "id,t\n2147483647,a\n-2147483648.00,b\n", 2, "id INTEGER,t VARCHAR", ints("INTEGER"), "2147483647|a;-2147483648|b"},
		{"append bigint range", CSV, "id,t\n9223372036854775807,a\n-9223372036854775808,b\n", 2, "id BIGINT,t VARCHAR", ints("BIGINT"), "9223372036854775807|a;-9223372036854775808|b"},
		{"append unsigned range", CSV, "id,t\n255,a\n0,b\n", 2, "id UTINYINT,t VARCHAR", ints("UTINYINT"), "255|a;0|b"},
		{"append usmallint", CSV, "id,t\n65535,a\n", 1, "id USMALLINT,t VARCHAR", ints("USMALLINT"), "65535|a"},
		{"append uinteger", CSV, "id,t\n4294967295,a\n", 1, "id UINTEGER,t VARCHAR", ints("UINTEGER"), "4294967295|a"},
		{"append ubigint", CSV, "id,t\n18446744073709551615,a\n", 1, "id UBIGINT,t VARCHAR", ints("UBIGINT"), "18446744073709551615|a"},
		// DECIMAL(p,s): up to s significant decimal places; trailing zeros are not significant.
		{"append decimal", CSV, "id,t\n1.5,a\n1.50,b\n1.5000,c\n-123.45,d\n1e2,e\n1.25e1,f\n.5,g\n999.99,h\n0,i\n0e5,j\n-0.000,k\n", 11, "id DECIMAL(5,2),t VARCHAR", ints("DECIMAL(5,2)"),
			"1.50|a;1.50|b;1.50|c;-123.45|d;100.00|e;12.50|f;0.50|g;999.99|h;0.00|i;0.00|j;0.00|k"},
		{"append decimal wide", CSV, "id,t\n12345678901234567890.123456789012345678,a\n-0.000000000000000001,b\n", 2, "id DECIMAL(38,18),t VARCHAR", ints("DECIMAL(38,18)"),
			"12345678901234567890.123456789012345678|a;-0.000000000000000001|b"},
		{"append double", CSV, "id,t\n1.5e308,a\ninf,b\n-Infinity,c\n1e-400,d\n", 4, "id DOUBLE,t VARCHAR", ints("DOUBLE"), "1.5e+308|a;inf|b;-inf|c;0.0|d"},
		{"append double list inf", CSV, "id,l\n1,\"[1e308, inf, -infinity]\"\n", 1, "id BIGINT,l DOUBLE[]", []Column{{Name: "id", Type: "BIGINT"}, {Name: "l", Type: "DOUBLE[]"}}, "1|[1e+308, inf, -inf]"},
		// Nested columns: whole numbers in any notation are kept, as at the top level.
		{"append nested whole", CSV, "id,li,st\n1,\"[1, 2.0, 1e2, 0x10]\",{x: 7}\n2,[],{x: NULL}\n3,,\n", 3, "id BIGINT,li INTEGER[],st STRUCT(x INTEGER)",
			[]Column{{Name: "id", Type: "BIGINT"}, {Name: "li", Type: "INTEGER[]"}, {Name: "st", Type: "STRUCT(x INTEGER)"}}, "1|[1, 2, 100, 16]|{'x': 7};2|[]|{'x': NULL};3|NULL|NULL"},
		{"append nested decimal map", CSV, "id,m\n1,\"{a=1.50, b=NULL}\"\n", 1, "id BIGINT,m MAP(VARCHAR, DECIMAL(5,2))",
			[]Column{{Name: "id", Type: "BIGINT"}, {Name: "m", Type: "MAP(VARCHAR, DECIMAL(5,2))"}}, "1|{a=1.50, b=NULL}"},
		// Create: a fraction in the sample makes the column DOUBLE; one after
		// it re-reads with every row sniffed (never a rounded BIGINT).
		{"create fraction", CSV, "id\n7.5\n", 1, "id DOUBLE", nil, "7.5"},
		{"create late fraction", CSV, late("7.5"), 30001, "id DOUBLE", nil, ""},
		{"create late whole", CSV, late("7.0"), 30001, "id BIGINT", nil, ""},
		{"create big double", CSV, "a,b\n1.5e308,1\n-1.5e308,2\n", 2, "a DOUBLE,b BIGINT", nil, "1.5e+308|1;-1.5e+308|2"},
		// Time zone types are read as text and cast strictly: a late value that
		// does not parse makes a created column VARCHAR (never NULL).
		{"append timestamptz", CSV, "id,t\n1,2024-01-02 03:04:05+00\n2,\n3,2024-01-02 05:04:05+02\n", 3, "id BIGINT,t TIMESTAMP WITH TIME ZONE",
			[]Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMPTZ"}}, ""},
		{"create timestamptz", CSV, "id,t\n1,2024-01-02 03:04:05+00\n", 1, "id BIGINT,t TIMESTAMP WITH TIME ZONE", nil, ""},
		{"create timestamptz late text", CSV, "id,t\n" + strings.Repeat("1,2024-01-02 03:04:05+00\n", 30000) + "2,2024-13-45 99:00:00+00\n", 30001, "id BIGINT,t VARCHAR", nil, ""},
		// DATE, TIME, TIMESTAMP: a zero offset and a midnight time are kept (the
		// instant or day written); a late zoned value makes a created column
		// what the sniffer makes it inside its sample (never another instant).
		{"append temporal exact", CSV, "id,ts,tm,dd\n1,2024-01-01 10:00:00,10:00:00,2024-01-01\n2,2024-01-01T10:00:00Z,10:00:00Z,2024-01-01 00:00:00\n3,2024-01-01 10:00:00+00:00,10:00:00+00,2024-01-01T00:00:00.000+00\n4,2024-01-01 10:00:00 UTC,10:00:00.5,2024-01-01\n5,2024-01-01,,\n", 5, "id BIGINT,ts TIMESTAMP,tm TIME,dd DATE",
			[]Column{{Name: "id", Type: "BIGINT"}, {Name: "ts", Type: "TIMESTAMP"}, {Name: "tm", Type: "TIME"}, {Name: "dd", Type: "DATE"}},
			"1|2024-01-01 10:00:00|10:00:00|2024-01-01;2|2024-01-01 10:00:00|10:00:00|2024-01-01;3|2024-01-01 10:00:00|10:00:00|2024-01-01;4|2024-01-01 10:00:00|10:00:00.5|2024-01-01;5|2024-01-01 00:00:00|NULL|NULL"},
		{"create late zoned timestamp", CSV, "id,ts\n" + strings.Repeat("1,2024-01-01 10:00:00\n", 30000) + "2,2024-01-01 10:00:00+05:00\n", 30001, "id BIGINT,ts TIMESTAMP WITH TIME ZONE", nil, ""},
		{"create late zoned date", CSV, "id,dd\n" + strings.Repeat("1,2024-01-01\n", 30000) + "2,2024-01-01 23:59:59+09\n", 30001, "id BIGINT,dd VARCHAR", nil, ""},
		{"create late zoned time", CSV, "id,tm\n" + strings.Repeat("1,10:00:00\n", 30000) + "2,10:00:00+05\n", 30001, "id BIGINT,tm VARCHAR", nil, ""},
		{"create late zero offset", CSV, "id,ts\n" + strings.Repeat("1,2024-01-01 10:00:00\n", 30000) + "2,2024-01-01 11:00:00Z\n", 30001, "id BIGINT,ts TIMESTAMP", nil, ""},
		{"create zoned in sample", CSV, "id,ts\n1,2024-01-01 10:00:00\n2,2024-01-01 10:00:00+05:00\n", 2, "id BIGINT,ts TIMESTAMP WITH TIME ZONE", nil, ""},
		// JSONL: names DuckDB would rename are looked for, but real ones are kept.
		{"jsonl key C0", JSONL, "{\"C0\":1,\"b\":2}\n", 1, "C0 BIGINT,b BIGINT", nil, "1|2"},
		{"jsonl key a_1", JSONL, "{\"a\":1,\"a_1\":2}\n", 1, "a BIGINT,a_1 BIGINT", nil, "1|2"},
		// JSONL: a late fraction (or exponent) in a field sniffed BIGINT
		// re-reads every line (DOUBLE), never rounds; a late key is read too.
		{"jsonl late fraction", JSONL, strings.Repeat("{\"a\":1}\n", 30000) + "{\"a\":7.5}\n", 30001, "a DOUBLE", nil, ""},
		{"jsonl late exponent", JSONL, strings.Repeat("{\"a\":1}\n", 30000) + "{\"a\":null}\n{\"a\":1e2}\n", 30002, "a DOUBLE", nil, ""},
		{"jsonl late null", JSONL, strings.Repeat("{\"a\":1}\n", 30000) + "{\"a\":null}\n{\"a\":2}\n", 30002, "a BIGINT", nil, ""},
		{"jsonl late boolean", JSONL, strings.Repeat("{\"a\":1}\n", 30000) + "{\"a\":true}\n", 30001, "a JSON", nil, ""},
		// Blanks around a date are not a time of day (a re-audit: a
		// trailing space was refused on append, made the column VARCHAR on create).
		{"date with blanks", CSV, "id,d\n1,2024-01-01 \n2,\"2024-01-02 \"\n3,2024-01-03\t\n", 3, "id BIGINT,d DATE", nil, "1|2024-01-01;2|2024-01-02;3|2024-01-03"},
		{"append date with blanks", CSV, "id,d\n1,2024-01-01 \n2, 2024-01-02 \n", 2, "id BIGINT,d DATE",
			[]Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE"}}, "1|2024-01-01;2|2024-01-02"},
		// The same inside an object or a list (was stored as 8 and [1 2]).
		{"jsonl late nested fraction", JSONL, strings.Repeat(`{"a":{"x":1},"l":[1]}`+"\n", 30000) + `{"a":{"x":7.5},"l":[1,2.5]}` + "\n", 30001, "a STRUCT(x DOUBLE),l DOUBLE[]", nil, ""},
		{"jsonl late key", JSONL, strings.Repeat("{\"a\":1}\n", 30000) + "{\"a\":2,\"err\":\"boom\"}\n", 30001, "a BIGINT,err VARCHAR", nil, ""},
		{"jsonl big double", JSONL, "{\"a\":1.5e308}\n{\"a\":1e-400}\n", 2, "a DOUBLE", nil, "1.5e+308;0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := write(t, "in", []byte(tc.data))
			out := filepath.Join(t.TempDir(), "out")
			res, err := c.Convert(context.Background(), Input{Path: in, Format: tc.format, Schema: tc.in}, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != tc.rows {
				t.Fatalf("rows %d", res.Rows)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != tc.schema {
				t.Fatalf("schema %v", sch)
			}
			if tc.values != "" {
				if got := dump(t, c, res); got != tc.values {
					t.Fatalf("values %q, want %q", got, tc.values)
				}
			}
		})
	}
}

// dump is the converted rows as text: v|v;v|v (NULL for null).
func dump(t *testing.T, c *Converter, res *Result) string {
	t.Helper()
	var files []string
	for _, f := range res.Files {
		files = append(files, sqlString(f.Path))
	}
	rows, err := c.db.Query("SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_parquet([" + strings.Join(files, ", ") + "])")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, v := range vals {
			if v.Valid {
				row = append(row, v.String)
			} else {
				row = append(row, "NULL")
			}
		}
		out = append(out, strings.Join(row, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, ";")
}

func TestLateTypeChangeResniffs(t *testing.T) {
	c := newConv(t)
	var b strings.Builder
	b.WriteString("id,v\n")
	for i := 0; i < 30000; i++ {
		b.WriteString("1,2\n")
	}
	b.WriteString("3,abc\n")
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(b.String())), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 30001 || res.Schema[1].Type != "VARCHAR" {
		t.Fatalf("%+v", res.Schema)
	}
}

func TestSplitsFiles(t *testing.T) {
	c, err := Open(Options{Threads: 2, TempDir: t.TempDir(), RowGroupSize: 10000, FileRows: 30000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 0; i < 100000; i++ {
		b.WriteString("1,abc\n")
	}
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(b.String())), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 3 || res.Rows != 100000 {
		t.Fatalf("%d files, %d rows", len(res.Files), res.Rows)
	}
	var sum int64
	for _, f := range res.Files {
		sum += f.Rows
		if f.Rows == 0 {
			t.Fatal("empty file kept")
		}
	}
	if sum != 100000 {
		t.Fatalf("sum %d", sum)
	}
}

func TestConvertErrors(t *testing.T) {
	c := newConv(t)
	var late strings.Builder
	late.WriteString("id,name\n")
	for i := 0; i < 30000; i++ {
		late.WriteString("1,n\n")
	}
	late.WriteString("30001,x,y\n")
	ints := func(typ string) []Column { return []Column{{Name: "id", Type: typ}, {Name: "t", Type: "VARCHAR"}} }
	lateJSON := strings.Repeat("{\"a\":1.5}\n", 30000)
	nested := []Column{{Name: "id", Type: "BIGINT"}, {Name: "li", Type: "INTEGER[]"}, {Name: "st", Type: "STRUCT(x INTEGER)"}}
	temporal := []Column{{Name: "id", Type: "BIGINT"}, {Name: "ts", Type: "TIMESTAMP"}, {Name: "tm", Type: "TIME"}, {Name: "dd", Type: "DATE"}}
	cases := []struct {
		name, format, data string
		schema             []Column
		want               []string
	}{
		{"empty", CSV, "", nil, []string{"empty"}},
		{"header only", CSV, "id,name\n", nil, []string{"no data rows"}},
		{"header only blank lines", CSV, "id,name\n\n\n", nil, []string{"no data rows"}},
		{"duplicate columns", CSV, "a,b,A\n1,2,3\n", nil, []string{"duplicate column name", "columns 1 and 3"}},
		{"empty column name", CSV, "a,,b\n1,2,3\n", nil, []string{"column 2", "empty column name"}},
		// A header whose names DuckDB might read otherwise (ADR-023).
		{"text after a quoted name", CSV, "a,\"b\"x\n1,2\n", nil, []string{"line 1, column 2", `'x' at byte 6, after the closing quote of the column name "b"`, `header: "a,\"b\"x"`}},
		{"quoted parts joined", CSV, "\"a\" \"\" \"e\"\n1\n", nil, []string{"line 1, column 1", `'"' at byte 5, after the closing quote`}},
		{"tab after a quoted name", CSV, "\"id\"\t,b\n1,2\n", nil, []string{"line 1, column 1", `'\t' at byte 5, after the closing quote`}},
		{"quoted name not closed", CSV, "a, \"b\n1,2\n", nil, []string{"line 1, column 2", "the quote at byte 4 is not closed on the header line"}},
		{"two blanks before a quote", CSV, "\"id\",  \"name\"\n1,2\n", nil, []string{"line 1, column 2", `a quote at byte 8 inside the unquoted column name "  \"name\""`}},
		{"tab before a quote", CSV, "\"id\",\t\"name\"\n1,2\n", nil, []string{"line 1, column 2", "a quote at byte 7 inside the unquoted column name"}},
		{"quote in an unquoted name", CSV, "x\"id\",b\n1,2\n", nil, []string{"line 1, column 1", "a quote at byte 2 inside the unquoted column name", "doubled"}},
		{"quoted blank name", CSV, "a, \" \"\n1,2\n", nil, []string{"line 1, column 2", "empty column name"}},
		{"ragged after a quoted header with a blank", CSV, "\"id\",\"v\" \n1,2\n3\n4,5\n", nil, []string{"line 3", "expected 2 columns", "found 1"}},
		{"append bad value after a quoted header with a blank", CSV, "\"id\",\"t\" \n1,a\n7.5,b\n", ints("BIGINT"), []string{"line 3", `column "id" (1)`, `value "7.5"`}},
		{"non-utf8 header", CSV, "a,\xff\n1,2\n", nil, []string{"line 1", "UTF-8"}},
		{"non-utf8 value", CSV, "id,name\n1,ok\n2,\xff\xfe\n", nil, []string{"line 3", "UTF-8"}},
		{"ragged in sample", CSV, "id,name\n1,a\n2,b,c\n3,d\n", nil, []string{"line 3", "expected 2 columns", "found 3"}},
		{"ragged after sample", CSV, late.String(), nil, []string{"line 30002", "expected 2 columns", "found 3"}},
		{"unterminated quote", CSV, "a,b\n1,\"open\n2,3\n", nil, []string{"line"}},
		{"bad jsonl", JSONL, "{\"a\":1}\n{a}\n", nil, []string{"line 2", "malformed JSON"}},
		{"not parquet", Parquet, "id,name\n1,x\n", nil, []string{"not a Parquet file"}},
		{"append bad value", CSV, "id,name\n1,a\nx,b\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}, []string{"line 3", `column "id" (1)`, `value "x"`, "BIGINT"}},
		{"append other columns", CSV, "id,nom\n1,a\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}, []string{`"nom"`, `"name" (VARCHAR, position 2) is missing`}},
		// Time zone types: DuckDB's reader turns a value it cannot parse into NULL; here it is refused.
		{"append timestamptz bad", CSV, "id,t\n1,2024-01-02 03:04:05+00\n2,not a time\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMP WITH TIME ZONE"}}, []string{"line 3", `column "t" (2)`, `value "not a time"`, "not a valid TIMESTAMP WITH TIME ZONE"}},
		{"append timestamptz day first", CSV, "id,t\n1,25/12/2024 10:00:00+01\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMP WITH TIME ZONE"}}, []string{"line 2", `value "25/12/2024 10:00:00+01"`, "not a valid TIMESTAMP WITH TIME ZONE"}},
		{"append timetz bad", CSV, "id,t\n1,03:04:05+02\n2,25:99\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIME WITH TIME ZONE"}}, []string{"line 3", `value "25:99"`, "not a valid TIME WITH TIME ZONE"}},
		// Integer columns: a value the cast would round is refused, with its line.
		{"append bigint fraction", CSV, "id,t\n7,a\n7.5,b\n", ints("BIGINT"), []string{"line 3", `column "id" (1)`, `value "7.5"`, "not a whole number", "BIGINT"}},
		{"append bigint 7.9", CSV, "id,t\n7.9,x\n", ints("BIGINT"), []string{"line 2", `column "id" (1)`, `value "7.9"`, "whole number"}},
		{"append bigint -0.5", CSV, "id,t\n-0.5,x\n", ints("BIGINT"), []string{"line 2", `value "-0.5"`, "whole number"}},
		{"append bigint exponent", CSV, "id,t\n1.5e0,x\n", ints("BIGINT"), []string{"line 2", `value "1.5e0"`, "whole number"}},
		{"append bigint tiny fraction", CSV, "id,t\n7.0000000000000000000001,x\n", ints("BIGINT"), []string{"line 2", `value "7.0000000000000000000001"`, "whole number"}},
		{"append bigint after quoted newline", CSV, "id,t\n1,\"a\nb\"\n2.5,c\n", ints("BIGINT"), []string{"line 4", `value "2.5"`}},
		{"append bigint blank", CSV, "id,t\n  ,x\n", ints("BIGINT"), []string{"line 2", `value "  "`, "not a valid BIGINT"}},
		{"append bigint lone minus", CSV, "id,t\n1,a\n- ,x\n", ints("BIGINT"), []string{"line 3", `value "- "`, "not a valid BIGINT"}},
		{"append decimal lone minus", CSV, "id,t\n\" - \",x\n", ints("DECIMAL(10,2)"), []string{"line 2", `value " - "`, "not a valid DECIMAL(10,2)"}},
		{"append tinyint fraction", CSV, "id,t\n1.5,x\n", ints("TINYINT"), []string{"line 2", `value "1.5"`, "whole number", "TINYINT"}},
		{"append tinyint range", CSV, "id,t\n1,a\n128,x\n", ints("TINYINT"), []string{"line 3", `value "128"`, "out of range for TINYINT"}},
		{"append smallint range", CSV, "id,t\n-32769,x\n", ints("SMALLINT"), []string{"line 2", `value "-32769"`, "out of range for SMALLINT"}},
		{"append smallint fraction", CSV, "id,t\n2.5,x\n", ints("SMALLINT"), []string{"line 2", "whole number"}},
		{"append integer range", CSV, "id,t\n2147483648,x\n", ints("INTEGER"), []string{"line 2", "out of range for INTEGER"}},
		{"append integer fraction", CSV, "id,t\n0.1,x\n", ints("INTEGER"), []string{"line 2", "whole number"}},
		{"append bigint range", CSV, "id,t\n9223372036854775808,x\n", ints("BIGINT"), []string{"line 2", "out of range for BIGINT"}},
		{"append bigint huge exponent", CSV, "id,t\n1e400,x\n", ints("BIGINT"), []string{"line 2", `value "1e400"`, "out of range for BIGINT"}},
		{"append hugeint range", CSV, "id,t\n170141183460469231731687303715884105728,x\n", ints("HUGEINT"), []string{"line 2", "out of range for HUGEINT"}},
		{"append hugeint fraction", CSV, "id,t\n1.25,x\n", ints("HUGEINT"), []string{"line 2", "whole number"}},
		{"append utinyint negative", CSV, "id,t\n-1,x\n", ints("UTINYINT"), []string{"line 2", "out of range for UTINYINT"}},
		{"append utinyint fraction", CSV, "id,t\n255.4,x\n", ints("UTINYINT"), []string{"line 2", "whole number"}},
		{"append usmallint range", CSV, "id,t\n65536,x\n", ints("USMALLINT"), []string{"line 2", "out of range for USMALLINT"}},
		{"append uinteger range", CSV, "id,t\n4294967296,x\n", ints("UINTEGER"), []string{"line 2", "out of range for UINTEGER"}},
		{"append ubigint range", CSV, "id,t\n18446744073709551616,x\n", ints("UBIGINT"), []string{"line 2", "out of range for UBIGINT"}},
		{"append ubigint fraction", CSV, "id,t\n-0.4,x\n", ints("UBIGINT"), []string{"line 2", `value "-0.4"`}},
		{"append uhugeint range", CSV, "id,t\n340282366920938463463374607431768211456,x\n", ints("UHUGEINT"), []string{"line 2", "out of range for UHUGEINT"}},
		{"append uhugeint fraction", CSV, "id,t\n1.5,x\n", ints("UHUGEINT"), []string{"line 2", "whole number"}},
		// DECIMAL(p,s): more significant decimal places than s would round.
		{"append decimal scale", CSV, "id,t\n1.00,a\n1.005,x\n", ints("DECIMAL(5,2)"), []string{"line 3", `value "1.005"`, "more decimal places than DECIMAL(5,2)"}},
		{"append decimal exponent", CSV, "id,t\n1.2345e1,x\n", ints("DECIMAL(5,2)"), []string{"line 2", `value "1.2345e1"`, "decimal places"}},
		{"append decimal underflow", CSV, "id,t\n1e-400,x\n", ints("DECIMAL(5,2)"), []string{"line 2", `value "1e-400"`, "decimal places"}},
		{"append decimal wide scale", CSV, "id,t\n0.0000000000000000001,x\n", ints("DECIMAL(38,18)"), []string{"line 2", `value "0.0000000000000000001"`, "DECIMAL(38,18)"}},
		{"append bigint underflow", CSV, "id,t\n1e-400,x\n", ints("BIGINT"), []string{"line 2", `value "1e-400"`}},
		{"append decimal range", CSV, "id,t\n1000.5,x\n", ints("DECIMAL(5,2)"), []string{"line 2", `value "1000.5"`, "out of range for DECIMAL(5,2)"}},
		// DuckDB's cast keeps a mantissa written with more digits than the
		// type past its precision ('7768.43000E6' was 7768430000.00 in DECIMAL(10,2)).
		{"append decimal exponent precision", CSV, "id,t\n1.5,a\n7768.43000E6,x\n", ints("DECIMAL(10,2)"), []string{"line 3", `value "7768.43000E6"`, "out of range for DECIMAL(10,2)"}},
		{"append decimal exponent precision negative", CSV, "id,t\n-7768.43000E6,x\n", ints("DECIMAL(10,2)"), []string{"line 2", `value "-7768.43000E6"`, "out of range for DECIMAL(10,2)"}},
		{"append decimal exponent precision wide", CSV, "id,t\n9999999999999999999999999999999999.9000E4,x\n", ints("DECIMAL(38,4)"), []string{"line 2", "out of range for DECIMAL(38,4)"}},
		{"append decimal exponent precision scale only", CSV, "id,t\n0.5000E1,x\n", ints("DECIMAL(2,2)"), []string{"line 2", `value "0.5000E1"`, "out of range for DECIMAL(2,2)"}},
		{"append nested decimal exponent precision", CSV, "id,m\n1,\"{a=1.5, b=9.9900000E3}\"\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "m", Type: "MAP(VARCHAR, DECIMAL(5,2))"}}, []string{"line 2", `element "9.9900000E3" is out of range for DECIMAL(5,2)`}},
		{"append decimal text", CSV, "id,t\nabc,x\n", ints("DECIMAL(5,2)"), []string{"line 2", `value "abc"`, "not a valid DECIMAL(5,2)"}},
		// Nested columns: a number inside a LIST, STRUCT or MAP is held to the same rule.
		{"append list fraction", CSV, "id,li,st\n1,\"[1,2]\",{x: 1}\n2,\"[1,2.5]\",{x: 1}\n", nested, []string{"line 3", `column "li" (2)`, `value "[1,2.5]" (INTEGER[])`, `element "2.5" is not a whole number (INTEGER)`}},
		{"append struct fraction", CSV, "id,li,st\n3,[1],{x: 7.5}\n", nested, []string{"line 2", `column "st" (3)`, `value "{x: 7.5}"`, `element "7.5" is not a whole number`}},
		{"append list range", CSV, "id,li,st\n3,[99999999999],{x: 1}\n", nested, []string{"line 2", `element "99999999999" is out of range for INTEGER`}},
		{"append list text", CSV, "id,li,st\n3,\"[1, x]\",{x: 1}\n", nested, []string{"line 2", `element "x" is not a valid INTEGER`}},
		{"append list malformed", CSV, "id,li,st\n3,[1,{x: 1}\n", nested, []string{"line 2", `value "[1"`, "not a valid INTEGER[]"}},
		{"append map decimal", CSV, "id,m\n1,{a=1.005}\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "m", Type: "MAP(VARCHAR, DECIMAL(5,2))"}}, []string{"line 2", `element "1.005" has more decimal places than DECIMAL(5,2)`}},
		{"append nested list", CSV, "id,m\n1,\"{\"\"a b\"\": [[1], [2.5]]}\"\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "m", Type: `STRUCT("a b" BIGINT[][])`}}, []string{"line 2", `element "2.5" is not a whole number (BIGINT)`}},
		// Time zones and time parts the column cannot hold (were dropped: another instant, a lost time).
		{"append timestamp offset", CSV, "id,ts,tm,dd\n1,2024-01-01 10:00:00,10:00:00,2024-01-01\n2,2024-01-01 10:00:00+05:00,10:00:00,2024-01-01\n", temporal, []string{"line 3", `column "ts" (2)`, `value "2024-01-01 10:00:00+05:00" has a time zone offset`, "TIMESTAMP"}},
		{"append time offset", CSV, "id,ts,tm,dd\n1,2024-01-01,10:00:00+05,2024-01-01\n", temporal, []string{"line 2", `column "tm" (3)`, `value "10:00:00+05" has a time zone offset`, "TIME"}},
		{"append date time", CSV, "id,ts,tm,dd\n1,2024-01-01,10:00:00,2024-01-01 23:59:59+09\n", temporal, []string{"line 2", `column "dd" (4)`, `value "2024-01-01 23:59:59+09" has a time of day`}},
		{"append date time no zone", CSV, "id,ts,tm,dd\n1,2024-01-01,10:00:00,2024-01-01T00:00:01\n", temporal, []string{"line 2", `column "dd" (4)`, "has a time of day"}},
		{"append date midnight offset", CSV, "id,ts,tm,dd\n1,2024-01-01,10:00:00,2024-01-01 00:00:00-01\n", temporal, []string{"line 2", `column "dd" (4)`, "time zone offset"}},
		{"append timestamp negative offset", CSV, "id,ts,tm,dd\n1,2024-01-01T10:00:00-0130,10:00:00,2024-01-01\n", temporal, []string{"line 2", `column "ts" (2)`, "time zone offset"}},
		// Floats: a number beyond the type's range is not Infinity.
		{"append double range", CSV, "id,t\n1,a\n1e400,x\n", ints("DOUBLE"), []string{"line 3", `column "id" (1)`, `value "1e400"`, "out of range for DOUBLE"}},
		{"append float range", CSV, "id,t\n-1e39,x\n", ints("FLOAT"), []string{"line 2", `value "-1e39"`, "out of range for FLOAT"}},
		// The same inside a list or a struct (was stored as inf with a 200).
		{"append double list range", CSV, "id,l\n1,\"[1.5, 2]\"\n2,\"[1.5, 1e400]\"\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "l", Type: "DOUBLE[]"}},
			[]string{"line 3", `column "l" (2)`, `value "[1.5, 1e400]" (DOUBLE[])`, `element "1e400" is out of range for DOUBLE`}},
		{"append double list negative", CSV, "id,l\n1,[-1e400]\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "l", Type: "DOUBLE[]"}}, []string{"line 2", `element "-1e400"`}},
		{"append float struct range", CSV, "id,s\n1,\"{a: 1.5, b: 1e39}\"\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "s", Type: "STRUCT(a DOUBLE, b FLOAT)"}},
			[]string{"line 2", `column "s" (2)`, `element "1e39" is out of range for FLOAT`}},
		{"create double range", CSV, "a,b\n1.5,x\n1e400,y\n", nil, []string{"line 3", `column "a" (1)`, `value "1e400"`, "out of range for DOUBLE"}},
		// Column names: no control characters.
		{"header NUL", CSV, "a\x00b,c\n1,2\n", nil, []string{"line 1, column 1", "control character", "U+0000"}},
		{"header tab", CSV, "c,\"a\tb\"\n1,2\n", nil, []string{"line 1, column 2", "control character"}},
		// JSONL: objects only, no empty or control-character keys, numbers in range.
		{"jsonl 1e400", JSONL, "{\"a\":1e400}\n", nil, []string{"line 1", "number 1e400 is out of range"}},
		{"jsonl -1e400 line 2", JSONL, "{\"a\":1}\n{\"a\":-1e400}\n", nil, []string{"line 2", "number -1e400 is out of range"}},
		{"jsonl 1e400 in list", JSONL, "{\"a\":[1.5,1e400]}\n", nil, []string{"line 1", "out of range"}},
		{"jsonl 1e400 after sample", JSONL, lateJSON + "{\"a\":1e400}\n", nil, []string{"line 30001", "out of range"}},
		{"jsonl empty key", JSONL, "{\"\":1,\"b\":2}\n", nil, []string{"line 1", "empty key"}},
		{"jsonl nested empty key", JSONL, "{\"a\":{\"\":1,\"c\":2}}\n", nil, []string{"line 1", "empty key"}},
		{"jsonl NUL key", JSONL, "{\"a\\u0000b\":1}\n", nil, []string{"line 1", "control character"}},
		{"jsonl case keys", JSONL, "{\"a\":1}\n{\"A\":2}\n", nil, []string{"line 2", `key "A"`, `key "a" (line 1)`, "case"}},
		{"jsonl array line", JSONL, "[1,2,3]\n", nil, []string{"line 1", "not a JSON object", "array"}},
		{"jsonl number line", JSONL, "{\"a\":1}\n5\n", nil, []string{"line 2", "not a JSON object", "number"}},
		{"jsonl string line", JSONL, "\"x\"\n", nil, []string{"line 1", "not a JSON object", "string"}},
		{"jsonl array after sample", JSONL, lateJSON + "[1,2]\n", nil, []string{"line 30001", "not a JSON object", "array"}},
		{"append jsonl types", JSONL, "{\"id\":\"a\",\"name\":\"b\"}\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}, []string{`column "id" is VARCHAR, the dataset has BIGINT`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format, Schema: tc.schema}, out)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid, got %v (%s)", err, errs.KindOf(err))
			}
			msg := errs.Message(err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "/tmp") {
				t.Fatalf("message leaks a path: %q", msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output left behind")
			}
		})
	}
}

func TestTooLongLine(t *testing.T) {
	c, err := Open(Options{Threads: 2, TempDir: t.TempDir(), MaxLineBytes: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := "a,b\n1,\"" + strings.Repeat("y", 4<<20) + "\"\n"
	_, err = c.Convert(context.Background(), Input{Path: write(t, "in", []byte(data)), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "line 2") {
		t.Fatalf("%v", err)
	}
	t.Log(errs.Message(err))
}

func TestRaggedLastRow(t *testing.T) {
	c := newConv(t)
	_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte("a,b\n1,2\n3,4,5\n")), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "line 3") {
		t.Fatalf("%v", err)
	}
}

// TestParquetNames: a Parquet column name with a control character is
// refused (there is no line to name); an ordinary one is kept.
func TestParquetNames(t *testing.T) {
	c := newConv(t)
	for _, tc := range []struct{ col, want string }{{"a\x01b", "control character"}, {"a b", ""}} {
		in := filepath.Join(t.TempDir(), "in.parquet")
		if _, err := c.db.Exec("COPY (SELECT 1 AS " + sqlIdent(tc.col) + ") TO " + sqlString(in) + " (FORMAT parquet)"); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		res, err := c.Convert(context.Background(), Input{Path: in, Format: Parquet}, out)
		if tc.want == "" {
			if err != nil || res.Schema[0].Name != tc.col {
				t.Fatalf("%q: %v %+v", tc.col, err, res)
			}
			continue
		}
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), tc.want) {
			t.Fatalf("%q: %v", tc.col, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("output left behind")
		}
	}
}

// TestDateFormats: a created dataset records an ambiguous day/month
// format; an append read the other way by the sniffer is read with the
// dataset's (ADR-023 "Date formats").
func TestDateFormats(t *testing.T) {
	c := newConv(t)
	conv := func(data string, schema []Column) (*Result, error) {
		return c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(data)), Format: CSV, Schema: schema}, filepath.Join(t.TempDir(), "out"))
	}
	us := []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE", Format: "%m/%d/%Y"}}
	usTS := []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMP", Format: "%m/%d/%Y %H:%M:%S"}}
	for _, tc := range []struct {
		name, data string
		schema     []Column
		format     string // recorded for the second column
		values     string
	}{
		{"create month first", "id,d\n1,12/25/2024\n", nil, "%m/%d/%Y", "1|2024-12-25"},
		{"create day first", "id,d\n1,25/12/2024\n", nil, "%d/%m/%Y", "1|2024-12-25"},
		{"create iso", "id,d\n1,2024-12-25\n", nil, "", "1|2024-12-25"},
		{"append ambiguous in the dataset's order", "id,d\n2,01/02/2024\n3,03/04/2024\n", us, "%m/%d/%Y", "2|2024-01-02;3|2024-03-04"},
		{"append month first", "id,d\n2,12/25/2024\n", us, "%m/%d/%Y", "2|2024-12-25"},
		{"append iso", "id,d\n2,2024-01-03\n", us, "%m/%d/%Y", "2|2024-01-03"},
		{"append with no recorded format", "id,d\n2,01/02/2024\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE"}}, "", "2|2024-02-01"},
		{"append timestamp ambiguous", "id,t\n2,01/02/2024 10:11:12\n", usTS, "%m/%d/%Y %H:%M:%S", "2|2024-01-02 10:11:12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := conv(tc.data, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			if res.Schema[1].Format != tc.format {
				t.Errorf("format %q, want %q", res.Schema[1].Format, tc.format)
			}
			if got := dump(t, c, res); got != tc.values {
				t.Errorf("values %q, want %q", got, tc.values)
			}
		})
	}
	// The same past DuckDB's default line size (2 MB): the batch's formats
	// are sniffed again with the converter's.
	long := []Column{{Name: "d", Type: "DATE", Format: "%m/%d/%Y"}, {Name: "note", Type: "VARCHAR"}}
	res, err := conv("d,note\n01/02/2024,\""+strings.Repeat("x", 3<<20)+"\"\n", long)
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, c, res); !strings.HasPrefix(got, "2024-01-02|x") {
		t.Fatalf("long line: %.40q", got)
	}
	// A day-first batch whose days go past 12 cannot be the dataset's
	// month-first dates: refused with its line, not swapped.
	_, err = conv("id,d\n2,01/02/2024\n3,25/12/2024\n", us)
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "written %m/%d/%Y") {
		t.Fatalf("day-first append to a month-first dataset: %v", err)
	}
}

// TestJSONLAppend: a JSONL batch is read by name into the dataset's
// columns; types that differ are cast when no value changes, and refused
// with the line otherwise (ADR-023 "JSONL appends").
func TestJSONLAppend(t *testing.T) {
	c := newConv(t)
	schema := []Column{{Name: "id", Type: "BIGINT"}, {Name: "price", Type: "DOUBLE"}, {Name: "qty", Type: "DECIMAL(5,2)"},
		{Name: "day", Type: "DATE"}, {Name: "note", Type: "VARCHAR"}, {Name: "tags", Type: "VARCHAR[]"}}
	conv := func(data string) (*Result, error) {
		return c.Convert(context.Background(), Input{Path: write(t, "in.jsonl", []byte(data)), Format: JSONL, Schema: schema}, filepath.Join(t.TempDir(), "out"))
	}
	for _, tc := range []struct{ name, data, values string }{
		{"same types", `{"id":1,"price":1.5,"qty":2.25,"day":"2024-01-02","note":"a","tags":["x"]}` + "\n", "1|1.5|2.25|2024-01-02|a|[x]"},
		{"int in a double", `{"id":1,"price":3,"qty":2,"day":"2024-01-02","note":"a","tags":["x"]}` + "\n", "1|3.0|2.00|2024-01-02|a|[x]"},
		{"keys in another order", `{"note":"a","tags":[],"day":"2024-01-02","qty":1.5,"price":2.5,"id":7}` + "\n", "7|2.5|1.50|2024-01-02|a|[]"},
		{"missing keys", `{"id":1}` + "\n" + `{"id":2,"note":"b"}` + "\n", "1|NULL|NULL|NULL|NULL|NULL;2|NULL|NULL|NULL|b|NULL"},
		{"null-only field", `{"id":1,"price":null,"note":null,"tags":null}` + "\n", "1|NULL|NULL|NULL|NULL|NULL"},
		{"whole double into bigint", `{"id":7.0}` + "\n", "7|NULL|NULL|NULL|NULL|NULL"},
		{"late exponent into bigint", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":1e2,"price":null}` + "\n", ""},
		{"late key of the dataset", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":2,"note":"late"}` + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := conv(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != "id BIGINT,price DOUBLE,qty DECIMAL(5,2),day DATE,note VARCHAR,tags VARCHAR[]" {
				t.Fatalf("schema %v", sch)
			}
			if got := dump(t, c, res); tc.values != "" && got != tc.values {
				t.Fatalf("values %q, want %q", got, tc.values)
			}
		})
	}
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"fraction into bigint", `{"id":1}` + "\n" + `{"id":7.5}` + "\n", []string{"line 2", `column "id" (1)`, `value "7.5" is not a whole number`}},
		{"late fraction into bigint", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":7.5}` + "\n", []string{"line 30001", `column "id" (1)`, `value "7.5" is not a whole number`}},
		{"late text into bigint", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":"x"}` + "\n", []string{"line 30001", `column "id" (1)`, `value "x" is not a BIGINT`}},
		{"late boolean into bigint", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":true}` + "\n", []string{"line 30001", `column "id" (1)`, `value true is not a BIGINT`}},
		{"late key not in the dataset", strings.Repeat(`{"id":1}`+"\n", 30000) + `{"id":2,"colour":"red"}` + "\n", []string{`column "colour" is not in the dataset`}},
		{"too many decimals", `{"id":1,"qty":1.005}` + "\n", []string{"line 1", `column "qty" (3)`, "more decimal places"}},
		{"decimal exponent precision", `{"id":1,"qty":7768.43000E6}` + "\n", []string{"line 1", `column "qty" (3)`, "out of range for DECIMAL(5,2)"}},
		{"decimal exponent precision mixed kinds", `{"id":1,"qty":9.990000E3}` + "\n" + `{"id":2,"qty":"x"}` + "\n", []string{"line 1", `column "qty" (3)`, "out of range for DECIMAL(5,2)"}},
		{"big int into double", `{"id":1,"price":1152921504606846977}` + "\n", []string{"line 1", `column "price" (2)`, "cannot be stored exactly as DOUBLE"}},
		{"out of range", `{"id":1e30}` + "\n", []string{`column "id" (1)`, "out of range for BIGINT"}},
		{"not a date", `{"id":1,"day":"2024-13-45"}` + "\n", []string{"line 1", `column "day" (4)`, `value "2024-13-45" is not a valid DATE`}},
		{"mixed types", `{"id":1,"note":"a"}` + "\n" + `{"id":2,"note":5}` + "\n", []string{"line 2", `column "note" (5)`, "value 5 is not a VARCHAR"}},
		{"mixed types in a number", `{"id":1,"price":2.5}` + "\n" + `{"id":2,"price":"n/a"}` + "\n", []string{"line 2", `column "price" (2)`, `value "n/a" is not a DOUBLE`}},
		{"unknown key", `{"id":1,"colour":"red"}` + "\n", []string{`column "colour" is not in the dataset`}},
		{"case variant", `{"ID":1}` + "\n", []string{`column "ID" is spelled "id" in the dataset`}},
		{"text into a number", `{"id":"7"}` + "\n", []string{`column "id" is VARCHAR, the dataset has BIGINT`}},
		{"list of numbers into text list", `{"id":1,"tags":[1,2]}` + "\n", []string{`column "tags" is BIGINT[], the dataset has VARCHAR[]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conv(tc.data)
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("want invalid, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err.Error(), w)
				}
			}
		})
	}
}

// TestJSONLNestedLateAppend: a fraction after DuckDB's sample inside an
// object or list of a dataset's integer field is refused, never rounded
// into the dataset (the batch alone sniffed STRUCT(x BIGINT) and stored 8).
func TestJSONLNestedLateAppend(t *testing.T) {
	c := newConv(t)
	schema := []Column{{Name: "a", Type: "STRUCT(x BIGINT)"}, {Name: "l", Type: "BIGINT[]"}}
	head := strings.Repeat(`{"a":{"x":1},"l":[1]}`+"\n", 30000)
	for _, tail := range []string{`{"a":{"x":7.5},"l":[1]}`, `{"a":{"x":1},"l":[1,2.5]}`} {
		res, err := c.Convert(context.Background(), Input{Path: write(t, "in.jsonl", []byte(head+tail+"\n")), Format: JSONL, Schema: schema}, filepath.Join(t.TempDir(), "out"))
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "DOUBLE") {
			t.Fatalf("%s: want a refusal naming DOUBLE, got %v (%+v)", tail, err, res)
		}
	}
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.jsonl", []byte(head+`{"a":{"x":7},"l":[2]}`+"\n")), Format: JSONL, Schema: schema}, filepath.Join(t.TempDir(), "out"))
	if err != nil || res.Rows != 30001 {
		t.Fatalf("whole numbers: %v", err)
	}
}

// TestLateZoneInstant: a zoned value after DuckDB's sample makes a created
// TIMESTAMP column TIMESTAMP WITH TIME ZONE and keeps the instant written
// (it was stored as 10:00, the offset dropped).
func TestLateZoneInstant(t *testing.T) {
	c := newConv(t)
	data := "id,ts\n" + strings.Repeat("1,2024-01-01 10:00:00\n", 30000) + "2,2024-01-01 10:00:00+05:00\n"
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(data)), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range res.Files {
		files = append(files, sqlString(f.Path))
	}
	var got string
	if err := c.db.QueryRow("SELECT epoch(ts)::BIGINT::VARCHAR FROM read_parquet([" + strings.Join(files, ", ") + "]) WHERE id = 2").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if res.Schema[1].Type != "TIMESTAMP WITH TIME ZONE" || got != "1704085200" { // 2024-01-01T05:00:00Z
		t.Fatalf("%v: %s", res.Schema, got)
	}
}

// TestHostTimeZoneIgnored: the converter reads zone-less values in UTC
// whatever the host's TZ (under TZ=America/New_York a TIMESTAMP append of
// "-0044-01-01 10:00:00" was refused as carrying a zone offset).
func TestHostTimeZoneIgnored(t *testing.T) {
	t.Setenv("TZ", "America/New_York")
	c := newConv(t)
	var tz string
	if err := c.db.QueryRow("SELECT current_setting('TimeZone')").Scan(&tz); err != nil || tz != "UTC" {
		t.Fatalf("TimeZone %q (%v)", tz, err)
	}
	schema := []Column{{Name: "id", Type: "BIGINT"}, {Name: "ts", Type: "TIMESTAMP"}}
	if _, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte("id,ts\n1,-0044-01-01 10:00:00\n2,2024-01-01 10:00:00\n")), Format: CSV, Schema: schema}, filepath.Join(t.TempDir(), "out")); err != nil {
		t.Fatal(err)
	}
}

// TestExactBigNumbers: integers a DOUBLE would round keep their digits in a
// created dataset (DECIMAL(38,s)), read back through DuckDB from the
// stored Parquet; no exact type for the column is a located 400 (ADR-023
// "Exact big numbers").
func TestExactBigNumbers(t *testing.T) {
	c := newConv(t)
	late := func(v string) string { return "id,v\n" + strings.Repeat("1,2\n", 30000) + "2," + v + "\n" }
	for _, tc := range []struct {
		name, format, data, schema, values string
	}{
		{"csv past bigint", CSV, "id,v\n1,12345678901234567891\n2,5\n3,\n", "id BIGINT,v DECIMAL(38,0)", "1|12345678901234567891;2|5;3|NULL"},
		{"csv ubigint max", CSV, "v\n18446744073709551615\n-1\n", "v DECIMAL(38,0)", "18446744073709551615;-1"},
		{"csv 38 digits", CSV, "v\n-99999999999999999999999999999999999999\n", "v DECIMAL(38,0)", "-99999999999999999999999999999999999999"},
		{"csv with fractions", CSV, "v\n12345678901234567891\n1.5\n-0.25\n", "v DECIMAL(38,2)", "12345678901234567891.00;1.50;-0.25"},
		{"csv late past bigint", CSV, late("12345678901234567891"), "id BIGINT,v DECIMAL(38,0)", ""},
		{"csv quoted header with a blank at the end", CSV, "\"id\",\"v\" \n1,12345678901234567891\n2,1.5\n", "id BIGINT,v DECIMAL(38,1)", "1|12345678901234567891.0;2|1.5"},
		{"csv exponent past bigint", CSV, "v\n1.2345678901234567891e19\n", "v DECIMAL(38,0)", "12345678901234567891"},
		{"csv big and exact stays double", CSV, "v\n1e20\n1.5\n", "v DOUBLE", "1e+20;1.5"},
		{"csv 2^53 and a fraction stays double", CSV, "v\n9007199254740992\n1.5\n", "v DOUBLE", "9007199254740992.0;1.5"},
		{"csv 2^53+1 and a fraction", CSV, "v\n9007199254740993\n1.5\n", "v DECIMAL(38,1)", "9007199254740993.0;1.5"},
		{"jsonl past ubigint", JSONL, `{"v":18446744073709551616}` + "\n" + `{"v":1}` + "\n", "v DECIMAL(38,0)", "18446744073709551616;1"},
		{"jsonl ubigint max", JSONL, `{"v":18446744073709551615}` + "\n" + `{"v":1}` + "\n", "v DECIMAL(38,0)", "18446744073709551615;1"},
		{"jsonl bigint boundary", JSONL, `{"v":9223372036854775808}` + "\n" + `{"v":-9223372036854775808}` + "\n", "v DECIMAL(38,0)", "9223372036854775808;-9223372036854775808"},
		{"jsonl nested hugeint", JSONL, `{"s":{"x":18446744073709551615},"l":[-1,18446744073709551615]}` + "\n", "s STRUCT(x DECIMAL(38,0)),l DECIMAL(38,0)[]", "{'x': 18446744073709551615}|[-1, 18446744073709551615]"},
		{"jsonl with fractions", JSONL, `{"v":18446744073709551617,"w":"a"}` + "\n" + `{"v":1.5,"w":"b"}` + "\n", "v DECIMAL(38,1),w VARCHAR", "18446744073709551617.0|a;1.5|b"},
		{"jsonl late past bigint", JSONL, strings.Repeat(`{"v":1}`+"\n", 30000) + `{"v":9223372036854775808}` + "\n", "v DECIMAL(38,0)", ""},
		{"jsonl late key kept", JSONL, strings.Repeat(`{"v":1.5}`+"\n", 30000) + `{"v":18446744073709551617,"w":"late"}` + "\n", "v DECIMAL(38,1),w VARCHAR", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format}, filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != tc.schema {
				t.Fatalf("schema %v, want %s", sch, tc.schema)
			}
			if got := dump(t, c, res); tc.values != "" && got != tc.values {
				t.Fatalf("values %q, want %q", got, tc.values)
			}
		})
	}
	// The late value itself, read back.
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(late("12345678901234567891"))), Format: CSV}, filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := c.db.QueryRow("SELECT v::VARCHAR FROM read_parquet(" + sqlString(res.Files[len(res.Files)-1].Path) + ") WHERE id = 2").Scan(&got); err != nil || got != "12345678901234567891" {
		t.Fatalf("late value %q (%v)", got, err)
	}
	// Appends into such a dataset keep the digits too, or are refused.
	dec := []Column{{Name: "id", Type: "BIGINT"}, {Name: "v", Type: "DECIMAL(38,0)"}}
	for _, tc := range []struct{ name, format, data, values string }{
		{"csv append", CSV, "id,v\n1,12345678901234567891\n2,-99999999999999999999999999999999999999\n", "1|12345678901234567891;2|-99999999999999999999999999999999999999"},
		{"jsonl append past ubigint", JSONL, `{"id":1,"v":18446744073709551617}` + "\n" + `{"id":2,"v":3}` + "\n", "1|18446744073709551617;2|3"},
		{"jsonl append hugeint", JSONL, `{"id":1,"v":18446744073709551615}` + "\n" + `{"id":2,"v":-1}` + "\n", "1|18446744073709551615;2|-1"},
		{"jsonl append whole exponent", JSONL, `{"id":1,"v":18446744073709551617}` + "\n" + `{"id":2,"v":1e20}` + "\n", "1|18446744073709551617;2|100000000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format, Schema: dec}, filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(t, c, res); got != tc.values {
				t.Fatalf("values %q, want %q", got, tc.values)
			}
		})
	}
	for _, tc := range []struct {
		name, format, data string
		schema             []Column
		want               []string
	}{
		{"jsonl append fraction", JSONL, `{"id":1,"v":18446744073709551617}` + "\n" + `{"id":2,"v":18446744073709551617.5}` + "\n", dec, []string{"line 2", `column "v" (2)`, `value "18446744073709551617.5" cannot be stored exactly as DECIMAL(38,0)`}},
		{"jsonl append past bigint", JSONL, `{"id":1,"v":18446744073709551617}` + "\n", []Column{{Name: "id", Type: "BIGINT"}, {Name: "v", Type: "BIGINT"}}, []string{"line 1", `column "v" (2)`, "out of range for BIGINT"}},
		{"csv append past decimal", CSV, "id,v\n1,123456789012345678901234567890123456789\n", dec, []string{"line 2", `column "v" (2)`, "out of range for DECIMAL(38,0)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format, Schema: tc.schema}, filepath.Join(t.TempDir(), "out"))
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("want invalid, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.Message(err), w) {
					t.Errorf("message %q lacks %q", errs.Message(err), w)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, format, data string
		want               []string
	}{
		{"jsonl big fraction", JSONL, `{"v":12345678901234567891.5}` + "\n", []string{"line 1", `value "12345678901234567891.5" cannot be stored exactly`, "17 significant digits"}},
		{"csv with inf", CSV, "v\n12345678901234567891\ninf\n", []string{"line 2", `column "v" (1)`, `value "12345678901234567891" cannot be stored exactly`, "1.2345678901234567e+19", `line 3 has "inf"`}},
		{"csv past 38 digits", CSV, "v\n12345678901234567891\n0.1234567890123456789\n", []string{"line 2", `value "12345678901234567891"`, "20 integer digits and 19 decimals"}},
		{"jsonl past 38 digits", JSONL, `{"v":123456789012345678901234567890123456789}` + "\n", []string{"line 1", `column "v" (1)`, "39 integer digits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format}, out)
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("want invalid, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.Message(err), w) {
					t.Errorf("message %q lacks %q", errs.Message(err), w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output left behind")
			}
		})
	}
}

// TestSubMicroseconds: digits past the microsecond are never cut. A
// created column holding them is TIMESTAMP_NS; an append into a TIMESTAMP
// column is refused with the line (ADR-023 "Exact big numbers").
func TestSubMicroseconds(t *testing.T) {
	c := newConv(t)
	ts := []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMP"}}
	ns := []Column{{Name: "id", Type: "BIGINT"}, {Name: "t", Type: "TIMESTAMP_NS"}}
	for _, tc := range []struct {
		name, data string
		in         []Column
		schema     string
		values     string
	}{
		{"create", "id,t\n1,2024-01-01 10:00:00.123456789\n2,2024-01-01 10:00:00\n", nil, "id BIGINT,t TIMESTAMP_NS", "1|2024-01-01 10:00:00.123456789;2|2024-01-01 10:00:00"},
		{"create late", "id,t\n" + strings.Repeat("1,2024-01-01 10:00:00.5\n", 30000) + "2,2024-01-01T10:00:00.000000001\n", nil, "id BIGINT,t TIMESTAMP_NS", ""},
		{"create zeros past micros", "id,t\n1,2024-01-01 10:00:00.123456000\n", nil, "id BIGINT,t TIMESTAMP", "1|2024-01-01 10:00:00.123456"},
		{"append zeros past micros", "id,t\n1,2024-01-01 10:00:00.1234560\n", ts, "id BIGINT,t TIMESTAMP", "1|2024-01-01 10:00:00.123456"},
		{"append into TIMESTAMP_NS", "id,t\n1,2024-01-01 10:00:00.123456789\n2,2024-01-01T10:00:00Z\n", ns, "id BIGINT,t TIMESTAMP_NS", "1|2024-01-01 10:00:00.123456789;2|2024-01-01 10:00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(tc.data)), Format: CSV, Schema: tc.in}, filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != tc.schema {
				t.Fatalf("schema %v, want %s", sch, tc.schema)
			}
			if got := dump(t, c, res); tc.values != "" && got != tc.values {
				t.Fatalf("values %q, want %q", got, tc.values)
			}
		})
	}
	for _, tc := range []struct {
		name, data string
		in         []Column
		want       []string
	}{
		{"append into TIMESTAMP", "id,t\n1,2024-01-01 10:00:00.5\n2,2024-01-01 10:00:00.123456789\n", ts, []string{"line 3", `column "t" (2)`, `value "2024-01-01 10:00:00.123456789" has more fractional second digits than TIMESTAMP holds (microseconds`}},
		{"append past nanos", "id,t\n1,2024-01-01 10:00:00.1234567891\n", ns, []string{"line 2", "than TIMESTAMP_NS holds (nanoseconds"}},
		{"create past nanos", "id,t\n1,2024-01-01 10:00:00.1234567891\n", nil, []string{"line 2", `column "t" (2)`, "than TIMESTAMP_NS holds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(tc.data)), Format: CSV, Schema: tc.in}, filepath.Join(t.TempDir(), "out"))
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("want invalid, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.Message(err), w) {
					t.Errorf("message %q lacks %q", errs.Message(err), w)
				}
			}
		})
	}
}

// TestFormatsSniffedOnce: a CSV create with a date column sniffed the
// sample's date formats twice with the same options — once for the
// conversion's query, once for the formats it records — the second a
// repeat of the first. Now each line size and sample is sniffed once per
// conversion: a create read once sniffs once; one read again with every
// row sniffed sniffs once more (for that sample), and records the formats
// of the read that succeeded.
func TestFormatsSniffedOnce(t *testing.T) {
	c := newConv(t)
	for _, tc := range []struct {
		name, data string
		sniffs     int64
		format     string
	}{
		{"month first", "id,d\n1,12/25/2024\n2,01/02/2024\n", 1, "%m/%d/%Y"},
		{"iso", "id,d\n1,2024-12-25\n", 1, ""},
		{"late fraction, every row sniffed", "id,d\n" + strings.Repeat("1,12/25/2024\n", 30000) + "2.5,01/02/2024\n", 2, "%m/%d/%Y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.sniffs.Load()
			res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(tc.data)), Format: CSV}, filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			if n := c.sniffs.Load() - before; n != tc.sniffs {
				t.Errorf("sniff_csv ran %d times, want %d", n, tc.sniffs)
			}
			if res.Schema[1].Format != tc.format {
				t.Errorf("format %q, want %q", res.Schema[1].Format, tc.format)
			}
		})
	}
}
