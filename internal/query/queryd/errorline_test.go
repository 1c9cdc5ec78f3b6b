package queryd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/testutil/inproc"
)

// TestErrorLineIsTheCallers: DuckDB's "LINE N:" in an error message counts
// the lines of the SQL the caller sent. queryd runs it inside its LIMIT
// wrapper, one line lower, so a bad value on line 3 was reported on
// "LINE 4" (and line 9 on "LINE 10", the caret one column off) (ADR-111).
func TestErrorLineIsTheCallers(t *testing.T) {
	cfg := inproc.Config(t)
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	for _, tc := range []struct{ sql, want string }{
		{"SELECT 1/'a' AS x", "\n\nLINE 1: SELECT 1/'a' AS x\n" + strings.Repeat(" ", len("LINE 1: SELECT 1/")) + "^"},
		{"SELECT *\nFROM range(3) t(id)\nWHERE id = 'abc'", "\n\nLINE 3: WHERE id = 'abc'\n" + strings.Repeat(" ", len("LINE 3: WHERE id = ")) + "^"},
		{"SELECT 1,\n2,\n3,\n4,\n5,\n6,\n7,\n8,\n1/'a' AS x", "\n\nLINE 9: 1/'a' AS x\n" + strings.Repeat(" ", len("LINE 9: 1/")) + "^"},
	} {
		b, _ := json.Marshal(map[string]string{"sql": tc.sql})
		resp, err := http.Post(s.URL()+query.Route, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errs.Body
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 || e.Error.Kind != errs.Invalid {
			t.Fatalf("%q: %d %s, want a 400 invalid", tc.sql, resp.StatusCode, body)
		}
		if !strings.HasPrefix(e.Error.Message, "Conversion Error: ") || !strings.HasSuffix(e.Error.Message, tc.want) {
			t.Errorf("%q: message %q, want it to end %q", tc.sql, e.Error.Message, tc.want)
		}
	}
}
