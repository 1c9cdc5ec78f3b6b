package journal_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/pathway/journal"
)

func collect(lines *[]string) func(int, []byte) error {
	return func(_ int, b []byte) error {
		*lines = append(*lines, string(b))
		return nil
	}
}

func TestTornTailIsCut(t *testing.T) {
	for _, tail := range []string{`{"op":"st`, "\x00\x00\x00", `{"complete":"json but no newline"}`} {
		t.Run(fmt.Sprintf("%q", tail), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.jsonl")
			good := "{\"a\":1}\n\n{\"a\":2}\n"
			os.WriteFile(path, []byte(good+tail), 0o644)
			var lines []string
			j, info, err := journal.Open(path, collect(&lines))
			if err != nil {
				t.Fatal(err)
			}
			if info.TornBytes != int64(len(tail)) || info.Size != int64(len(good)) || info.Lines != 3 {
				t.Fatalf("info %+v", info)
			}
			if strings.Join(lines, "|") != `{"a":1}|{"a":2}` {
				t.Fatalf("lines %q", lines)
			}
			if err := j.Append([]byte("{\"a\":3}\n")); err != nil {
				t.Fatal(err)
			}
			j.Close()
			data, _ := os.ReadFile(path)
			if string(data) != good+"{\"a\":3}\n" {
				t.Fatalf("file after cut+append %q", data)
			}
		})
	}
}

func TestDamagedMiddleLineRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.jsonl")
	os.WriteFile(path, []byte("ok\nok\nBAD\nok\n"), 0o644)
	_, _, err := journal.Open(path, func(_ int, b []byte) error {
		if string(b) != "ok" {
			return fmt.Errorf("not ok")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "state.jsonl line 3 is damaged (not ok)") {
		t.Fatalf("err = %v", err)
	}
	// The file is untouched.
	if data, _ := os.ReadFile(path); string(data) != "ok\nok\nBAD\nok\n" {
		t.Fatalf("file changed: %q", data)
	}
}

func TestGroupCommitKeepsEveryAcknowledgedEntryInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.jsonl")
	j, _, err := journal.Open(path, collect(new([]string)))
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := j.Append([]byte(fmt.Sprintf("w%d-%d\nw%d-%d-b\n", w, i, w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := j.Stats()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append([]byte("late\n")); err != journal.ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	if st.Entries != writers*each || st.Groups >= st.Entries {
		t.Fatalf("stats %+v: want %d entries in fewer groups", st, writers*each)
	}
	t.Logf("%d entries in %d fsyncs (%.1f per fsync)", st.Entries, st.Groups, float64(st.Entries)/float64(st.Groups))
	var lines []string
	if _, _, err := journal.Open(path, collect(&lines)); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for k := 0; k < len(lines); k += 2 {
		var w, i int
		fmt.Sscanf(lines[k], "w%d-%d", &w, &i)
		// An entry's lines stay together; each writer's entries stay in order.
		if lines[k+1] != lines[k]+"-b" || next[fmt.Sprint(w)] != i {
			t.Fatalf("line %d: %q %q (want w%d-%d)", k, lines[k], lines[k+1], w, next[fmt.Sprint(w)])
		}
		next[fmt.Sprint(w)]++
	}
	if len(lines) != 2*writers*each {
		t.Fatalf("%d lines", len(lines))
	}
}

func TestReplayLongLine(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 1<<20)
	var got int
	info, err := journal.Replay(bytes.NewReader(append(append(long, '\n'), "y\n"...)), "mem", func(_ int, b []byte) error {
		got += len(b)
		return nil
	})
	if err != nil || info.Lines != 2 || got != len(long)+1 {
		t.Fatalf("%+v %v %d", info, err, got)
	}
}

// BenchmarkGroupCommit measures acknowledged (fsynced) appends per second
// with 1 and 32 concurrent writers on the test's temp dir.
func BenchmarkGroupCommit(b *testing.B) {
	line := []byte(`{"op":"step","ts":"2026-01-01T00:00:00Z","run_id":"run-1","step":{"index":0,"type":"tool","name":"search","ts":"2026-01-01T00:00:00Z"}}` + "\n")
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			j, _, err := journal.Open(filepath.Join(b.TempDir(), "state.jsonl"), func(int, []byte) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			var wg sync.WaitGroup
			per := b.N/writers + 1
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if err := j.Append(line); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			st := j.Stats()
			b.ReportMetric(float64(st.Entries)/el.Seconds(), "acked_writes/s")
			b.ReportMetric(float64(st.Entries)/float64(st.Groups), "writes/fsync")
		})
	}
}

// TestReplayHugeLineBounded: a complete line longer than MaxLineBytes is
// refused as damage naming the line, and a longer torn tail is cut, both
// without holding the line in memory (replay read each whole: a damaged
// file of a few GB was an OOM at start, not a message) (ADR-088).
func TestReplayHugeLineBounded(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	write := func(path string, tail bool) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("{\"a\":1}\n")
		for i := 0; i < 8*journal.MaxLineBytes>>20; i++ {
			f.Write(chunk)
		}
		if !tail {
			f.WriteString("\n{\"a\":2}\n")
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tail := range []bool{false, true} {
		t.Run(fmt.Sprint("torn=", tail), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.jsonl")
			write(path, tail)
			var lines []string
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			j, info, err := journal.Open(path, collect(&lines))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*journal.MaxLineBytes {
				t.Errorf("replay allocated %d MiB for a %d MiB line", alloc>>20, 8*journal.MaxLineBytes>>20)
			} else {
				t.Logf("replay allocated %d MiB for a %d MiB line", alloc>>20, 8*journal.MaxLineBytes>>20)
			}
			if !tail {
				if err == nil || !strings.Contains(err.Error(), "line 2 is damaged") || !strings.Contains(err.Error(), "longer than any record") {
					t.Fatalf("err %v", err)
				}
				if fi, _ := os.Stat(path); fi.Size() < journal.MaxLineBytes {
					t.Fatalf("a refused file was changed: %d bytes", fi.Size())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if info.TornBytes != int64(8*journal.MaxLineBytes) || info.Size != 8 || len(lines) != 1 {
				t.Fatalf("info %+v lines %q", info, lines)
			}
			if fi, _ := os.Stat(path); fi.Size() != 8 {
				t.Fatalf("file is %d bytes after the cut, want 8", fi.Size())
			}
		})
	}
}
