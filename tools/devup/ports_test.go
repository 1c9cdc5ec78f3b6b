package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// TestPortTakenStopsBeforeStart: when another process already answers on
// a daemon's port — here as that daemon, as another `just up` would —
// devup names the daemon and the address, starts nothing and exits 1.
// Before: it started all eleven; the one whose port was taken failed to
// listen, but devup's /health probe, answered by the other process, took
// it for up, so its exit counted as a crash and it was restarted (every
// 10 s for good, then until the start limit), the suite half up on
// someone else's daemon.
func TestPortTakenStopsBeforeStart(t *testing.T) {
	t.Setenv("LAKEHOUSE_CONFIG", "")
	t.Setenv("LAKEHOUSE_DATA_DIR", "")
	victim := "chatd"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"ok","service":%q,"version":"another suite"}`, victim)
	})}
	go other.Serve(ln)
	defer other.Close()

	dir := t.TempDir()
	ports, err := suite.FreePorts(len(shared.Daemons))
	if err != nil {
		t.Fatal(err)
	}
	var toml strings.Builder
	fmt.Fprintf(&toml, "data_dir = %q\n", filepath.Join(dir, "data"))
	for i, name := range shared.Daemons {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i])
		if name == victim {
			addr = ln.Addr().String()
		}
		fmt.Fprintf(&toml, "[%s]\nbind = %q\n", name, addr)
	}
	config := filepath.Join(dir, "lakehouse.toml")
	if err := os.WriteFile(config, []byte(toml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, mark := t.TempDir(), t.TempDir()
	fakeDaemons(t, bin, mark)

	code, stderr := runDevup(t, options{binDir: bin, config: config, restart: true})
	want := fmt.Sprintf("devup: in use before devup started anything: %s's port (%s); another `just up` or suite runs there", victim, ln.Addr())
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %s; want 1 and %q", code, stderr, want)
	}
	if ran, _ := os.ReadDir(mark); len(ran) != 0 {
		t.Errorf("%d daemons ran although %s's port was taken", len(ran), victim)
	}
}
