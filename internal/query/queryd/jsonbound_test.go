package queryd

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sqlJSON(t *testing.T, s *Server, body string) (n int, rows int, truncated bool) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/sql", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if err := s.handleSQL(w, r); err != nil {
		t.Fatal(err)
	}
	var res struct {
		RowCount  int  `json:"row_count"`
		Truncated bool `json:"truncated"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("%v: %.200s", err, w.Body)
	}
	return w.Body.Len(), res.RowCount, res.Truncated
}

// TestJSONAnswerBounded: a json answer, built in memory before it is sent,
// stops at MaxJSONBytes and says truncated (200 rows of 1 MB were a 200 MB
// answer held whole, several times over while the buffer grew); ndjson is
// not bounded.
func TestJSONAnswerBounded(t *testing.T) {
	// 200 MB of text to build: a minute, not newServer's 5 s (under -race
	// on a loaded host it took longer than 5 s).
	bdir := t.TempDir()
	s, err := NewServer(context.Background(), Options{
		CacheDir: filepath.Join(bdir, "cache"), TempDir: filepath.Join(bdir, "tmp"),
		Threads: 1, MaxConcurrent: 1, MaxQueue: 1, MaxRows: 1000, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const q = `{"sql":"SELECT repeat('x', 1000000) AS s FROM range(200)"}`
	n, rows, trunc := sqlJSON(t, s, q)
	if n > DefaultMaxJSONBytes+2_000_000 || !trunc || rows >= 200 || rows < DefaultMaxJSONBytes/1_000_010 {
		t.Fatalf("json answer: %d bytes, %d rows, truncated %v; want at most %d bytes, truncated", n, rows, trunc, DefaultMaxJSONBytes)
	}

	dir := t.TempDir()
	var small *Server
	small, err = NewServer(context.Background(), Options{
		CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxRows: 1000, Timeout: 5 * time.Second, MaxJSONBytes: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	for _, tc := range []struct {
		sql   string
		rows  int
		trunc bool
	}{
		// `{"columns":...,"rows":[` is already over 40 bytes: one row each.
		{"SELECT range AS n FROM range(5)", 1, true},
		{"SELECT range AS n FROM range(1)", 1, false}, // the bound at the last row: nothing left out
		{"SELECT range AS n FROM range(0)", 0, false},
	} {
		_, rows, trunc := sqlJSON(t, small, `{"sql":"`+tc.sql+`"}`)
		if rows != tc.rows || trunc != tc.trunc {
			t.Errorf("%s: %d rows, truncated %v; want %d, %v", tc.sql, rows, trunc, tc.rows, tc.trunc)
		}
	}
}
