package observer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestLoadTailHugeLine: a damaged ops.jsonl with a line of 64 MiB and a
// torn tail of 32 MiB reloads without holding either in memory (the reload
// read each whole, to call it corrupt: a line of a few GB was an OOM at
// start); the line is skipped as corrupt, the tail cut, the events around
// them kept, and compaction drops the line (ADR-088).
func TestLoadTailHugeLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(-time.Hour)
	line := func(i int) string {
		return fmt.Sprintf(`{"ts":%q,"service":"s","op":"o","status":200,"duration_ms":1,"request_id":"r%d"}`+"\n", now.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), i)
	}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	f.WriteString(line(0))
	for i := 0; i < 64; i++ {
		f.Write(chunk)
	}
	f.WriteString("\n" + line(1) + line(2))
	fi, _ := f.Stat()
	good := fi.Size()
	for i := 0; i < 32; i++ {
		f.Write(chunk)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := loadTail(path, 100, time.Now())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("reload allocated %d MiB for 96 MiB of damage", alloc>>20)
	}
	if !res.torn || res.corrupt != 1 || res.lines != 4 || len(res.events) != 3 || res.events[2].RequestID != "r2" {
		t.Fatalf("torn %v corrupt %d lines %d events %+v", res.torn, res.corrupt, res.lines, res.events)
	}
	if fi, _ := os.Stat(path); fi.Size() != good {
		t.Fatalf("file is %d bytes after the cut, want %d", fi.Size(), good)
	}

	// Compaction keeps the events, not the damage.
	p, err := openPersistor(path, 3, res.lines, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.compact(); err != nil {
		t.Fatal(err)
	}
	p.f.Close()
	b, _ := os.ReadFile(path)
	if string(b) != line(0)+line(1)+line(2) {
		t.Fatalf("after compaction: %d bytes %.200q", len(b), b)
	}
}
