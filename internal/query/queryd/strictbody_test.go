package queryd

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestStrictSQLBody: a /v1/sql body whose "sql" is given twice, or again
// as "SQL" (an intermediary reading the first sees SELECT 1,
// encoding/json ran the last), or whose SQL string or params hold invalid UTF-8 (DuckDB got
// 'caf\ufffd'), is Invalid naming the key or the byte, and nothing runs; a
// valid non-ASCII literal comes back as sent.
func TestStrictSQLBody(t *testing.T) {
	s := newServer(t, 1, 1)
	for _, tc := range []struct{ body, want string }{
		{`{"sql":"SELECT 1 AS n","sql":"SELECT 2 AS n"}`, `duplicate key "sql" at $.sql (byte 23)`},
		{`{"sql":"SELECT 1 AS n","SQL":"SELECT 2 AS n"}`, `key "SQL" at $.SQL (byte 23) is not a field: field names are case-sensitive ("sql")`},
		{`{"sql":"SELECT $1 AS v","params":[{"a":1,"a":2}]}`, `duplicate key "a" at $.params[0].a`},
		{"{\"sql\":\"SELECT 'caf\xe9' AS s\"}", `invalid UTF-8 at byte 19`},
		{"{\"sql\":\"SELECT $1 AS s\",\"params\":[\"x\",\"\xff\"]}", `invalid UTF-8 at byte 39`},
		{`{"sql":"SELECT '\ud800' AS s"}`, `unpaired UTF-16 surrogate escape \ud800 at byte 16`},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/sql", strings.NewReader(tc.body))
		err := s.handleSQL(w, r)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), tc.want) {
			t.Errorf("%q: %v (answer %.100s), want invalid %q", tc.body, err, w.Body, tc.want)
		}
		if w.Body.Len() != 0 {
			t.Errorf("%q: answered %.100s", tc.body, w.Body)
		}
	}

	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/sql", strings.NewReader(`{"sql":"SELECT 'café \ud83d\ude00' AS s"}`))
	if err := s.handleSQL(w, r); err != nil {
		t.Fatal(err)
	}
	var res struct{ Rows [][]string }
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || len(res.Rows) != 1 || res.Rows[0][0] != "café 😀" {
		t.Fatalf("%v %s", err, w.Body)
	}
}
