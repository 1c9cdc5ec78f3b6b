package convert

// Integers a DOUBLE would round (ADR-023 "Exact big numbers"). DuckDB's
// CSV sniffer types a column holding an integer past BIGINT
// (12345678901234567891) DOUBLE, which keeps 17 significant digits; its
// JSON reader does the same past UBIGINT, and types a field holding both
// a negative number and one past BIGINT HUGEINT, which the Parquet writer
// stores as DOUBLE. A created column keeps the digits written:
//
//   - JSON HUGEINT and UHUGEINT (fields and nested leaves) are written as
//     DECIMAL(38,0), the widest exact integer Parquet holds (JSON integers
//     are below 2^64, so every one fits).
//   - A DOUBLE column whose COPY statistics show a magnitude of 2^53 or
//     more (the only place an integer loses digits; the common case costs
//     nothing more) is scanned in Go: a value of that magnitude that does
//     not read back as the number written (its shortest DOUBLE text is
//     another number) makes the column DECIMAL(38,s), s the most decimals
//     any of its values has, and the file is converted again. When no
//     DECIMAL(38,s) holds every value (an inf or nan, more than 38 digits
//     in all) the upload is refused with the value's line: no type stores
//     the column as written.
//
// JSONL: DuckDB's JSON reader keeps the text of an integer past UBIGINT
// only; a number written with a fraction or an exponent is a DOUBLE
// before any cast, so such a column is read again with those fields as
// JSON (the integers' text exact) and a lossy number written with a
// fraction or an exponent is refused. On append, a JSONL field read as
// DOUBLE going into an integer or DECIMAL column is checked the same way
// and read as JSON (the append's casts then check the text).
//
// Values below 2^53 keep DOUBLE semantics (a fraction keeps 17 significant
// digits, 1e-400 is 0), and so does an append into a DOUBLE column.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"lakehouse-go/internal/errs"
)

// exactLimit is 2^53: every integer below it is a DOUBLE.
const exactLimit = 1 << 53

// beyondExact says whether a float statistic (DuckDB's text, "inf"
// included) has a magnitude of 2^53 or more.
func beyondExact(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return false
	}
	return math.Abs(f) >= exactLimit
}

var reDecimalNum = regexp.MustCompile(`^([+-]?)([0-9_]*)(?:\.([0-9_]*))?(?:[eE]([+-]?[0-9]+))?$`)

// decNum is a number in decimal notation: 0.digits × 10^point, digits
// without leading or trailing zeros ("" for zero).
type decNum struct {
	neg    bool
	digits string
	point  int
}

// parseDecimal reads s (blanks around it allowed) in decimal notation.
func parseDecimal(s string) (decNum, bool) {
	m := reDecimalNum.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return decNum{}, false
	}
	intp, frac := strings.ReplaceAll(m[2], "_", ""), strings.ReplaceAll(m[3], "_", "")
	if intp+frac == "" {
		return decNum{}, false
	}
	exp := 0
	if m[4] != "" {
		e, err := strconv.Atoi(m[4])
		if err != nil || e > 100000 || e < -100000 {
			return decNum{}, false
		}
		exp = e
	}
	all := intp + frac
	point := len(intp) + exp
	trimmed := strings.TrimLeft(all, "0")
	point -= len(all) - len(trimmed)
	all = strings.TrimRight(trimmed, "0")
	if all == "" {
		return decNum{}, true
	}
	return decNum{neg: m[1] == "-", digits: all, point: point}, true
}

func (d decNum) intDigits() int  { return max(d.point, 0) }
func (d decNum) fracDigits() int { return max(len(d.digits)-d.point, 0) }

// lossyDouble says whether the number s, of magnitude 2^53 or more, reads
// back from a DOUBLE as another number (12345678901234567891 is
// 12345678901234567000 there; 1e20 is itself). Other values, and text
// that is no decimal number, are not.
func lossyDouble(s string) bool {
	d, ok := parseDecimal(s)
	if !ok || d.digits == "" || d.point <= 15 {
		return false // below 10^15 < 2^53
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 64)
	if err != nil || math.Abs(f) < exactLimit {
		return false // out of range: checkResult reports it
	}
	back, _ := parseDecimal(strconv.FormatFloat(f, 'e', -1, 64))
	return back != d
}

// roundTrips says whether the decimal number s reads back from a DOUBLE
// as the same number (its shortest text is s's number).
func roundTrips(s string) bool {
	d, ok := parseDecimal(s)
	if !ok {
		return true
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 64)
	if err != nil {
		return false
	}
	back, _ := parseDecimal(strconv.FormatFloat(f, 'e', -1, 64))
	return back == d
}

// exactColumn is what a scan learns about one column's values.
type exactColumn struct {
	jsonl bool // JSON: a fraction or exponent is read as a DOUBLE whatever the type
	// rounded, roundedLine: (JSON) the first number written with a fraction
	// or an exponent that a DOUBLE does not keep.
	rounded     string
	roundedLine int
	lossyValue  string // first value a DOUBLE rounds
	lossyLine   int    // its line (0: none)
	intDigits   int    // the most integer digits of any value
	scale       int    // the most decimals of any value
	other       string // first value that is no decimal number (inf, nan)
	otherLine   int
}

func (e *exactColumn) add(v string, line int) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	d, ok := parseDecimal(v)
	if !ok {
		if e.otherLine == 0 {
			e.other, e.otherLine = v, line
		}
		return
	}
	e.intDigits = max(e.intDigits, d.intDigits())
	e.scale = max(e.scale, d.fracDigits())
	if e.jsonl && e.roundedLine == 0 && strings.ContainsAny(v, ".eE") && !roundTrips(v) {
		e.rounded, e.roundedLine = v, line
	}
	if e.lossyLine == 0 && lossyDouble(v) {
		e.lossyValue, e.lossyLine = v, line
	}
}

// decimalType is the DECIMAL that holds every value the scan saw, or a
// located error saying why none does.
func (e *exactColumn) decimalType(name string, col int) (string, error) {
	f, _ := strconv.ParseFloat(strings.ReplaceAll(e.lossyValue, "_", ""), 64)
	why := ""
	switch {
	case e.otherLine > 0:
		why = fmt.Sprintf("line %d has %q, which only a DOUBLE holds", e.otherLine, shorten(e.other, 40))
	case e.roundedLine > 0:
		why = fmt.Sprintf("line %d has %q, a number written with a fraction or an exponent that DuckDB's JSON reader reads as a DOUBLE, 17 significant digits; write it as an integer or as a string", e.roundedLine, shorten(e.rounded, 40))
	case e.intDigits+e.scale > 38:
		why = fmt.Sprintf("its values need %d integer digits and %d decimals, more than the 38 digits of a DECIMAL", e.intDigits, e.scale)
	default:
		return fmt.Sprintf("DECIMAL(38,%d)", e.scale), nil
	}
	return "", errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d: column %q (%d): value %q cannot be stored exactly: a DOUBLE would round it (to %s), and no DECIMAL holds the column (%s)",
		e.lossyLine, name, col+1, shorten(e.lossyValue, 100), strconv.FormatFloat(f, 'g', -1, 64), why))
}

// exactCSVTypes scans the CSV columns a created dataset typed DOUBLE and
// whose statistics show a number of 2^53 or more, and returns the
// DECIMAL each of them needs (none: every value is kept by its DOUBLE).
func exactCSVTypes(ctx context.Context, in Input, h *csvHeader, res *Result) (map[string]string, error) {
	var cols []int
	for i, col := range res.Schema {
		if strings.EqualFold(col.Type, "DOUBLE") && res.stats.bigCols[col.Name] && i < len(h.names) {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	scans := make([]exactColumn, len(cols))
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, errs.E("ingest", errs.Internal, err)
	}
	defer f.Close()
	r := csvBody(f, h.delim)
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for n := 0; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if n%65536 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			continue
		}
		for k, i := range cols {
			if i < len(rec) {
				line, _ := r.FieldPos(i)
				scans[k].add(rec[i], line+1)
			}
		}
	}
	types := map[string]string{}
	for k, i := range cols {
		if scans[k].lossyLine == 0 {
			continue
		}
		t, err := scans[k].decimalType(res.Schema[i].Name, i)
		if err != nil {
			return nil, err
		}
		types[res.Schema[i].Name] = t
	}
	return types, nil
}

// scanJSONLNumbers scans the top-level fields named in cols of a JSONL
// file as exactCSVTypes scans a CSV's columns.
func scanJSONLNumbers(ctx context.Context, path string, cols map[string]bool) (map[string]*exactColumn, error) {
	scans := map[string]*exactColumn{}
	for n := range cols {
		scans[n] = &exactColumn{jsonl: true}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.E("ingest", errs.Internal, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := readJSONLine(br, 256<<20)
		if n%65536 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if len(line) > 0 {
			var obj map[string]json.RawMessage
			if json.Unmarshal(line, &obj) == nil {
				for k, raw := range obj {
					if e := scans[k]; e != nil && len(raw) > 0 && raw[0] != 'n' {
						e.add(string(raw), n)
					}
				}
			}
		}
		if err != nil {
			return scans, nil
		}
	}
}

// hugeToDecimal is t with every HUGEINT and UHUGEINT (a leaf or inside a
// STRUCT, LIST or MAP) made DECIMAL(38,0); ok is false when t holds none.
func hugeToDecimal(t string) (string, bool) {
	if !reHuge.MatchString(t) {
		return "", false
	}
	n, ok := parseType(t)
	if !ok {
		return "", false
	}
	out := n.mapLeaves(func(leaf string) string {
		switch strings.ToUpper(strings.TrimSpace(leaf)) {
		case "HUGEINT", "UHUGEINT":
			return "DECIMAL(38,0)"
		}
		return leaf
	})
	return out, out != t
}

var reHuge = regexp.MustCompile(`(?i)(^|[ (,])U?HUGEINT([ ,)\[]|$)`)

// mapLeaves prints n with each leaf's type replaced by f's.
func (n *typeNode) mapLeaves(f func(string) string) string {
	switch n.kind {
	case "leaf":
		return f(n.name)
	case "list":
		return n.elem.mapLeaves(f) + "[]"
	case "array":
		return n.elem.mapLeaves(f) + "[" + n.size + "]"
	case "map":
		return "MAP(" + n.key.mapLeaves(f) + ", " + n.elem.mapLeaves(f) + ")"
	}
	var fs []string
	for _, fl := range n.fields {
		fs = append(fs, sqlIdent(fl.name)+" "+fl.typ.mapLeaves(f))
	}
	return strings.ToUpper(n.kind) + "(" + strings.Join(fs, ", ") + ")"
}

// jsonCreateQuery is the SELECT of a created JSONL dataset from reader
// (columns cols): HUGEINT and UHUGEINT made DECIMAL(38,0), the fields in
// asDecimal (read as JSON, their text exact) cast to their DECIMAL.
func jsonCreateQuery(reader string, cols []Column, asDecimal map[string]string) string {
	var repl []string
	for _, col := range cols {
		if t := asDecimal[col.Name]; t != "" {
			v := castText("CAST("+sqlIdent(col.Name)+" AS VARCHAR)", t)
			repl = append(repl, fmt.Sprintf("CASE WHEN %[1]s IS NOT NULL AND %[2]s IS NULL THEN error(%[3]s || CAST(%[1]s AS VARCHAR)) ELSE %[2]s END AS %[1]s",
				sqlIdent(col.Name), v, sqlString("a JSON number does not fit "+t+": ")))
		} else if t, ok := hugeToDecimal(col.Type); ok {
			repl = append(repl, fmt.Sprintf("CAST(%[1]s AS %[2]s) AS %[1]s", sqlIdent(col.Name), t))
		}
	}
	if len(repl) == 0 {
		return "SELECT * FROM " + reader
	}
	return "SELECT * REPLACE (" + strings.Join(repl, ", ") + ") FROM " + reader
}

// jsonColumnsReader is read_json with every column given (cols, a full
// sniff's: no key is left out), those in asJSON read as JSON, whose text
// keeps an integer's digits past UBIGINT.
func jsonColumnsReader(path string, cols []Column, asJSON map[string]bool) string {
	var b strings.Builder
	b.WriteString("read_json(" + sqlString(path) + ", format = 'newline_delimited', records = true, columns = {")
	for i, col := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		t := col.Type
		if asJSON[col.Name] {
			t = "JSON"
		}
		b.WriteString(sqlString(col.Name) + ": " + sqlString(t))
	}
	b.WriteString("})")
	return b.String()
}
