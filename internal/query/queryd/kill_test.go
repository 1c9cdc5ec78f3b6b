package queryd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/suite"
)

// TestQuerydLockAfterKill9: a real queryd process holds its cache_dir; a
// queryd started on the same data_dir meanwhile is refused naming the
// child's pid and leaves its downloads in progress alone, and once the
// child is killed with SIGKILL a restart on the same directories starts
// (the kernel dropped the lock) and sweeps them.
func TestQuerydLockAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/queryd")
	}
	bin := filepath.Join(t.TempDir(), "queryd")
	if out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/queryd").CombinedOutput(); err != nil {
		t.Fatalf("go build queryd: %v\n%s", err, out)
	}
	dir := t.TempDir()
	ports, err := suite.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	conf := filepath.Join(dir, "lakehouse.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[queryd]
bind = %q
[storaged]
url = "http://127.0.0.1:9"
socket = "off"
[catalogd]
url = "http://127.0.0.1:9"
[report]
enabled = false
[log]
access = false
`, filepath.Join(dir, "data"), addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	up := false
	for i := 0; i < 400 && !up; i++ {
		if r, err := http.Get("http://" + addr + "/health"); err == nil {
			r.Body.Close()
			up = true
		} else {
			time.Sleep(25 * time.Millisecond)
		}
	}
	if !up {
		t.Fatal("queryd child did not come up")
	}

	opts := Options{Catalog: &storeCatalog{}, CacheDir: filepath.Join(dir, "data", "queryd", "cache"),
		TempDir: filepath.Join(dir, "data", "queryd", "tmp"), Threads: 1, MaxConcurrent: 1}
	download := filepath.Join(opts.CacheDir, "tmp", "0123.456") // the child's, in progress
	if err := os.WriteFile(download, []byte("in use"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := NewServer(ctx, opts)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), opts.CacheDir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("queryd next to a running one: %v, want Unavailable naming %s and pid %d", err, opts.CacheDir, cmd.Process.Pid)
	}
	if _, err := os.Stat(download); err != nil {
		t.Fatalf("the refused queryd removed the running one's download: %v", err)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	s, err = NewServer(ctx, opts)
	if err != nil {
		t.Fatalf("queryd after the holder was killed: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(download); !os.IsNotExist(err) {
		t.Fatalf("the killed queryd's partial download is still there: %v", err)
	}
}
