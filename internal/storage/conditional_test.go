package storage_test

import (
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestConditionalGets: on the local backend, a GET or HEAD with a
// matching If-None-Match or an If-Modified-Since not before the object's
// Last-Modified is 304 without a body (it was 200 with the object).
func TestConditionalGets(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	storagetest.Conditional(t, base, storage.NewClient(base))
}

// TestConditionalReplacedAfterHead: on the local backend, an object
// replaced or deleted between a conditional GET's HEAD and its read (forced
// by the test hook) is answered by what was read: a 412 for an If-Match
// naming the old etag, a 304 for an If-None-Match naming the new one, the
// whole new object for an If-Range naming the old one, never the new
// bytes under the old validators.
func TestConditionalReplacedAfterHead(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	storagetest.ReplacedAfterHead(t, base, storage.NewClient(base), storage.SetConditionalHeadHook)
}

// TestS3ConditionalReplacedAfterHead: the same on the s3 backend against a
// real MinIO (the ETag read is the one S3 sent with the bytes).
func TestS3ConditionalReplacedAfterHead(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := storagetest.S3Config(t, m)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	storagetest.ReplacedAfterHead(t, base, storage.NewClient(base), storage.SetConditionalHeadHook)
}

// TestConditionalPutLocal: If-Match on PUT is a compare-and-swap on the
// local backend (it was a 400): the current etag writes, another is 412
// and changes nothing, a missing key 404; of concurrent writers holding the
// same etag one lands. The typed client with a socket goes over HTTP.
func TestConditionalPutLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ConditionalPut(t, storagetest.ClientFor(cfg, "storaged", true), c, 3<<20)
}

// TestContentMD5Local: a PUT whose body does not have its Content-MD5 is a
// 400 and writes nothing on the local backend (it was stored with a 200);
// a malformed digest is a 400; the right one writes (ADR-150). The typed
// client with a socket goes over HTTP for it.
func TestContentMD5Local(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ContentMD5(t, storagetest.ClientFor(cfg, "storaged", true), c, 3<<20)
}

// TestConditionalDeleteLocal: If-Match on DELETE is evaluated on the local
// backend (it was a 400): the current etag or * deletes, another etag is a
// 412 conflict and deletes nothing, a missing key 404; a conditional
// delete racing a PUT never removes the PUT's object (ADR-154). The typed
// client with a socket sends it over HTTP.
func TestConditionalDeleteLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ConditionalDelete(t, storagetest.ClientFor(cfg, "storaged", true), c, true)
}
