package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"lakehouse-go/internal/testutil/tmpfs"
	"lakehouse-go/internal/vector/hnsw"
)

// TestAppendAfterDiskFull: on a full disk an append fails with ENOSPC and
// leaves nothing of its record; once space is freed appends succeed
// without reopening the log (it refused every append until a restart),
// and a replay holds exactly the acknowledged records, no torn tail.
func TestAppendAfterDiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 256<<10)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 128<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vectord.wal")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := func(i int) *Record {
		return &Record{Op: OpUpsert, Index: "docs", Items: []hnsw.Item{
			{ID: fmt.Sprint("id", i), Vector: []float32{float32(i), 1}, Metadata: hnsw.Metadata{"pad": string(make([]byte, 9000))}},
		}}
	}
	var acked []string
	full := 0
	for i := 0; i < 100 && full < 3; i++ {
		if _, err := w.Append(rec(i)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ENOSPC", i, err)
			}
			full++
			continue
		}
		acked = append(acked, fmt.Sprint("id", i))
	}
	if full == 0 {
		t.Fatal("the disk never filled")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 103; i++ {
		if _, err := w.Append(rec(i)); err != nil {
			t.Fatalf("append after space was freed: %v", err)
		}
		acked = append(acked, fmt.Sprint("id", i))
	}
	if err := w.Err(); err != nil {
		t.Fatalf("log still failed: %v", err)
	}
	w.Close()
	recs, info := replayAll(t, path)
	var got []string
	for _, r := range recs {
		got = append(got, r.Items[0].ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(acked) || info.TornBytes != 0 {
		t.Fatalf("replayed %v (torn %d), acknowledged %v", got, info.TornBytes, acked)
	}
}
