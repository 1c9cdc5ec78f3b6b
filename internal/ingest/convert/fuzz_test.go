package convert

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

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
		"a\x00b,c\n1,2\n",
		"\"a\tb\",c\n1,2\n",
		"id\n7.5\n",
		"id\n7\n7.0\n",
		"a,b\n1.5,x\n1e400,y\n",
		"a,b\n1,x\n0x1e,y\n",
		"a\n-1e-400\n",
		"v\n12345678901234567891\n1.5\n",
		"v\n12345678901234567891\ninf\n",
		"v\n9007199254740993\n0.25\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := convertBytes(t, e, data, Input{Format: CSV})
		if res == nil {
			return
		}
		if len(res.Schema) == 0 || res.Rows < 0 {
			t.Fatalf("accepted %q with schema %v rows %d", data, res.Schema, res.Rows)
		}
		checkNames(t, data, res)
	})
}

// fuzzEnv is what a fuzz target's inputs share: the converter (one DuckDB
// per fuzzing process) and a directory each input writes its own files in,
// named by a counter and removed when the input ends (scratch). An input
// sees no file of another, so each reproduces alone; no directory is made
// and removed per input (t.TempDir's, 3-11% of an input's CPU). Most of
// an input's time is DuckDB planning the conversion's own SQL.
type fuzzEnv struct {
	c   *Converter
	dir string
	n   atomic.Int64
}

// fuzzConverter opens the converter and the directory a fuzz target's
// inputs share.
func fuzzConverter(f *testing.F) *fuzzEnv {
	dir := f.TempDir()
	c, err := Open(Options{TempDir: filepath.Join(dir, "duck"), Threads: 1, MemoryLimit: "256MB"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	return &fuzzEnv{c: c, dir: dir}
}

// scratch is a path for each of names, new to this input and removed
// (with what was written under it) when the input ends.
func (e *fuzzEnv) scratch(t *testing.T, names ...string) []string {
	n := e.n.Add(1)
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = filepath.Join(e.dir, fmt.Sprintf("%s-%d", name, n))
	}
	t.Cleanup(func() {
		for _, p := range paths {
			os.RemoveAll(p)
		}
	})
	return paths
}

// convertBytes converts data as in describes it (Path is set here): the
// result, or nil when it was refused — which must be as invalid or
// too_large, never another kind.
func convertBytes(t *testing.T, e *fuzzEnv, data []byte, in Input) *Result {
	t.Helper()
	p := e.scratch(t, "in", "out")
	in.Path = p[0]
	if err := os.WriteFile(in.Path, data, 0o600); err != nil {
		t.Skip()
	}
	res, err := e.c.Convert(context.Background(), in, p[1])
	if err != nil {
		if k := errs.KindOf(err); k != errs.Invalid && k != errs.TooLarge {
			t.Fatalf("bad %s %q got %s (%v), want invalid", in.Format, data, k, err)
		}
		return nil
	}
	return res
}

func checkNames(t *testing.T, data []byte, res *Result) {
	t.Helper()
	for _, col := range res.Schema {
		if col.Name == "" || strings.IndexFunc(col.Name, unicode.IsControl) >= 0 {
			t.Fatalf("accepted %q with column name %q", data, col.Name)
		}
	}
}

var reSimpleNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)

// appendCSV appends header+body to a dataset of schema and returns the
// CSV and, when it was accepted and Go's CSV reader reads it as DuckDB's
// did, its records after the header and the stored rows' values; else no
// records (no oracle).
func appendCSV(t *testing.T, e *fuzzEnv, header string, body []byte, schema []Column) (data []byte, recs, got [][]string) {
	data = append([]byte(header), body...)
	res := convertBytes(t, e, data, Input{Format: CSV, Schema: schema})
	if res == nil {
		return data, nil, nil
	}
	all, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil || int64(len(all)-1) != res.Rows {
		return data, nil, nil // Go's reader disagrees with DuckDB's on this input: no oracle
	}
	for _, row := range strings.Split(dump(t, e.c, res), ";") {
		got = append(got, strings.Split(row, "|"))
	}
	return data, all[1:], got
}

// FuzzAppendCSV: rows appended to a dataset (id BIGINT, d DECIMAL(6,2),
// t TINYINT, z TIMESTAMPTZ) are refused as invalid or stored exactly as
// written: a number in plain decimal notation is never rounded, and a
// value written in z is never stored as NULL.
func FuzzAppendCSV(f *testing.F) {
	for _, s := range []string{
		"1,1.5,7,2024-01-02 03:04:05+00\n",
		"7.5,1,1,\n",
		"7.0,1.50,1.0,2024-01-02\n",
		"1,1.005,1,2024-13-45 99:00:00+00\n",
		"1,1,128,x\n",
		"1,1,1,not a time\n",
		"1e2,1e-2,0x10,2024-01-02T03:04:05.123456-07:30\n",
		"9223372036854775807,9999.99,-128,infinity\n",
		"1,,,\n,2,3,\"\"\n",
		"\"2\",\"3.25\",\" 4 \",\" 2024-01-02 \"\n",
		"1.5e1,1234.5e-1,1e0,epoch\n",
		"1,7768.43000E2,1,\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	schema := []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DECIMAL(6,2)"}, {Name: "t", Type: "TINYINT"}, {Name: "z", Type: "TIMESTAMPTZ"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, recs, got := appendCSV(t, e, "id,d,t,z\n", body, schema)
		// Every plain number that was accepted is stored as written.
		for i, rec := range recs {
			vals := got[i]
			if len(rec) != 4 || len(vals) != 4 {
				return
			}
			if rec[3] != "" && vals[3] == "NULL" {
				t.Fatalf("%q: row %d: z %q stored as NULL", data, i+1, rec[3])
			}
			for j := range rec[:3] {
				if !reSimpleNumber.MatchString(rec[j]) {
					continue
				}
				want, ok1 := new(big.Rat).SetString(rec[j])
				have, ok2 := new(big.Rat).SetString(vals[j])
				if ok1 && ok2 && want.Cmp(have) != 0 {
					t.Fatalf("%q: row %d column %d: %q stored as %q", data, i+1, j+1, rec[j], vals[j])
				}
			}
		}
	})
}

// FuzzConvertJSONL: any bytes uploaded as JSONL become Parquet or are
// refused as invalid; accepted column names are never empty or hold
// control characters, and no object is lost or made up (checked against
// encoding/json's reading of the lines).
func FuzzConvertJSONL(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n",
		"{\"a\":1e400}\n",
		"{\"a\":1}\n{\"a\":-1e400}\n",
		"{\"\":1}\n",
		"{\"a\":{\"\":1}}\n",
		"[1,2,3]\n",
		"5\n",
		"\"x\"\n",
		"{\"a\\u0000b\":1}\n",
		"{\"a\":1}\n{\"A\":2}\n",
		"{\"C0\":1,\"a\":[1.5,2]}\n",
		"{\"a\":1}\nnull\n",
		"{a}\n",
		"{\"v\":18446744073709551615}\n{\"v\":-1}\n",
		"{\"v\":18446744073709551617}\n{\"v\":1.5}\n",
		"{\"v\":{\"x\":18446744073709551615}}\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := convertBytes(t, e, data, Input{Format: JSONL})
		if res == nil {
			return
		}
		checkNames(t, data, res)
		// When encoding/json reads every non-blank line as one object, the
		// upload holds that many rows: res.Rows says so, and so do the
		// Parquet files written.
		want, ok := jsonlObjects(data)
		if !ok {
			return
		}
		if res.Rows != want {
			t.Fatalf("%q: %d objects, converted as %d rows", data, want, res.Rows)
		}
		if got := parquetRows(t, e.c, res); got != want {
			t.Fatalf("%q: %d objects, %d rows in the Parquet files", data, want, got)
		}
	})
}

// jsonlObjects counts data's lines that are JSON objects for encoding/json;
// ok is false when a non-blank line is anything else.
func jsonlObjects(data []byte) (n int64, ok bool) {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Trim(line, " \t\r") == "" {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &obj) != nil || obj == nil {
			return 0, false
		}
		n++
	}
	return n, true
}

// parquetRows counts the rows of res's files as DuckDB reads them.
func parquetRows(t *testing.T, c *Converter, res *Result) int64 {
	t.Helper()
	if len(res.Files) == 0 {
		return 0
	}
	var files []string
	for _, f := range res.Files {
		files = append(files, sqlString(f.Path))
	}
	var n int64
	if err := c.db.QueryRow("SELECT count(*) FROM read_parquet([" + strings.Join(files, ", ") + "])").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var reUSDate = regexp.MustCompile(`^[0-9]{2}/[0-9]{2}/[0-9]{4}$`)

// FuzzAppendDates: rows appended to a dataset whose dates are written
// month first (d DATE, format %m/%d/%Y) are refused as invalid or stored
// as the dataset reads them: a value written MM/DD/YYYY is never stored
// with day and month swapped (ADR-023 "Date formats").
func FuzzAppendDates(f *testing.F) {
	for _, s := range []string{
		"1,01/02/2024\n",
		"1,01/02/2024\n2,03/04/2024\n",
		"1,12/25/2024\n",
		"1,25/12/2024\n",
		"1,2024-01-02\n",
		"1,01/02/2024\n2,2024-03-04\n",
		"1,\n2,02/03/2024\n",
		"1,\"01/02/2024\"\n",
		"1,1/2/2024\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	schema := []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE", Format: "%m/%d/%Y"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, recs, got := appendCSV(t, e, "id,d\n", body, schema)
		for i, rec := range recs {
			vals := got[i]
			if len(rec) != 2 || len(vals) != 2 || !reUSDate.MatchString(rec[1]) {
				continue
			}
			when, err := time.Parse("01/02/2006", rec[1])
			if err != nil {
				continue
			}
			want := when.Format("2006-01-02")
			if when.Year() <= 0 {
				// The same day as DuckDB prints it: year 0 of the
				// proleptic Gregorian calendar is 1 BC (ISO 8601's
				// astronomical year numbering).
				want = fmt.Sprintf("%04d-%s (BC)", 1-when.Year(), when.Format("01-02"))
			}
			if vals[1] != want {
				t.Fatalf("%q: row %d: %q stored as %s, want %s", data, i+1, rec[1], vals[1], want)
			}
		}
	})
}

// FuzzAppendJSONL: lines appended to a dataset (id BIGINT, price DOUBLE,
// note VARCHAR) are refused as invalid or stored as written: a number
// keeps its value (never rounded into BIGINT; a DOUBLE the nearest double),
// a string its text.
func FuzzAppendJSONL(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"price":2.5,"note":"a"}` + "\n",
		`{"note":"b","id":2}` + "\n",
		`{"id":3,"price":3}` + "\n" + `{"id":4,"price":null}` + "\n",
		`{"id":7.5}` + "\n",
		`{"id":1,"price":1152921504606846977}` + "\n",
		`{"id":1,"note":5}` + "\n",
		`{"id":1,"colour":"red"}` + "\n",
		`{"ID":1}` + "\n",
		`{"id":"7"}` + "\n",
		`{"id":1e30}` + "\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	schema := []Column{{Name: "id", Type: "BIGINT"}, {Name: "price", Type: "DOUBLE"}, {Name: "note", Type: "VARCHAR"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := convertBytes(t, e, data, Input{Format: JSONL, Schema: schema})
		if res == nil {
			return
		}
		var objs []map[string]json.RawMessage
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var o map[string]json.RawMessage
			if json.Unmarshal([]byte(line), &o) != nil {
				return // Go's reader disagrees with DuckDB's: no oracle
			}
			objs = append(objs, o)
		}
		got := strings.Split(dump(t, e.c, res), ";")
		if len(got) != len(objs) {
			return
		}
		for i, o := range objs {
			vals := strings.Split(got[i], "|")
			if len(vals) != 3 {
				return
			}
			for j, name := range []string{"id", "price"} {
				raw, ok := o[name]
				if !ok || string(raw) == "null" || vals[j] == "NULL" {
					continue
				}
				if name == "price" { // a DOUBLE holds the nearest double
					want, err1 := strconv.ParseFloat(string(raw), 64)
					have, err2 := strconv.ParseFloat(vals[j], 64)
					if err1 == nil && err2 == nil && want != have {
						t.Fatalf("%q: line %d: price %s stored as %s", data, i+1, raw, vals[j])
					}
					continue
				}
				want, ok1 := new(big.Rat).SetString(string(raw))
				have, ok2 := new(big.Rat).SetString(vals[j])
				if ok1 && ok2 && want.Cmp(have) != 0 {
					t.Fatalf("%q: line %d: %s %s stored as %s", data, i+1, name, raw, vals[j])
				}
			}
			var note string
			if raw, ok := o["note"]; ok && json.Unmarshal(raw, &note) == nil && !strings.Contains(note, "|") && !strings.Contains(note, ";") && vals[2] != note {
				t.Fatalf("%q: line %d: note %q stored as %q", data, i+1, note, vals[2])
			}
		}
	})
}

var (
	reOffset   = regexp.MustCompile(`[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]*)?)?\s*([+-])([0-9]{2}):?([0-9]{2})?\s*$`)
	reIntList  = regexp.MustCompile(`^\[(-?[0-9]+(\.[0-9]+)?(, ?-?[0-9]+(\.[0-9]+)?)*)\]$`)
	reDateTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]([0-9]{2}):([0-9]{2})`)
)

// FuzzAppendTemporalNested: rows appended to a dataset (ts TIMESTAMP,
// d DATE, li INTEGER[]) are refused as invalid or stored as written: a
// timestamp with a non-zero offset is never stored (its instant would
// change), a date never loses a time of day other than midnight, and a
// list of plain numbers keeps every number.
func FuzzAppendTemporalNested(f *testing.F) {
	for _, s := range []string{
		"2024-01-01 10:00:00,2024-01-01,\"[1,2]\"\n",
		"2024-01-01 10:00:00+05:00,2024-01-01,[1]\n",
		"2024-01-01T10:00:00Z,2024-01-01 00:00:00,\"[1,2.5]\"\n",
		"2024-01-01 10:00:00-01:30,2024-01-01 23:59:59+09,[]\n",
		"2024-01-01 10:00:00 UTC,2024-01-01T12:00:00,\"[7.0, 1e2]\"\n",
		",,\n",
		"2024-01-01 10:00:00.123456789,2024-01-01,[1]\n",
		"2024-01-01T10:00:00.1234560Z,2024-01-01,[1]\n",
	} {
		f.Add([]byte(s))
	}
	e := fuzzConverter(f)
	schema := []Column{{Name: "ts", Type: "TIMESTAMP"}, {Name: "d", Type: "DATE"}, {Name: "li", Type: "INTEGER[]"}}
	reCut := regexp.MustCompile(`\.[0-9]{6}[0-9]*[1-9]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		data, recs, got := appendCSV(t, e, "ts,d,li\n", body, schema)
		for i, rec := range recs {
			vals := got[i]
			if len(rec) != 3 || len(vals) != 3 {
				return
			}
			if m := reOffset.FindStringSubmatch(rec[0]); m != nil && strings.Trim(m[2]+m[3], "0") != "" {
				t.Fatalf("%q: row %d: ts %q stored as %s (offset dropped)", data, i+1, rec[0], vals[0])
			}
			if reCut.MatchString(rec[0]) {
				t.Fatalf("%q: row %d: ts %q stored as %s (sub-microsecond digits cut)", data, i+1, rec[0], vals[0])
			}
			if m := reDateTime.FindStringSubmatch(rec[1]); m != nil && m[1]+m[2] != "0000" {
				t.Fatalf("%q: row %d: d %q stored as %s (time dropped)", data, i+1, rec[1], vals[1])
			}
			if m := reIntList.FindStringSubmatch(rec[2]); m != nil {
				want := strings.Split(strings.ReplaceAll(m[1], " ", ""), ",")
				have := strings.Split(strings.ReplaceAll(strings.Trim(vals[2], "[]"), " ", ""), ",")
				if len(want) != len(have) {
					t.Fatalf("%q: row %d: li %q stored as %s", data, i+1, rec[2], vals[2])
				}
				for k := range want {
					w, ok1 := new(big.Rat).SetString(want[k])
					h, ok2 := new(big.Rat).SetString(have[k])
					if !ok1 || !ok2 || w.Cmp(h) != 0 {
						t.Fatalf("%q: row %d: li %q stored as %s", data, i+1, rec[2], vals[2])
					}
				}
			}
		}
	})
}

// FuzzCSVHeader: a header ingestd accepts has exactly the column names
// DuckDB's reader gives the same file (ADR-023) — ingestd may refuse a
// header DuckDB reads, never name its columns otherwise. Each accepted
// line is read by DuckDB with two data rows after it: the line itself,
// and a 1 for each of ingestd's names.
func FuzzCSVHeader(f *testing.F) {
	for _, s := range []string{
		// The reverted DuckDB-exact parse's seeds (576dc27).
		`"id", "name"`,
		`"id",  "name"`,
		`"id" , "name"  `,
		` "id","name"`,
		`id, name`,
		`"a""b", "c d"`,
		`a,"b" "c"`,
		`a,"b"x`,
		`a, "b`,
		`x"id", name`,
		"\"\u00a0id\u3000\",b",
		"\u00a0\"a\",b",
		"\u2028a\u2029,\u200bb\u200b,\u1680c\u205f,\ufeffd\u202f",
		"a,\u0085e\u000b",
		"\"\u2028a\u2029\",\" \u200bb\u2000\"",
		"a\t \"b\"\t\"c\"",
		`a; "b";c`,
		`a| "b" |c`,
		`"id"\t,b`,
		// What that parse named differently from DuckDB (a " e, a ").
		`"a" "" "e"`,
		`"a" "" ""`,
		// Blanks around quotes and delimiters.
		`"id" ,"name"`,
		`"id"     ,b`,
		`"a" ,"b" `,
		`  "id","name"`,
		`id ,name`,
		` id , name `,
		`id,  name`,
		"\"id\",\t\"name\"",
		"id,\tname",
		"id\t,name",
		"\"id\"\t,\"name\"",
		"\ufeff \"a\",b",
		"\ufeff\"a\",b",
		`" a ",b`,
		`" ",b`,
		` "",b`,
		`a"b,c`,
		`"a,b",c`,
		"a\tb\t \"c\"",
		"a,b\r",
		"\"a\"\r,b",
		"#a,b",
	} {
		f.Add(s)
	}
	e := fuzzConverter(f)
	// headerTokens spells a line from the characters a header's structure
	// is made of, one for each byte of the input (random bytes rarely
	// combine quotes, blanks and delimiters).
	tokens := []string{`"`, `"`, `"`, " ", " ", " ", ",", ",", "a", "b", "\t", ";", "\u00a0", "\u3000", "\u2028", "\r"}
	headerTokens := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteString(tokens[s[i]%byte(len(tokens))])
		}
		return b.String()
	}
	check := func(t *testing.T, line string) {
		path := e.scratch(t, "in.csv")[0]
		if err := os.WriteFile(path, []byte(line+"\n"+line+"\n"), 0o600); err != nil {
			t.Skip()
		}
		h, err := readCSVHeader(path, defaultMaxLine)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v (%s), want invalid", line, err, errs.KindOf(err))
			}
			return // refused: allowed
		}
		ones := strings.TrimSuffix(strings.Repeat("1"+string(h.delim), len(h.names)), string(h.delim))
		for _, data := range []string{line, ones} {
			if err := os.WriteFile(path, []byte(line+"\n"+data+"\n"), 0o600); err != nil {
				t.Skip()
			}
			cols, err := e.c.describe(context.Background(), e.c.csvReader(path, &csvHeader{delim: h.delim}, nil, nil, defaultMaxLine, false))
			if err != nil {
				continue // DuckDB refuses the file: so does the conversion
			}
			var duck []string
			for _, col := range cols {
				duck = append(duck, col.Name)
			}
			if strings.Join(h.names, "\x00") != strings.Join(duck, "\x00") || len(h.names) != len(duck) {
				t.Fatalf("header %q, data row %q: ingestd reads names %q, DuckDB %q", line, data, h.names, duck)
			}
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.Contains(line, "\n") || len(line) > 200 {
			t.Skip()
		}
		check(t, line)
		check(t, headerTokens(line))
	})
}
