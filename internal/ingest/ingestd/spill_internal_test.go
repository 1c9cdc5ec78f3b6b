package ingestd

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/ingest/convert"
)

// TestSpillDirectories: the converter's DuckDB and the compactions' spilled
// into the same temp_directory. DuckDB names spill files by size class and
// number, so both opened duckdb_temp_storage_DEFAULT-0.tmp: an ingest and a
// compaction spilling at once crashed ingestd (SIGSEGV in DuckDB). Each has
// its own directory now; both spill at once here, into the directories
// ingestd gives them, and every answer is right.
func TestSpillDirectories(t *testing.T) {
	s, err := NewServer(Options{TempDir: t.TempDir(), Convert: convert.Options{Threads: 1, MemoryLimit: "30MB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	compact, err := s.compactDB()
	if err != nil {
		t.Fatal(err)
	}
	var compactTemp string
	if err := compact.QueryRow("SELECT current_setting('temp_directory')").Scan(&compactTemp); err != nil {
		t.Fatal(err)
	}
	if filepath.Clean(compactTemp) == filepath.Clean(s.opts.Convert.TempDir) {
		t.Errorf("compactions spill into the converter's directory %s", compactTemp)
	}
	// The converter's settings on the converter's directory (its database
	// is private to ingest/convert).
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	conv := sql.OpenDB(connector)
	defer conv.Close()
	conv.SetMaxOpenConns(1)
	compact.SetMaxOpenConns(1)
	for _, db := range []*sql.DB{conv, compact} {
		for _, st := range []string{"SET threads = 1", "SET memory_limit = '30MB'", "SET preserve_insertion_order = false"} {
			if _, err := db.Exec(st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := conv.Exec("SET temp_directory = " + sqlString(s.opts.Convert.TempDir)); err != nil {
		t.Fatal(err)
	}
	// Both databases spill at once, three rounds each (one under -short:
	// each round moves ~100 MB through a 30 MB limit).
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	var wg sync.WaitGroup
	for k, db := range []*sql.DB{conv, compact} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				// ~100 MB of rows held in a 30 MB limit: it spills.
				if _, err := db.Exec("CREATE OR REPLACE TEMP TABLE big AS SELECT range AS id, md5((range + ?)::VARCHAR) AS h FROM range(2000000)", k); err != nil {
					t.Error(k, err)
					return
				}
				var n int64
				var got, want string
				if err := db.QueryRow("SELECT count(*), max(h) FROM big").Scan(&n, &got); err != nil {
					t.Error(k, err)
					return
				}
				if err := db.QueryRow("SELECT max(md5((range + ?)::VARCHAR)) FROM range(2000000)", k).Scan(&want); err != nil {
					t.Error(k, err)
					return
				}
				if n != 2000000 || got != want {
					t.Errorf("database %d read back %d rows, max %s, want 2000000, %s", k, n, got, want)
				}
			}
			if _, err := db.Exec("DROP TABLE big"); err != nil {
				t.Error(k, err)
			}
		}()
	}
	wg.Wait()
}

// TestLeftSpillFilesSwept: the spill files of an ingestd killed
// mid-compaction stayed in the temp dir (as big as the compaction's spill)
// until the first compaction after the restart opened its DuckDB. A
// starting ingestd, holding the temp dir's lock, removes them (and those
// of the converter, which its DuckDB removes at open too).
func TestLeftSpillFilesSwept(t *testing.T) {
	dir := t.TempDir()
	left := []string{filepath.Join(dir, "duckdb", "duckdb_temp_storage_DEFAULT-0.tmp"), filepath.Join(dir, "duckdb-compact", "duckdb_temp_storage_S32K-3.tmp")}
	kept := filepath.Join(dir, "duckdb", "notes.txt")
	for _, f := range append(left, kept) {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("spilled"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewServer(Options{TempDir: dir, Convert: convert.Options{Threads: 1, MemoryLimit: "256MB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range left {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left after the start (%v)", f, err)
		}
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("%s: %v", kept, err)
	}
}
