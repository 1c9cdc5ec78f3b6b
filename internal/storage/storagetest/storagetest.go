// Package storagetest starts storaged (and catalogd) in-process for tests of
// this and other daemons: the real harness (shared.Start on 127.0.0.1:0),
// the real local backend in a temp dir, driven through the typed clients.
package storagetest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/miniotest"
)

// Config is inproc.Config: embedded defaults under a temp data dir with
// every daemon on 127.0.0.1:0.
func Config(t testing.TB) *shared.Config { return inproc.Config(t) }

// S3Config is Config with storaged on the s3 backend against m, a real
// MinIO (miniotest.Start): its endpoint and bucket, and a secrets file with
// its keys.
func S3Config(t testing.TB, m *miniotest.Server) *shared.Config {
	cfg := Config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = m.Endpoint()
	cfg.S3.Bucket = m.Bucket
	cfg.S3.SecretsPath = m.WriteSecrets(t)
	return cfg
}

// Start starts storaged with cfg (its [storaged]/[s3] sections pick the
// backend), points cfg's storaged URL at it and returns a client — the one
// daemons build, which uses the short-circuit socket when storaged has one
// (local backend) and HTTP otherwise. The server is shut down when the
// test ends.
func Start(t testing.TB, cfg *shared.Config) (*storage.Client, *shared.Server) {
	t.Helper()
	s, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, io.Discard)
	if err != nil {
		t.Fatalf("start storaged: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Storaged.URL = s.URL()
	return storage.NewClient(ClientFor(cfg, "storaged", true), storage.WithConfig(cfg)), s
}

// ClientFor is the harness client a daemon would use to reach service.
func ClientFor(cfg *shared.Config, service string, stream bool) *shared.Client {
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(0), StreamHTTP: shared.NewHTTPClient(0)}
	if stream {
		return env.StreamClient(service)
	}
	return env.Client(service)
}

// StartCatalog starts catalogd against cfg's storaged (Start it first) and
// returns its typed client.
func StartCatalog(t testing.TB, cfg *shared.Config, build shared.Builder) *shared.Server {
	t.Helper()
	s, err := shared.Start(context.Background(), "catalogd", cfg, build, io.Discard)
	if err != nil {
		t.Fatalf("start catalogd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Catalogd.URL = s.URL()
	return s
}

// SocketPath is a short path for a short-circuit socket (t.TempDir paths
// of long test names can pass the 107-byte limit of a Unix socket path).
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "storaged.sock")
}
