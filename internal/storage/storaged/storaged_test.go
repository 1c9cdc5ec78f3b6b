package storaged_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

func s3Config(t *testing.T, m *miniotest.Server) *shared.Config {
	cfg := storagetest.Config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = m.Endpoint()
	cfg.S3.Bucket = m.Bucket
	cfg.S3.SecretsPath = m.WriteSecrets(t)
	cfg.S3.PartSize = 5 << 20
	return cfg
}

// TestContractHTTPS3 runs the Store contract through storaged's HTTP API on
// the s3 backend against a real MinIO.
func TestContractHTTPS3(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	n := 0
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		n++
		cfg := s3Config(t, m)
		cfg.S3.Bucket = "lakehouse-go-h" + string(rune('a'+n))
		if err := m.Client(t).MakeBucket(context.Background(), cfg.S3.Bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		c, _ := storagetest.Start(t, cfg)
		return c
	})
}

// TestS3Outage: MinIO killed during a run -> 503 with the error body, no
// crash; MinIO back on the same dir and port -> requests succeed without
// restarting storaged.
func TestS3Outage(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	c, srv := storagetest.Start(t, cfg)
	ctx := context.Background()
	storagetest.MustPut(t, c, "before", []byte("kept"))

	m.Stop()
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"put", func() error {
			_, err := c.Put(ctx, "during", strings.NewReader("x"), 1, storage.PutOptions{})
			return err
		}},
		{"get", func() error { _, _, err := c.Get(ctx, "before", storage.Whole); return err }},
		{"list", func() error { _, err := c.List(ctx, storage.ListOptions{}); return err }},
	} {
		start := time.Now()
		err := tc.do()
		if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 503 || !strings.Contains(err.Error(), m.Addr) || !strings.Contains(err.Error(), m.Bucket) {
			t.Fatalf("%s during the outage: %v (status %d)", tc.name, err, errs.StatusOf(err))
		}
		t.Logf("%s during the outage answered in %v: %v", tc.name, time.Since(start).Round(time.Millisecond), err)
	}
	// The raw body is DESIGN.md's error body.
	resp, err := http.Get(srv.URL() + storage.ObjectURLPath("before"))
	if err != nil {
		t.Fatal(err)
	}
	var body errs.Body
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || body.Error.Kind != errs.Unavailable || body.Error.Message == "" {
		t.Fatalf("raw answer %d %+v", resp.StatusCode, body)
	}
	// storaged itself is fine.
	if h, err := http.Get(srv.URL() + "/health"); err != nil || h.StatusCode != 200 {
		t.Fatalf("health during the outage: %v", err)
	}

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.MustGet(t, c, "before", storage.Whole); string(got) != "kept" {
		t.Fatalf("after restart: %q", got)
	}
	storagetest.MustPut(t, c, "after", []byte("ok"))
}

// TestS3DownAtStart: storaged starts although S3 is down, answers 503, and
// works once S3 is up.
func TestS3DownAtStart(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	m.Stop()
	cfg := s3Config(t, m)
	c, _ := storagetest.Start(t, cfg)
	if _, err := c.Head(context.Background(), "x"); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("head with S3 down: %v", err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, c, "x", []byte("y"))
}

func TestRefuseReadableSecrets(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = "127.0.0.1:1"
	p := t.TempDir() + "/secrets-go.toml"
	os.WriteFile(p, []byte("[s3.primary]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n"), 0o644)
	cfg.S3.SecretsPath = p
	_, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Fatalf("start with a 0644 secrets file: %v", err)
	}
}
