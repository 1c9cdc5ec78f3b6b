package vector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector/lhv1"
)

// TestLoadTime measures vectord's load on a restart (ADR-122): for each
// size it builds an index of N vectors of 100 dims through a Store (the
// default m 16, ef_construction 200), stores its LHV1 snapshot the way
// vectord does (Close: a snapshot pass, the log truncated behind it), then
// times, in the same run on the same object:
//
//   - read: the object read whole through the storage.Store (the floor);
//   - decode: lhv1.Decode of the bytes already in memory;
//   - restart: Open of a new Store on the same directory and objects, the
//     whole load (list, read, decode, log replay) until it serves;
//   - kill+N/5: N/5 more items upserted, then a kill -9 (the log holds
//     them, no snapshot does): the next start, which links them into the
//     graph again;
//   - kill again: that Store serves 10 s with vectord's snapshot loop
//     (vectord's defaults: interval 1 min, snapshot_ops 2,000 since
//     ADR-130), is killed again, and the next start.
//
// Each start is timed on the clock and in CPU (user+sys) of the test
// process, which the shared machine's other work does not inflate.
// It prints a table; the restart must serve every item and answer a search
// like the index it was built from. Gated: LH_VECTOR_LOADTIME=1 (sizes
// with LH_VECTOR_LOADTIME_SIZES=10000,50000; LH_VECTOR_LOADTIME_PROFILE=dir
// writes a CPU profile of each restart there).
//
//	LH_VECTOR_LOADTIME=1 go test -count=1 -run '^TestLoadTime$' -v -timeout 30m ./internal/vector
func TestLoadTime(t *testing.T) {
	if os.Getenv("LH_VECTOR_LOADTIME") != "1" {
		t.Skip("set LH_VECTOR_LOADTIME=1 to measure the load on a restart")
	}
	sizes := []int{10_000, 50_000, 100_000}
	if v := os.Getenv("LH_VECTOR_LOADTIME_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("LH_VECTOR_LOADTIME_SIZES: %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	profDir := os.Getenv("LH_VECTOR_LOADTIME_PROFILE")
	const dims = 100
	ctx := context.Background()
	type row struct {
		n                     int
		bytes                 int
		build                 time.Duration
		read, decode, restart time.Duration
		kill1, kill2          time.Duration
		cpuRestart, cpuKill1  time.Duration // CPU of the process (user+sys): the machine is shared
		cpuKill2              time.Duration
	}
	var rows []row
	for _, n := range sizes {
		objects := newObjects(t)
		dir := t.TempDir()
		s := openStore(t, objects, dir)
		if _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: dims}); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(n), 7))
		start := time.Now()
		for done := 0; done < n; {
			k := min(5000, n-done)
			if _, err := s.Upsert(ctx, "docs", items(r, done, k, dims)); err != nil {
				t.Fatal(err)
			}
			done += k
		}
		build := time.Since(start)
		q := randVec(r, dims)
		want, err := s.Search(ctx, "docs", SearchRequest{Vector: q, K: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil { // the snapshot pass, as vectord's shutdown
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, walFile)); err != nil || fi.Size() > 64 {
			t.Fatalf("log not truncated behind the snapshot: %v %v", fi, err)
		}

		var rw row
		rw.n, rw.build = n, build
		// read: the object through the storage.Store, whole
		runtime.GC()
		start = time.Now()
		rc, _, err := objects.Get(ctx, snapshotKey("docs"), storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		rw.read, rw.bytes = time.Since(start), len(raw)
		// decode: the same bytes from memory
		runtime.GC()
		start = time.Now()
		ix, err := lhv1.Decode(bytes.NewReader(raw))
		rw.decode = time.Since(start)
		if err != nil || ix.Len() != n {
			t.Fatalf("decode: %v, %d items", err, ix.Len())
		}
		ix, raw = nil, nil
		// restart: a new Store's whole load
		runtime.GC()
		var stop func()
		if profDir != "" {
			f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("load-%d.pprof", n)))
			if err != nil {
				t.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			stop = func() { pprof.StopCPUProfile(); f.Close() }
		}
		start, cpu := time.Now(), cpuTime()
		s2 := openStore(t, objects, dir)
		rw.restart, rw.cpuRestart = time.Since(start), cpuTime()-cpu
		if stop != nil {
			stop()
		}
		info, err := s2.GetIndex(ctx, "docs")
		if err != nil || info.Stats.Count != n {
			t.Fatalf("after the restart: %+v %v", info, err)
		}
		got, err := s2.Search(ctx, "docs", SearchRequest{Vector: q, K: 10})
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("search after the restart differs:\n%v\n%v (%v)", got, want, err)
		}
		// kill -9 with the last fifth only in the log: the first start
		// replays it; the second start comes 10 s after the first (Run
		// going, as in vectord), another kill -9 between them.
		r2 := rand.New(rand.NewPCG(uint64(n), 8))
		for done := 0; done < n/5; {
			k := min(5000, n/5-done)
			if _, err := s2.Upsert(ctx, "docs", items(r2, n+done, k, dims)); err != nil {
				t.Fatal(err)
			}
			done += k
		}
		s2.crash()
		runtime.GC()
		start, cpu = time.Now(), cpuTime()
		s3 := openStore(t, objects, dir)
		rw.kill1, rw.cpuKill1 = time.Since(start), cpuTime()-cpu
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s3.Run(rctx, time.Minute, int64(shared.Default("").Vectord.SnapshotOps)) }() // vectord's defaults
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		s3.crash()
		runtime.GC()
		start, cpu = time.Now(), cpuTime()
		s4 := openStore(t, objects, dir)
		rw.kill2, rw.cpuKill2 = time.Since(start), cpuTime()-cpu
		if info, err := s4.GetIndex(ctx, "docs"); err != nil || info.Stats.Count != n+n/5 {
			t.Fatalf("after the second kill: %+v %v", info, err)
		}
		s4.crash()
		rows = append(rows, rw)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%8s %8s %9s %8s %8s %17s %17s %17s %10s\n", "vectors", "file MiB", "build", "read", "decode",
		"restart (cpu)", "kill+N/5 (cpu)", "kill again (cpu)", "restart/read")
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	for _, r := range rows {
		fmt.Fprintf(&b, "%8d %8.1f %9s %8s %8s %17s %17s %17s %9.1fx\n", r.n, float64(r.bytes)/(1<<20), ms(r.build), ms(r.read), ms(r.decode),
			ms(r.restart)+" ("+ms(r.cpuRestart)+")", ms(r.kill1)+" ("+ms(r.cpuKill1)+")", ms(r.kill2)+" ("+ms(r.cpuKill2)+")",
			r.restart.Seconds()/r.read.Seconds())
	}
	t.Log(b.String())
}

// cpuTime is the CPU (user+sys) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
