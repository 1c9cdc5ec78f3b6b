package catalog

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

var updateTestdata = flag.Bool("update", false, "rewrite testdata/*.parquet with DuckDB")

// testdataFiles are the real Parquet files of testdata/, made by DuckDB
// (go test -run TestParquetTestdata -update ./internal/catalog).
var testdataFiles = []struct{ name, sql string }{
	{"simple.parquet", `COPY (SELECT range::BIGINT AS id, 'name-' || range AS name FROM range(3)) TO '%s' (FORMAT parquet)`},
	{"types.parquet", `COPY (SELECT 1::TINYINT a, 2::UTINYINT b, 1.5::FLOAT e, 1.25::DECIMAL(18,3) f, 'x'::BLOB h, DATE '2020-01-01' i,
		TIME '01:02:03' j, TIMESTAMP '2020-01-01' k, '2020-01-01'::TIMESTAMP_NS l, '2020-01-01'::TIMESTAMPTZ o, '01:02:03+01'::TIMETZ p,
		INTERVAL 1 DAY q, '00000000-0000-0000-0000-000000000001'::UUID r, '{"a":1}'::JSON s, [1, 2] t, [[1], [2]] u,
		{'a': 1, 'b c': 'x', 'select': [2]} v, MAP {'k': 1} w, [{'z': [1]}] z, true "Mixed Case", range AS n
		FROM range(4)) TO '%s' (FORMAT parquet, COMPRESSION zstd)`},
	{"groups.parquet", `COPY (SELECT range AS id, range % 7 AS m FROM range(5000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`},
	{"empty.parquet", `COPY (SELECT 1::INTEGER AS a, 'x' AS b WHERE false) TO '%s' (FORMAT parquet)`},
}

func duckDB(t testing.TB) *sql.DB {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestParquetTestdata: the parser agrees with DuckDB on every testdata file
// (rows, top-level column names), and on the nested file's many types.
func TestParquetTestdata(t *testing.T) {
	db := duckDB(t)
	for _, tf := range testdataFiles {
		t.Run(tf.name, func(t *testing.T) {
			path := filepath.Join("testdata", tf.name)
			if *updateTestdata {
				if _, err := db.Exec(strings.Replace(tf.sql, "%s", path, 1)); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseFile(b)
			if err != nil {
				t.Fatalf("parseFile: %v", err)
			}
			var rows int64
			if err := db.QueryRow("SELECT count(*) FROM read_parquet('" + path + "')").Scan(&rows); err != nil {
				t.Fatal(err)
			}
			var names []string
			res, err := db.Query("DESCRIBE SELECT * FROM read_parquet('" + path + "')")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			for res.Next() {
				var name, typ string
				var a, b2, c, d any
				if err := res.Scan(&name, &typ, &a, &b2, &c, &d); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
				if err := ValidateType(typ); err != nil {
					t.Errorf("DuckDB's type %q of %q: %v", typ, name, err)
				}
			}
			if got.NumRows != rows || !slices.Equal(got.Columns, names) {
				t.Fatalf("parsed %d rows %q, DuckDB says %d rows %q", got.NumRows, got.Columns, rows, names)
			}
			if ok, why := refAccepts(b); !ok {
				t.Fatalf("the reference decoder refuses it: %s", why)
			}
		})
	}
}

// tw writes Thrift compact protocol, for crafted footers.
type tw struct{ b []byte }

func (w *tw) uv(v uint64) *tw { w.b = binary.AppendUvarint(w.b, v); return w }
func (w *tw) zz(v int64) *tw  { return w.uv(uint64(v<<1) ^ uint64(v>>63)) }
func (w *tw) field(delta int, typ byte) *tw {
	w.b = append(w.b, byte(delta<<4)|typ)
	return w
}
func (w *tw) str(s string) *tw { w.uv(uint64(len(s))); w.b = append(w.b, s...); return w }
func (w *tw) list(n int, elem byte) *tw {
	if n < 15 {
		w.b = append(w.b, byte(n<<4)|elem)
		return w
	}
	w.b = append(w.b, 0xf0|elem)
	return w.uv(uint64(n))
}
func (w *tw) stop() *tw { w.b = append(w.b, 0); return w }

// elem is one SchemaElement: a name and, for groups, num_children (-1: absent).
type elem struct {
	name     string
	children int
}

// footer builds a FileMetaData: version 1, schema, num_rows, row groups.
func footer(schema []elem, rows int64, groups []int64) []byte {
	w := &tw{}
	w.field(1, ctI32).zz(1)
	w.field(1, ctList).list(len(schema), ctStruct)
	for _, e := range schema {
		w.field(4, ctBinary).str(e.name)
		if e.children != -1 {
			w.field(1, ctI32).zz(int64(e.children))
		}
		w.stop()
	}
	w.field(1, ctI64).zz(rows)
	w.field(1, ctList).list(len(groups), ctStruct)
	for _, g := range groups {
		w.field(1, ctList).list(0, ctStruct) // columns
		w.field(1, ctI64).zz(0)              // total_byte_size
		w.field(1, ctI64).zz(g)              // num_rows
		w.stop()
	}
	w.stop()
	return w.b
}

// file wraps a footer into a Parquet file (with a few bytes of "data").
func file(foot []byte) []byte {
	b := append([]byte(parquetMagic), "data"...)
	b = append(b, foot...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(foot)))
	return append(b, parquetMagic...)
}

var flat = []elem{{"duckdb_schema", 2}, {"id", -1}, {"name", -1}}

func TestParseFile(t *testing.T) {
	// Nested: a struct column s{a, l list{element}} between id and z.
	nested := []elem{{"root", 3}, {"id", -1}, {"s", 2}, {"a", -1}, {"l", 1}, {"list", 1}, {"element", -1}, {"z", -1}}
	good := []struct {
		name  string
		b     []byte
		rows  int64
		names []string
	}{
		{"flat", file(footer(flat, 5, []int64{2, 3})), 5, []string{"id", "name"}},
		{"nested", file(footer(nested, 0, nil)), 0, []string{"id", "s", "z"}},
		{"group with 0 children", file(footer([]elem{{"r", 2}, {"g", 0}, {"x", -1}}, 1, []int64{1})), 1, []string{"g", "x"}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFile(tc.b)
			if err != nil || f.NumRows != tc.rows || !slices.Equal(f.Columns, tc.names) {
				t.Fatalf("= %+v, %v; want %d %q", f, err, tc.rows, tc.names)
			}
			if ok, why := refAccepts(tc.b); !ok {
				t.Fatalf("reference refuses: %s", why)
			}
		})
	}

	ok := footer(flat, 5, []int64{5})
	deep := &tw{}
	deep.field(5, ctList) // unknown field 5 of FileMetaData: lists nested 40 deep
	for i := 0; i < 40; i++ {
		deep.list(1, ctList)
	}
	deep.list(0, ctI32)
	bad := []struct {
		name string
		b    []byte
		want string
	}{
		{"text", []byte("hello"), "too small"},
		{"no head magic", append([]byte("PAR0"), file(ok)[4:]...), "does not start with"},
		{"no tail magic", append(file(ok)[:len(file(ok))-4], "PAR0"...), "does not end with"},
		{"encrypted footer", append(file(ok)[:len(file(ok))-4], "PARE"...), "encrypted"},
		{"footer length 0", append([]byte("PAR1PAR1"), 0, 0, 0, 0, 'P', 'A', 'R', '1'), "footer length is 0"},
		{"footer length huge", append([]byte("PAR1xxxx"), 0xff, 0xff, 0xff, 0xff, 'P', 'A', 'R', '1'), "over the limit"},
		{"footer longer than file", append([]byte("PAR1xxxx"), 0x00, 0x01, 0x00, 0x00, 'P', 'A', 'R', '1'), "does not fit"},
		{"truncated footer", file(ok[:len(ok)-1]), "ends in the middle"},
		{"trailing bytes", file(append(append([]byte{}, ok...), 0)), "follow the FileMetaData"},
		{"rows differ from groups", file(footer(flat, 5, []int64{2})), "row groups hold 2"},
		{"negative rows", file(footer(flat, -1, nil)), "negative"},
		{"root children too many", file(footer([]elem{{"r", 3}, {"a", -1}}, 0, nil)), "need more elements"},
		{"extra elements", file(footer([]elem{{"r", 1}, {"a", -1}, {"b", -1}}, 0, nil)), "columns end at element"},
		{"group overruns", file(footer([]elem{{"r", 1}, {"g", 5}, {"a", -1}}, 0, nil)), "need more elements"},
		{"negative children", file(footer([]elem{{"r", 1}, {"g", -5}}, 0, nil)), "has -5 children"},
		{"root not a group", file(footer([]elem{{"r", -1}}, 0, nil)), "root is not a group"},
		{"empty schema", file(footer(nil, 0, nil)), "schema is empty"},
		{"no schema", file((&tw{}).field(3, ctI64).zz(0).field(1, ctList).list(0, ctStruct).stop().b), "no schema"},
		{"deep", file(append(deep.b, ok...)), "nested deeper"},
		{"huge list", file((&tw{}).field(2, ctList).list(1<<40, ctStruct).b), "longer than the rest"},
		{"huge string", file((&tw{}).field(6, ctBinary).uv(1 << 40).b), "longer than the rest"},
		{"varint overflow", file(append((&tw{}).field(3, ctI64).b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), "overflows 64 bits"},
		{"field type 0 with delta", file(append([]byte{0x10}, ok...)), "unknown Thrift field type 0"},
		{"i32 out of range", file((&tw{}).field(1, ctI32).uv(1 << 33).stop().b), "overflows 32 bits"},
		{"num_rows wrong type", file((&tw{}).field(3, ctI32).zz(1).stop().b), "num_rows has Thrift type"},
		{"encryption", file(append((&tw{}).field(8, ctStruct).stop().b, ok...)), "encrypted"},
		{"duplicate num_rows", file((&tw{}).field(3, ctI64).zz(1).field(0, ctI64).uv(6).zz(1).stop().b), "twice"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFile(tc.b)
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
			if ok, _ := refAccepts(tc.b); ok {
				t.Fatalf("the reference decoder accepts it")
			}
		})
	}
}

// FuzzParquetFooter: parseFile never panics, and it accepts a file exactly
// when an independent (simple, recursive) decoder of the same rules does,
// with the same rows and columns; an accepted footer cut by a byte, or with
// a byte appended, is refused.
func FuzzParquetFooter(f *testing.F) {
	for _, tf := range testdataFiles {
		b, err := os.ReadFile(filepath.Join("testdata", tf.name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(file(footer(flat, 5, []int64{2, 3})))
	f.Add(file(footer([]elem{{"root", 3}, {"id", -1}, {"s", 2}, {"a", -1}, {"l", 1}, {"list", 1}, {"element", -1}, {"z", -1}}, 0, nil)))
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseFile(b)
		ok, why := refAccepts(b)
		if (err == nil) != ok {
			t.Fatalf("parseFile: %+v, %v; reference accepts %v (%s)", got, err, ok, why)
		}
		if err != nil {
			return
		}
		ref, _ := refParse(b)
		if got.NumRows != ref.NumRows || !slices.Equal(got.Columns, ref.Columns) {
			t.Fatalf("parseFile = %d %q, reference %d %q", got.NumRows, got.Columns, ref.NumRows, ref.Columns)
		}
		if got.NumRows < 0 || len(got.Columns) > maxColumns {
			t.Fatalf("accepted %d rows, %d columns", got.NumRows, len(got.Columns))
		}
		n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
		foot := b[len(b)-8-n : len(b)-8]
		if _, err := parseFile(file(foot[:n-1])); err == nil {
			t.Fatalf("accepted the footer without its last byte")
		}
		if _, err := parseFile(file(append(slices.Clone(foot), 0))); err == nil {
			t.Fatalf("accepted the footer with a byte appended")
		}
	})
}

// The reference decoder: the same rules as parseFile, written the plain way
// (whole values into a tree, then the checks), for the fuzz target to
// compare against.

type rval struct {
	typ    byte
	i      int64
	b      []byte
	elems  []rval // list, set; map: key, value, key, value, ...
	fields []rfield
}

type rfield struct {
	id int16
	v  rval
}

type rdec struct {
	b   []byte
	pos int
}

func (d *rdec) byte1() (byte, bool) {
	if d.pos >= len(d.b) {
		return 0, false
	}
	d.pos++
	return d.b[d.pos-1], true
}

func (d *rdec) uv() (uint64, bool) {
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		return 0, false
	}
	d.pos += n
	return v, true
}

func (d *rdec) value(typ byte, inList bool, level int) (rval, bool) {
	v := rval{typ: typ}
	switch typ {
	case ctTrue, ctFalse:
		if inList {
			_, ok := d.byte1()
			return v, ok
		}
		return v, true
	case ctByte:
		_, ok := d.byte1()
		return v, ok
	case ctI16, ctI32, ctI64:
		u, ok := d.uv()
		if !ok || typ == ctI16 && u > math.MaxUint16 || typ == ctI32 && u > math.MaxUint32 {
			return v, false
		}
		v.i = int64(u>>1) ^ -int64(u&1)
		if typ == ctI32 {
			v.i = int64(int32(uint32(u)>>1) ^ -int32(u&1))
		}
		return v, true
	case ctDouble:
		if len(d.b)-d.pos < 8 {
			return v, false
		}
		d.pos += 8
		return v, true
	case ctBinary:
		n, ok := d.uv()
		if !ok || n > uint64(len(d.b)-d.pos) {
			return v, false
		}
		v.b = d.b[d.pos : d.pos+int(n)]
		d.pos += int(n)
		return v, true
	case ctList, ctSet:
		if level > maxThriftDepth {
			return v, false
		}
		h, ok := d.byte1()
		if !ok {
			return v, false
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, ok = d.uv(); !ok {
				return v, false
			}
		}
		if n > 0 && (elem == 0 || elem > ctStruct) {
			return v, false
		}
		for i := uint64(0); i < n; i++ {
			e, ok := d.value(elem, true, level+1)
			if !ok {
				return v, false
			}
			v.elems = append(v.elems, e)
		}
		v.i = int64(elem)
		return v, true
	case ctMap:
		if level > maxThriftDepth {
			return v, false
		}
		n, ok := d.uv()
		if !ok {
			return v, false
		}
		if n == 0 {
			return v, true
		}
		h, ok := d.byte1()
		kt, vt := h>>4, h&0x0f
		if !ok || kt == 0 || kt > ctStruct || vt == 0 || vt > ctStruct {
			return v, false
		}
		for i := uint64(0); i < n; i++ {
			k, ok1 := d.value(kt, true, level+1)
			e, ok2 := d.value(vt, true, level+1)
			if !ok1 || !ok2 {
				return v, false
			}
			v.elems = append(v.elems, k, e)
		}
		return v, true
	case ctStruct:
		if level > maxThriftDepth {
			return v, false
		}
		var last int16
		for {
			h, ok := d.byte1()
			if !ok {
				return v, false
			}
			if h == 0 {
				return v, true
			}
			ft := h & 0x0f
			if ft == 0 || ft > ctStruct {
				return v, false
			}
			id := last + int16(h>>4)
			if h>>4 == 0 {
				idv, ok := d.value(ctI16, false, level)
				if !ok {
					return v, false
				}
				id = int16(idv.i)
			}
			last = id
			fv, ok := d.value(ft, false, level+1)
			if !ok {
				return v, false
			}
			v.fields = append(v.fields, rfield{id, fv})
		}
	}
	return v, false
}

func refAccepts(b []byte) (bool, string) {
	_, why := refParse(b)
	return why == "", why
}

// refParse applies parseFile's rules to the decoded tree; why is "" when
// the file is accepted.
func refParse(b []byte) (f parquetFooter, why string) {
	size := len(b)
	if size < 12 || string(b[:4]) != "PAR1" || string(b[size-4:]) != "PAR1" {
		return f, "magic"
	}
	n := int(binary.LittleEndian.Uint32(b[size-8:]))
	if n == 0 || n > maxFooterBytes || n > size-12 {
		return f, "footer length"
	}
	d := &rdec{b: b[size-8-n : size-8]}
	top, ok := d.value(ctStruct, false, 1)
	if !ok || d.pos != n {
		return f, "thrift"
	}
	byID := map[int16][]rval{}
	for _, fl := range top.fields {
		byID[fl.id] = append(byID[fl.id], fl.v)
	}
	if len(byID[8]) > 0 {
		return f, "encrypted"
	}
	for _, id := range []int16{2, 3, 4} {
		if len(byID[id]) != 1 {
			return f, "missing or duplicate field"
		}
	}
	schema, rows, groups := byID[2][0], byID[3][0], byID[4][0]
	if schema.typ != ctList || rows.typ != ctI64 || groups.typ != ctList {
		return f, "field types"
	}
	if len(schema.elems) == 0 || schema.i != ctStruct {
		return f, "schema list"
	}
	type el struct {
		name               []byte
		children           int64
		hasName, hasChildn bool
	}
	els := make([]el, len(schema.elems))
	for i, e := range schema.elems {
		for _, fl := range e.fields {
			switch fl.id {
			case 4:
				if fl.v.typ != ctBinary || len(fl.v.b) > maxNameBytes {
					return f, "name"
				}
				els[i].name, els[i].hasName = fl.v.b, true
			case 5:
				if fl.v.typ != ctI32 {
					return f, "num_children type"
				}
				els[i].children, els[i].hasChildn = fl.v.i, true
			}
		}
		if els[i].children < 0 {
			return f, "negative children"
		}
	}
	if !els[0].hasChildn || els[0].children > maxColumns {
		return f, "root"
	}
	var sub func(i int) int // the index after the subtree at i, -1 if it does not fit
	sub = func(i int) int {
		if i >= len(els) {
			return -1
		}
		j := i + 1
		for k := int64(0); k < els[i].children; k++ {
			if j = sub(j); j < 0 {
				return -1
			}
		}
		return j
	}
	j := 1
	for k := int64(0); k < els[0].children; k++ {
		if j >= len(els) || !els[j].hasName {
			return f, "column"
		}
		f.Columns = append(f.Columns, string(els[j].name))
		if j = sub(j); j < 0 {
			return f, "subtree"
		}
	}
	if j != len(els) {
		return f, "extra elements"
	}
	if len(groups.elems) > 0 && groups.i != ctStruct {
		return f, "row group type"
	}
	var sum int64
	for _, g := range groups.elems {
		var rs []rval
		for _, fl := range g.fields {
			if fl.id == 3 {
				rs = append(rs, fl.v)
			}
		}
		if len(rs) != 1 || rs[0].typ != ctI64 || rs[0].i < 0 || rs[0].i > math.MaxInt64-sum {
			return f, "row group rows"
		}
		sum += rs[0].i
	}
	if rows.i < 0 || rows.i != sum {
		return f, "rows"
	}
	f.NumRows = rows.i
	return f, ""
}

func TestValidateType(t *testing.T) {
	good := []string{
		"BIGINT", "varchar", "DECIMAL(18,3)", "DECIMAL( 38 , 0 )", "TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE",
		"TIMESTAMP_NS", "INTEGER[]", "INTEGER[][]", "STRUCT(a INTEGER, \"b c\" VARCHAR, \"select\" INTEGER)",
		"MAP(VARCHAR, INTEGER)", "STRUCT(z INTEGER[])[]", "STRUCT(u UTINYINT, i INTEGER, v VARCHAR)", "GEOMETRY('OGC:CRS84')",
		"GEOMETRY", "VARIANT", "JSON", "UUID", "INTERVAL", "STRUCT(k BIGINT[], m STRUCT(\"x y\" VARCHAR))",
		"STRUCT(ts TIMESTAMP WITH TIME ZONE, \"time\" TIME WITH TIME ZONE)", "STRUCT(\"a \"\"q\"\"\" BLOB)",
		"MAP(STRUCT(a INTEGER), MAP(VARCHAR, DOUBLE[]))[]", "STRUCT(decimal DECIMAL(4,1))",
		"INTEGER[3]", "FLOAT[3][]", "TIME_NS", "BIT", "BIGNUM",
	}
	for _, s := range good {
		if err := ValidateType(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{
		"", "NOTATYPE", "INT", "TEXT", "DECIMAL", "DECIMAL(39,1)", "DECIMAL(4,5)", "DECIMAL(0,0)", "INTEGER[x]",
		"INTEGER[", "STRUCT()", "STRUCT(a)", "STRUCT(a INTEGER,)", "MAP(VARCHAR)", "MAP(VARCHAR, INTEGER, INTEGER)",
		"TIMESTAMP WITH", "TIMESTAMP WITH TIME", "BIGINT BIGINT", "BIGINT; DROP TABLE x", "VARCHAR COLLATE NOCASE",
		"STRUCT(\"\" INTEGER)", "STRUCT(\"a INTEGER)", "GEOMETRY()", "GEOMETRY('')", "BIGINT\n", "STRUCT(a\tINTEGER)",
		strings.Repeat("STRUCT(a ", 40) + "INTEGER" + strings.Repeat(")", 40), strings.Repeat("x", maxTypeBytes+1),
	}
	for _, s := range bad {
		if err := ValidateType(s); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
}

// FuzzValidateType: ValidateType never panics, and what it accepts is
// printable ASCII made of its tokens.
func FuzzValidateType(f *testing.F) {
	for _, s := range []string{"BIGINT", "STRUCT(a INTEGER, \"b\" MAP(VARCHAR, DECIMAL(4,1)[]))", "TIMESTAMP WITH TIME ZONE", "GEOMETRY('x')"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateType(s) != nil {
			return
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				if c := s[i]; c < 0x80 {
					t.Fatalf("accepted %q with control byte %#x", s, c)
				}
			}
		}
	})
}

// TestParseFooterStream: the streamed path (a footer larger than the tail
// GET) reads exactly n bytes through a bufio wrapper.
func TestParseFooterStream(t *testing.T) {
	schema := []elem{{"root", 3000}}
	for i := 0; i < 3000; i++ {
		schema = append(schema, elem{strings.Repeat("c", 20) + string(rune('a'+i%26)), -1})
	}
	foot := footer(schema, 7, []int64{7})
	if len(foot) <= footerTailBytes {
		t.Fatalf("footer of %d bytes is not larger than the tail", len(foot))
	}
	f, err := parseFooter(bytes.NewReader(foot), int64(len(foot)))
	if err != nil || f.NumRows != 7 || len(f.Columns) != 3000 {
		t.Fatalf("= %d rows %d columns, %v", f.NumRows, len(f.Columns), err)
	}
}
