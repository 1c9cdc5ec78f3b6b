// Package query is the contract of queryd (:3214), Lakehouse-Go's SQL
// service: the request and answer types of POST /v1/sql, the Service
// interface, the route constant and the typed Client that other daemons
// (matrixd) and tests use. The DuckDB engine lives in query/engine, the
// Parquet cache for S3 objects in query/pcache and the daemon (handlers,
// catalog-to-view sync, admission control) in query/queryd.
//
// Value rendering (ADR-021): integers up to 2^53 in magnitude are JSON
// numbers, larger BIGINT/UBIGINT/HUGEINT/UHUGEINT values are decimal
// strings; DECIMAL values are always exact decimal strings ("12.50");
// DOUBLE/FLOAT are numbers, with NaN and infinities as the strings "NaN",
// "Infinity", "-Infinity"; DATE is "2006-01-02", TIMESTAMP
// "2006-01-02T15:04:05.999999" (no zone), TIMESTAMPTZ RFC 3339 in UTC, TIME
// "15:04:05.999999" (24:00:00 as such), infinite DATE and TIMESTAMP values
// "infinity" and "-infinity" as DuckDB prints them; INTERVAL {"months","days","micros"}; BLOB base64; UUID
// its canonical text; JSON values are embedded as DuckDB's text of them
// (exact: key order, duplicate keys and big numbers kept; a value nested
// deeper than 10000 levels is its text as a JSON string); LIST/ARRAY are JSON
// arrays; STRUCT a JSON object with fields in declaration order; MAP a JSON
// object when its keys are VARCHAR, else an array of {"key","value"} (keys
// of any type: LIST, STRUCT, BLOB, UUID ... too; inside another nested
// type a MAP with such keys is DuckDB's JSON of the whole value); UNION
// its member's value; NULL is null at every level. Types duckdb-go cannot
// read are converted by DuckDB: TIME_NS is its text ("12:00:00.123456789"),
// VARIANT and a nested type holding VARIANT, TIME_NS or JSON the JSON of
// DuckDB's JSON cast; the column keeps its DuckDB type name.
package query

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"lakehouse-go/internal/errs"
)

// Route is queryd's one route.
const Route = "/v1/sql"

// Formats of an answer.
const (
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// Request is the body of POST /v1/sql.
type Request struct {
	SQL string `json:"sql"`
	// Params bind $1, $2, ... (or ?) in order. JSON integers bind exactly
	// (BIGINT; UBIGINT, HUGEINT or BIGNUM beyond it), other numbers as
	// DOUBLE; strings as VARCHAR.
	Params []any `json:"params,omitempty"`
	// Format is json (default), ndjson or csv.
	Format string `json:"format,omitempty"`
	// MaxRows caps the rows returned (0 = [queryd].max_rows; never above it).
	MaxRows int `json:"max_rows,omitempty"`
	// TimeoutMS bounds the query (0 = [queryd].timeout; never above it).
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// Validate checks the request shape.
func (r *Request) Validate() error {
	var problems []string
	if strings.TrimSpace(r.SQL) == "" {
		problems = append(problems, "sql: empty")
	}
	switch r.Format {
	case "", FormatJSON, FormatNDJSON, FormatCSV:
	default:
		problems = append(problems, fmt.Sprintf("format %q: want json, ndjson or csv", r.Format))
	}
	if r.MaxRows < 0 {
		problems = append(problems, "max_rows: negative")
	}
	if r.TimeoutMS < 0 {
		problems = append(problems, "timeout_ms: negative")
	}
	for i, p := range r.Params {
		switch p.(type) {
		case nil, bool, float64, string, json.Number:
		default:
			problems = append(problems, fmt.Sprintf("params[%d]: want a JSON scalar (null, bool, number, string)", i))
		}
	}
	if len(problems) > 0 {
		return errs.E("query.Request", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// Column is one column of an answer: its name and DuckDB type, both as
// DuckDB's DESCRIBE gives them (ADR-152): repeated names stay repeated
// (SELECT 1 a, 2 a is a, a; an ndjson object then holds the key twice, as
// the DuckDB CLI's .mode jsonlines writes it), and the type is DuckDB's
// full text (ENUM('a', 'b'), STRUCT(a INTEGER, "select" VARCHAR),
// TIMESTAMP WITH TIME ZONE).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is the JSON answer of POST /v1/sql.
type Result struct {
	Columns   []Column          `json:"columns"`
	Rows      [][]any           `json:"rows"`
	RowCount  int               `json:"row_count"`
	Truncated bool              `json:"truncated"`
	ElapsedMS float64           `json:"elapsed_ms"`
	RawRows   []json.RawMessage `json:"-"`
}

// Service runs read-only SQL over the catalog's datasets.
type Service interface {
	// Query runs req (format json) and returns the whole answer.
	// Errors: Invalid (bad SQL, unknown table or column, bad params),
	// Forbidden (a statement other than a query; file or network access),
	// Timeout (the query ran past its timeout and was interrupted),
	// Unavailable (too many queries queued; catalogd or storaged down).
	Query(ctx context.Context, req Request) (*Result, error)
}
