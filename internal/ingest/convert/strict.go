package convert

// Strict values (ADR-023): a value is stored as written or refused with its
// line — never rounded, never turned into Infinity, never renamed.
//
//   - CSV columns of a TIMESTAMP/TIME WITH TIME ZONE type are read as
//     text and cast the same way: DuckDB's reader makes a value it cannot
//     parse NULL there, silently (zoneType).
//   - CSV columns of an integer or DECIMAL type (the dataset's, on append;
//     BIGINT sniffed by DuckDB, on create) are read as text and cast in the
//     COPY's projection: DuckDB's own cast rounds '7.5' to 8 and '1.005' to
//     1.01 in DECIMAL(3,2). A value whose cast fails or would round raises
//     an error naming the column and the value; Go then finds its line.
//     Per value the common path costs a text vector instead of a typed
//     one, the cast (which the reader did before) and printing the number
//     back to compare it with the text (strictColumnSQL); other notations
//     take a DOUBLE comparison, and only rare ones the regexp check.
//   - DOUBLE/FLOAT columns (CSV and JSONL): a number too large for the type
//     becomes ±Infinity in DuckDB. The COPY's per-file statistics already
//     say whether a float column holds ±inf; only then is the file scanned
//     in Go for a number out of range (a literal "inf" is kept).
//   - JSONL lines must be objects (read_json records = true); keys must be
//     non-empty, without control characters, and distinct ignoring case
//     (DuckDB renames "" to C<n> and a case variant "A" of "a" to A_1). The
//     schema and statistics tell when to look; Go finds the line.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/errs"
)

// exactType says whether a column of type t must be checked for values
// that DuckDB's cast from text would round (integer and DECIMAL types), and
// returns the type in canonical SQL (safe to paste into a statement) and
// its scale.
func exactType(t string) (sqlType string, scale int, ok bool) {
	u := strings.ToUpper(strings.TrimSpace(t))
	switch u {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
		"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT":
		return u, 0, true
	}
	if m := reDecimalType.FindStringSubmatch(u); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		if p >= 1 && p <= 38 && s >= 0 && s <= p {
			return fmt.Sprintf("DECIMAL(%d,%d)", p, s), s, true
		}
	}
	return "", 0, false
}

// zoneType says whether a column of type t is a TIMESTAMP or TIME WITH
// TIME ZONE, which DuckDB's CSV reader turns into NULL when a value does
// not parse (other types raise an error): such columns are read as text and
// cast, and a value whose cast fails is refused like an integer's. It
// returns the canonical name; the strict cast is marked by scale -1.
func zoneType(t string) (sqlType string, ok bool) {
	switch strings.Join(strings.Fields(strings.ToUpper(t)), " ") {
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return "TIMESTAMP WITH TIME ZONE", true
	case "TIMETZ", "TIME WITH TIME ZONE":
		return "TIME WITH TIME ZONE", true
	}
	return "", false
}

var reDecimalType = regexp.MustCompile(`^DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// castText is TRY_CAST(x AS typ) for text x. DuckDB 1.5's cast of text to
// a DECIMAL wider than 18 digits costs 6-50 us a value (against 0.04 us
// through HUGEINT): a DECIMAL(p,0) of that width is cast through HUGEINT,
// which reads the same whole numbers (a fraction is rounded there as in
// an integer type, and refused by the strict check as there).
func castText(x, typ string) string {
	if m := reDecimalType.FindStringSubmatch(typ); m != nil && m[2] == "0" {
		if p, _ := strconv.Atoi(m[1]); p > 18 {
			return fmt.Sprintf("TRY_CAST(TRY_CAST(%s AS HUGEINT) AS %s)", x, typ)
		}
	}
	return fmt.Sprintf("TRY_CAST(%s AS %s)", x, typ)
}

// decimalRangeSQL is a condition on v (a DECIMAL(p,s) cast of text) that
// is true when v holds more integer digits than p-s: DuckDB's cast from
// text does not check the precision when the mantissa is written with
// more digits than the type and an exponent ('7768.43000E6' into
// DECIMAL(10,2) is 7768430000.00). v is compared, in its own type, with
// the largest value the type holds. "false" for any other type.
func decimalRangeSQL(v, typ string) string {
	m := reDecimalType.FindStringSubmatch(typ)
	if m == nil {
		return "false"
	}
	p, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	limit := strings.Repeat("9", p-s)
	if limit == "" {
		limit = "0"
	}
	if s > 0 {
		limit += "." + strings.Repeat("9", s)
	}
	return fmt.Sprintf("abs(%s) > CAST(%s AS %s)", v, sqlString(limit), typ)
}

// badValueTag starts the error a strict cast raises:
// tag + "<column index>:<invalid|inexact>:<type>:" + the value.
const badValueTag = "lakehouse:bad-value:"

var reBadValue = regexp.MustCompile(`lakehouse:bad-value:(\d+):(invalid|inexact|mixed|zone|time|nanos):([A-Z0-9_(), \[\]*]+):((?s).*)$`)

// reNestedValue matches nestedColumnSQL's error: a leaf inside a nested
// value ("<bytes>:<leaf><whole value>" in the last group).
var reNestedValue = regexp.MustCompile(`lakehouse:bad-value:(\d+):nested:(invalid|inexact):([A-Z0-9(), ]+):((?s).*)$`)

// Decimal notation DuckDB's cast accepts: sign, digits with '_', fraction,
// exponent, surrounding blanks. Groups: integer digits, fraction digits, exponent.
const decimalPattern = `^\s*[+-]?([0-9_]*)(?:\.([0-9_]*))?(?:[eE]([+-]?[0-9]+))?\s*$`

// strictColumnSQL casts the text column c<i> (with v<i> = TRY_CAST(c<i>
// AS typ) beside it) to typ, raising a tagged error for a value that is
// not a valid typ or that the cast rounded. A value is kept when the text
// holds the very number v — cheapest test first, each only for the values
// the previous ones left:
//  1. v printed by DuckDB is the text ("42"; "12.50" in DECIMAL(p,2));
//  2. the text has at most 15 characters (so at most 15 significant
//     digits) and reads as the same DOUBLE as v: two different numbers of
//     15 digits or fewer are never the same double (a 0 written with an
//     exponent goes on to 3: it may be an underflow);
//  3. hex and binary integers;
//  4. decimal notation: value = digits × 10^(exponent − fraction length);
//     it fits when the digits, less their trailing zeros, need no more
//     than scale decimal places. Any other text with a fraction or an
//     exponent is refused.
//
// A scale of -1 (zoneType) keeps every value the cast reads and refuses
// the others.
func strictColumnSQL(i int, typ string, scale int) string {
	c, v := fmt.Sprintf("c%d", i), fmt.Sprintf("v%d", i)
	tag := func(kind string) string {
		return fmt.Sprintf("error(%s || %s)", sqlString(fmt.Sprintf("%s%d:%s:%s:", badValueTag, i, kind, typ)), c)
	}
	if scale < 0 {
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s ELSE %[2]s END", c, v, tag("invalid"))
	}
	p := sqlString(decimalPattern)
	group := func(n int) string { return fmt.Sprintf("replace(regexp_extract(%s, %s, %d), '_', '')", c, p, n) }
	digits := group(1) + " || " + group(2)
	exp := fmt.Sprintf("regexp_extract(%s, %s, 3)", c, p)
	// Test 1 comes before the refusal of an invalid value: a text equal to
	// v printed holds a digit and v is not NULL, so only the range check can
	// refuse such a value, and it is kept in test 1's condition. The common
	// value then costs no regexp (ADR-142).
	printed := fmt.Sprintf("%[1]s::VARCHAR = %[2]s", v, c)
	if r := decimalRangeSQL(v, typ); r != "false" {
		printed += " AND NOT " + r
	}
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN NULL
 WHEN %[11]s THEN %[2]s
 WHEN %[2]s IS NULL OR NOT regexp_matches(%[1]s, '[0-9]') OR %[10]s THEN %[3]s
 WHEN strlen(%[1]s) <= 15 AND TRY_CAST(%[1]s AS DOUBLE) = %[2]s::DOUBLE AND (%[2]s <> 0 OR NOT (contains(%[1]s, 'e') OR contains(%[1]s, 'E'))) THEN %[2]s
 WHEN regexp_full_match(%[1]s, '^\s*[+-]?0[xXbB][0-9a-fA-F_]+\s*$') THEN %[2]s
 WHEN NOT regexp_full_match(%[1]s, %[5]s) THEN %[4]s
 WHEN rtrim(%[6]s, '0') = '' THEN %[2]s
 WHEN coalesce(length(%[7]s) - (CASE WHEN %[8]s = '' THEN 0 ELSE TRY_CAST(%[8]s AS INTEGER) END)::BIGINT - (length(%[6]s) - length(rtrim(%[6]s, '0'))) <= %[9]d, false) THEN %[2]s
 ELSE %[4]s END`, c, v, tag("invalid"), tag("inexact"), p, digits, group(2), exp, scale, decimalRangeSQL(v, typ), printed)
}

// strictQuery wraps a read_csv call whose exact-typed columns are read as
// VARCHAR: the projection casts them strictly and names every column.
func strictQuery(reader string, cols []Column, exact map[int]exactCol) string {
	var in, out []string
	alias := make([]string, len(cols))
	for i, col := range cols {
		alias[i] = fmt.Sprintf("c%d", i)
		in = append(in, alias[i])
		if e, ok := exact[i]; ok && e.nested != nil {
			in = append(in, fmt.Sprintf("TRY_CAST(c%d AS %s) AS v%d", i, e.nested.sql(false), i),
				fmt.Sprintf(`CASE WHEN translate(TRY_CAST(c%[1]d AS %[2]s)::VARCHAR, ' ''"', '') IS DISTINCT FROM translate(c%[1]d, ' ''"', '') THEN %[3]s END AS b%[1]d`,
					i, e.nested.sql(false), e.nested.badLeafSQL(fmt.Sprintf("TRY_CAST(c%d AS %s)", i, e.nested.sql(true)), 0)))
			out = append(out, nestedColumnSQL(i)+" AS "+sqlIdent(col.Name))
		} else if ok && e.temporal {
			in = append(in, fmt.Sprintf("TRY_CAST(c%d AS %s) AS v%d", i, e.typ, i))
			out = append(out, temporalColumnSQL(i, e.typ)+" AS "+sqlIdent(col.Name))
		} else if ok {
			in = append(in, fmt.Sprintf("%s AS v%d", castText(fmt.Sprintf("c%d", i), e.typ), i))
			out = append(out, strictColumnSQL(i, e.typ, e.scale)+" AS "+sqlIdent(col.Name))
		} else {
			out = append(out, alias[i]+" AS "+sqlIdent(col.Name))
		}
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT %s FROM %s AS t(%s))",
		strings.Join(out, ", "), strings.Join(in, ", "), reader, strings.Join(alias, ", "))
}

type exactCol struct {
	typ      string
	scale    int
	nested   *typeNode // a nested type with integer or DECIMAL leaves (nested.go)
	temporal bool      // DATE, TIME, TIMESTAMP read as ISO 8601 (temporal.go)
}

func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// badValue turns a strict cast's tagged error into a located Invalid
// error: the column named from the CSV header or the dataset's schema, the
// line found in the CSV or JSONL file.
func badValue(in Input, h *csvHeader, m []string) error {
	col, _ := strconv.Atoi(m[1])
	kind, typ, value := m[2], m[3], m[4]
	if typ == "*" && col < len(in.Schema) {
		typ = in.Schema[col].Type
	}
	name, colName := fmt.Sprintf("column %d", col+1), ""
	switch {
	case h != nil && col < len(h.names):
		colName = h.names[col]
	case h == nil && col < len(in.Schema):
		colName = in.Schema[col].Name
	}
	if colName != "" {
		name = fmt.Sprintf("column %q (%d)", colName, col+1)
	}
	_, scale, numeric := exactType(typ)
	var what string
	switch {
	case kind == "mixed":
		what = fmt.Sprintf("value %s is not a %s (the column's other values in this file are of another type)", shorten(value, 100), typ)
	case kind == "zone":
		what = fmt.Sprintf("value %q has a time zone offset; the column is %s (no time zone) and would store another instant (write it without an offset, or with +00/Z)", shorten(value, 100), typ)
	case kind == "time":
		what = fmt.Sprintf("value %q has a time of day (or a time zone); the column is DATE and would drop it", shorten(value, 100))
	case kind == "nanos":
		unit := "microseconds, 6 fractional digits"
		if typ == "TIMESTAMP_NS" {
			unit = "nanoseconds, 9 fractional digits"
		}
		what = fmt.Sprintf("value %q has more fractional second digits than %s holds (%s); they would be cut", shorten(value, 100), typ, unit)
	case kind == "inexact" && strings.HasPrefix(typ, "DECIMAL"):
		what = fmt.Sprintf("value %q has more decimal places than %s holds (%d); it would be rounded", shorten(value, 100), typ, scale)
	case kind == "inexact" && (typ == "DOUBLE" || typ == "FLOAT"):
		what = fmt.Sprintf("value %q cannot be stored exactly as %s; it would be rounded", shorten(value, 100), typ)
	case kind == "inexact":
		what = fmt.Sprintf("value %q is not a whole number (%s); it would be rounded", shorten(value, 100), typ)
	case looksNumeric(value) && numeric:
		what = fmt.Sprintf("value %q is out of range for %s", shorten(value, 100), typ)
	default:
		what = fmt.Sprintf("value %q is not a valid %s", shorten(value, 100), typ)
	}
	return locatedValue(in, h, col, name, value, what)
}

// locatedValue is the Invalid error "line N: <name>: <what>" for the
// first row whose field col is value (without the line when none is found).
func locatedValue(in Input, h *csvHeader, col int, name, value, what string) error {
	line := 0
	switch {
	case h != nil:
		line = findCSV(in.Path, h, col, func(v string) bool { return v == value })
	case in.Format == JSONL && col < len(in.Schema):
		line = findJSONL(in.Path, in.Schema[col].Name, value)
	}
	if line > 0 {
		return errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d: %s: %s", line, name, what))
	}
	return errs.E("ingest", errs.Invalid, name+": "+what)
}

// nestedBadValue is badValue for a leaf inside a nested CSV value.
func nestedBadValue(in Input, h *csvHeader, m []string) error {
	col, _ := strconv.Atoi(m[1])
	kind, typ := m[2], m[3]
	leaf, value, ok := splitNested(m[4])
	if !ok {
		return errs.E("ingest", errs.Invalid, "a nested value is not exact")
	}
	name, colType := fmt.Sprintf("column %d", col+1), ""
	if col < len(in.Schema) {
		colType = " (" + in.Schema[col].Type + ")"
	}
	if h != nil && col < len(h.names) {
		name = fmt.Sprintf("column %q (%d)", h.names[col], col+1)
	}
	_, scale, _ := exactType(typ)
	var what string
	switch {
	case kind == "zone":
		what = fmt.Sprintf("value %q has a time zone offset; the column is %s (no time zone) and would store another instant (write it without an offset, or with +00/Z)", shorten(value, 100), typ)
	case kind == "time":
		what = fmt.Sprintf("value %q has a time of day (or a time zone); the column is DATE and would drop it", shorten(value, 100))
	case kind == "inexact" && strings.HasPrefix(typ, "DECIMAL"):
		what = fmt.Sprintf("has more decimal places than %s holds (%d); it would be rounded", typ, scale)
	case kind == "inexact":
		what = fmt.Sprintf("is not a whole number (%s); it would be rounded", typ)
	case looksNumeric(leaf):
		what = fmt.Sprintf("is out of range for %s", typ)
	default:
		what = fmt.Sprintf("is not a valid %s", typ)
	}
	what = fmt.Sprintf("value %q%s: element %q %s", shorten(value, 100), colType, shorten(leaf, 100), what)
	return locatedValue(in, h, col, name, value, what)
}

var reNumeric = regexp.MustCompile(`^\s*[+-]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?\s*$`)

func looksNumeric(s string) bool { return reNumeric.MatchString(s) }

// findCSV returns the line where the first data row whose field col
// satisfies match starts (0: none).
func findCSV(path string, h *csvHeader, col int, match func(string) bool) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	r := csvBody(f, h.delim)
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil || col >= len(rec) {
			continue
		}
		if match(rec[col]) {
			line, _ := r.FieldPos(0)
			return line + 1
		}
	}
}

// overflows says whether s is a number too large for a float of the given
// bits (DuckDB stores it as ±Infinity); "inf" itself is not.
func overflows(s string, bits int) bool {
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	f, err := strconv.ParseFloat(s, bits)
	return err != nil && errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)
}

// reNumberToken finds the numbers in a nested value's text (not inside
// a word: a key x1e400 is no number).
var reNumberToken = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])([+-]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)`)

// overflowingNumber is the first number in a nested value's text that is
// too large for a float of the given bits ("" if none).
func overflowingNumber(s string, bits int) string {
	for _, m := range reNumberToken.FindAllStringSubmatch(s, -1) {
		if overflows(m[1], bits) {
			return m[1]
		}
	}
	return ""
}

// nestedFloatBits is the float sizes a nested type holds: 64 for DOUBLE,
// then 32 for FLOAT.
func nestedFloatBits(t string) []int {
	var double, float bool
	for _, m := range reFloatLeaf.FindAllStringSubmatch(t, -1) {
		double = double || strings.EqualFold(m[2], "DOUBLE")
		float = float || strings.EqualFold(m[2], "FLOAT")
	}
	var bits []int
	if double {
		bits = append(bits, 64)
	}
	if float {
		bits = append(bits, 32)
	}
	return bits
}

var reFloatLeaf = regexp.MustCompile(`(?i)(^|[ (,])(DOUBLE|FLOAT)([ ,)\[]|$)`)

// fileStats is what checkResult needs from the COPY's RETURN_STATS.
type fileStats struct {
	infCols map[string]bool // float columns (top-level name) holding ±inf
	// bigCols: top-level numeric columns holding a number of magnitude
	// 2^53 or more (±inf included): a DOUBLE's may have lost digits (exact.go).
	bigCols map[string]bool
	paths   [][]string // every leaf column path, names unquoted
}

// addStats reads one file's column_statistics (a MAP of column path to a
// MAP of statistic name to text).
func (s *fileStats) addStats(v any) {
	om, ok := v.(duckdb.OrderedMap)
	if !ok {
		return
	}
	keys, vals := om.Keys(), om.Values()
	for i := range keys {
		p, _ := keys[i].(string)
		path := splitPath(p)
		s.paths = append(s.paths, path)
		st, ok := vals[i].(duckdb.OrderedMap)
		if !ok || len(path) == 0 {
			continue
		}
		maxv, _ := st.Get("max")
		minv, _ := st.Get("min")
		if len(path) == 1 && (beyondExact(maxv) || beyondExact(minv)) {
			if s.bigCols == nil {
				s.bigCols = map[string]bool{}
			}
			s.bigCols[path[0]] = true
		}
		if _, isFloat := st.Get("has_nan"); !isFloat {
			continue
		}
		if maxv == "inf" || minv == "-inf" {
			if s.infCols == nil {
				s.infCols = map[string]bool{}
			}
			s.infCols[path[0]] = true
		}
	}
}

// splitPath splits a statistics column path ("a"."b""c") into names.
func splitPath(p string) []string {
	var out []string
	var cur strings.Builder
	inQuote, started := false, false
	for i := 0; i < len(p); i++ {
		ch := p[i]
		switch {
		case inQuote && ch == '"' && i+1 < len(p) && p[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			inQuote = !inQuote
			started = true
		case !inQuote && ch == '.':
			out = append(out, cur.String())
			cur.Reset()
			started = false
		default:
			cur.WriteByte(ch)
			started = true
		}
	}
	if started || len(out) > 0 {
		out = append(out, cur.String())
	}
	return out
}

func badName(n string) bool { return n == "" || strings.IndexFunc(n, unicode.IsControl) >= 0 }

var (
	reRenamedEmpty = regexp.MustCompile(`^C\d+$`)
	reRenamedDup   = regexp.MustCompile(`^(.+)_\d+$`)
)

// checkResult refuses what DuckDB read but changed: column names it
// renamed or that cannot be names, numbers it turned into Infinity.
func checkResult(in Input, h *csvHeader, res *Result) error {
	const op = "ingest"
	st := &res.stats
	definite := "" // a problem known without a line
	suspect := false
	for i, col := range res.Schema {
		if badName(col.Name) {
			definite = fmt.Sprintf("column %d: the name %q is empty or contains a control character", i+1, col.Name)
		}
		if in.Format != JSONL {
			continue
		}
		if reRenamedEmpty.MatchString(col.Name) {
			suspect = true
		}
		if m := reRenamedDup.FindStringSubmatch(col.Name); m != nil {
			for _, other := range res.Schema {
				if other.Name != col.Name && strings.EqualFold(other.Name, m[1]) {
					suspect = true
				}
			}
		}
	}
	if in.Format == JSONL {
		for _, p := range st.paths {
			for _, n := range p {
				if badName(n) && definite == "" {
					definite = fmt.Sprintf("column %q: a nested key %q is empty or contains a control character", p[0], n)
				}
			}
		}
	}
	if definite != "" && in.Format != JSONL {
		return errs.E(op, errs.Invalid, definite)
	}
	numbers := len(st.infCols) > 0
	switch in.Format {
	case JSONL:
		if definite != "" || suspect || numbers {
			if err := scanJSONL(in.Path, jsonChecks{keys: definite != "" || suspect, numbers: numbers}); err != nil {
				return err
			}
		}
		if definite != "" {
			return errs.E(op, errs.Invalid, definite)
		}
	case CSV:
		if !numbers || h == nil {
			return nil
		}
		for i, col := range res.Schema {
			if !st.infCols[col.Name] {
				continue
			}
			if strings.ContainsAny(col.Type, "([") {
				// A float inside a LIST, ARRAY, STRUCT or MAP: the numbers
				// in the value's text, DOUBLE's range first, then FLOAT's
				// when the type holds one.
				var bad, value, leaf string
				for _, leafBits := range nestedFloatBits(col.Type) {
					line := findCSV(in.Path, h, i, func(v string) bool {
						if n := overflowingNumber(v, leafBits); n != "" {
							bad, value = n, v
							return true
						}
						return false
					})
					leaf = "DOUBLE"
					if leafBits == 32 {
						leaf = "FLOAT"
					}
					if line > 0 {
						return errs.E(op, errs.Invalid, fmt.Sprintf("line %d: column %q (%d): value %q (%s): element %q is out of range for %s (it would be stored as Infinity)", line, col.Name, i+1, shorten(value, 100), col.Type, shorten(bad, 100), leaf))
					}
				}
				continue
			}
			bits := 64
			if strings.EqualFold(col.Type, "FLOAT") {
				bits = 32
			}
			var bad string
			line := findCSV(in.Path, h, i, func(v string) bool {
				if overflows(v, bits) {
					bad = v
					return true
				}
				return false
			})
			if line > 0 {
				return errs.E(op, errs.Invalid, fmt.Sprintf("line %d: column %q (%d): value %q is out of range for %s (it would be stored as Infinity)", line, col.Name, i+1, shorten(bad, 100), col.Type))
			}
		}
	}
	return nil
}

// jsonChecks selects what scanJSONL looks for.
type jsonChecks struct {
	records bool // every non-blank line is an object (or null, which DuckDB reads as a row of NULLs)
	keys    bool // keys non-empty, no control characters, top-level keys distinct ignoring case
	numbers bool // no number beyond the DOUBLE range
}

// scanJSONL finds the first line of a JSONL file that breaks a check and
// returns a located Invalid error (nil: none found). Lines it cannot parse
// are skipped (DuckDB reported or accepted them).
func scanJSONL(path string, chk jsonChecks) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	seen := map[string]keyAt{} // top-level keys by lower case
	for n := 1; ; n++ {
		line, err := readJSONLine(br, 256<<20)
		if line != nil {
			if n == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			}
			if msg := checkJSONLine(line, n, chk, seen); msg != "" {
				return errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d: %s", n, msg))
			}
		}
		if err != nil {
			return nil
		}
	}
}

type keyAt struct {
	key  string
	line int
}

// readJSONLine reads one line; a line over max bytes is skipped (nil).
func readJSONLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > max {
				tooLong, buf = true, nil
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, err
		}
		return buf, err
	}
}

func checkJSONLine(line []byte, n int, chk jsonChecks, seen map[string]keyAt) string {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return ""
	}
	if trimmed[0] != '{' {
		if chk.records && !bytes.Equal(trimmed, []byte("null")) {
			return "not a JSON object (each line must be one object, {\"column\": value, ...}; got " + jsonKind(trimmed[0]) + ")"
		}
		return ""
	}
	if !chk.keys && !chk.numbers {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	type frame struct{ obj, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			continue
		}
		if k := len(stack); k > 0 && stack[k-1].obj && stack[k-1].wantKey {
			key, _ := tok.(string)
			stack[k-1].wantKey = false
			if !chk.keys {
				continue
			}
			if key == "" {
				return "empty key \"\" (a column name cannot be empty)"
			}
			if strings.IndexFunc(key, unicode.IsControl) >= 0 {
				return fmt.Sprintf("key %q contains a control character (not allowed in a column name)", key)
			}
			if k == 1 {
				low := strings.ToLower(key)
				if prev, ok := seen[low]; ok && prev.key != key {
					return fmt.Sprintf("key %q differs from key %q (line %d) only in case (column names are case-insensitive)", key, prev.key, prev.line)
				} else if !ok {
					seen[low] = keyAt{key, n}
				}
			}
			continue
		}
		if k := len(stack); k > 0 && stack[k-1].obj {
			stack[k-1].wantKey = true
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, frame{obj: v == '{', wantKey: v == '{'})
		case json.Number:
			if chk.numbers && overflows(string(v), 64) {
				return fmt.Sprintf("number %s is out of range (larger than a DOUBLE holds; it would be stored as Infinity)", shorten(string(v), 100))
			}
		}
	}
}

// jsonlHasKey reports whether a line of the JSONL file at path is an
// object with at least one key (true when it cannot tell).
func jsonlHasKey(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := readJSONLine(br, 256<<20)
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '{' {
			var obj map[string]json.RawMessage
			if json.Unmarshal(t, &obj) != nil || len(obj) > 0 {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

func jsonKind(b byte) string {
	if k := jsonValueKind(b); k != "" {
		return k
	}
	return "something else"
}

var (
	reJSONTransform = regexp.MustCompile(`JSON transform error in file "[^"]*", in line (\d+): ([^\n]*)`)
	reJSONNotObject = regexp.MustCompile(`^Expected OBJECT, but got (\w+)`)
	reJSONNumber    = regexp.MustCompile(`^Failed to cast value to numerical: (.*)$`)
)

// translateJSON says where a JSONL file broke; "" when msg is not a JSON reader error.
func translateJSON(path, msg string) error {
	const op = "ingest"
	if strings.Contains(msg, "expected records, but got non-record JSON") {
		if err := scanJSONL(path, jsonChecks{records: true}); err != nil {
			return err
		}
		if !jsonlHasKey(path) {
			// DuckDB found no column: every line is {} or null.
			return errs.E(op, errs.Invalid, "no column: every object is empty ({}) or null (each row needs at least one key, {\"column\": value, ...})")
		}
		return errs.E(op, errs.Invalid, "a line is not a JSON object (each line must be one object)")
	}
	m := reJSONTransform.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	reason := strings.TrimSpace(m[2])
	if r := reJSONNotObject.FindStringSubmatch(reason); r != nil {
		got := strings.ToLower(r[1])
		switch got {
		case "array":
			got = "an array"
		case "string", "varchar":
			got = "a string"
		case "boolean", "bool":
			got = "a boolean"
		case "number", "bigint", "ubigint", "double", "integer":
			got = "a number"
		}
		return errs.E(op, errs.Invalid, fmt.Sprintf("line %s: not a JSON object (each line must be one object, {\"column\": value, ...}; got %s)", m[1], got))
	}
	if r := reJSONNumber.FindStringSubmatch(reason); r != nil && overflows(r[1], 64) {
		return errs.E(op, errs.Invalid, fmt.Sprintf("line %s: number %s is out of range (larger than a DOUBLE holds)", m[1], shorten(r[1], 100)))
	}
	return errs.E(op, errs.Invalid, fmt.Sprintf("line %s: %s", m[1], shorten(reason, 200)))
}
