package vector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/tmpfs"
	"lakehouse-go/internal/vector"
)

// failingSyncFS mounts an ext4 file system whose fsyncs fail while its
// writes succeed: the file system lives in a sparse 64 MiB image on a small
// tmpfs (a loop device). With the tmpfs filled up, a write lands in ext4's
// page cache (ext4 has room) and the fsync that pushes it to the loop
// device fails (ENOSPC/EIO) — a real failed fsync, no fault injected into
// the code. It returns the ext4 mount point and a function that fills the
// tmpfs; free empties the tmpfs again. Without a journal a failed data
// write leaves the file system writable (with one, ext4 aborts the journal
// and goes read-only). Needs root, losetup and mkfs.ext4; skipped otherwise.
func failingSyncFS(t *testing.T, journal bool) (dir string, fill, free func()) {
	t.Helper()
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the failed-fsync test needs a loop-mounted ext4", tool)
		}
	}
	under := tmpfs.Mount(t, 8<<20) // skips without root
	img := filepath.Join(under, "ext4.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
	if !journal {
		args = append(args, "-O", "^has_journal")
	}
	if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	dir = t.TempDir()
	if err := syscall.Mount(dev, dir, "ext4", 0, ""); err != nil {
		t.Skipf("mount ext4 on %s: %v", dev, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	fill = func() {
		f, err := os.Create(filepath.Join(under, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				return
			}
		}
	}
	free = func() {
		if err := os.Remove(filepath.Join(under, "filler")); err != nil {
			t.Fatal(err)
		}
	}
	return dir, fill, free
}

// TestHealthDegradedAfterFailedFsync: a real vectord whose log's fsync
// fails (failingSyncFS) answers the upsert 503 naming the log, applies
// nothing of it, refuses later writes (the kernel may have dropped the
// pages: only a restart that replays the log knows what is on disk), and
// its /health says 200 "degraded" with the reason instead of "ok"
// (ADR-078: this path had never run).
func TestHealthDegradedAfterFailedFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	walDir, fill, _ := failingSyncFS(t, true)
	s := startVectord(t, "dir = \""+walDir+"\"\nsnapshot_interval = \"1h\"")
	defer s.Kill("vectord") // its last snapshot would be written to the broken disk
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "f", vector.CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "f", []vector.Item{{ID: "before", Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	health := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(s.URL("vectord") + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h map[string]any
		json.Unmarshal(b, &h)
		return resp.StatusCode, h
	}
	if code, h := health(); code != 200 || h["status"] != "ok" {
		t.Fatalf("health before: %d %v", code, h)
	}
	fill()
	_, err := c.Upsert(ctx, "f", []vector.Item{{ID: "refused", Vector: []float32{0, 1, 0, 0}}})
	// The answer says a retry cannot help before a restart (it said "retry
	// once the disk takes writes again").
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "failed to sync") ||
		!strings.Contains(errs.Message(err), "until vectord restarts") || strings.Contains(errs.Message(err), walDir) {
		t.Fatalf("upsert whose fsync fails: %v", err)
	}
	if _, err := c.GetItem(ctx, "f", "refused"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the refused upsert was applied: %v", err)
	}
	if _, err := c.GetItem(ctx, "f", "before"); err != nil {
		t.Fatalf("an acknowledged item is gone: %v", err)
	}
	// /health keeps a result for 2 s.
	deadline := time.Now().Add(5 * time.Second)
	code, h := health()
	for h["status"] != "degraded" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		code, h = health()
	}
	msg, _ := h["error"].(string)
	if code != 200 || h["status"] != "degraded" || !strings.Contains(msg, "failed to sync") || !strings.Contains(msg, "until vectord restarts") || strings.Contains(msg, walDir) {
		t.Fatalf("health after a failed fsync: %d %v", code, h)
	}
	// Writes stay refused (no restart yet); reads go on.
	if _, err := c.Delete(ctx, "f", []string{"before"}); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "until vectord restarts") {
		t.Fatalf("a write after the failed fsync: %v", err)
	}
	if res, err := c.Search(ctx, "f", vector.SearchRequest{Vector: []float32{1, 0, 0, 0}, K: 1}); err != nil || len(res) != 1 || res[0].ID != "before" {
		t.Fatalf("search after the failed fsync: %+v %v", res, err)
	}
	t.Logf("health: %v; upsert: %v", h, errs.Message(err))
}

// TestRefusedWriteNotReplayed: an upsert answered 503 because the log's
// fsync failed is not there after the restart the answer asks for. The
// refused record stayed in the log file (the kernel keeps the page
// cached after the failed writeback), so the restarted vectord replayed it
// and served an item whose upsert had been refused; the log is now cut
// back to its last durable record when an fsync fails. A real vectord,
// killed with SIGKILL and started again on the same (journal-less, still
// writable) ext4.
func TestRefusedWriteNotReplayed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	walDir, fill, free := failingSyncFS(t, false)
	s := startVectord(t, "dir = \""+walDir+"\"\nsnapshot_interval = \"1h\"")
	defer s.Kill("vectord")
	ctx := context.Background()
	c := client(s)
	vec := func(i int) []float32 {
		v := make([]float32, 256)
		v[i%256], v[(i/256)%256] = 1, 2
		return v
	}
	if _, err := c.CreateIndex(ctx, "f", vector.CreateIndexRequest{Dims: 256}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "f", []vector.Item{{ID: "before", Vector: vec(0)}}); err != nil {
		t.Fatal(err)
	}
	fill()
	// 2 MB: large enough to need blocks of the image that were never
	// written (ext4 puts a small write into blocks the tmpfs already
	// holds, and then the fsync succeeds).
	refused := make([]vector.Item, 2000)
	for i := range refused {
		refused[i] = vector.Item{ID: fmt.Sprint("refused-", i), Vector: vec(i + 2)}
	}
	refused[0].ID = "refused"
	if _, err := c.Upsert(ctx, "f", refused); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("upsert whose fsync fails: %v", err)
	}
	s.Kill("vectord")
	free()
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetItem(ctx, "f", "before"); err != nil {
		t.Fatalf("an acknowledged item is gone after the restart: %v", err)
	}
	if it, err := c.GetItem(ctx, "f", "refused"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the refused upsert is served after the restart: %+v %v", it, err)
	}
	if _, err := c.Upsert(ctx, "f", []vector.Item{{ID: "after", Vector: vec(1)}}); err != nil {
		t.Fatalf("upsert after the restart: %v", err)
	}
}
