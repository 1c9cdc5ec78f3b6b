// Package miniotest runs a real MinIO server for tests: found at $MINIO_BIN
// or /root/.cache/lakehouse/bin/minio (scripts/ensure-minio.sh builds it),
// started on 127.0.0.1 with free ports for the API and the console, a temp
// data dir and generated root credentials, waited on (/minio/health/ready and a signed request),
// given a bucket, and stopped when the test ends. Without the binary the
// test is skipped, unless LH_REQUIRE_MINIO=1 (CI), where it fails.
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultBin is where scripts/ensure-minio.sh installs MinIO.
const DefaultBin = "/root/.cache/lakehouse/bin/minio"

// Server is a running MinIO.
type Server struct {
	Bin       string
	Dir       string // data dir
	Addr      string // 127.0.0.1:port of the S3 API
	Console   string // 127.0.0.1:port of the console
	AccessKey string
	SecretKey string
	Bucket    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

// Bin returns the MinIO binary path, or "" when there is none.
func Bin() string {
	if b := os.Getenv("MINIO_BIN"); b != "" {
		if _, err := os.Stat(b); err == nil {
			return b
		}
		return ""
	}
	if _, err := os.Stat(DefaultBin); err == nil {
		return DefaultBin
	}
	return ""
}

// Require returns the binary, skipping t when it is absent (failing it
// under LH_REQUIRE_MINIO=1).
func Require(t testing.TB) string {
	t.Helper()
	b := Bin()
	if b == "" {
		msg := "MinIO binary not found ($MINIO_BIN or " + DefaultBin + "); run scripts/ensure-minio.sh"
		if os.Getenv("LH_REQUIRE_MINIO") == "1" {
			t.Fatal(msg + " (LH_REQUIRE_MINIO=1)")
		}
		t.Skip(msg)
	}
	return b
}

// Start starts MinIO with bucket created (bucket "" = none). It is stopped
// when t ends.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	s, err := Launch(Require(t), t.TempDir(), bucket)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Launch starts MinIO from bin on data dir dir (outside tests: the
// benchmark driver); the caller must Stop it.
func Launch(bin, dir, bucket string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Dir: dir, Addr: addr, Console: console,
		AccessKey: "lhtest" + strconv.Itoa(os.Getpid()), SecretKey: "lhtest-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Bucket: bucket}
	if err := s.Restart(); err != nil {
		return nil, err
	}
	if bucket != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := s.NewClient()
		if err == nil {
			err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
		}
		if err != nil {
			return s, fmt.Errorf("minio: make bucket %s: %w", bucket, err)
		}
	}
	return s, nil
}

// Restart starts the server again (same data dir and ports) after Stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("minio already running")
	}
	cmd := exec.Command(s.Bin, "server", "--quiet", "--address", s.Addr, "--console-address", s.Console, s.Dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	s.logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("minio: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		// ready, not live: live answers before the object layer is up, and
		// a request then fails with "Server not initialized yet".
		resp, err := hc.Get("http://" + s.Addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && s.serving() {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("minio exited at start: %s", s.logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("minio not ready on %s after 60 s: %s", s.Addr, s.logs.String())
}

// serving reports whether MinIO answers signed requests: /minio/health/ready
// says 200 a moment before they stop failing with "Server not initialized
// yet" (CI saw a PUT through storaged refused right after a Restart), so
// readiness is a ListBuckets and, once the bucket exists, a HEAD of a
// missing object in it answered with NoSuchKey.
func (s *Server) serving() bool {
	c, err := s.NewClient()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		return false
	}
	for _, b := range buckets {
		if b.Name == s.Bucket {
			_, err := c.StatObject(ctx, s.Bucket, "miniotest-readiness-probe", minio.StatObjectOptions{})
			return minio.ToErrorResponse(err).Code == "NoSuchKey"
		}
	}
	return true
}

// Stop kills the server (SIGKILL: an outage, not a clean shutdown) and
// waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Endpoint is the URL of the S3 API.
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Client is a minio-go client with the root credentials.
func (s *Server) Client(t testing.TB) *minio.Client {
	c, err := s.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewClient is a minio-go client with the root credentials.
func (s *Server) NewClient() (*minio.Client, error) {
	return minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
}

// WriteSecretsFile writes secrets-go.toml (mode 0600) with the root keys
// under [s3.primary] at path.
func (s *Server) WriteSecretsFile(path string) error {
	body := fmt.Sprintf("[s3.primary]\naccess_key_id = %q\nsecret_access_key = %q\n", s.AccessKey, s.SecretKey)
	return os.WriteFile(path, []byte(body), 0o600)
}

// WriteSecrets writes secrets-go.toml (mode 0600) with the root keys under
// [s3.primary] and returns its path.
func (s *Server) WriteSecrets(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "secrets-go.toml")
	if err := s.WriteSecretsFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// IncompleteUploads lists the upload ids of the incomplete multipart
// uploads of exactly key (this MinIO lists them only for an exact key
// prefix, not bucket-wide).
func (s *Server) IncompleteUploads(t testing.TB, key string) []string {
	t.Helper()
	var ids []string
	for u := range s.Client(t).ListIncompleteUploads(context.Background(), s.Bucket, key, false) {
		if u.Err != nil {
			t.Fatalf("list incomplete uploads of %s: %v", key, u.Err)
		}
		if u.Key == key {
			ids = append(ids, u.UploadID)
		}
	}
	return ids
}
