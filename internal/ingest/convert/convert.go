// Package convert is ingestd's DuckDB adapter: it turns an uploaded CSV,
// JSONL or Parquet file into zstd Parquet files of bounded size, reports
// their rows, bytes and schema, and translates DuckDB's reader errors into
// messages that say where the input broke (line, column, value). ingestd
// (ingest/ingestd) is its only caller.
//
// CSV rules (ADR-023): a header line is required; the delimiter is taken
// from the header line (the most frequent of , tab ; | outside quotes),
// quote and escape are '"', types are sniffed by DuckDB, and the reader is
// strict (ragged rows, bad quoting, non-UTF-8 and unconvertible values are
// errors, never NULLs). A value that does not fit a type sniffed from the
// first 20480 rows makes the file be read again with types sniffed from
// every row. Lines longer than 2 MB are read again with max_line_size
// raised to MaxLineBytes. The header's column names are read as DuckDB
// reads them (blanks around quoted names, Unicode space separators
// trimmed) or the header is refused (parseHeader, FuzzCSVHeader).
//
// Values are stored as written or refused (strict.go): integer and
// DECIMAL values that DuckDB's cast would round, numbers beyond a float's
// range (Infinity), JSONL lines that are not objects, and column names
// that are empty, hold control characters or that DuckDB would rename.
package convert

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unicode"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/errs"
)

// Formats.
const (
	CSV     = "csv"
	JSONL   = "jsonl"
	Parquet = "parquet"
)

// Column is one column of a schema (DuckDB type name).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Format: how a DATE or TIMESTAMP column's values are written in the
	// dataset's CSV, when day and month could be read either way (formats.go).
	Format string `json:"format,omitempty"`
}

// File is one Parquet file written by Convert.
type File struct {
	Path  string
	Rows  int64
	Bytes int64
}

// Result is what Convert wrote.
type Result struct {
	// Format is what the file was read as: the input's, except for a JSON
	// document read line by line (JSONL) or rewritten first (JSON).
	Format string
	Files  []File
	Schema []Column
	Rows   int64
	Bytes  int64

	stats fileStats
}

// Options configure the converter.
type Options struct {
	Threads      int
	MemoryLimit  string
	TempDir      string // DuckDB spill directory (required)
	RowGroupSize int    // rows per Parquet row group (default 122880)
	FileRows     int64  // about this many rows per output file (default 10M)
	MaxLineBytes int    // longest CSV line accepted (default 64 MiB)
}

// Writer defaults: Options' zero RowGroupSize and FileRows.
const (
	DefaultRowGroupSize = 122880
	DefaultFileRows     = 10_000_000
)

// WithDefaults is o with the defaults Open uses filled in (RowGroupSize,
// FileRows, MaxLineBytes).
func (o Options) WithDefaults() Options {
	if o.RowGroupSize <= 0 {
		o.RowGroupSize = DefaultRowGroupSize
	}
	if o.FileRows <= 0 {
		o.FileRows = DefaultFileRows
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 20
	}
	return o
}

// ParquetCopyOptions is the option list of a DuckDB COPY ... TO that
// writes Parquet as an ingest does: zstd, o's row group size, and
// RETURN_STATS (one row per file written: name, count, size, footer,
// stats, partition keys). Every Parquet file ingest writes — a
// conversion's and a compaction's (ingestd) — takes its settings from
// here, so they cannot drift apart.
func (o Options) ParquetCopyOptions() string {
	return fmt.Sprintf("FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d, RETURN_STATS true", o.WithDefaults().RowGroupSize)
}

// Converter owns one DuckDB database used for conversions.
type Converter struct {
	db   *sql.DB
	opts Options
	// sniffs counts the sniff_csv statements run (formats.go; tests).
	sniffs atomic.Int64
}

const defaultMaxLine = 2_000_000 // DuckDB's own default max_line_size

// Open creates the converter's DuckDB (extensions never installed or
// autoloaded). Errors: Internal.
func Open(opts Options) (*Converter, error) {
	opts = opts.WithDefaults()
	if opts.TempDir == "" {
		return nil, errs.E("convert.Open", errs.Internal, "TempDir required")
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, errs.E("convert.Open", errs.Internal, err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, errs.E("convert.Open", errs.Internal, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1) // settings below are global; conversions share the thread pool
	stmts := []string{
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET allow_community_extensions = false",
		// A value without a zone is read the same on every host: the zone
		// checks (temporal.go) and TIMESTAMPTZ columns must not depend on
		// ingestd's TZ.
		"SET TimeZone = 'UTC'",
		"SET temp_directory = " + sqlString(opts.TempDir),
	}
	if opts.Threads > 0 {
		stmts = append(stmts, fmt.Sprintf("SET threads = %d", opts.Threads))
	}
	if opts.MemoryLimit != "" {
		stmts = append(stmts, "SET memory_limit = "+sqlString(opts.MemoryLimit))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return nil, errs.E("convert.Open", errs.Internal, fmt.Sprintf("%s: %v", s, err))
		}
	}
	db.SetMaxOpenConns(0)
	return &Converter{db: db, opts: opts}, nil
}

// Close releases DuckDB.
func (c *Converter) Close() error { return c.db.Close() }

// Input is one conversion.
type Input struct {
	Path   string
	Format string // csv | jsonl | json | parquet
	// Schema, when set (append), is the schema the rows must have: CSV is
	// read with these column types, other formats are compared to it.
	Schema []Column
}

// DetectFormat guesses the format from a file name, else from the first
// bytes: .jsonl and .ndjson are JSONL (one object a line); .json, and a
// file beginning with { or [, is a JSON document (an array of objects, or
// objects in any layout; JSONL is read as such).
func DetectFormat(filename string, head []byte) string {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".csv", ".tsv", ".txt":
		return CSV
	case ".jsonl", ".ndjson":
		return JSONL
	case ".json":
		return JSON
	case ".parquet", ".pq":
		return Parquet
	}
	if bytes.HasPrefix(head, []byte("PAR1")) {
		return Parquet
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return JSON
	}
	return CSV
}

// Convert writes in as Parquet files into outDir (created) and returns
// them. Errors: Invalid (the input is wrong; the message says where),
// Timeout/Unavailable (ctx), Internal.
func (c *Converter) Convert(ctx context.Context, in Input, outDir string) (*Result, error) {
	const op = "ingest"
	st, err := os.Stat(in.Path)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	if st.Size() == 0 {
		return nil, errs.E(op, errs.Invalid, "the file is empty")
	}
	if in.Format == JSON {
		return c.convertJSON(ctx, in, outDir)
	}
	return c.convert(ctx, in, outDir)
}

// convert is Convert of a CSV, JSONL or Parquet file.
func (c *Converter) convert(ctx context.Context, in Input, outDir string) (*Result, error) {
	const op = "ingest"
	var res *Result
	var err error
	var csvInfo *csvHeader
	switch in.Format {
	case CSV:
		h, err := readCSVHeader(in.Path, c.opts.MaxLineBytes)
		if err != nil {
			return nil, err
		}
		csvInfo = h
		if in.Schema != nil {
			if err := compareNames(h.names, in.Schema); err != nil {
				return nil, err
			}
		}
		res, err = c.convertCSV(ctx, in, h, outDir)
		if err != nil {
			return nil, c.failed(ctx, in, h, outDir, err)
		}
	case JSONL:
		res, err = c.convertJSONL(ctx, in, outDir)
		if e := (*errs.Error)(nil); errors.As(err, &e) {
			return nil, err
		}
	case Parquet:
		res, err = c.copy(ctx, "SELECT * FROM read_parquet("+sqlString(in.Path)+")", outDir)
	default:
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("format %q: want csv, jsonl, json or parquet", in.Format))
	}
	if err != nil {
		return nil, c.failed(ctx, in, csvInfo, outDir, err)
	}
	if csvInfo != nil && in.Schema == nil && !sameNames(res.Schema, csvInfo.names) {
		// DuckDB read a different header than the first line (it should
		// not with skip = 0; never commit such a reading).
		os.RemoveAll(outDir)
		if d := diagnoseCSV(in.Path, csvInfo, c.opts.MaxLineBytes); d != nil {
			return nil, d
		}
		return nil, errs.E(op, errs.Invalid, "the CSV could not be read consistently with its header line")
	}
	if res.Rows == 0 {
		os.RemoveAll(outDir)
		return nil, errs.E(op, errs.Invalid, "the file has no data rows")
	}
	if err := checkResult(in, csvInfo, res); err != nil {
		os.RemoveAll(outDir)
		return nil, err
	}
	if in.Schema != nil && in.Format != CSV {
		if err := compareSchema(res.Schema, in.Schema); err != nil {
			os.RemoveAll(outDir)
			return nil, err
		}
	}
	res.Format = in.Format
	return res, nil
}

func ctxErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.E("ingest", errs.Timeout, "conversion timed out", err)
	}
	return errs.E("ingest", errs.Unavailable, "ingest canceled", err)
}

// failed cleans outDir and turns a conversion error into the caller's error.
func (c *Converter) failed(ctx context.Context, in Input, h *csvHeader, outDir string, err error) error {
	os.RemoveAll(outDir)
	if ctx.Err() != nil {
		return ctxErr(ctx, err)
	}
	if e := (*errs.Error)(nil); errors.As(err, &e) {
		return err // already the caller's error (a refusal with its line)
	}
	if de := (*duckdb.Error)(nil); !errors.As(err, &de) {
		return DiskError("ingest", "converting the file", err)
	}
	if e := resourceError(err); e != nil {
		return e
	}
	return c.translate(in, h, err)
}

// DiskError is err (a failed write of ingestd's own files) as the caller's
// error: a full disk is Unavailable, naming the OS's reason and where to
// make room ([ingestd].temp_dir), not the path; anything else Internal.
func DiskError(op, doing string, err error) error {
	for _, no := range diskErrnos {
		if errors.Is(err, no) {
			return outOfDisk(op, doing, no.Error(), err)
		}
	}
	return errs.E(op, errs.Internal, err)
}

// diskErrnos are the OS's "no room": a full disk, a quota, a file size limit.
var diskErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}

func outOfDisk(op, doing, reason string, err error) error {
	return errs.E(op, errs.Unavailable, fmt.Sprintf("ingestd ran out of disk %s (%s): free space under [ingestd].temp_dir and send the file again; nothing was stored", doing, reason), errs.E(op, errs.Internal, err))
}

// resourceError is a DuckDB failure of the server's resources (its disk,
// its memory) as Unavailable: the file is not at fault (they were 400s,
// "the file could not be read: IO Error: ... No space left on device").
// DuckDB words the OS's reason as strerror does, capitalised.
func resourceError(err error) error {
	msg := err.Error()
	for _, no := range diskErrnos {
		if reason := no.Error(); strings.Contains(strings.ToLower(msg), reason) {
			return outOfDisk("ingest", "converting the file", reason, err)
		}
	}
	if strings.Contains(msg, "Out of Memory Error") {
		return errs.E("ingest", errs.Unavailable, "ingestd ran out of memory converting the file ([ingestd].memory_limit); nothing was stored", errs.E("ingest", errs.Internal, err))
	}
	return nil
}

// convertCSV converts a CSV file (convertCSVRuns) with an append's date
// formats and records a created dataset's (formats.go).
func (c *Converter) convertCSV(ctx context.Context, in Input, h *csvHeader, outDir string) (*Result, error) {
	if in.Schema != nil {
		if err := c.appendFormats(ctx, in, h); err != nil {
			return nil, err
		}
	}
	var usedMaxLine int
	var usedFullSniff bool
	promote := map[string]string{} // create: columns given another type (temporal.go)
	run := func(maxLine int, fullSniff bool) (*Result, error) {
		usedMaxLine, usedFullSniff = maxLine, fullSniff
		q, err := c.csvQuery(ctx, in.Path, h, in.Schema, promote, maxLine, fullSniff)
		if err != nil {
			return nil, err
		}
		return c.copy(ctx, q, outDir)
	}
	res, err := c.convertCSVRuns(ctx, in, run)
	for n := 0; err != nil && in.Schema == nil && ctx.Err() == nil && n < len(h.names); n++ {
		// A created DATE, TIME or TIMESTAMP column holding a value it
		// cannot hold (a zone, a time of day) takes the type the sniffer
		// gives such values; the file is read again with every row sniffed.
		m := reBadValue.FindStringSubmatch(rawMessage(err))
		if m == nil || m[2] != "zone" && m[2] != "time" && m[2] != "nanos" {
			break
		}
		col, _ := strconv.Atoi(m[1])
		if col >= len(h.names) || promote[h.names[col]] != "" {
			break
		}
		if m[2] == "nanos" {
			if m[3] != "TIMESTAMP" {
				break // past TIMESTAMP_NS too: refused
			}
			promote[h.names[col]] = "TIMESTAMP_NS"
		} else {
			promote[h.names[col]] = promotion(m[3])
		}
		res, err = run(usedMaxLine, true)
	}
	if err != nil {
		return nil, err
	}
	if in.Schema == nil {
		// A created DOUBLE column that would round an integer's digits
		// is DECIMAL (exact.go); the file is converted again.
		types, err := exactCSVTypes(ctx, in, h, res)
		if err != nil {
			os.RemoveAll(outDir)
			return nil, err
		}
		if len(types) > 0 {
			for n, t := range types {
				promote[n] = t
			}
			if res, err = run(usedMaxLine, usedFullSniff); err != nil {
				return nil, err
			}
		}
	}
	if err := c.recordFormats(ctx, in, h, res, usedMaxLine, usedFullSniff); err != nil {
		os.RemoveAll(outDir)
		return nil, err
	}
	return res, nil
}

// convertCSVRuns runs the conversion, reading the file again with
// max_line_size raised after a line over DuckDB's default, and with types
// sniffed from every row after a value that does not fit a type sniffed
// from the first rows (DuckDB's "auto-detected" conversion error, or a
// strict cast's error on create, where every checked type is a sniffed one).
func (c *Converter) convertCSVRuns(ctx context.Context, in Input, run func(maxLine int, fullSniff bool) (*Result, error)) (*Result, error) {
	resniff := func(err error) bool {
		msg := rawMessage(err)
		if m := reBadValue.FindStringSubmatch(msg); m != nil && (m[2] == "zone" || m[2] == "time" || m[2] == "nanos") {
			return false // convertCSV gives the column another type
		}
		return strings.Contains(msg, "Could not convert") && strings.Contains(msg, "auto-detected") ||
			in.Schema == nil && strings.Contains(msg, badValueTag)
	}
	res, err := run(defaultMaxLine, false)
	if err == nil || errs.Is(err, errs.Timeout) || ctx.Err() != nil {
		return res, err
	}
	switch {
	case strings.Contains(rawMessage(err), "Maximum line size"):
		res, err = run(c.opts.MaxLineBytes, false)
		if err != nil && ctx.Err() == nil && resniff(err) {
			res, err = run(c.opts.MaxLineBytes, true)
		}
	case resniff(err):
		res, err = run(defaultMaxLine, true)
	}
	return res, err
}

// csvQuery is the SELECT that reads the CSV. Integer and DECIMAL columns
// (the dataset's on append, BIGINT sniffed by DuckDB on create) are read as
// text and cast strictly (strict.go), and so are DATE, TIME and TIMESTAMP
// columns read as ISO 8601 (temporal.go). With types sniffed from every
// row no integer check is needed: DuckDB's sniffer gives BIGINT only to
// integer notation; the temporal check still is (it reads a late zoned
// value as TIMESTAMP). promote gives created columns another type.
func (c *Converter) csvQuery(ctx context.Context, path string, h *csvHeader, schema []Column, promote map[string]string, maxLine int, fullSniff bool) (string, error) {
	cols := schema
	dateISO, tsISO := isoFormat(h.dateFormat), isoFormat(h.timestampFormat)
	if schema != nil {
		dateISO = dateISO && h.batchSniffed && isoFormat(h.batchDate)
		tsISO = tsISO && h.batchSniffed && isoFormat(h.batchTimestamp)
	} else {
		var err error
		if cols, err = c.describe(ctx, c.csvReader(path, h, nil, promote, maxLine, fullSniff)); err != nil {
			return "", err
		}
		if temporalCols(cols) {
			d, ts, err := c.sniffFormats(ctx, path, h, maxLine, fullSniff)
			if err != nil {
				return "", err
			}
			dateISO, tsISO = isoFormat(d), isoFormat(ts)
		}
	}
	exact := map[int]exactCol{}
	for i, col := range cols {
		if typ, ok := temporalType(col.Type); ok {
			if typ == "TIME" || typ == "DATE" && dateISO || strings.HasPrefix(typ, "TIMESTAMP") && tsISO {
				exact[i] = exactCol{typ: typ, temporal: true}
			}
			continue
		}
		if schema == nil && fullSniff && !strings.HasPrefix(promote[col.Name], "DECIMAL") {
			continue
		}
		if typ, scale, ok := exactType(col.Type); ok {
			exact[i] = exactCol{typ: typ, scale: scale}
		} else if typ, ok := zoneType(col.Type); ok {
			exact[i] = exactCol{typ: typ, scale: -1}
		} else if n, ok := nestedExact(col.Type); ok {
			exact[i] = exactCol{nested: n}
		}
	}
	if len(exact) == 0 {
		return "SELECT * FROM " + c.csvReader(path, h, schema, promote, maxLine, fullSniff), nil
	}
	types := map[string]string{}
	for n, t := range promote {
		types[n] = t
	}
	for i := range exact {
		types[cols[i].Name] = "VARCHAR"
	}
	return strictQuery(c.csvReader(path, h, schema, types, maxLine, fullSniff), cols, exact), nil
}

// temporalCols says whether cols has a DATE, TIME or TIMESTAMP column.
func temporalCols(cols []Column) bool {
	for _, col := range cols {
		if _, ok := temporalType(col.Type); ok {
			return true
		}
	}
	return false
}

// describe returns the columns the query would produce.
func (c *Converter) describe(ctx context.Context, reader string) ([]Column, error) {
	rows, err := c.db.QueryContext(ctx, "DESCRIBE SELECT * FROM "+reader)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ string
		var n, k, d, e any
		if err := rows.Scan(&name, &typ, &n, &k, &d, &e); err != nil {
			return nil, err
		}
		cols = append(cols, Column{Name: name, Type: typ})
	}
	return cols, rows.Err()
}

// csvReader is the read_csv call: with schema, those columns and types;
// columns named in types are read as that type (VARCHAR: to be cast
// strictly).
func (c *Converter) csvReader(path string, h *csvHeader, schema []Column, types map[string]string, maxLine int, fullSniff bool) string {
	var b strings.Builder
	b.WriteString("read_csv(" + sqlString(path) + csvDialect(h, maxLine) + ", ignore_errors = false")
	if h.dateFormat != "" {
		b.WriteString(", dateformat = " + sqlString(h.dateFormat))
	}
	if h.timestampFormat != "" {
		b.WriteString(", timestampformat = " + sqlString(h.timestampFormat))
	}
	if schema != nil {
		b.WriteString(", columns = {")
		for i, col := range schema {
			if i > 0 {
				b.WriteString(", ")
			}
			typ := col.Type
			if t := types[col.Name]; t != "" {
				typ = t
			}
			b.WriteString(sqlString(col.Name) + ": " + sqlString(typ))
		}
		b.WriteString("}")
	} else {
		if len(types) > 0 {
			names := make([]string, 0, len(types))
			for n := range types {
				names = append(names, n)
			}
			sort.Strings(names)
			b.WriteString(", types = {")
			for i, n := range names {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(sqlString(n) + ": " + sqlString(types[n]))
			}
			b.WriteString("}")
		}
		if fullSniff {
			b.WriteString(", sample_size = -1")
		}
	}
	b.WriteString(")")
	return b.String()
}

// csvDialect is the options read_csv and sniff_csv share: the header, the
// delimiter, RFC 4180 quoting, strict rows and the line size.
func csvDialect(h *csvHeader, maxLine int) string {
	d := ", header = true, skip = 0, delim = " + sqlString(string(h.delim)) +
		`, quote = '"', escape = '"', strict_mode = true, null_padding = false`
	if maxLine != defaultMaxLine {
		d += fmt.Sprintf(", max_line_size = %d, buffer_size = %d", maxLine, 2*maxLine+(1<<20))
	}
	return d
}

// copy runs COPY (query) TO outDir and collects files, rows, schema and
// the statistics checkResult needs.
func (c *Converter) copy(ctx context.Context, query, outDir string) (*Result, error) {
	os.RemoveAll(outDir)
	if err := os.MkdirAll(filepath.Dir(outDir), 0o700); err != nil {
		return nil, err
	}
	groups := (c.opts.FileRows + int64(c.opts.RowGroupSize) - 1) / int64(c.opts.RowGroupSize)
	stmt := fmt.Sprintf("COPY (%s) TO %s (%s, ROW_GROUPS_PER_FILE %d, FILENAME_PATTERN 'part_{i}')",
		query, sqlString(outDir), c.opts.ParquetCopyOptions(), max(groups, 1))
	rows, err := c.db.QueryContext(ctx, stmt)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for rows.Next() {
		var name string
		var count, size uint64
		var footer, stats, parts any
		if err := rows.Scan(&name, &count, &size, &footer, &stats, &parts); err != nil {
			rows.Close()
			return nil, err
		}
		if count == 0 {
			os.Remove(name)
			continue
		}
		res.stats.addStats(stats)
		res.Files = append(res.Files, File{Path: name, Rows: int64(count), Bytes: int64(size)})
		res.Rows += int64(count)
		res.Bytes += int64(size)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	rows.Close()
	sort.Slice(res.Files, func(i, j int) bool { return partNum(res.Files[i].Path) < partNum(res.Files[j].Path) })
	if len(res.Files) == 0 {
		return res, nil
	}
	schemaRows, err := c.db.QueryContext(ctx, "DESCRIBE SELECT * FROM read_parquet("+sqlString(res.Files[0].Path)+")")
	if err != nil {
		return nil, err
	}
	defer schemaRows.Close()
	for schemaRows.Next() {
		var name, typ string
		var n, k, d, e any
		if err := schemaRows.Scan(&name, &typ, &n, &k, &d, &e); err != nil {
			return nil, err
		}
		res.Schema = append(res.Schema, Column{Name: name, Type: typ})
	}
	return res, schemaRows.Err()
}

func sameNames(schema []Column, names []string) bool {
	if len(schema) != len(names) {
		return false
	}
	for i := range schema {
		if schema[i].Name != names[i] {
			return false
		}
	}
	return true
}

func partNum(p string) int {
	base := strings.TrimSuffix(filepath.Base(p), ".parquet")
	n, _ := strconv.Atoi(strings.TrimPrefix(base, "part_"))
	return n
}

// csvHeader is what ingestd learns from the first line.
type csvHeader struct {
	delim rune
	names []string
	// dateFormat, timestampFormat: formats the reader is told to use
	// instead of sniffing its own (an append in a dataset's formats).
	dateFormat, timestampFormat string
	// batchDate, batchTimestamp: the formats DuckDB sniffs for an append's
	// own rows (batchSniffed: asked, and it answered).
	batchDate, batchTimestamp string
	batchSniffed              bool
	// sniffed: sniffFormats' answers for this file.
	sniffed map[sniffKey][2]string
}

// readCSVHeader reads the header line: UTF-8, delimiter, column names
// (non-empty, unique ignoring case), and checks a data line follows.
func readCSVHeader(path string, maxLine int) (*csvHeader, error) {
	const op = "ingest"
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	line, err := readLine(br, maxLine)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = strings.TrimPrefix(line, "\ufeff")
	if strings.TrimSpace(line) == "" {
		return nil, errs.E(op, errs.Invalid, "line 1: the header line is empty (a header with column names is required)")
	}
	if !utf8.ValidString(line) {
		return nil, errs.E(op, errs.Invalid, "line 1: the header is not valid UTF-8 (the file must be UTF-8 encoded)")
	}
	h := &csvHeader{delim: guessDelimiter(line)}
	names, err := parseHeader(line, h.delim)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for i, n := range names {
		if n == "" {
			return nil, errs.E(op, errs.Invalid, fmt.Sprintf("line 1, column %d: empty column name in the header", i+1))
		}
		if j := strings.IndexFunc(n, unicode.IsControl); j >= 0 {
			r, _ := utf8.DecodeRuneInString(n[j:])
			return nil, errs.E(op, errs.Invalid, fmt.Sprintf("line 1, column %d: column name %q contains a control character (U+%04X)", i+1, n, r))
		}
		if j, dup := seen[strings.ToLower(n)]; dup {
			return nil, errs.E(op, errs.Invalid, fmt.Sprintf("line 1: duplicate column name %q (columns %d and %d; names are case-insensitive)", n, j+1, i+1))
		}
		seen[strings.ToLower(n)] = i
	}
	h.names = names
	// At least one non-blank line must follow.
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, errs.E(op, errs.Invalid, "the file has a header but no data rows (types cannot be inferred from a header alone)")
		}
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			return h, nil
		}
	}
}

// parseHeader splits the header line into column names, accepting only
// what it reads exactly as DuckDB's reader (quote and escape '"') does —
// FuzzCSVHeader holds it to that against DuckDB itself; anything else is
// refused, never named differently. A name is either
//   - quoted: '"' right after the delimiter (or the line's start), or after
//     one blank (`"id", "name"`; DuckDB keeps the quotes of a name with two
//     blanks or a tab before them), "" inside it a quote, followed only by
//     blanks before the next delimiter or the end of the line — DuckDB joins
//     another quoted part to the name (`"a" "b"` is `a b`, `"a" "" "e"` is
//     `a " e`), so text after the closing quote is refused; or
//   - unquoted: the text up to the next delimiter, without a quote (DuckDB
//     keeps the quotes of `x"id"`; refused, to be written `"x""id"""`).
//
// Each name is then trimmed of the Unicode space separators (category Zs:
// the blank, U+00A0, U+3000, ...; not tabs, U+2028 or U+200B), quoted or
// not, as DuckDB trims header names. A tab outside a quoted name is part
// of the name for DuckDB, and a control character in a name is refused by
// the caller.
func parseHeader(line string, delim rune) ([]string, error) {
	fail := func(col int, format string, a ...any) error {
		return errs.E("ingest", errs.Invalid, fmt.Sprintf("line 1, column %d: ", col)+fmt.Sprintf(format, a...)+" (header: "+strconv.Quote(shorten(line, 200))+")")
	}
	var names []string
	i := 0
	for {
		col := len(names) + 1
		var name string
		q := i
		if strings.HasPrefix(line[i:], ` "`) {
			q = i + 1 // one blank before the opening quote
		}
		if strings.HasPrefix(line[q:], `"`) {
			var b strings.Builder
			i = q + 1
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, fail(col, "the quote at byte %d is not closed on the header line (a column name cannot span lines)", q+1)
				}
				b.WriteString(line[i : i+j])
				i += j + 1
				if !strings.HasPrefix(line[i:], `"`) {
					break
				}
				b.WriteByte('"') // "" is a quote
				i++
			}
			name = b.String()
			for i < len(line) && line[i] == ' ' {
				i++
			}
			if r, _ := utf8.DecodeRuneInString(line[i:]); i < len(line) && r != delim {
				return nil, fail(col, "%q at byte %d, after the closing quote of the column name %q (only blanks may come between a closing quote and the delimiter %q)", r, i+1, name, delim)
			}
		} else {
			j := strings.IndexRune(line[i:], delim)
			if j < 0 {
				j = len(line) - i
			}
			name = line[i : i+j]
			if k := strings.IndexByte(name, '"'); k >= 0 {
				return nil, fail(col, "a quote at byte %d inside the unquoted column name %q (quote the whole name, with a quote inside it doubled and at most one blank before the opening quote)", i+k+1, name)
			}
			i += j
		}
		names = append(names, strings.TrimFunc(name, isSpaceSeparator))
		if i >= len(line) {
			return names, nil
		}
		i += utf8.RuneLen(delim)
	}
}

// isSpaceSeparator: what DuckDB trims from a header name (the Unicode
// category Zs).
func isSpaceSeparator(r rune) bool { return unicode.Is(unicode.Zs, r) }

// readLine reads one line (without the newline), refusing lines longer than max.
func readLine(br *bufio.Reader, maxLine int) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return "", errs.E("ingest", errs.Invalid, fmt.Sprintf("line 1: the header is longer than the limit of %d bytes", maxLine))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		s := strings.TrimRight(string(buf), "\r\n")
		if err != nil {
			return s, io.EOF
		}
		return s, nil
	}
}

func guessDelimiter(line string) rune {
	counts := map[rune]int{}
	inQuote := false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ',' || r == '\t' || r == ';' || r == '|'):
			counts[r]++
		}
	}
	best, n := ',', 0
	for _, r := range []rune{',', '\t', ';', '|'} {
		if counts[r] > n {
			best, n = r, counts[r]
		}
	}
	return best
}

func compareNames(names []string, schema []Column) error {
	var diffs []string
	want := map[string]int{}
	for i, c := range schema {
		want[strings.ToLower(c.Name)] = i
	}
	got := map[string]int{}
	for i, n := range names {
		got[strings.ToLower(n)] = i
		if _, ok := want[strings.ToLower(n)]; !ok {
			diffs = append(diffs, fmt.Sprintf("column %q (position %d) is not in the dataset", n, i+1))
		}
	}
	for i, c := range schema {
		if _, ok := got[strings.ToLower(c.Name)]; !ok {
			diffs = append(diffs, fmt.Sprintf("column %q (%s, position %d) is missing", c.Name, c.Type, i+1))
		}
	}
	if len(diffs) == 0 {
		for i, n := range names {
			if i < len(schema) && !strings.EqualFold(n, schema[i].Name) {
				diffs = append(diffs, fmt.Sprintf("position %d is %q, the dataset has %q there (same columns, different order)", i+1, n, schema[i].Name))
			} else if i < len(schema) && n != schema[i].Name {
				diffs = append(diffs, fmt.Sprintf("column %q is spelled %q in the dataset", n, schema[i].Name))
			}
		}
	}
	if len(diffs) > 0 {
		return errs.E("ingest", errs.Invalid, "append: the header does not match the dataset's schema: "+strings.Join(diffs, "; "))
	}
	return nil
}

// compareSchema says exactly how got differs from want (names, order, types).
func compareSchema(got, want []Column) error {
	names := make([]string, len(got))
	for i, c := range got {
		names[i] = c.Name
	}
	if err := compareNames(names, want); err != nil {
		return err
	}
	var diffs []string
	for i := range got {
		if !strings.EqualFold(got[i].Type, want[i].Type) {
			diffs = append(diffs, fmt.Sprintf("column %q is %s, the dataset has %s", got[i].Name, got[i].Type, want[i].Type))
		}
	}
	if len(diffs) > 0 {
		return errs.E("ingest", errs.Invalid, "append: the schema does not match the dataset's: "+strings.Join(diffs, "; "))
	}
	return nil
}

var (
	reLine      = regexp.MustCompile(`CSV Error on Line: (\d+)`)
	reConvert   = regexp.MustCompile(`Error when converting column "((?:[^"]|"")*)"\. Could not convert string "((?:.|\n)*?)" to '([^']+)'`)
	reColumns   = regexp.MustCompile(`Expected Number of Columns: (\d+) Found: (\d+)`)
	reMaxLine   = regexp.MustCompile(`Maximum line size of (\d+) bytes exceeded\. Actual Size:(\d+) bytes`)
	reJSON      = regexp.MustCompile(`Malformed JSON in file "[^"]*", at byte (\d+) in line (\d+): ([^\n]*)`)
	reOrigLine  = regexp.MustCompile(`Original Line: ([^\n]*)`)
	reFirstLine = regexp.MustCompile(`^[^\n]*`)
)

func rawMessage(err error) string {
	var de *duckdb.Error
	if errors.As(err, &de) {
		return de.Msg
	}
	return err.Error()
}

// translate turns a DuckDB reader error into an Invalid error that says
// where the input broke; the file path never appears in it.
func (c *Converter) translate(in Input, h *csvHeader, err error) error {
	const op = "ingest"
	msg := rawMessage(err)
	if m := reNestedValue.FindStringSubmatch(msg); m != nil {
		return nestedBadValue(in, h, m)
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		return badValue(in, h, m)
	}
	msg = strings.ReplaceAll(msg, in.Path, "<upload>")
	if in.Format == JSONL {
		if err := translateJSON(in.Path, msg); err != nil {
			return err
		}
	}
	line := ""
	if m := reLine.FindStringSubmatch(msg); m != nil {
		line = "line " + m[1]
	}
	where := func(s string) error {
		if line != "" {
			s = line + ": " + s
		}
		return errs.E(op, errs.Invalid, s)
	}
	switch {
	case reConvert.MatchString(msg):
		m := reConvert.FindStringSubmatch(msg)
		col := strings.ReplaceAll(m[1], `""`, `"`)
		pos := ""
		if h != nil {
			for i, n := range h.names {
				if strings.EqualFold(n, col) {
					pos = fmt.Sprintf(" (%d)", i+1)
				}
			}
		}
		hint := ""
		if h != nil && h.dateFormat != "" && strings.EqualFold(m[3], "DATE") {
			hint = fmt.Sprintf(" (the dataset's dates are written %s)", h.dateFormat)
		} else if h != nil && h.timestampFormat != "" && strings.HasPrefix(strings.ToUpper(m[3]), "TIMESTAMP") {
			hint = fmt.Sprintf(" (the dataset's timestamps are written %s)", h.timestampFormat)
		}
		return where(fmt.Sprintf("column %q%s: value %q is not a valid %s%s", col, pos, shorten(m[2], 100), m[3], hint))
	case reColumns.MatchString(msg):
		m := reColumns.FindStringSubmatch(msg)
		return where(fmt.Sprintf("expected %s columns (as in the header), found %s", m[1], m[2]))
	case reMaxLine.MatchString(msg):
		m := reMaxLine.FindStringSubmatch(msg)
		limit, _ := strconv.Atoi(m[1])
		if n := longLine(in.Path, limit); n > 0 {
			line = fmt.Sprintf("line %d", n) // DuckDB's own number is off by one here
		}
		return where(fmt.Sprintf("the line is %s bytes, over the limit of %s bytes ([ingestd].max_line_bytes)", m[2], m[1]))
	case strings.Contains(msg, "Invalid unicode") || strings.Contains(msg, "not utf-8"):
		return where("invalid UTF-8 (the file must be UTF-8 encoded)")
	case strings.Contains(msg, "unterminated quote"):
		return where("a quoted value is not terminated")
	case reJSON.MatchString(msg):
		m := reJSON.FindStringSubmatch(msg)
		n, _ := strconv.Atoi(m[2])
		// DuckDB 1.5 reports the line after the malformed one.
		return errs.E(op, errs.Invalid, fmt.Sprintf("line %d, byte %s: malformed JSON: %s", max(n-1, 1), m[1], strings.TrimSpace(m[3])))
	case strings.Contains(msg, "No magic bytes") || strings.Contains(msg, "too small to be a Parquet file"):
		return errs.E(op, errs.Invalid, "not a Parquet file (no PAR1 magic bytes)")
	case strings.Contains(msg, "It was not possible to automatically detect the CSV parsing dialect") || strings.Contains(msg, "Error when sniffing file"):
		if h != nil {
			if d := diagnoseCSV(in.Path, h, c.opts.MaxLineBytes); d != nil {
				return d
			}
		}
		return errs.E(op, errs.Invalid, "the CSV dialect could not be detected (check delimiter, quoting and that every row has the header's number of columns)")
	}
	if line != "" {
		first := reFirstLine.FindString(strings.TrimSpace(strings.SplitN(msg, "\n", 2)[len(strings.SplitN(msg, "\n", 2))-1]))
		if m := reOrigLine.FindStringSubmatch(msg); m != nil {
			return where(fmt.Sprintf("%s (line: %q)", first, shorten(m[1], 100)))
		}
		return where(first)
	}
	// Keep DuckDB's first line, without the "LINE 1:" excerpt.
	first := reFirstLine.FindString(msg)
	return errs.E(op, errs.Invalid, "the file could not be read: "+first)
}

// diagnoseCSV scans the file with Go's CSV reader to find the first row
// whose column count differs from the header's (DuckDB's sniffer gives up
// without a location when the sample holds a ragged row).
func diagnoseCSV(path string, h *csvHeader, maxLine int) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := csvBody(f, h.delim)
	r.FieldsPerRecord = len(h.names)
	r.ReuseRecord = true
	for i := 0; i < 1_000_000; i++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				return errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d: expected %d columns (as in the header), found %d", pe.StartLine+1, len(h.names), len(rec)))
			}
			return errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d, column %d: %v", pe.Line+1, pe.Column, pe.Err))
		}
		if err != nil {
			return nil
		}
		for j, v := range rec {
			if !utf8.ValidString(v) {
				line, _ := r.FieldPos(j)
				return errs.E("ingest", errs.Invalid, fmt.Sprintf("line %d, column %d: invalid UTF-8 (the file must be UTF-8 encoded)", line+1, j+1))
			}
		}
	}
	return nil
}

// csvBody is a Go CSV reader of f's data rows: the header line, one
// physical line (readCSVHeader refuses a quote left open on it), is
// skipped as bytes — Go's reader reads a header DuckDB accepts, such as
// `"id" ,"name" `, otherwise (its lazy quotes run on past the end of the
// line, through the data). Its line numbers are one less than the file's.
func csvBody(f *os.File, delim rune) *csv.Reader {
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		if _, err := br.ReadSlice('\n'); err != bufio.ErrBufferFull {
			break
		}
	}
	r := csv.NewReader(br)
	r.Comma = delim
	return r
}

// longLine is the number of the first physical line longer than limit bytes (0: none).
func longLine(path string, limit int) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	n, cur := 1, 0
	for {
		chunk, err := br.ReadSlice('\n')
		cur += len(chunk)
		if cur > limit {
			return n
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return 0
		}
		n, cur = n+1, 0
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
