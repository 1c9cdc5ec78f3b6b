package storaged_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestS3CrashDuringMultipartPut kills -9 a real storaged on the s3 backend
// in the middle of a large PUT: the multipart upload it started outlives
// it in MinIO, and the restarted storaged's janitor aborts it (it was in
// <data_dir>/storaged/uploads.jsonl), so no incomplete upload is left.
func TestS3CrashDuringMultipartPut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a storaged binary")
	}
	m := miniotest.Start(t, "lakehouse-go-primary")
	bin := buildStoraged(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[storaged]
bind = %q
backend = "s3"
[s3]
endpoint = %q
bucket = %q
secrets_path = %q
part_size = %d
[report]
enabled = false
[log]
access = false
`, filepath.Join(dir, "data"), addr, m.Endpoint(), m.Bucket, m.WriteSecrets(t), 5<<20)), 0o600)
	cfg := shared.Default(dir)
	cfg.Storaged.URL = "http://" + addr
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(0), StreamHTTP: shared.NewHTTPClient(0)}
	c := storage.NewClient(env.StreamClient("storaged"))
	core := minio.Core{Client: m.Client(t)}
	ctx := context.Background()
	const key = "t/outage.bin"

	cmd := runChild(t, bin, conf, addr)
	errc := make(chan error, 1)
	go func() {
		p := payload{seed: 7, size: 1 << 30}
		_, err := c.Put(ctx, key, p.reader(), p.size, storage.PutOptions{})
		errc <- err
	}()
	// Kill once the upload has parts in MinIO (so it was recorded: the
	// journal is written before the first part is sent).
	var uploadID string
	for deadline := time.Now().Add(30 * time.Second); uploadID == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload with parts appeared")
		}
		res, err := core.ListMultipartUploads(ctx, m.Bucket, key, "", "", "", 10)
		if err != nil || len(res.Uploads) == 0 {
			continue
		}
		parts, err := core.ListObjectParts(ctx, m.Bucket, key, res.Uploads[0].UploadID, 0, 10)
		if err == nil && len(parts.ObjectParts) >= 2 {
			uploadID = res.Uploads[0].UploadID
		}
	}
	cmd.Process.Signal(os.Kill)
	cmd.Wait()
	if err := <-errc; err == nil {
		t.Fatal("the PUT succeeded although storaged was killed during it")
	}
	if ids := m.IncompleteUploads(t, key); len(ids) != 1 || ids[0] != uploadID {
		t.Fatalf("after the kill: incomplete uploads %v, want [%s]", ids, uploadID)
	}
	journal, err := os.ReadFile(filepath.Join(dir, "data", "storaged", "uploads.jsonl"))
	if err != nil || !strings.Contains(string(journal), uploadID) {
		t.Errorf("journal after the kill (%v): %q", err, journal)
	}

	// The restarted storaged aborts it at start.
	runChild(t, bin, conf, addr)
	var ids []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ids = m.IncompleteUploads(t, key); len(ids) == 0 {
			break
		}
	}
	if len(ids) != 0 {
		t.Fatalf("the restarted storaged left incomplete uploads of %s: %v", key, ids)
	}
	if _, err := c.Head(ctx, key); !errs.Is(err, errs.NotFound) {
		t.Fatalf("head after restart: %v", err)
	}
}
