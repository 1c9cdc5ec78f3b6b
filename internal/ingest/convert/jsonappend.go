package convert

// JSONL appends (ADR-023 "JSONL appends"). DuckDB sniffs a JSONL batch's
// types from its own values, so a batch rarely has exactly the dataset's
// schema even when every value fits it: `{"price": 3}` sniffs BIGINT for a
// DOUBLE column, a field that is null on every line sniffs JSON, a key no
// line has is no column at all, and keys come in the order first seen.
// An append is therefore read by name into the dataset's columns, in the
// dataset's order: a missing key is NULL, and a column of another type is
// cast when no value changes —
//   - number to number: cast, and cast back; a value that does not come
//     back the same (7.5 into BIGINT, 2^60+1 into DOUBLE, 1.005 into
//     DECIMAL(5,2)) or is out of range is refused with its line;
//   - text to a date, time, timestamp or UUID: a value that does not parse
//     is refused (the type the dataset read such values as);
//   - JSON (a field null on every line, or of mixed kinds): nulls, and
//     the values of the column's kind (strings for VARCHAR, numbers as
//     above, booleans); any other value is refused as not of the
//     column's type. JSON[] (empty arrays): nulls and empty lists.
// Any other difference (a key not in the dataset, a case variant of a
// column, text into a number, nested types) is refused as before.
//
// On create and append alike, a key or a fraction that comes after the
// lines DuckDB sniffs makes the file read with every line sniffed
// (convertJSONL): its reader would refuse the one and round the other.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"lakehouse-go/internal/errs"
)

// jsonReader is the read_json call for a JSONL file: types sniffed from
// the first lines, or from every line (fullSniff).
func jsonReader(path string, fullSniff bool) string {
	r := "read_json(" + sqlString(path) + ", format = 'newline_delimited', records = true"
	if fullSniff {
		r += ", sample_size = -1"
	}
	return r + ")"
}

// convertJSONL converts a JSONL file: on create with the types DuckDB
// sniffs, on append into the dataset's columns (jsonAppendQuery). DuckDB
// sniffs from the first lines; two things can come later: a key (its
// reader then fails with "unknown key") and, in a field sniffed as an
// integer type, a value that is not an integer, which its reader would
// change silently (7.5 stored as 8, true as 1). Either makes the file read
// again with every line sniffed (jsonLateValues looks for the second
// first).
func (c *Converter) convertJSONL(ctx context.Context, in Input, outDir string) (*Result, error) {
	var batch []Column // the reader's columns in the last run
	// exact: fields read as JSON, their text exact (exact.go), with the
	// DECIMAL a created column takes.
	run := func(fullSniff bool, exact map[string]string) (*Result, error) {
		reader := jsonReader(in.Path, fullSniff)
		cols, err := c.describe(ctx, reader)
		if err != nil {
			return nil, err
		}
		if !fullSniff && c.jsonLateValues(ctx, in.Path, cols) {
			reader = jsonReader(in.Path, true)
			if cols, err = c.describe(ctx, reader); err != nil {
				return nil, err
			}
		}
		if len(exact) > 0 {
			asJSON := map[string]bool{}
			for i, col := range cols {
				if _, ok := exact[col.Name]; ok {
					asJSON[col.Name] = true
					cols[i].Type = "JSON"
				}
			}
			reader = jsonColumnsReader(in.Path, cols, asJSON)
		}
		batch = cols
		q := jsonCreateQuery(reader, cols, exact)
		if in.Schema != nil {
			if q, err = jsonAppendQuery(in.Schema, reader, cols); err != nil {
				return nil, err
			}
		}
		return c.copy(ctx, q, outDir)
	}
	res, err := run(false, nil)
	if err != nil && ctx.Err() == nil && strings.Contains(rawMessage(err), "has unknown key") {
		res, err = run(true, nil)
	}
	if err != nil {
		return res, err
	}
	exact, err := c.exactJSONL(ctx, in, res, batch)
	if err != nil {
		os.RemoveAll(outDir)
		return nil, err
	}
	if len(exact) > 0 {
		res, err = run(true, exact)
	}
	return res, err
}

// exactJSONL says which fields read as DOUBLE may have lost an integer's
// digits (exact.go): on create those a DOUBLE column holds, with the
// DECIMAL each takes; on append those going into an integer or DECIMAL
// column (read again as JSON, the append's casts check the text). A
// number no type reads exactly is a located Invalid error.
func (c *Converter) exactJSONL(ctx context.Context, in Input, res *Result, batch []Column) (map[string]string, error) {
	want := map[string]string{}
	for _, col := range in.Schema {
		want[col.Name] = col.Type
	}
	cand := map[string]bool{}
	for _, b := range batch {
		if !strings.EqualFold(b.Type, "DOUBLE") || !res.stats.bigCols[b.Name] {
			continue
		}
		if _, _, ok := exactType(want[b.Name]); in.Schema == nil || ok {
			cand[b.Name] = true
		}
	}
	if len(cand) == 0 {
		return nil, nil
	}
	scans, err := scanJSONLNumbers(ctx, in.Path, cand)
	if err != nil {
		return nil, err
	}
	exact := map[string]string{}
	for i, b := range batch {
		e := scans[b.Name]
		if e == nil || e.lossyLine == 0 {
			continue
		}
		if in.Schema == nil {
			t, err := e.decimalType(b.Name, i)
			if err != nil {
				return nil, err
			}
			exact[b.Name] = t
			continue
		}
		if e.roundedLine > 0 {
			pos := i
			for k, col := range in.Schema {
				if col.Name == b.Name {
					pos = k
				}
			}
			return nil, errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d: column %q (%d): value %q cannot be stored exactly as %s: DuckDB's JSON reader reads a number written with a fraction or an exponent as a DOUBLE, 17 significant digits (write it as an integer)",
				e.roundedLine, b.Name, pos+1, shorten(e.rounded, 100), want[b.Name]))
		}
		exact[b.Name] = "JSON"
	}
	return exact, nil
}

// jsonSampleLines is how many lines DuckDB's JSON sniffer reads (its
// sample_size, 20480 rows), less a margin.
const jsonSampleLines = 20000

// jsonLateValues says whether a field sniffed as an integer type holds,
// somewhere, anything but an integer — or an integer past BIGINT (JSON's
// UBIGINT kind: a field sniffed BIGINT refused it as "Failed to cast value
// to numerical"; read again, the field is HUGEINT, stored DECIMAL(38,0)):
// a number written with a fraction or
// an exponent (JSON's DOUBLE kind: 7.5, and also 7.0 or 1e2, which
// re-reading merely keeps exact), a boolean (DuckDB's reader would store
// true as 1), a string, an object or an array; or a field whose type
// nests an integer type has, somewhere after the sample, a structure the
// sample did not (see below). Files the sniffer read whole are not
// scanned; a field name that cannot be put in a JSON path
// counts as such a value; a scan that fails is left to the conversion's
// own error.
func (c *Converter) jsonLateValues(ctx context.Context, path string, cols []Column) bool {
	var paths, nested []string
	for _, col := range cols {
		typ, scale, ok := exactType(col.Type)
		flat := ok && scale == 0 && !strings.HasPrefix(typ, "DECIMAL")
		if !flat && !nestedInteger(col.Type) {
			continue
		}
		if strings.ContainsAny(col.Name, "\\\"") || badName(col.Name) {
			return true
		}
		if flat {
			paths = append(paths, sqlString(`$."`+col.Name+`"`))
		} else {
			nested = append(nested, "json_group_structure(json -> "+sqlString(`$."`+col.Name+`"`)+")::VARCHAR")
		}
	}
	if len(paths)+len(nested) == 0 || fewLines(path, jsonSampleLines) {
		return false
	}
	objects := "read_json_objects(" + sqlString(path) + ", format = 'newline_delimited')"
	sel := []string{"false"}
	if len(paths) > 0 {
		sel[0] = "coalesce(bool_or(list_has_any(json_type(json, [" + strings.Join(paths, ", ") + "]), ['DOUBLE', 'UBIGINT', 'BOOLEAN', 'VARCHAR', 'OBJECT', 'ARRAY'])), false)"
	}
	sel = append(sel, nested...)
	all := make([]sql.NullString, len(nested))
	dst := []any{new(bool)}
	for i := range all {
		dst = append(dst, &all[i])
	}
	if err := c.db.QueryRowContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+objects).Scan(dst...); err != nil {
		return false // the conversion reports what is wrong with the file
	}
	if *dst[0].(*bool) || len(nested) == 0 {
		return *dst[0].(*bool)
	}
	// An integer inside an object or a list ({"a": {"x": 7.5}} after lines
	// of {"a": {"x": 1}}) would be rounded too: the structure of those
	// fields over the whole file (JSON kinds merged, as the sniffer merges
	// them) must be the structure of the lines it sniffed.
	sample := make([]sql.NullString, len(nested))
	dst = dst[:0]
	for i := range sample {
		dst = append(dst, &sample[i])
	}
	q := fmt.Sprintf("SELECT %s FROM (SELECT json FROM %s LIMIT %d)", strings.Join(nested, ", "), objects, jsonSampleLines)
	if err := c.db.QueryRowContext(ctx, q).Scan(dst...); err != nil {
		return false
	}
	for i := range all {
		if all[i] != sample[i] {
			return true
		}
	}
	return false
}

// nestedIntRE finds an integer type inside a nested type (STRUCT field,
// LIST element, MAP value); a field named like a type only costs a scan.
var nestedIntRE = regexp.MustCompile(`(^|[ (,])U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)([ ,)\[]|$)`)

// nestedInteger says whether a column of type t is a STRUCT, LIST or MAP
// holding an integer type anywhere.
func nestedInteger(t string) bool {
	return strings.ContainsAny(t, "([") && nestedIntRE.MatchString(t)
}

// fewLines says whether the file at path has at most n lines.
func fewLines(path string, n int) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	lines := 0
	for {
		m, err := f.Read(buf)
		lines += bytes.Count(buf[:m], []byte{'\n'})
		if lines > n {
			return false
		}
		if err != nil {
			return true
		}
	}
}

// numericType: an integer or DECIMAL type (exactType), or a float.
func numericType(t string) bool {
	if _, _, ok := exactType(t); ok {
		return true
	}
	u := strings.ToUpper(strings.TrimSpace(t))
	return u == "DOUBLE" || u == "FLOAT"
}

func textParsedType(t string) bool {
	switch strings.ToUpper(strings.TrimSpace(t)) {
	case "DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE", "UUID":
		return true
	}
	return false
}

// jsonAppendQuery is the SELECT of a JSONL append into schema from
// reader, whose columns are batch. Refusals are Invalid errors.
func jsonAppendQuery(schema []Column, reader string, batch []Column) (string, error) {
	have := map[string]int{}
	var diffs []string
	want := map[string]Column{}
	for _, col := range schema {
		want[strings.ToLower(col.Name)] = col
	}
	for k, b := range batch {
		d, ok := want[strings.ToLower(b.Name)]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("column %q is not in the dataset", b.Name))
		case d.Name != b.Name:
			diffs = append(diffs, fmt.Sprintf("column %q is spelled %q in the dataset", b.Name, d.Name))
		}
		have[b.Name] = k
	}
	q := newJSONSelect(len(batch))
	for i, col := range schema {
		k, ok := have[col.Name]
		if !ok {
			q.add("CAST(NULL AS "+col.Type+")", col.Name)
			continue
		}
		expr, why, v := jsonColumnSQL(i, col, batch[k], q.c(k), fmt.Sprintf("v%d", i))
		if why != "" {
			diffs = append(diffs, why)
			continue
		}
		q.addV(v, k, batch[k].Type, col.Type)
		q.add(expr, col.Name)
	}
	if len(diffs) > 0 {
		return "", errs.E("ingest", errs.Invalid, "append: the schema does not match the dataset's: "+strings.Join(diffs, "; "))
	}
	return q.sql(reader), nil
}

// jsonSelect builds SELECT <out> FROM (SELECT c0.., <v casts> FROM reader
// AS t(c0, ..)): the reader's columns by position (c<k>), each cast a
// projection needs computed once (v<...>).
type jsonSelect struct {
	inner, out []string
	n          int
}

func newJSONSelect(n int) *jsonSelect {
	q := &jsonSelect{n: n}
	for k := 0; k < n; k++ {
		q.inner = append(q.inner, q.c(k))
	}
	return q
}

func (q *jsonSelect) c(k int) string { return fmt.Sprintf("c%d", k) }

// addV computes alias v = TRY_CAST(c<k> AS typ) in the inner select ("" =
// none needed); a JSON value is cast from its text (a number's text casts
// as JSON's own cast does, faster; the text of a JSON string, quotes and
// all, casts to nothing).
func (q *jsonSelect) addV(v string, k int, from, typ string) {
	if v == "" {
		return
	}
	c := q.c(k)
	if strings.EqualFold(from, "JSON") {
		c += "::VARCHAR"
	}
	q.inner = append(q.inner, fmt.Sprintf("TRY_CAST(%s AS %s) AS %s", c, typ, v))
}

func (q *jsonSelect) add(expr, name string) { q.out = append(q.out, expr+" AS "+sqlIdent(name)) }

func (q *jsonSelect) sql(reader string) string {
	aliases := make([]string, q.n)
	for k := range aliases {
		aliases[k] = q.c(k)
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT %s FROM %s AS t(%s))",
		strings.Join(q.out, ", "), strings.Join(q.inner, ", "), reader, strings.Join(aliases, ", "))
}

// jsonColumnSQL is the projection of dataset column i (col, the target
// type) from the reader's column b (alias c), with v the alias of
// TRY_CAST(c AS col.Type); it returns v when the expression uses it, or
// why the column cannot be read.
func jsonColumnSQL(i int, col, b Column, c, v string) (expr, why, usesV string) {
	t := strings.ToUpper(strings.TrimSpace(col.Type))
	if strings.EqualFold(b.Type, col.Type) {
		return c, "", ""
	}
	tag := func(kind string) string {
		return fmt.Sprintf("error(%s || %s::VARCHAR)", sqlString(fmt.Sprintf("%s%d:%s:%s:", badValueTag, i, kind, t)), c)
	}
	bt := strings.ToUpper(strings.TrimSpace(b.Type))
	switch {
	case numericType(bt) && numericType(t):
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s WHEN TRY_CAST(%[2]s AS %[4]s) IS DISTINCT FROM %[1]s THEN %[5]s ELSE %[2]s END",
			c, v, tag("invalid"), b.Type, tag("inexact")), "", v
	case bt == "VARCHAR" && textParsedType(t):
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s ELSE %[2]s END", c, v, tag("invalid")), "", v
	case bt == "JSON":
		// A field of mixed kinds, or an integer field read as JSON
		// (jsonBatch): each value of the column's own kind is taken, any
		// other is refused. A number printed back as written is taken at
		// once (the common case); else an integer must come back the same
		// through HUGEINT (2^60+1 does not from a DOUBLE), any other
		// number through DOUBLE (7.5 does not from a BIGINT).
		var take string
		switch {
		case t == "VARCHAR":
			take = fmt.Sprintf("WHEN json_type(%[1]s) = 'VARCHAR' THEN json_extract_string(%[1]s, '$')", c)
		case t == "BOOLEAN":
			take = fmt.Sprintf("WHEN json_type(%[1]s) = 'BOOLEAN' THEN %[2]s", c, v)
		case numericType(t):
			take = fmt.Sprintf(`WHEN %[2]s IS NOT NULL AND %[5]s THEN %[3]s
 WHEN %[2]s::VARCHAR = %[1]s::VARCHAR THEN %[2]s
 WHEN json_type(%[1]s) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CASE WHEN %[2]s IS NULL THEN %[3]s
 WHEN json_type(%[1]s) = 'DOUBLE' AND TRY_CAST(%[2]s AS DOUBLE) IS DISTINCT FROM TRY_CAST(%[1]s AS DOUBLE) THEN %[4]s
 WHEN json_type(%[1]s) <> 'DOUBLE' AND TRY_CAST(%[2]s AS HUGEINT) IS DISTINCT FROM TRY_CAST(%[1]s AS HUGEINT) THEN %[4]s
 ELSE %[2]s END`, c, v, tag("invalid"), tag("inexact"), decimalRangeSQL(v, t))
		}
		usesV = ""
		if strings.Contains(take, v) {
			usesV = v
		}
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL OR json_type(%[1]s) = 'NULL' THEN CAST(NULL AS %[2]s) %[3]s ELSE %[4]s END", c, col.Type, take, tag("mixed")), "", usesV
	case bt == "JSON[]" && strings.HasSuffix(t, "[]"):
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN CAST(NULL AS %[2]s) WHEN len(%[1]s) = 0 THEN CAST([] AS %[2]s) ELSE %[3]s END", c, col.Type, tag("mixed")), "", ""
	}
	return "", fmt.Sprintf("column %q is %s, the dataset has %s", b.Name, b.Type, col.Type), ""
}

// findJSONL returns the line (1-based) of the first JSONL object whose
// key holds value (its JSON text, the string it spells, or a number equal
// to it as a DOUBLE: DuckDB prints 7768.43000E6 as 7768430000.0), 0 if none.
func findJSONL(path, key, value string) int {
	num, numErr := strconv.ParseFloat(value, 64)
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := readJSONLine(br, 64<<20)
		if len(line) > 0 {
			var obj map[string]json.RawMessage
			if json.Unmarshal(line, &obj) == nil {
				if raw, ok := obj[key]; ok {
					var s string
					if string(raw) == value || json.Unmarshal(raw, &s) == nil && s == value {
						return n
					}
					if f, err := strconv.ParseFloat(string(raw), 64); numErr == nil && err == nil && f == num {
						return n
					}
				}
			}
		}
		if err != nil {
			return 0
		}
	}
}
