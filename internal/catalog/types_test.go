package catalog_test

import (
	"database/sql"
	"strings"
	"sync"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
)

var (
	oracleOnce sync.Once
	oracleDB   *sql.DB
)

// duckAccepts reports whether DuckDB accepts typ as a column type and as a
// cast (what queryd's view of an empty dataset does), with its error.
func duckAccepts(t testing.TB, typ string) error {
	t.Helper()
	oracleOnce.Do(func() {
		c, err := duckdb.NewConnector("", nil)
		if err != nil {
			t.Fatal(err)
		}
		oracleDB = sql.OpenDB(c)
		oracleDB.SetMaxOpenConns(1)
	})
	if _, err := oracleDB.Exec("CREATE OR REPLACE TEMP TABLE oracle (c " + typ + ")"); err != nil {
		return err
	}
	_, err := oracleDB.Exec("SELECT NULL::" + typ + ` AS "c"`)
	return err
}

// validateTypeCases are types on both sides of what DuckDB accepts; each
// is checked against DuckDB itself.
var validateTypeCases = []string{
	"BIGINT", "varchar", "DECIMAL(18,3)", "DECIMAL( 38 , 0 )", "DECIMAL(38,38)", "TIMESTAMP WITH TIME ZONE",
	"TIME WITH TIME ZONE", "TIMESTAMP_NS", "INTEGER[]", "INTEGER[][]", "INTEGER[1]", "INTEGER[100000]", "INTEGER[03]",
	"TIMESTAMP WITH TIME ZONE[3]", "STRUCT(a INTEGER)[3][2]", "STRUCT(a INTEGER, \"b c\" VARCHAR, \"select\" INTEGER)",
	"MAP(VARCHAR, INTEGER)", "MAP(STRUCT(a INTEGER), MAP(VARCHAR, DOUBLE[]))[]", "GEOMETRY", "GEOMETRY('OGC:CRS84')",
	"GEOMETRY('OGC:CRS83')", "GEOMETRY[]", "VARIANT", "VARIANT[]", "JSON", "UUID", "INTERVAL", "TIME_NS", "BIT", "BIGNUM",
	"VARINT", "STRUCT(\"É\" INTEGER, \"é\" INTEGER)", "STRUCT(time TIME, timestamp TIMESTAMP)", "STRUCT(map INTEGER, struct INTEGER)",
	"STRUCT(\"from\" INTEGER)", "STRUCT(\"a \"\"q\"\"\" BLOB)", "STRUCT(a INTEGER, b STRUCT(a INTEGER))", "STRUCT(\"\xff\" INTEGER)", "STRUCT(\"日本\" INTEGER)",
	// DuckDB refuses these (the auditor's commits that broke every query):
	"STRUCT(a INTEGER, a INTEGER)", "STRUCT(a INTEGER, A INTEGER)", "STRUCT(\"a b\" INTEGER, \"A B\" INTEGER)",
	"STRUCT(\"a\" INTEGER, a INTEGER)", "STRUCT(a INTEGER, b STRUCT(x INTEGER, X INTEGER))", "MAP(VARCHAR, STRUCT(x INTEGER, X INTEGER))",
	"INTEGER[0]", "INTEGER[00]", "INTEGER[100001]", "INTEGER[4294967296]", "GEOMETRY('foo')", "GEOMETRY('EPSG:4326')",
	"STRUCT(UTINYINT, INTEGER, VARCHAR)", "STRUCT(ts TIMESTAMP WITH TIME ZONE, TIMESTAMP WITH TIME ZONE)",
	"STRUCT(select INTEGER)", "STRUCT(from INTEGER)", "STRUCT(with INTEGER)", "STRUCT(INTEGER[])", "STRUCT(DECIMAL(4,1))",
}

// stricterThanDuckDB are spellings DuckDB accepts but never prints, which
// ValidateType refuses (append compares types as text). A lower-case CRS is
// refused too: DuckDB takes 'ogc:crs84' only after 'OGC:CRS84' was used in
// the same database.
var stricterThanDuckDB = []string{"GEOMETRY('OGC:CRS84 ')"}

// TestValidateTypeDuckDB: ValidateType accepts exactly the cases DuckDB
// accepts (no type that breaks queryd's view; none DuckDB prints refused).
func TestValidateTypeDuckDB(t *testing.T) {
	for _, typ := range stricterThanDuckDB {
		if catalog.ValidateType(typ) == nil || duckAccepts(t, typ) != nil {
			t.Errorf("%q: ValidateType should refuse it, DuckDB accept it", typ)
		}
	}
	for _, typ := range []string{"GEOMETRY('ogc:crs84')", "GEOMETRY('ogc:crs83')"} {
		if catalog.ValidateType(typ) == nil {
			t.Errorf("%q: accepted", typ)
		}
	}
	for _, typ := range validateTypeCases {
		ours, duck := catalog.ValidateType(typ), duckAccepts(t, typ)
		if (ours == nil) != (duck == nil) {
			t.Errorf("%q: ValidateType %v, DuckDB %v", typ, ours, duck)
		}
	}
	// A field name may be any keyword DuckDB accepts unquoted there.
	rows, err := oracleDB.Query("SELECT keyword_name FROM duckdb_keywords()")
	if err != nil {
		t.Fatal(err)
	}
	var kws []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kws = append(kws, k)
	}
	rows.Close()
	for _, k := range kws {
		typ := "STRUCT(" + k + " INTEGER)"
		ours, duck := catalog.ValidateType(typ), duckAccepts(t, typ)
		if (ours == nil) != (duck == nil) {
			t.Errorf("%q: ValidateType %v, DuckDB %v", typ, ours, duck)
		}
	}
	// A commit with such a type is refused, naming the column.
	req := catalog.CommitRequest{Schema: []catalog.Column{{Name: "c", Type: "STRUCT(a INTEGER, a INTEGER)"}}}
	if err := req.Validate(); err == nil || !strings.Contains(err.Error(), `schema[0] "c"`) || !strings.Contains(err.Error(), "duplicate STRUCT field") {
		t.Errorf("commit: %v", err)
	}
}

// FuzzValidateTypeDuckDB: every type ValidateType accepts, DuckDB accepts
// too. go test -fuzz FuzzValidateTypeDuckDB ./internal/catalog
func FuzzValidateTypeDuckDB(f *testing.F) {
	for _, typ := range validateTypeCases {
		f.Add(typ)
	}
	f.Add(strings.Repeat("STRUCT(a ", 31) + "INTEGER" + strings.Repeat(")", 31))
	f.Add(strings.Repeat("MAP(VARCHAR, ", 31) + "INTEGER" + strings.Repeat(")", 31))
	f.Fuzz(func(t *testing.T, typ string) {
		if catalog.ValidateType(typ) != nil {
			return
		}
		if err := duckAccepts(t, typ); err != nil {
			t.Fatalf("ValidateType accepts %q, DuckDB refuses it: %v", typ, err)
		}
	})
}
