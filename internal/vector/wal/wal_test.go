package wal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/vector/hnsw"
)

func upsert(i int) *Record {
	return &Record{Op: OpUpsert, Index: "docs", Items: []hnsw.Item{
		{ID: fmt.Sprintf("a%d", i), Vector: []float32{float32(i), 1, 2}, Metadata: hnsw.Metadata{"n": float64(i), "s": "x", "b": true}},
		{ID: fmt.Sprintf("b%d", i), Vector: []float32{0, 0, float32(-i)}},
	}}
}

func replayAll(t *testing.T, path string) ([]Record, Info) {
	t.Helper()
	var recs []Record
	info, err := Replay(path, func(r Record) error { recs = append(recs, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return recs, info
}

func TestAppendReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []*Record{
		{Op: OpCreate, Index: "docs", Data: []byte(`{"dims":3}`)},
		upsert(1),
		{Op: OpDelete, Index: "docs", IDs: []string{"a1", "zz"}},
		upsert(2),
		{Op: OpDrop, Index: "docs"},
	}
	for i, r := range want {
		seq, err := w.Append(r)
		if err != nil || seq != uint64(i+1) || r.Seq != seq {
			t.Fatalf("append %d: seq %d, %v", i, seq, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, info := replayAll(t, path)
	if len(got) != len(want) || info.LastSeq != 5 || info.TornBytes != 0 {
		t.Fatalf("replayed %d, info %+v", len(got), info)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], *want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], *want[i])
		}
	}
	if _, err := w.Append(upsert(3)); err == nil {
		t.Fatal("append after close succeeded")
	}
	if _, err := w.Append(&Record{Op: 99}); err == nil {
		t.Fatal("unknown op accepted")
	}
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wal")
	w, _ := Open(path)
	for i := 1; i <= 5; i++ {
		if _, err := w.Append(upsert(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	full, _ := os.ReadFile(path)
	var ends []int64 // frame end offsets
	{
		f, _ := os.Open(path)
		off := int64(headerLen)
		r := bufio.NewReader(f)
		r.Discard(headerLen)
		var buf []byte
		for {
			_, n, ok := readFrame(r, &buf, int64(len(full))-off)
			if !ok {
				break
			}
			off += n
			ends = append(ends, off)
		}
		f.Close()
	}
	last := ends[len(ends)-2] // end of record 4
	tails := map[string][]byte{
		"garbage": append(append([]byte{}, full...), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7),
		"zeros":   append(append([]byte{}, full[:last]...), make([]byte, 100)...),
	}
	for cut := last + 1; cut < int64(len(full)); cut += 7 {
		tails[fmt.Sprintf("cut-%d", cut)] = full[:cut]
	}
	flipped := append([]byte{}, full...)
	flipped[len(flipped)-3] ^= 0x10 // CRC mismatch in the last record
	tails["flipped-last"] = flipped
	for name, data := range tails {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			os.WriteFile(p, data, 0o644)
			recs, info := replayAll(t, p)
			wantN := 4
			if name == "garbage" {
				wantN = 5
			}
			if len(recs) != wantN || info.TornBytes == 0 {
				t.Fatalf("replayed %d records, info %+v", len(recs), info)
			}
			w, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			seq, err := w.Append(upsert(9))
			if err != nil || seq != uint64(wantN+1) {
				t.Fatalf("append after cut: seq %d err %v", seq, err)
			}
			w.Close()
			recs, info = replayAll(t, p)
			if len(recs) != wantN+1 || info.TornBytes != 0 || recs[wantN].Items[0].ID != "a9" {
				t.Fatalf("after reopen: %d records, %+v", len(recs), info)
			}
		})
	}
}

func TestMidLogCorruptionIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, _ := Open(path)
	for i := 1; i <= 3; i++ {
		w.Append(upsert(i))
	}
	w.Close()
	data, _ := os.ReadFile(path)
	data[headerLen+frameHdr+12] ^= 1 // inside record 1's payload
	os.WriteFile(path, data, 0o644)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	if _, err := Replay(path, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Replay: %v, want ErrCorrupt", err)
	}
	os.WriteFile(path, []byte("not a wal at all, not at all"), 0o644)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad header: %v", err)
	}
}

func TestTruncateThrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, _ := Open(path)
	for i := 1; i <= 10; i++ {
		w.Append(upsert(i))
	}
	if err := w.TruncateThrough(6); err != nil {
		t.Fatal(err)
	}
	if seq, _ := w.Append(upsert(11)); seq != 11 {
		t.Fatalf("seq after truncate %d", seq)
	}
	recs, info := replayAll(t, path)
	if len(recs) != 5 || recs[0].Seq != 7 || info.LastSeq != 11 {
		t.Fatalf("after truncate: %d records, %+v", len(recs), info)
	}
	if err := w.TruncateThrough(11); err != nil {
		t.Fatal(err)
	}
	w.Close()
	recs, _ = replayAll(t, path)
	if len(recs) != 0 {
		t.Fatalf("want empty log, got %d", len(recs))
	}
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := w.Append(upsert(12)); seq != 12 {
		t.Fatalf("seq after reopening an emptied log: %d, want 12", seq)
	}
	w.Close()
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, _ := Open(path)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]bool{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				seq, err := w.Append(upsert(i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[seq] = true
				mu.Unlock()
				if i == 20 && g == 0 {
					if err := w.TruncateThrough(seq / 2); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	if len(seen) != 320 {
		t.Fatalf("%d distinct seqs", len(seen))
	}
	recs, _ := replayAll(t, path)
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("gap at %d: %d after %d", i, recs[i].Seq, recs[i-1].Seq)
		}
	}
	if recs[len(recs)-1].Seq != 320 {
		t.Fatalf("last seq %d", recs[len(recs)-1].Seq)
	}
}

// TestKill9 runs a child process (this test binary) that appends from four
// goroutines and prints each seq once Append has returned, kills it with
// SIGKILL mid-stream, and checks every acknowledged record is replayed.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for round := 0; round < 3; round++ {
		path := filepath.Join(t.TempDir(), "wal")
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
		cmd.Env = append(os.Environ(), "WAL_KILL9_PATH="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[uint64]string{}
		sc := bufio.NewScanner(out)
		killAt := 150 + round*200
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			acked[seq] = f[2]
			if len(acked) == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if len(acked) < killAt {
			t.Fatalf("child acked only %d records", len(acked))
		}
		w, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		got := map[uint64]string{}
		info, err := Replay(path, func(r Record) error { got[r.Seq] = r.Items[0].ID; return nil })
		if err != nil {
			t.Fatal(err)
		}
		for seq, id := range acked {
			if got[seq] != id {
				t.Fatalf("acked seq %d (%s) lost after kill -9; replayed %d records", seq, id, info.Records)
			}
		}
		t.Logf("round %d: %d acked, %d replayed, torn tail cut %d bytes", round, len(acked), info.Records, info.TornBytes)
	}
}

func TestKill9Child(t *testing.T) {
	path := os.Getenv("WAL_KILL9_PATH")
	if path == "" {
		t.Skip("helper for TestKill9")
	}
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	appendAndAck(w, &mu, time.Now().Add(20*time.Second))
}

// appendAndAck is the kill -9 children's load: four goroutines append
// until deadline (or an error) and print "ack <seq> <id>" for each
// acknowledged record, under mu (shared with the child's other output).
func appendAndAck(w *WAL, mu *sync.Mutex, deadline time.Time) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				r := upsert(i)
				r.Items[0].ID = fmt.Sprintf("g%d-%d", g, i)
				seq, err := w.Append(r)
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %s\n", seq, r.Items[0].ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestAdvance: Advance raises the next seq (never lowers it); the records
// after the gap replay, survive a reopen and a truncation behind them.
func TestAdvance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := w.Append(upsert(1)); err != nil || seq != 1 {
		t.Fatalf("append: %d %v", seq, err)
	}
	w.Advance(100)
	w.Advance(50) // never lowers
	if seq, err := w.Append(upsert(2)); err != nil || seq != 100 {
		t.Fatalf("append after Advance(100): %d %v", seq, err)
	}
	w.Close()
	recs, _ := replayAll(t, path)
	if len(recs) != 2 || recs[0].Seq != 1 || recs[1].Seq != 100 {
		t.Fatalf("replay: %+v", recs)
	}
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.NextSeq() != 101 {
		t.Fatalf("next seq after a reopen: %d", w.NextSeq())
	}
	if err := w.TruncateThrough(1); err != nil {
		t.Fatal(err)
	}
	if recs, _ := replayAll(t, path); len(recs) != 1 || recs[0].Seq != 100 {
		t.Fatalf("after a truncation: %+v", recs)
	}
}

// TestOpenSweepsRewriteTemp: a process killed during TruncateThrough's
// rewrite, before its rename, left path.tmp (a copy of the log's tail)
// until the next rewrite. Open removes it, the log untouched; it keeps a
// path.tmp that is the log's own file (a hard link), a symlink, or the only
// file there (no log at path).
func TestOpenSweepsRewriteTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vectord.wal")
	tmp := path + ".tmp"
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := w.Append(upsert(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// a rewrite cut before its rename: header and part of the tail
	if err := os.WriteFile(tmp, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := os.Lstat(tmp); !os.IsNotExist(err) {
		t.Fatalf("%s left by a killed rewrite is still there after Open (%v)", tmp, err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(whole) {
		t.Fatal("the log changed")
	}
	if recs, _ := replayAll(t, path); len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}

	// a hard link to the log itself: the log's own file, kept
	if err := os.Link(path, tmp); err != nil {
		t.Fatal(err)
	}
	w, err = OpenDamaged(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := os.Lstat(tmp); err != nil {
		t.Fatalf("a hard link to the live log was removed: %v", err)
	}
	os.Remove(tmp)

	// a symlink: kept, and so is its target
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("x"), 0o644)
	if err := os.Symlink(other, tmp); err != nil {
		t.Fatal(err)
	}
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := os.Lstat(tmp); err != nil {
		t.Fatalf("a symlink was removed: %v", err)
	}
	os.Remove(tmp)

	// no log at path: path.tmp may be all that is left of it, kept
	os.Rename(path, tmp)
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, err := os.ReadFile(tmp); err != nil || string(got) != string(whole) {
		t.Fatalf("the only copy of a log was removed: %v", err)
	}
}
