package shared_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
)

// TestCheckFlag: an operator could validate an edited lakehouse.toml only
// by restarting a daemon with it. `<daemon> -check` loads the config as
// Run would (file, environment, this daemon's bind gates) and exits 0 or 2
// with every problem named, without binding its port: it answers 0 while
// the port is taken by the running daemon.
func TestCheckFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "observerd")
	if d := os.Getenv("LH_BIN_DIR"); d != "" {
		bin = filepath.Join(d, "observerd")
	} else {
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/observerd")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	run := func(toml string, env ...string) (int, string, string) {
		t.Helper()
		cfg := filepath.Join(t.TempDir(), "lakehouse.toml")
		if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-check", "--config", cfg)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
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
	data := filepath.Join(dir, "data")
	good := "data_dir = \"" + data + "\"\n[observerd]\nbind = \"" + taken.Addr().String() + "\"\n"
	if code, out, errOut := run(good); code != 0 || !strings.Contains(out, "observerd: configuration ok") || !strings.Contains(out, taken.Addr().String()) {
		t.Errorf("good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("-check touched the data dir: %v", err)
	}
	code, _, errOut := run("data_dir = \"" + data + "\"\nbogus = 1\n[observerd]\nbind = \"127.0.0.1:notaport\"\n")
	if code != 2 || !strings.Contains(errOut, "bogus") || !strings.Contains(errOut, "notaport") {
		t.Errorf("bad config: exit %d, stderr %q; want 2 naming both problems", code, errOut)
	}
	// Every section's bind host is looked up, with the other problems
	// (ADR-199); a start looks up only its own.
	code, _, errOut = run("data_dir = \"" + data + "\"\nbogus = 1\n[gateway]\nbind = \"nohost.invalid:3111\"\n[storaged]\nbind = \"localhost:3211\"\n")
	if code != 2 || !strings.Contains(errOut, "bogus") || !strings.Contains(errOut, `[gateway].bind "nohost.invalid:3111": host does not resolve`) ||
		strings.Contains(errOut, "storaged") || strings.Contains(errOut, "lookup") {
		t.Errorf("a bind host that does not resolve: exit %d, stderr %q; want 2 naming it and the unknown key only", code, errOut)
	}
	// So are the hosts of every url and of the S3 endpoint, and a bind's
	// address is one this host has (192.0.2.1 is TEST-NET-1: compared with
	// the interfaces, nothing is sent).
	code, _, errOut = run("data_dir = \"" + data + "\"\n[gateway]\nbind = \"192.0.2.1:3111\"\n[catalogd]\nurl = \"http://cat.invalid:3212\"\n" +
		"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"minio.invalid:9000\"\nsecrets_path = \"/nonexistent/secrets-go.toml\"\n")
	bindLine := `[gateway].bind "192.0.2.1:3111": 192.0.2.1 is not an address of this host: the daemon cannot listen there` + "\n"
	if shared.CanListenHere("192.0.2.1") {
		bindLine = "" // this host can listen there (its address, or ip_nonlocal_bind): nothing to tell
	}
	if want := `[catalogd].url "http://cat.invalid:3212": host does not resolve` + "\n" + bindLine +
		`[s3].endpoint "minio.invalid:9000": host does not resolve`; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("url, endpoint and a bind not on this host: exit %d, stderr %q; want 2 and\n%s", code, errOut, want)
	}
	code, _, errOut = run("data_dir = \"" + data + "\"\n[observerd]\nbind = \"0.0.0.0:3190\"\n")
	if code != 2 || !strings.Contains(errOut, "refuse non-loopback bind without auth.token") {
		t.Errorf("non-loopback bind without a token: exit %d, stderr %q; want 2 and the gate's message", code, errOut)
	}
}
