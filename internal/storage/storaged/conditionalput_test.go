package storaged_test

import (
	"testing"

	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestS3ConditionalPut: If-Match on PUT through storaged on the s3 backend
// (a real MinIO) is MinIO's compare-and-swap — on the one PUT, and on
// CompleteMultipartUpload for a body of several 5 MiB parts — where it was
// a 400; the same answers as the local backend (TestConditionalPutLocal).
func TestS3ConditionalPut(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ConditionalPut(t, storagetest.ClientFor(cfg, "storaged", true), c, 12<<20)
}

// TestS3ContentMD5: Content-MD5 on PUT through storaged on the s3 backend
// (a real MinIO): a one-part PUT carries it to S3 (BadDigest), a multipart
// or chunked body is checked at its end and the upload aborted; nothing
// is written on a mismatch (it was stored with a 200), as on the local
// backend (TestContentMD5Local, ADR-150).
func TestS3ContentMD5(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ContentMD5(t, storagetest.ClientFor(cfg, "storaged", true), c, 12<<20)
}

// TestS3ConditionalDelete: on the s3 backend storaged refuses If-Match on
// DELETE with a 400 that says why (MinIO ignores it:
// TestMinIODeleteIgnoresIfMatch) and deletes nothing, through raw HTTP and
// the typed client (ADR-154).
func TestS3ConditionalDelete(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	c, _ := storagetest.Start(t, cfg)
	storagetest.ConditionalDelete(t, storagetest.ClientFor(cfg, "storaged", true), c, false)
}
