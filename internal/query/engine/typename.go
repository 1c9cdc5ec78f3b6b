package engine

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// typeNamer spells a column's type as DuckDB's DESCRIBE and typeof() do
// (LogicalType::ToString), from the statement's TypeInfo. The driver's own
// names differ: ENUM without its values, STRUCT and UNION field names
// always quoted, TIMESTAMPTZ and TIMETZ for DuckDB's TIMESTAMP WITH TIME
// ZONE and TIME WITH TIME ZONE, and a JSON nested in a LIST as VARCHAR[].
type typeNamer struct {
	// keywords are DuckDB's keywords of every category (lower case): a
	// STRUCT field or UNION member named like one is quoted.
	keywords map[string]bool
}

// loadKeywords reads DuckDB's keyword list (duckdb_keywords()).
func loadKeywords(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT keyword_name FROM duckdb_keywords()")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = true
	}
	return out, rows.Err()
}

// scalarTypeNames are DuckDB's names of the types without parameters
// (the driver's differ for TIME_TZ and TIMESTAMP_TZ; it has none for
// TIME_NS).
var scalarTypeNames = map[duckdb.Type]string{
	duckdb.TYPE_BOOLEAN:      "BOOLEAN",
	duckdb.TYPE_TINYINT:      "TINYINT",
	duckdb.TYPE_SMALLINT:     "SMALLINT",
	duckdb.TYPE_INTEGER:      "INTEGER",
	duckdb.TYPE_BIGINT:       "BIGINT",
	duckdb.TYPE_UTINYINT:     "UTINYINT",
	duckdb.TYPE_USMALLINT:    "USMALLINT",
	duckdb.TYPE_UINTEGER:     "UINTEGER",
	duckdb.TYPE_UBIGINT:      "UBIGINT",
	duckdb.TYPE_FLOAT:        "FLOAT",
	duckdb.TYPE_DOUBLE:       "DOUBLE",
	duckdb.TYPE_TIMESTAMP:    "TIMESTAMP",
	duckdb.TYPE_DATE:         "DATE",
	duckdb.TYPE_TIME:         "TIME",
	duckdb.TYPE_INTERVAL:     "INTERVAL",
	duckdb.TYPE_HUGEINT:      "HUGEINT",
	duckdb.TYPE_UHUGEINT:     "UHUGEINT",
	duckdb.TYPE_VARCHAR:      "VARCHAR",
	duckdb.TYPE_BLOB:         "BLOB",
	duckdb.TYPE_TIMESTAMP_S:  "TIMESTAMP_S",
	duckdb.TYPE_TIMESTAMP_MS: "TIMESTAMP_MS",
	duckdb.TYPE_TIMESTAMP_NS: "TIMESTAMP_NS",
	duckdb.TYPE_UUID:         "UUID",
	duckdb.TYPE_BIT:          "BIT",
	duckdb.TYPE_TIME_TZ:      "TIME WITH TIME ZONE",
	duckdb.TYPE_TIMESTAMP_TZ: "TIMESTAMP WITH TIME ZONE",
	duckdb.TYPE_BIGNUM:       "BIGNUM",
	duckdb.TYPE_SQLNULL:      `"NULL"`,
	duckdb.TYPE_GEOMETRY:     "GEOMETRY",
	duckdb.TYPE_VARIANT:      "VARIANT",
	typeTimeNS:               "TIME_NS",
}

// driverTypeName is DuckDB's name for a type the driver named (a column
// without TypeInfo: one typed only by a parameter, always a scalar).
func driverTypeName(name string) string {
	switch name {
	case "TIMESTAMPTZ":
		return scalarTypeNames[duckdb.TYPE_TIMESTAMP_TZ]
	case "TIMETZ":
		return scalarTypeNames[duckdb.TYPE_TIME_TZ]
	}
	return name
}

// name is DuckDB's text of ti; false when ti holds a type this does not
// know (a type newer than this code: the caller keeps the driver's name).
func (n typeNamer) name(ti duckdb.TypeInfo) (string, bool) {
	var b strings.Builder
	ok := n.write(&b, ti)
	return b.String(), ok
}

func (n typeNamer) write(b *strings.Builder, ti duckdb.TypeInfo) bool {
	if a := ti.Alias(); a != "" {
		// DuckDB prints an aliased type (JSON) by its alias.
		b.WriteString(a)
		return true
	}
	t := ti.InternalType()
	switch d := ti.Details().(type) {
	case *duckdb.DecimalDetails:
		b.WriteString("DECIMAL(")
		b.WriteString(strconv.Itoa(int(d.Width)))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(d.Scale)))
		b.WriteByte(')')
		return true
	case *duckdb.EnumDetails:
		b.WriteString("ENUM(")
		for i, v := range d.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(sqlString(v))
		}
		b.WriteByte(')')
		return true
	case *duckdb.ListDetails:
		ok := n.write(b, d.Child)
		b.WriteString("[]")
		return ok
	case *duckdb.ArrayDetails:
		ok := n.write(b, d.Child)
		b.WriteByte('[')
		b.WriteString(strconv.FormatUint(d.Size, 10))
		b.WriteByte(']')
		return ok
	case *duckdb.MapDetails:
		b.WriteString("MAP(")
		ok := n.write(b, d.Key)
		b.WriteString(", ")
		ok = n.write(b, d.Value) && ok
		b.WriteByte(')')
		return ok
	case *duckdb.StructDetails:
		b.WriteString("STRUCT(")
		ok := true
		for i, e := range d.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.fieldName(e.Name()))
			b.WriteByte(' ')
			ok = n.write(b, e.Info()) && ok
		}
		b.WriteByte(')')
		return ok
	case *duckdb.UnionDetails:
		b.WriteString("UNION(")
		ok := true
		for i, m := range d.Members {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.fieldName(m.Name))
			b.WriteByte(' ')
			ok = n.write(b, m.Type) && ok
		}
		b.WriteByte(')')
		return ok
	}
	s, ok := scalarTypeNames[t]
	b.WriteString(s)
	return ok
}

// fieldName is a STRUCT field or UNION member name as DuckDB writes it in
// a type (KeywordHelper::WriteOptionallyQuoted): bare when it is letters,
// digits (not first) and underscores and no keyword, else double-quoted.
func (n typeNamer) fieldName(s string) string {
	bare := !n.keywords[strings.ToLower(s)]
	for i := 0; bare && i < len(s); i++ {
		c := s[i]
		bare = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9'
	}
	if bare {
		return s
	}
	return sqlIdent(s)
}
