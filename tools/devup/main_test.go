package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// fakeDaemons writes an executable script for every daemon into dir: each
// records the path it was started as in mark/<name>; the last daemon
// waits until all have, then exits 3 (devup then stops the rest, which
// sleep). Real child processes; what is tested is which files devup runs.
func fakeDaemons(t *testing.T, dir, mark string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	last := shared.Daemons[len(shared.Daemons)-1]
	for _, name := range shared.Daemons {
		script := "#!/bin/sh\necho \"$0\" > \"" + filepath.Join(mark, name) + "\"\n"
		if name == last {
			script += "for i in $(seq 100); do [ $(ls \"" + mark + "\" | wc -l) -ge " + strconv.Itoa(len(shared.Daemons)) + " ] && exit 3; sleep 0.1; done\nexit 4\n"
		} else {
			script += "exec sleep 30\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// runDevup runs devup's run with o (no build) in a temp data dir and
// returns its exit code and stderr. Without o.config the daemons get free
// loopback ports (a config in the data dir), not the default ones, which
// another suite on the host may hold.
func runDevup(t *testing.T, o options) (int, string) {
	t.Helper()
	o.dataDir = t.TempDir()
	if o.config == "" {
		ports, err := suite.FreePorts(len(shared.Daemons))
		if err != nil {
			t.Fatal(err)
		}
		var toml strings.Builder
		fmt.Fprintf(&toml, "data_dir = %q\n", o.dataDir)
		for i, name := range shared.Daemons {
			fmt.Fprintf(&toml, "[%s]\nbind = \"127.0.0.1:%d\"\n", name, ports[i])
		}
		o.config = filepath.Join(o.dataDir, "lakehouse.toml")
		if err := os.WriteFile(o.config, []byte(toml.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(o, &stdout, &stderr) }()
	select {
	case code := <-done:
		return code, stderr.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("devup did not return within 60 s; stderr: %s", stderr.String())
		return 0, ""
	}
}

// TestNoBuildRunsTheBinDir (ADR-147): with -no-build devup runs the
// daemons of its -bin dir (default $BIN_DIR, else ./bin), not always
// ./bin; a missing binary is named by the path looked at, before any
// daemon starts. Before: -no-build always ran ./bin/<name>, and a missing
// one failed as "start gateway: fork/exec bin/gateway: no such file or
// directory" after the daemons before it had started.
func TestNoBuildRunsTheBinDir(t *testing.T) {
	t.Setenv("LAKEHOUSE_CONFIG", "")
	t.Setenv("LAKEHOUSE_DATA_DIR", "")
	work := t.TempDir()
	t.Chdir(work)

	check := func(what, binDir string) {
		t.Helper()
		mark := t.TempDir()
		fakeDaemons(t, binDir, mark)
		code, stderr := runDevup(t, options{binDir: defaultBinDir(os.Getenv)})
		if code != 1 || !strings.Contains(stderr, shared.Daemons[len(shared.Daemons)-1]+" exited (exit status 3)") {
			t.Fatalf("%s: exit %d, stderr %s; want 1 after the last fake daemon exited 3", what, code, stderr)
		}
		abs, _ := filepath.Abs(binDir)
		for _, name := range shared.Daemons {
			b, err := os.ReadFile(filepath.Join(mark, name))
			if err != nil {
				t.Fatalf("%s: %s did not run: %v (stderr %s)", what, name, err, stderr)
			}
			if got := strings.TrimSpace(string(b)); got != filepath.Join(abs, name) {
				t.Errorf("%s: ran %s, want %s", what, got, filepath.Join(abs, name))
			}
		}
	}

	// $BIN_DIR, while ./bin has no binaries at all
	t.Setenv("BIN_DIR", filepath.Join(work, "elsewhere"))
	check("BIN_DIR", filepath.Join(work, "elsewhere"))

	// -bin (the flag's value wins over $BIN_DIR)
	other := filepath.Join(work, "other")
	mark := t.TempDir()
	fakeDaemons(t, other, mark)
	if code, stderr := runDevup(t, options{binDir: other}); code != 1 {
		t.Fatalf("-bin: exit %d, %s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(mark, "gateway")); err != nil || strings.TrimSpace(string(b)) != filepath.Join(other, "gateway") {
		t.Errorf("-bin %s: gateway ran as %q (%v)", other, b, err)
	}

	// neither: ./bin
	t.Setenv("BIN_DIR", "")
	check("default", "bin")

	// none there
	code, stderr := runDevup(t, options{binDir: "nowhere"})
	if want := "no daemon binary in " + filepath.Join(work, "nowhere") + " (looked for " + filepath.Join(work, "nowhere", "gateway"); code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("-bin nowhere: exit %d, stderr %s; want it to say %q", code, stderr, want)
	}

	// missing binaries: named by the path looked at; nothing started
	empty := filepath.Join(work, "empty")
	mark = t.TempDir()
	fakeDaemons(t, empty, mark)
	os.Remove(filepath.Join(empty, "chatd"))
	os.Chmod(filepath.Join(empty, "queryd"), 0o644)
	code, stderr = runDevup(t, options{binDir: "empty"})
	if code != 1 || !strings.Contains(stderr, filepath.Join(empty, "chatd")+" is missing") ||
		!strings.Contains(stderr, filepath.Join(empty, "queryd")+" is not an executable file") || strings.Contains(stderr, "gateway") {
		t.Errorf("missing chatd, queryd not executable: exit %d, stderr %s; want both paths named, and no daemon started", code, stderr)
	}
	if ran, _ := os.ReadDir(mark); len(ran) != 0 {
		t.Errorf("%d daemons ran although binaries were missing", len(ran))
	}
}
