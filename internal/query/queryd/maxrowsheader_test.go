package queryd

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMaxRowsHeaderNamesTheCap: a max_rows above [queryd].max_rows is
// lowered to it. The answer said truncated (X-Truncated, "truncated") but
// not to what, so a client asking 3,000,000 rows got 100,000 with nothing
// naming the cap. X-Max-Rows carries the cap in force, in every format.
func TestMaxRowsHeaderNamesTheCap(t *testing.T) {
	s := newServer(t, 2, 2) // MaxRows 1000
	for _, tc := range []struct{ body, want string }{
		{`{"sql":"SELECT * FROM range(5000)","max_rows":3000000}`, "1000"},
		{`{"sql":"SELECT * FROM range(5000)","max_rows":3000000,"format":"ndjson"}`, "1000"},
		{`{"sql":"SELECT * FROM range(5000)","max_rows":3000000,"format":"csv"}`, "1000"},
		{`{"sql":"SELECT * FROM range(5000)","max_rows":10}`, "10"},
		{`{"sql":"SELECT 1"}`, "1000"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/sql", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		if err := s.handleSQL(w, r); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if got := w.Result().Header.Get("X-Max-Rows"); got != tc.want {
			t.Errorf("%s: X-Max-Rows %q, want %q", tc.body, got, tc.want)
		}
	}
}
