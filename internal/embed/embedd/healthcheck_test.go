package embedd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// TestHealthcheckFlag runs the real embedd binary on a free loopback port
// and checks `embedd -healthcheck` (shared.Run's flag, what the compose
// healthchecks run: the image has no curl) against it: 0 while it serves,
// also when the config binds 0.0.0.0; 1 when nothing listens, when the
// port answers draining or another service, and when it does not answer.
func TestHealthcheckFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	if os.Getenv("LH_BIN_DIR") == "" {
		dir := t.TempDir()
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/embedd")
		cmd.Dir = suite.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		t.Setenv("LH_BIN_DIR", dir)
	}
	bin := filepath.Join(os.Getenv("LH_BIN_DIR"), "embedd")
	s, err := suite.StartE(t.TempDir(), suite.Options{Daemons: []string{"embedd"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("daemon logs:\n%s", s.Logs())
		}
	})
	if _, err := s.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	port := s.Ports["embedd"]

	// check runs `embedd -healthcheck` with a config whose [embedd] binds bind.
	check := func(t *testing.T, bind string) (int, string, string) {
		t.Helper()
		cfg := filepath.Join(t.TempDir(), "lakehouse.toml")
		toml := fmt.Sprintf("data_dir = %q\n[embedd]\nbind = %q\n", filepath.Join(s.Dir, "data"), bind)
		if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-healthcheck", "--config", cfg)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, out.String(), errOut.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), out.String(), errOut.String()
		}
		t.Fatalf("run %s: %v", bin, err)
		return -1, "", ""
	}
	fake := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				t.Errorf("checked %s", r.URL.Path)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	cases := []struct {
		name string
		bind string
		code int
		msg  string // in stdout (0) or stderr (1)
	}{
		{"serving", fmt.Sprintf("127.0.0.1:%d", port), 0, fmt.Sprintf("embedd: ok (http://127.0.0.1:%d/health", port)},
		{"all interfaces means loopback", fmt.Sprintf("0.0.0.0:%d", port), 0, fmt.Sprintf("http://127.0.0.1:%d/health", port)},
		{"draining", fake(503, `{"status":"draining","service":"embedd","version":"dev"}`), 1, `answered 503, status "draining"`},
		{"another service", fake(200, `{"status":"ok","service":"storaged","version":"dev"}`), 1, `service "storaged"`},
		{"not a health answer", fake(200, `<html>hello</html>`), 1, "answered 200"},
		{"no answer", silent.Addr().String(), 1, "Timeout"},
		{"bad config", "no-port", 1, "no-port"}, // 1, not 2: docker reserves 2
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			code, out, errOut := check(t, tc.bind)
			got := out
			if tc.code != 0 {
				got = errOut
			}
			if code != tc.code || !strings.Contains(got, tc.msg) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d with %q", code, out, errOut, tc.code, tc.msg)
			}
			if d := time.Since(t0); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}

	// The daemon gone: 1, naming the refused connection.
	s.Kill("embedd")
	code, out, errOut := check(t, fmt.Sprintf("127.0.0.1:%d", port))
	if code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("after kill: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
