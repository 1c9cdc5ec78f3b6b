// Package engine is queryd's DuckDB adapter: one in-memory DuckDB database
// locked down at open (no extension install or autoload, no file or network
// access outside the Parquet directories it is given, configuration locked),
// views that map dataset names to Parquet files, and Query, which runs one
// read-only statement and hands its rows to a callback with typed renderers.
// queryd (query/queryd) is its only caller.
//
// Read-only enforcement has three layers (ADR-022): a statement must prepare
// as exactly one statement of type SELECT (so COPY, INSERT, CREATE, ATTACH,
// INSTALL, LOAD, SET, PRAGMA that changes state, multi-statement scripts are
// refused before they run); DuckDB's enable_external_access=false with
// allowed_directories limited to the Parquet roots refuses every other file,
// glob and URL; lock_configuration=true refuses every SET.
package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
)

// Options configure Open.
type Options struct {
	// Threads is DuckDB's worker thread count (0 = DuckDB's default: all cores).
	Threads int
	// MemoryLimit is DuckDB's memory_limit ("" = DuckDB's default, 80% of RAM).
	MemoryLimit string
	// TempDir is where DuckDB spills; required (it must not default to the
	// working directory).
	TempDir string
	// AllowedDirs are the only directories SQL may read (Parquet roots).
	AllowedDirs []string
	// MaxConns bounds open connections (one per concurrent query, plus one
	// for view DDL).
	MaxConns int
}

// Engine is a locked-down DuckDB database.
type Engine struct {
	db    *sql.DB
	ddl   *sql.Conn
	mu    sync.Mutex // serializes view DDL
	types typeNamer
}

// Open creates the database and locks it down. Errors: Internal.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	const op = "engine.Open"
	if opts.TempDir == "" {
		return nil, errs.E(op, errs.Internal, "TempDir required")
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(max(opts.MaxConns, 1) + 1)
	db.SetMaxIdleConns(max(opts.MaxConns, 1) + 1)
	db.SetConnMaxIdleTime(0)
	ddl, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, errs.E(op, errs.Internal, err)
	}
	var dirs []string
	for _, d := range opts.AllowedDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			ddl.Close()
			db.Close()
			return nil, errs.E(op, errs.Internal, err)
		}
		dirs = append(dirs, sqlString(strings.TrimRight(abs, "/")+"/"))
	}
	stmts := []string{
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET temp_directory = " + sqlString(opts.TempDir),
		"SET parquet_metadata_cache = true",
		"SET allowed_directories = [" + strings.Join(dirs, ", ") + "]",
	}
	if opts.Threads > 0 {
		stmts = append(stmts, fmt.Sprintf("SET threads = %d", opts.Threads))
	}
	if opts.MemoryLimit != "" {
		stmts = append(stmts, "SET memory_limit = "+sqlString(opts.MemoryLimit))
	}
	stmts = append(stmts,
		"SET enable_external_access = false",
		"SET allow_community_extensions = false",
		"SET lock_configuration = true",
	)
	for _, s := range stmts {
		if _, err := ddl.ExecContext(ctx, s); err != nil {
			ddl.Close()
			db.Close()
			return nil, errs.E(op, errs.Internal, fmt.Sprintf("%s: %v", s, err))
		}
	}
	kw, err := loadKeywords(ctx, ddl)
	if err != nil {
		ddl.Close()
		db.Close()
		return nil, errs.E(op, errs.Internal, fmt.Sprintf("duckdb_keywords(): %v", err))
	}
	return &Engine{db: db, ddl: ddl, types: typeNamer{keywords: kw}}, nil
}

// Close releases the database.
func (e *Engine) Close() error {
	e.ddl.Close()
	return e.db.Close()
}

// ReplaceView points view name at the Parquet files (absolute paths inside
// the allowed directories). Errors: Invalid (bad name), Internal.
func (e *Engine) ReplaceView(ctx context.Context, name string, files []string) error {
	const op = "engine.ReplaceView"
	if len(files) == 0 {
		return errs.E(op, errs.Invalid, "a view needs at least one file")
	}
	lits := make([]string, len(files))
	for i, f := range files {
		lits[i] = sqlString(f)
	}
	stmt := "CREATE OR REPLACE VIEW " + sqlIdent(name) + " AS SELECT * FROM read_parquet([" + strings.Join(lits, ", ") + "])"
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.ddl.ExecContext(ctx, stmt); err != nil {
		return errs.E(op, errs.Internal, fmt.Sprintf("view %s: %v", name, err))
	}
	return nil
}

// ReplaceEmptyView points view name at no rows of the given schema (a
// dataset version without files). Errors: Invalid (a column type DuckDB
// refuses: the manifest, not the query, is wrong; the message names the
// column), Internal.
func (e *Engine) ReplaceEmptyView(ctx context.Context, name string, schema []query.Column) error {
	const op = "engine.ReplaceEmptyView"
	cols := make([]string, len(schema))
	for i, c := range schema {
		cols[i] = "NULL::" + c.Type + " AS " + sqlIdent(c.Name)
	}
	if len(cols) == 0 {
		cols = []string{"NULL AS empty"}
	}
	stmt := "CREATE OR REPLACE VIEW " + sqlIdent(name) + " AS SELECT " + strings.Join(cols, ", ") + " WHERE false"
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.ddl.ExecContext(ctx, stmt); err != nil {
		if ctx.Err() != nil {
			return ctxErr(ctx, op, err)
		}
		// A type from the manifest that DuckDB does not take (one committed
		// before catalogd checked as strictly): name the column, once per
		// column so the message is the first bad one's.
		for _, c := range schema {
			ps, cerr := e.ddl.PrepareContext(ctx, "SELECT NULL::"+c.Type)
			if cerr == nil {
				ps.Close()
			} else {
				msg := cerr.Error()
				var de *duckdb.Error
				if errors.As(cerr, &de) {
					msg = de.Msg
				}
				msg, _, _ = strings.Cut(msg, "\n")
				return errs.E(op, errs.Invalid, fmt.Sprintf("dataset %q cannot be read: its schema declares column %q of type %q, which DuckDB refuses (%s); commit a new version with a valid schema", name, c.Name, c.Type, strings.TrimSpace(msg)))
			}
		}
		return errs.E(op, errs.Internal, fmt.Sprintf("view %s: %v", name, err))
	}
	return nil
}

// DropView removes view name if it exists. Errors: Internal.
func (e *Engine) DropView(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.ddl.ExecContext(ctx, "DROP VIEW IF EXISTS "+sqlIdent(name)); err != nil {
		return errs.E("engine.DropView", errs.Internal, err)
	}
	return nil
}

// Request is one query.
type Request struct {
	SQL     string
	Params  []any
	MaxRows int // rows to return at most (> 0)
	// Tables, when set, is called before the statement is bound with the
	// identifiers the SQL text mentions (lower-cased; missing=false), so
	// the caller can bring the views among them up to date; and again with
	// the one name DuckDB reported missing (missing=true), after which the
	// statement is retried if the call returns created=true. Each release
	// func returned runs when the query finishes.
	Tables func(ctx context.Context, names []string, missing bool) (release func(), created bool, err error)
}

// Cursor walks the rows of a running query inside Query's callback.
type Cursor struct {
	Columns []query.Column
	rows    driver.Rows
	vals    []driver.Value
	enc     []encoder
	n       int
	max     int
	more    bool
}

// Next advances to the next row; false at the end or after MaxRows rows
// (see Truncated).
func (c *Cursor) Next() (bool, error) {
	if c.n >= c.max {
		if !c.more && c.rows.Next(c.vals) == nil {
			c.more = true
		}
		return false, nil
	}
	err := c.rows.Next(c.vals)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	c.n++
	return true, nil
}

// Stop makes the current row the last one: the next Next returns false,
// and Truncated then reports whether a row followed (as at MaxRows).
func (c *Cursor) Stop() { c.max = c.n }

// Truncated reports whether rows beyond MaxRows (or Stop) were left out.
func (c *Cursor) Truncated() bool { return c.more }

// Count is the number of rows returned so far.
func (c *Cursor) Count() int { return c.n }

// AppendJSON appends the current row as a JSON array.
func (c *Cursor) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, v := range c.vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.enc[i].json(b, v)
	}
	return append(b, ']')
}

// AppendJSONObject appends the current row as a JSON object keyed by column name.
func (c *Cursor) AppendJSONObject(b []byte) []byte {
	b = append(b, '{')
	for i, v := range c.vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c.Columns[i].Name)
		b = append(b, ':')
		b = c.enc[i].json(b, v)
	}
	return append(b, '}')
}

// Text returns the current row's values as text (CSV): NULL is "", nested
// values are JSON.
func (c *Cursor) Text(dst []string) []string {
	dst = dst[:0]
	for i, v := range c.vals {
		dst = append(dst, c.enc[i].text(v))
	}
	return dst
}

// Values returns the current row's values as JSON-ready Go values.
func (c *Cursor) Values() []any {
	out := make([]any, len(c.vals))
	for i, v := range c.vals {
		out[i] = json.RawMessage(c.enc[i].json(nil, v))
	}
	return out
}

// Query runs one read-only statement and calls fn with a cursor over its
// rows; fn must not keep the cursor. Errors: Invalid (parse, bind, type,
// conversion errors; unsupported params), Forbidden (not a read-only
// statement; file or network access outside the allowed directories),
// Timeout (ctx deadline: DuckDB is interrupted), Unavailable (out of
// memory), Internal.
func (e *Engine) Query(ctx context.Context, req Request, fn func(*Cursor) error) error {
	const op = "query"
	text := trimStatement(req.SQL)
	if text == "" {
		return errs.E(op, errs.Invalid, "sql: empty statement")
	}
	if i := strings.IndexByte(text, 0); i >= 0 {
		// DuckDB takes SQL as a C string: it would run only the text before
		// the NUL, and the statement wrapped in LIMIT max_rows+1 would not
		// parse, so the bare prefix ran unbounded (SELECT * FROM
		// range(20000000)<NUL> materialized every row for max_rows 1).
		return errs.Errorf(op, errs.Invalid, "sql: a NUL byte at offset %d; DuckDB would read only the text before it", i)
	}
	args, err := bindArgs(req.Params)
	if err != nil {
		return err
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return ctxErr(ctx, op, err)
	}
	defer conn.Close()
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	if req.Tables != nil {
		rel, _, err := req.Tables(ctx, Identifiers(text), false)
		if err != nil {
			return err
		}
		if rel != nil {
			releases = append(releases, rel)
		}
	}
	maxRows := max(req.MaxRows, 1)
	tried := map[string]bool{}
	refreshed := false
	for {
		called := false
		err = conn.Raw(func(dc any) error {
			return e.run(ctx, dc, text, args, maxRows, func(c *Cursor) error { called = true; return fn(c) })
		})
		if req.Tables != nil && !called && !refreshed && missingFile(err) {
			// A file of a view vanished between the freshness check and
			// DuckDB opening it: a purge (DELETE ?purge=true) raced the
			// query. Bring the views up to date (a deleted dataset's view
			// is dropped) and run the statement once more.
			refreshed = true
			rel, _, terr := req.Tables(ctx, Identifiers(text), false)
			if terr != nil {
				return terr
			}
			if rel != nil {
				releases = append(releases, rel)
			}
			continue
		}
		var mt *missingTable
		if req.Tables == nil || !errors.As(err, &mt) || tried[mt.name] || len(tried) >= 16 {
			break
		}
		tried[mt.name] = true
		rel, created, terr := req.Tables(ctx, []string{mt.name}, true)
		if terr != nil {
			return terr
		}
		if rel != nil {
			releases = append(releases, rel)
		}
		if !created {
			break
		}
	}
	var mt *missingTable
	if errors.As(err, &mt) {
		if req.Tables != nil && tried[mt.name] {
			// The catalog was asked and has no such dataset: that is a 404,
			// not DuckDB's "did you mean pg_prepared_statements" 400.
			return errs.Errorf("query", errs.NotFound, "no dataset or table named %q", mt.name)
		}
		return mt.err
	}
	return err
}

// reMissingFile matches DuckDB's IO errors for a file or pattern that does
// not exist (a path inside the allowed directories: outside them DuckDB
// refuses with a Permission Error first).
var reMissingFile = regexp.MustCompile(`No files found that match the pattern|Cannot open file "[^"]*": No such file or directory`)

// missingFile reports whether err is DuckDB's "no such file" (mapped to
// NotFound by mapError).
func missingFile(err error) bool {
	return err != nil && errs.KindOf(err) == errs.NotFound && reMissingFile.MatchString(err.Error())
}

// missingTable is a bind error naming a table that does not exist.
type missingTable struct {
	name string
	err  error
}

func (m *missingTable) Error() string { return m.err.Error() }

// bindErr is mapError, or a *missingTable when err names a table that
// does not exist.
func bindErr(ctx context.Context, op string, err error) error {
	mapped := mapError(ctx, op, err)
	if m := reMissingTable.FindStringSubmatch(err.Error()); m != nil {
		return &missingTable{name: strings.ToLower(m[1]), err: mapped}
	}
	return mapped
}

var reMissingTable = regexp.MustCompile(`Table with name "?([^"\s!]+)"? does not exist`)

func (e *Engine) run(ctx context.Context, dc any, text string, args []driver.NamedValue, maxRows int, fn func(*Cursor) error) (err error) {
	const op = "query"
	c, ok := dc.(*duckdb.Conn)
	if !ok {
		return errs.E(op, errs.Internal, fmt.Sprintf("driver conn is %T", dc))
	}
	stmt, wrapped, err := prepareReadOnly(c, text, maxRows)
	if err != nil {
		return bindErr(ctx, op, err)
	}
	if wrapped {
		// DuckDB locates errors in the wrapped statement, one line below
		// the caller's: its "LINE N:" is made the caller's line (ADR-111).
		defer func() { unwrapLines(err, text) }()
	}
	defer func() { stmt.Close() }()
	if want := stmt.NumInput(); want != len(args) {
		return errs.E(op, errs.Invalid, fmt.Sprintf("the statement has %d parameter(s), %d given in params", want, len(args)))
	}
	// Columns the driver cannot read (TIME_NS, VARIANT, nested types with
	// them) or reads wrongly (TIME 24:00:00, TIMESTAMP_S infinity) are
	// converted by DuckDB; the types of the unreadable ones come from
	// DESCRIBE (the driver has no name for TIME_NS).
	conv, err := textColumns(stmt)
	if err != nil {
		return err
	}
	var types []string
	if len(conv) > 0 {
		unreadable := false
		for _, k := range conv {
			unreadable = unreadable || k == convText || k == convJSON || k == convMapEntries
		}
		if unreadable {
			types, err = describeTypes(ctx, c, wrapped, text, maxRows, args)
			if err != nil {
				return mapError(ctx, op, err)
			}
		} else {
			types = make([]string, len(conv))
		}
		for i, k := range conv {
			switch {
			case k == convNone && i < len(types):
				types[i] = "" // the name from TypeInfo, as in every other answer
			case k == convTime:
				types[i] = "TIME"
			case k == convTimestampS:
				types[i] = "TIMESTAMP_S"
			case !wrapped && (k == convText || k == convJSON || k == convMapEntries):
				name, _ := stmt.ColumnName(i)
				return errs.E(op, errs.Invalid, fmt.Sprintf("column %q has type %s, which queryd cannot return from this statement; cast it in a SELECT (e.g. %s::VARCHAR)", name, typeOr(types, i), sqlIdent(name)))
			}
		}
		if wrapped {
			cast, err := prepareCast(c, stmt, text, maxRows, conv)
			if err != nil {
				return mapError(ctx, op, err)
			}
			stmt.Close()
			stmt = cast
		} else {
			conv, types = nil, nil // read as the driver can
		}
	}
	var ownNames []string
	if wrapped {
		// The subquery of the LIMIT wrapper makes DuckDB rename repeated
		// column names (SELECT 1 a, 2 a answered a, a_1): the statement's
		// own names are the bare statement's. It is prepared only when a
		// name looks renamed, so other queries pay nothing; and before the
		// wrapped one runs (a prepare on the connection would end its
		// streaming result).
		ownNames = ownColumnNames(c, stmt, text)
	}
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		// DuckDB binds a prepared statement again when the catalog changed
		// since: a view dropped in between (another query saw its
		// dataset's tombstone) is a missing table here too.
		return bindErr(ctx, op, err)
	}
	defer rows.Close()
	names := rows.Columns()
	if len(ownNames) == len(names) {
		names = ownNames
	}
	n := len(names)
	cur := &Cursor{Columns: make([]query.Column, n), enc: make([]encoder, n), vals: make([]driver.Value, n), max: maxRows}
	tn, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	for i, name := range names {
		cur.Columns[i] = query.Column{Name: name}
		if tn != nil {
			cur.Columns[i].Type = driverTypeName(tn.ColumnTypeDatabaseTypeName(i))
		}
		// The statement's TypeInfo has nested detail (STRUCT field order,
		// ENUM values); a column typed only by a parameter falls back to
		// the type name.
		converted := i < len(conv) && conv[i] != convNone
		ti, err := stmt.ColumnTypeInfo(i)
		hasInfo := err == nil && ti.InternalType() != duckdb.TYPE_INVALID
		if hasInfo && !converted {
			if name, ok := e.types.name(ti); ok {
				cur.Columns[i].Type = name
			}
		}
		if i < len(types) && types[i] != "" {
			cur.Columns[i].Type = types[i]
		}
		switch {
		case i < len(conv) && (conv[i] == convText || conv[i] == convTime):
			cur.enc[i] = encoder{t: duckdb.TYPE_VARCHAR}
		case i < len(conv) && conv[i] == convTimestampS:
			cur.enc[i] = encoder{t: duckdb.TYPE_TIMESTAMP}
		case i < len(conv) && conv[i] == convJSON:
			cur.enc[i] = encoder{t: duckdb.TYPE_VARCHAR, alias: "JSON"}
		case hasInfo:
			cur.enc[i] = newEncoder(ti)
		default:
			cur.enc[i] = encoderFromName(cur.Columns[i].Type)
		}
	}
	cur.rows = rows
	if err := fn(cur); err != nil {
		if ctx.Err() != nil && errs.KindOf(err) == errs.Internal {
			return ctxErr(ctx, op, err)
		}
		var de *duckdb.Error
		if errors.As(err, &de) {
			return mapError(ctx, op, err)
		}
		return err
	}
	return nil
}

// Identifiers returns the distinct lower-cased identifiers (bare or
// double-quoted) in sql, skipping string literals and comments as DuckDB's
// parser reads them: '...' (a doubled quote inside), E'...' with backslash escapes,
// dollar-quoted $$...$$ and $tag$...$tag$, -- to the end of the line and
// nested /* ... */. It is a superset of the table names a statement
// mentions (a quote inside an E'...' or $$ string, or in a nested comment,
// hid the names after it, so the query read a view without its freshness
// check: a stale version after a commit).
func Identifiers(sql string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		s = strings.ToLower(s)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	isStart := func(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' || c >= 0x80 }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' || c == '$' }
	// quoted skips the string literal opening at sql[i] ('), with
	// backslash escapes when esc; it returns the index after it.
	quoted := func(i int, esc bool) int {
		i++
		for i < len(sql) {
			switch {
			case esc && sql[i] == '\\':
				i += 2
				continue
			case sql[i] == '\'':
				if i+1 < len(sql) && sql[i+1] == '\'' {
					i += 2
					continue
				}
				return i + 1
			}
			i++
		}
		return i
	}
	last := "" // the statement's last word (lower case) or ",": what a string literal follows
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			// A string literal where a table goes is a table name to
			// DuckDB (FROM 'kv' reads the view kv; a replacement scan
			// only when no such table exists): its text counts too.
			j := quoted(i, false)
			if tableNext(last) {
				add(strings.ReplaceAll(literal(sql, i+1, j), "''", "'"))
			}
			i, last = j, ""
		case c == ',':
			i, last = i+1, ","
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v': // Postgres's space
			i++
		case c == '$' && dollarTag(sql[i:]) != "":
			tag := dollarTag(sql[i:])
			end := strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				i = len(sql)
			} else {
				i += len(tag) + end + len(tag)
			}
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth := 0
			for i < len(sql) {
				if strings.HasPrefix(sql[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(sql[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(sql) {
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(sql[j])
				j++
			}
			add(b.String())
			i, last = j+1, ""
		case (c == 'e' || c == 'E') && i+1 < len(sql) && sql[i+1] == '\'':
			j := quoted(i+1, true)
			if tableNext(last) {
				// E'\-' reads table "-": the name is the unescaped text.
				// The raw and the simply unescaped texts count too (a
				// superset is safe; an escape read otherwise than here
				// would hide the name).
				raw := literal(sql, i+2, j)
				add(raw)
				add(unescapeSimple(raw))
				add(unescapeE(raw))
			}
			i, last = j, ""
		case isStart(c):
			j := i
			for j < len(sql) && isPart(sql[j]) {
				j++
			}
			add(sql[i:j])
			i, last = j, strings.ToLower(sql[i:j])
		default:
			i, last = i+1, ""
		}
	}
	return out
}

// tableNext says whether a string literal after last (a word, "," or "")
// stands where DuckDB reads a table name.
func tableNext(last string) bool { return last == "from" || last == "join" || last == "," }

// literal is the text of the string literal whose first character is at
// sql[from] and that ends before end (after its closing quote, or at the
// end of sql when it has none).
// unescapeE is the body of an E'...' string as Postgres's scanner, which
// DuckDB's parser uses, reads it: \b \f \n \r \t, octal \ooo, hex \xhh,
// \uXXXX and \UXXXXXXXX, a backslash before any other character is that
// character, and a doubled quote is one quote.
func unescapeE(s string) string {
	var b strings.Builder
	hexv := func(c byte) int {
		switch {
		case c >= '0' && c <= '9':
			return int(c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			return int(c|0x20-'a') + 10
		}
		return -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' && i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		d := s[i]
		switch {
		case d == 'b':
			b.WriteByte('\b')
		case d == 'f':
			b.WriteByte('\f')
		case d == 'n':
			b.WriteByte('\n')
		case d == 'r':
			b.WriteByte('\r')
		case d == 't':
			b.WriteByte('\t')
		case d >= '0' && d <= '7':
			v := int(d - '0')
			for k := 0; k < 2 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
				i++
				v = v*8 + int(s[i]-'0')
			}
			b.WriteByte(byte(v))
		case d == 'x' && i+1 < len(s) && hexv(s[i+1]) >= 0:
			i++
			v := hexv(s[i])
			if i+1 < len(s) && hexv(s[i+1]) >= 0 {
				i++
				v = v*16 + hexv(s[i])
			}
			b.WriteByte(byte(v))
		case (d == 'u' || d == 'U') && i+1 < len(s):
			n := 4
			if d == 'U' {
				n = 8
			}
			v, ok := 0, i+n < len(s)
			for k := 1; ok && k <= n; k++ {
				h := hexv(s[i+k])
				ok = h >= 0
				v = v*16 + h
			}
			if !ok {
				b.WriteByte(d)
				continue
			}
			b.WriteRune(rune(v))
			i += n
		default:
			b.WriteByte(d)
		}
	}
	return b.String()
}

// unescapeSimple is s with each backslash dropped before the character it
// escapes, and a doubled quote read as one.
func unescapeSimple(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if (s[i] == '\\' || s[i] == '\'' && i+1 < len(s) && s[i+1] == '\'') && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func literal(sql string, from, end int) string {
	end = min(end, len(sql))
	if end > from && end-1 >= from && sql[end-1] == '\'' {
		end--
	}
	if end < from {
		return ""
	}
	return sql[from:end]
}

// dollarTag is the opening $tag$ (or $$) of a dollar-quoted string at the
// start of s, else "" ($1 is a parameter).
func dollarTag(s string) string {
	if len(s) < 2 || s[0] != '$' {
		return ""
	}
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1]
		case c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' || c >= 0x80 || j > 1 && c >= '0' && c <= '9':
		default:
			return ""
		}
	}
	return ""
}

// prepareReadOnly prepares text wrapped in a LIMIT (so DuckDB never
// materializes more than maxRows+1 rows) and checks that it is one SELECT.
// When the wrapped form does not prepare, the bare statement is prepared to
// report its own error or its statement type (wrapped=false).
func prepareReadOnly(c *duckdb.Conn, text string, maxRows int) (stmt *duckdb.Stmt, wrapped bool, err error) {
	ds, werr := c.Prepare(wrapSQL("*", text, maxRows))
	if werr == nil {
		stmt := ds.(*duckdb.Stmt)
		if t, err := stmt.StatementType(); err == nil && t == duckdb.STATEMENT_TYPE_SELECT {
			return stmt, true, nil
		}
		stmt.Close()
	}
	ds, err = c.Prepare(text)
	if err != nil {
		if strings.Contains(err.Error(), "context") && strings.Contains(err.Error(), "prepare") {
			if slices.Contains(Identifiers(text), "pivot") {
				// DuckDB expands a PIVOT whose ON has no IN list into
				// statements of its own (an ENUM of the distinct values,
				// then the query): the user wrote one statement (ADR-148).
				return nil, false, errs.E("query", errs.Invalid, "sql: a PIVOT without an IN list runs as several statements in DuckDB "+
					"(it creates a type of the distinct values first), and queryd runs one read-only statement: "+
					"name the values, PIVOT t ON col IN ('a', 'b') USING sum(x), or aggregate with FILTER (WHERE col = 'a')")
			}
			return nil, false, errs.E("query", errs.Invalid, "sql: one statement per request (found several)")
		}
		if notSelect(c, text) {
			// A write that does not even bind (INSERT into a view, UPDATE
			// of a missing table) is refused as a write, like the ones that
			// prepare: 403, not the binder's 400.
			return nil, false, errs.E("query", errs.Forbidden, "only read-only queries are allowed; this is not a SELECT statement")
		}
		return nil, false, err
	}
	stmt = ds.(*duckdb.Stmt)
	t, err := stmt.StatementType()
	if err != nil {
		stmt.Close()
		return nil, false, err
	}
	if t != duckdb.STATEMENT_TYPE_SELECT {
		stmt.Close()
		return nil, false, errs.E("query", errs.Forbidden, fmt.Sprintf("only read-only queries are allowed; this is %s statement", article(stmtTypeName(t))))
	}
	// A SELECT-type statement that cannot be wrapped (e.g. a PRAGMA that
	// reads): run it as is; the cursor still stops at maxRows.
	return stmt, false, nil
}

// reLine is DuckDB's error context: "LINE N: <the line>" then a caret line.
var reLine = regexp.MustCompile(`(?m)^LINE (\d+): .*\n?( *\^)?`)

// unwrapLines makes the "LINE N:" of DuckDB's messages in err's chain count
// the lines of text, the caller's SQL, instead of wrapSQL's statement, which
// has one line before it. A location on a line of the wrapper itself is
// dropped (it names nothing the caller wrote).
func unwrapLines(err error, text string) {
	lines := strings.Count(text, "\n") + 1
	for err != nil {
		var e *errs.Error
		switch v := err.(type) {
		case *errs.Error:
			e = v
		case *missingTable:
			err = v.err
			continue
		default:
			return
		}
		if strings.Contains(e.Msg, "LINE ") {
			e.Msg = reLine.ReplaceAllStringFunc(e.Msg, func(m string) string {
				sub := reLine.FindStringSubmatch(m)
				n, _ := strconv.Atoi(sub[1])
				if n-1 < 1 || n-1 > lines {
					return ""
				}
				shift := len(sub[1]) - len(strconv.Itoa(n-1))
				m = "LINE " + strconv.Itoa(n-1) + m[len("LINE ")+len(sub[1]):]
				if shift > 0 && sub[2] != "" {
					m = m[:len(m)-len(sub[2])] + sub[2][shift:]
				}
				return m
			})
			e.Msg = strings.TrimSpace(e.Msg)
		}
		err = e.Err
	}
}

// maybeDeduplicated reports whether DuckDB may have renamed some of names
// because an earlier one was equal ignoring case: it names a subquery's
// repeated columns <name>_<n> (QueryResult::DeduplicateColumns), so a
// renamed column is <an earlier column's name>_<digits>.
func maybeDeduplicated(names []string) bool {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		low := strings.ToLower(name)
		if i := strings.LastIndexByte(low, '_'); i > 0 && i < len(low)-1 && strings.Trim(low[i+1:], "0123456789") == "" && seen[low[:i]] {
			return true
		}
		seen[low] = true
	}
	return false
}

// ownColumnNames is the column names of text prepared as it is (DuckDB's
// own names, repeated ones included) when the names of stmt, text wrapped,
// may have been renamed by DuckDB; else, or when text does not prepare
// alone or disagrees on the count, nil.
func ownColumnNames(c *duckdb.Conn, stmt *duckdb.Stmt, text string) []string {
	n, err := stmt.ColumnCount()
	if err != nil {
		return nil
	}
	names := make([]string, n)
	for i := range names {
		if names[i], err = stmt.ColumnName(i); err != nil {
			return nil
		}
	}
	if !maybeDeduplicated(names) {
		return nil
	}
	ds, err := c.Prepare(text)
	if err != nil {
		return nil
	}
	defer ds.Close()
	bare := ds.(*duckdb.Stmt)
	if t, err := bare.StatementType(); err != nil || t != duckdb.STATEMENT_TYPE_SELECT {
		return nil // only its names are read, and only a SELECT's
	}
	if m, err := bare.ColumnCount(); err != nil || m != n {
		return nil
	}
	for i := range names {
		if names[i], err = bare.ColumnName(i); err != nil {
			return nil
		}
	}
	return names
}

// wrapSQL is text as a subquery projected by list, at most maxRows+1 rows.
func wrapSQL(list, text string, maxRows int) string {
	return fmt.Sprintf("SELECT %s FROM (\n%s\n) LIMIT %d", list, text, maxRows+1)
}

// typeTimeNS is DUCKDB_TYPE_TIME_NS, which duckdb-go has no constant for
// (and cannot scan); TestUnreadableTypes checks the value.
const typeTimeNS = duckdb.Type(39)

// How a column the driver cannot read is converted.
const (
	convNone = iota
	convText // CAST(x AS VARCHAR): TIME_NS as DuckDB prints it
	convJSON // CAST(CAST(x AS JSON) AS VARCHAR), embedded as JSON: VARIANT and nested types
	// convTime is CAST(x AS VARCHAR) for TIME: the driver reads 24:00:00
	// as 00:00:00.
	convTime
	// convTimestampS is CAST(x AS TIMESTAMP) for TIMESTAMP_S: the driver
	// overflows on infinity.
	convTimestampS
	// convMapEntries is map_entries(x) for a MAP whose keys the driver
	// cannot scan (LIST, STRUCT, BLOB, UUID, ... keys: a 500 before): the
	// LIST(STRUCT(key, value)) renders as ADR-021's [{"key","value"}].
	convMapEntries
)

// textColumns reports, per column of stmt, whether the driver cannot read
// it and how DuckDB converts it instead (nil when no column needs it).
func textColumns(stmt *duckdb.Stmt) ([]int, error) {
	n, err := stmt.ColumnCount()
	if err != nil {
		return nil, err
	}
	var out []int
	for i := 0; i < n; i++ {
		ti, err := stmt.ColumnTypeInfo(i)
		if err != nil {
			continue
		}
		k := convNone
		switch {
		case ti.InternalType() == typeTimeNS:
			k = convText
		case mapEntries(ti):
			k = convMapEntries
		case unreadable(ti):
			k = convJSON
		case ti.InternalType() == duckdb.TYPE_TIME:
			k = convTime
		case ti.InternalType() == duckdb.TYPE_TIMESTAMP_S:
			k = convTimestampS
		}
		if k != convNone {
			if out == nil {
				out = make([]int, n)
			}
			out[i] = k
		}
	}
	return out, nil
}

// unreadable reports whether a value of ti, or of any type nested in it,
// is one duckdb-go cannot scan (TIME_NS, VARIANT, a MAP with keys it cannot
// scan) or scans lossily: it decodes JSON into Go values, which loses object
// key order, duplicate keys and digits beyond a float64, and fails (a 500)
// on numbers beyond it and nesting deeper than 10000. DuckDB's own JSON
// text of a JSON value is exact.
func unreadable(ti duckdb.TypeInfo) bool {
	switch t := ti.InternalType(); {
	case t == duckdb.TYPE_VARIANT || t == typeTimeNS:
		return true
	case isJSON(ti):
		return true
	}
	switch d := ti.Details().(type) {
	case *duckdb.ListDetails:
		return unreadable(d.Child)
	case *duckdb.ArrayDetails:
		return unreadable(d.Child)
	case *duckdb.StructDetails:
		for _, e := range d.Entries {
			if unreadable(e.Info()) {
				return true
			}
		}
	case *duckdb.MapDetails:
		return badMapKey(d.Key) || unreadable(d.Key) || unreadable(d.Value)
	case *duckdb.UnionDetails:
		for _, m := range d.Members {
			if unreadable(m.Type) {
				return true
			}
		}
	}
	return false
}

func isJSON(ti duckdb.TypeInfo) bool {
	return ti.InternalType() == duckdb.TYPE_VARCHAR && ti.Alias() == "JSON"
}

// badMapKey reports whether duckdb-go cannot read a MAP with keys of type
// ti: it builds a Go map, whose keys must be comparable (a BLOB or UUID
// scans to []byte, a LIST to []any, a JSON object to map[string]any).
func badMapKey(ti duckdb.TypeInfo) bool {
	switch ti.InternalType() {
	case duckdb.TYPE_UNION, duckdb.TYPE_LIST, duckdb.TYPE_STRUCT, duckdb.TYPE_MAP, duckdb.TYPE_ARRAY,
		duckdb.TYPE_BLOB, duckdb.TYPE_BIT, duckdb.TYPE_GEOMETRY, duckdb.TYPE_UUID:
		return true
	}
	return isJSON(ti)
}

// mapEntries reports whether ti is a MAP whose keys the driver cannot
// scan but whose map_entries (a LIST of STRUCT(key, value)) it reads
// exactly.
func mapEntries(ti duckdb.TypeInfo) bool {
	d, ok := ti.Details().(*duckdb.MapDetails)
	return ok && ti.InternalType() == duckdb.TYPE_MAP && badMapKey(d.Key) && !unreadable(d.Key) && !unreadable(d.Value)
}

// describeTypes is DuckDB's own name of each column's type (DESCRIBE),
// which the driver does not know for TIME_NS.
func describeTypes(ctx context.Context, c *duckdb.Conn, wrapped bool, text string, maxRows int, args []driver.NamedValue) ([]string, error) {
	q := text
	if wrapped {
		q = wrapSQL("*", text, maxRows)
	}
	rows, err := c.QueryContext(ctx, "SELECT column_type FROM (DESCRIBE "+q+")", args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	v := make([]driver.Value, 1)
	for rows.Next(v) == nil {
		s, _ := v[0].(string)
		out = append(out, s)
	}
	return out, nil
}

func typeOr(types []string, i int) string {
	if i < len(types) && types[i] != "" {
		return types[i]
	}
	return "of an unsupported kind"
}

// prepareCast prepares text wrapped with a projection that converts the
// columns conv marks, keeping every column's name and position.
func prepareCast(c *duckdb.Conn, stmt *duckdb.Stmt, text string, maxRows int, conv []int) (*duckdb.Stmt, error) {
	list := make([]string, len(conv))
	for i, k := range conv {
		name, err := stmt.ColumnName(i)
		if err != nil {
			return nil, err
		}
		ref := fmt.Sprintf("#%d", i+1)
		switch k {
		case convText, convTime:
			ref = "CAST(" + ref + " AS VARCHAR)"
		case convTimestampS:
			ref = "CAST(" + ref + " AS TIMESTAMP)"
		case convJSON:
			ref = "CAST(CAST(" + ref + " AS JSON) AS VARCHAR)"
		case convMapEntries:
			ref = "map_entries(" + ref + ")"
		}
		list[i] = ref + " AS " + sqlIdent(name)
	}
	ds, err := c.Prepare(wrapSQL(strings.Join(list, ", "), text, maxRows))
	if err != nil {
		return nil, err
	}
	return ds.(*duckdb.Stmt), nil
}

// notSelect reports whether text parses as one statement that is not a
// SELECT, without binding it: DuckDB's json_serialize_sql parses only and
// serializes SELECTs alone.
func notSelect(c *duckdb.Conn, text string) bool {
	rows, err := c.QueryContext(context.Background(), "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", []driver.NamedValue{{Ordinal: 1, Value: text}})
	if err != nil {
		return false
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if rows.Next(v) != nil {
		return false
	}
	s, _ := v[0].(string)
	var out struct {
		Error   bool   `json:"error"`
		Message string `json:"error_message"`
	}
	return json.Unmarshal([]byte(s), &out) == nil && out.Error && strings.Contains(out.Message, "Only SELECT statements")
}

func stmtTypeName(t duckdb.StmtType) string {
	names := map[duckdb.StmtType]string{
		duckdb.STATEMENT_TYPE_INSERT: "INSERT", duckdb.STATEMENT_TYPE_UPDATE: "UPDATE",
		duckdb.STATEMENT_TYPE_EXPLAIN: "EXPLAIN", duckdb.STATEMENT_TYPE_DELETE: "DELETE",
		duckdb.STATEMENT_TYPE_PREPARE: "PREPARE", duckdb.STATEMENT_TYPE_CREATE: "CREATE",
		duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE", duckdb.STATEMENT_TYPE_ALTER: "ALTER",
		duckdb.STATEMENT_TYPE_TRANSACTION: "transaction", duckdb.STATEMENT_TYPE_COPY: "COPY",
		duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE", duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE",
		duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION", duckdb.STATEMENT_TYPE_DROP: "DROP",
		duckdb.STATEMENT_TYPE_EXPORT: "EXPORT", duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA",
		duckdb.STATEMENT_TYPE_VACUUM: "VACUUM", duckdb.STATEMENT_TYPE_CALL: "CALL",
		duckdb.STATEMENT_TYPE_SET: "SET", duckdb.STATEMENT_TYPE_LOAD: "LOAD/INSTALL",
		duckdb.STATEMENT_TYPE_EXTENSION: "extension", duckdb.STATEMENT_TYPE_ATTACH: "ATTACH",
		duckdb.STATEMENT_TYPE_DETACH: "DETACH", duckdb.STATEMENT_TYPE_MULTI: "multi-statement",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%d", int(t))
}

// article puts "a" or "an" before a statement type's name, as it is
// read: "an ATTACH", "an EXPLAIN", "a SET" (ADR-111).
func article(name string) string {
	if name != "" && strings.ContainsRune("AEIOUaeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// trimStatement drops surrounding space and trailing semicolons.
func trimStatement(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	return s
}

// bindArgs turns JSON params into driver values. A json.Number (queryd
// decodes with UseNumber) without fraction or exponent binds exactly: as
// BIGINT, UBIGINT above it, else as a big integer (HUGEINT or BIGNUM); other
// numbers, and float64 values, bind as DOUBLE, except integral ones within
// 2^53, which bind as BIGINT.
func bindArgs(params []any) ([]driver.NamedValue, error) {
	args := make([]driver.NamedValue, len(params))
	for i, p := range params {
		var v driver.Value
		switch x := p.(type) {
		case nil, bool, string, int64, uint64:
			v = x
		case int:
			v = int64(x)
		case json.Number:
			n, err := bindNumber(string(x))
			if err != nil {
				return nil, errs.E("query", errs.Invalid, fmt.Sprintf("params[%d]: %v", i, err))
			}
			v = n
		case float64:
			if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
				v = int64(x)
			} else {
				v = x
			}
		default:
			return nil, errs.E("query", errs.Invalid, fmt.Sprintf("params[%d]: unsupported type %T", i, p))
		}
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return args, nil
}

// bindNumber is the driver value of a JSON number, exact for integers.
func bindNumber(s string) (driver.Value, error) {
	if !strings.ContainsAny(s, ".eE") {
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		switch {
		case b.IsInt64():
			return b.Int64(), nil
		case b.IsUint64():
			return b.Uint64(), nil
		}
		return b, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%s is out of the range of a DOUBLE", s)
	}
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return int64(f), nil
	}
	return f, nil
}

// mapError turns a DuckDB error into an *errs.Error of the right kind.
func mapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if ctx.Err() != nil {
		return ctxErr(ctx, op, err)
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		msg := err.Error()
		if strings.Contains(msg, "INTERRUPT") || strings.Contains(msg, "Interrupted") {
			return ctxErr(ctx, op, err)
		}
		return errs.E(op, errs.Invalid, cleanMessage(msg))
	}
	msg := cleanMessage(de.Msg)
	switch de.Type {
	case duckdb.ErrorTypePermission:
		return errs.E(op, errs.Forbidden, msg)
	case duckdb.ErrorTypeInterrupt:
		return errs.E(op, errs.Timeout, "query interrupted")
	case duckdb.ErrorTypeOutOfMemory:
		// DuckDB's first line; its advice after it (SET threads, SET
		// memory_limit, PRAGMA max_temp_directory_size) is statements
		// queryd refuses.
		first, _, _ := strings.Cut(msg, "\n")
		if strings.Contains(msg, "max_temp_directory_size") || strings.Contains(msg, "No space left on device") {
			return errs.E(op, errs.Unavailable, "query ran out of memory ([queryd].memory_limit) and of disk to spill to (the disk of queryd's temp directory, <data_dir>/queryd/tmp, is full): "+first)
		}
		return errs.E(op, errs.Unavailable, "query ran out of memory ([queryd].memory_limit): "+first)
	case duckdb.ErrorTypeIO:
		if strings.Contains(msg, "No space left on device") {
			return errs.E(op, errs.Unavailable, "query ran out of disk (the disk of queryd's temp directory, <data_dir>/queryd/tmp, is full)", errs.E(op, errs.Internal, err))
		}
		if reMissingFile.MatchString(msg) {
			// read_parquet('<allowed dir>/nope.parquet'), or a dataset
			// file purged while the query ran: the caller's 404, not
			// queryd's 500.
			return errs.E(op, errs.NotFound, msg)
		}
		return errs.E(op, errs.Internal, err)
	case duckdb.ErrorTypeFatal, duckdb.ErrorTypeInternal, duckdb.ErrorTypeConnection:
		return errs.E(op, errs.Internal, err)
	case duckdb.ErrorTypeMissingExtension, duckdb.ErrorTypeAutoLoad, duckdb.ErrorTypeHTTP, duckdb.ErrorTypeNetwork:
		return errs.E(op, errs.Forbidden, msg)
	}
	return errs.E(op, errs.Invalid, msg)
}

func ctxErr(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.E(op, errs.Timeout, "query timed out and was interrupted", err)
	}
	return errs.E(op, errs.Unavailable, "query canceled", err)
}

// cleanMessage trims DuckDB's multi-line messages to what helps a caller.
func cleanMessage(s string) string {
	return strings.TrimSpace(s)
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
