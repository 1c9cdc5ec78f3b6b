package ingestd_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/convert"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/testutil/suite"
)

// TestSweepAfterKill9 runs a real ingestd process, lets it upload two
// Parquet parts of an ingest through a proxy in front of storaged that
// then holds the third, kills it with SIGKILL there, and checks that the
// parts and the pending marker are left — the auditor's repro — and that
// the sweep of the restarted ingestd removes them.
func TestSweepAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/ingestd")
	}
	st := startStack(t, config(t))
	bin := filepath.Join(t.TempDir(), "ingestd")
	if out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/ingestd").CombinedOutput(); err != nil {
		t.Fatalf("go build ingestd: %v\n%s", err, out)
	}

	// The proxy passes everything but the third data part and later ones.
	target, _ := url.Parse(st.servers["storaged"].URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	puts := 0
	held, release := make(chan struct{}), make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/objects/datasets/") {
			mu.Lock()
			puts++
			n := puts
			mu.Unlock()
			if n == 3 {
				close(held)
			}
			if n >= 3 {
				<-release
				http.Error(w, "held", http.StatusBadGateway)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	defer close(release)

	dir := t.TempDir()
	ports, err := suite.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	conf := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[ingestd]
bind = %q
row_group_size = 1000
file_rows = 1000
[storaged]
url = %q
socket = "off"
[catalogd]
url = %q
[report]
enabled = false
[log]
access = false
`, filepath.Join(dir, "data"), addr, proxy.URL, st.servers["catalogd"].URL())), 0o600)
	cmd := startChild(t, bin, conf, addr)

	go func() {
		resp, err := http.Post("http://"+addr+"/v1/ingest?name=big&format=csv", "text/csv", strings.NewReader(rowsCSV(0, 6000)))
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		t.Fatal("the ingest never reached its third part")
	}
	// A second ingestd on the child's temp dir while the child runs is
	// refused, naming the child's pid, and leaves the child's spool alone
	// (it swept every ingest-* directory, a live peer's too).
	tempDir := filepath.Join(dir, "data", "ingestd", "tmp")
	spool := liveSpool(t, tempDir)
	_, err = ingestd.NewServer(ingestd.Options{TempDir: tempDir, Convert: convert.Options{Threads: 1, MemoryLimit: "256MB"}})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), tempDir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("second ingestd on a live one's temp dir: %v, want Unavailable naming %s and pid %d", err, tempDir, cmd.Process.Pid)
	}
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("the refused ingestd touched the live one's spool: %v", err)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	ids := st.pending(t, "big")
	if len(ids) != 1 {
		t.Fatalf("pending markers after kill -9: %v", ids)
	}
	if keys := st.dataKeys(t, "big/"+ids[0]); len(keys) != 2 {
		t.Fatalf("parts after kill -9: %v", keys)
	}

	// The restarted ingestd, on the killed one's temp dir, is not blocked
	// by its lock, removes its spool, and sweeps its parts once the lease
	// has run out.
	c := &clock{}
	restarted := st.ingesterAt(t, tempDir, c)
	if left, _ := filepath.Glob(filepath.Join(tempDir, "ingest-*")); len(left) != 0 {
		t.Fatalf("spool of the killed ingestd left after the restart: %v", left)
	}
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	if r, err := sweep(t, restarted); err != nil || r.Abandoned != 1 || r.Files != 2 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if keys := st.dataKeys(t, "big"); len(keys) != 0 {
		t.Fatalf("orphans after the sweep: %v", keys)
	}
	if ids := st.pending(t, "big"); len(ids) != 0 {
		t.Fatalf("markers after the sweep: %v", ids)
	}
}

// liveSpool finds the spool directory of the running ingest in tempDir.
func liveSpool(t *testing.T, tempDir string) string {
	t.Helper()
	spools, _ := filepath.Glob(filepath.Join(tempDir, "ingest-*"))
	if len(spools) != 1 {
		t.Fatalf("spool directories of the running ingest: %v", spools)
	}
	return spools[0]
}

// ingesterAt is st.ingester on the temp dir tempDir.
func (st *stack) ingesterAt(t *testing.T, tempDir string, c *clock) *ingestd.Server {
	t.Helper()
	s, err := ingestd.NewServer(ingestd.Options{
		Catalog: st.catalog(), Store: st.store, TempDir: tempDir, Now: c.now,
		Convert: convert.Options{Threads: 2, MemoryLimit: "512MB", RowGroupSize: 1000, FileRows: 1000},
	})
	if err != nil {
		t.Fatalf("ingestd on the temp dir of a killed one: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startChild starts the ingestd binary bin with config conf as a child
// process (killed at the test's end; its output shown with -v) and waits
// until it answers /health on addr.
func startChild(t *testing.T, bin, conf, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 400; i++ {
		if r, err := http.Get("http://" + addr + "/health"); err == nil {
			r.Body.Close()
			return cmd
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("ingestd child did not come up")
	return nil
}
