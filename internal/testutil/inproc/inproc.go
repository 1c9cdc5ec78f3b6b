// Package inproc starts daemons in-process for tests, through the real
// harness (shared.Start on 127.0.0.1), with one shared notion of a test
// config. Test support only: no daemon imports it.
package inproc

import (
	"context"
	"io"
	"net"
	"testing"

	"lakehouse-go/internal/shared"
)

// Config returns the embedded defaults under a temp data dir with every
// daemon on 127.0.0.1:0, no observer reporting, no access log, warn level.
func Config(t testing.TB) *shared.Config {
	t.Helper()
	cfg := shared.Default(t.TempDir())
	for _, name := range shared.Daemons {
		cfg.Section(name).Bind = "127.0.0.1:0"
	}
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	cfg.Log.Level = "warn"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Bind gives each of names a concrete free loopback port in cfg, for
// daemons that must find each other (a started daemon's URL is only known
// in advance with a concrete port).
//
// Each port stays bound until the daemon's Start takes its listener
// (shared.Prebind): a port chosen and then closed could be taken by
// another process before the daemon bound it.
func Bind(t testing.TB, cfg *shared.Config, names ...string) {
	t.Helper()
	for _, n := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(shared.Prebind(ln))
		cfg.Section(n).Bind = ln.Addr().String()
	}
}

// Start runs daemon name with build on cfg, points cfg's URL for name at
// it, and shuts it down when the test ends.
func Start(t testing.TB, cfg *shared.Config, name string, build shared.Builder) *shared.Server {
	t.Helper()
	s, err := shared.Start(context.Background(), name, cfg, build, io.Discard)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Section(name).URL = s.URL()
	return s
}
