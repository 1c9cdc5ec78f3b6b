package observer

import (
	"fmt"
	"io"
	"lakehouse-go/internal/testutil/tmpfs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPersistAfterDiskFull: on a full disk (a real tmpfs; root only) the
// events that do not fit are dropped and counted, and the file is cut back
// to its last whole line, so once space is freed new events are appended
// readable — before, the next line was glued onto half of one and both
// were lost on reload as corrupt, with a torn line left mid-file.
func TestPersistAfterDiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 262144)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 160<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ops.jsonl")
	p, err := openPersistor(path, 1000, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("o", 3000)
	n := 0
	batch := func(k int) []Event {
		evs := make([]Event, k)
		for i := range evs {
			evs[i] = ev(n, "s", "o", 200, 1)
			evs[i].Attrs = map[string]any{"pad": pad}
			n++
		}
		return evs
	}
	for i := 0; i < 40 && p.dropped.Load() == 0; i++ {
		p.write(batch(3))
		p.drain()
	}
	if p.dropped.Load() == 0 {
		t.Fatal("the disk never filled")
	}
	for i := 0; i < 3; i++ { // still full
		p.write(batch(2))
		p.drain()
	}
	lost := p.dropped.Load()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after := n
	p.write(batch(5))
	p.drain()
	p.finish()
	if p.dropped.Load() != lost {
		t.Fatalf("events dropped after space was freed: %d -> %d", lost, p.dropped.Load())
	}
	res, err := loadTail(path, 10000, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.corrupt != 0 || res.torn || len(res.events)+int(lost) != n {
		t.Fatalf("reload: %d events, %d corrupt, torn %v; %d written, %d dropped", len(res.events), res.corrupt, res.torn, n, lost)
	}
	last := res.events[len(res.events)-5:]
	for i, e := range last {
		if want := fmt.Sprint("r", after+i); e.RequestID != want {
			t.Fatalf("event %d after the disk freed: %s, want %s", i, e.RequestID, want)
		}
	}
}
