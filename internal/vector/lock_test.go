package vector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/suite"
)

// crash stands for the process dying: the log file closed without a final
// snapshot, and the directory lock dropped with it, as the kernel does.
func (s *Store) crash() {
	s.w.Close()
	s.lock.Unlock()
}

// TestSecondVectordRefused: while a vectord runs on a data_dir, a second
// one on the same data_dir (another port) refuses to start, naming the
// WAL directory and the holder's pid: in-process through the harness, and
// as the real binary, which exits 1 with the message on stderr. Once the
// first has shut down the second starts.
func TestSecondVectordRefused(t *testing.T) {
	cfg := inproc.Config(t)
	inproc.Bind(t, cfg, "storaged", "vectord")
	ctx := context.Background()
	st, err := shared.Start(ctx, "storaged", cfg, storaged.New, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown(ctx)
	cfg.Section("storaged").URL = st.URL()
	first, err := shared.Start(ctx, "vectord", cfg, New, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	running := true
	defer func() {
		if running {
			first.Shutdown(ctx)
		}
	}()
	dir := cfg.DataPath(cfg.Vectord.Dir, "vectord")
	pid := fmt.Sprintf("pid %d", os.Getpid())

	second := *cfg
	inproc.Bind(t, &second, "vectord")
	_, err = shared.Start(ctx, "vectord", &second, New, io.Discard)
	if !errors.Is(err, shared.ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("second vectord in-process: %v, want refused naming %s and %s", err, dir, pid)
	}

	if !testing.Short() {
		bin := filepath.Join(t.TempDir(), "vectord")
		build := exec.Command("go", "build", "-o", bin, "./cmd/vectord")
		build.Dir = suite.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/vectord: %v\n%s", err, out)
		}
		conf := filepath.Join(t.TempDir(), "lakehouse.toml")
		toml := fmt.Sprintf("data_dir = %q\n[storaged]\nbind = %q\n[vectord]\nbind = %q\n[report]\nenabled = false\n",
			cfg.DataDir, cfg.Storaged.Bind, second.Vectord.Bind)
		if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, "--config", conf)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("second vectord process: %v, want exit 1; stderr %s", err, stderr.String())
		}
		msg := stderr.String()
		if !strings.HasPrefix(msg, "vectord: ") || !strings.Contains(msg, dir) || !strings.Contains(msg, pid) {
			t.Errorf("stderr %q does not name %s and %s", msg, dir, pid)
		}
	}

	running = false
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s2, err := shared.Start(ctx, "vectord", &second, New, io.Discard)
	if err != nil {
		t.Fatalf("vectord after the first shut down: %v", err)
	}
	s2.Shutdown(ctx)
}
