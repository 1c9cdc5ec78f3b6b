package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// Put implements storage.Store.Put. A body that fits in one part (known
// size <= PartSize, or an unknown-size body that ends within the first part)
// is one PUT; anything else is a multipart upload whose parts are read into
// one pooled buffer while the previous one is sent. Create-only sends
// If-None-Match: * on the PUT or on CompleteMultipartUpload.
// With IfMatch (a compare-and-swap write) If-Match goes on the PUT or on
// Complete, which MinIO evaluates as one step with the write (ADR-108).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.ObjectInfo, error) {
	info, err := s.put(ctx, key, r, size, opts)
	if err != nil && opts.IfMatch != "" && errs.Is(err, errs.Conflict) {
		// S3's PreconditionFailed, here not a create-only refusal.
		return storage.ObjectInfo{}, errs.E("s3.put", errs.Conflict, errs.StatusPrecondition,
			fmt.Sprintf("object %q: its etag is not the If-Match %q: it was replaced (nothing written)", key, opts.IfMatch))
	}
	return info, err
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.ObjectInfo, error) {
	const op = "s3.put"
	if err := checkKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := storage.ValidateContentType(opts.ContentType); err != nil {
		return storage.ObjectInfo{}, err
	}
	if opts.ContentMD5 != "" {
		sum, err := storage.ParseContentMD5(opts.ContentMD5)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		// A multipart upload is aborted when the last read fails; a
		// one-part PUT reads no further than its size, so S3 checks it
		// (Content-MD5 on the PUT, BadDigest) as one step with the write.
		r = storage.VerifyMD5(r, key, sum)
	}
	// minio-go sends application/octet-stream (storage.DefaultContentType)
	// for none, so MinIO never answers its own binary/octet-stream here.
	po := minio.PutObjectOptions{ContentType: opts.ContentType, DisableContentSha256: true}
	if opts.CreateOnly {
		po.SetMatchETagExcept("*")
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(opts.IfMatch)
		if size < 0 || size > createOnlyProbe {
			// As for create-only: a stale etag or a missing key is
			// refused before the body is read; If-Match on the PUT or
			// Complete still decides a race.
			info, err := s.Head(ctx, key)
			if err != nil {
				return storage.ObjectInfo{}, err
			}
			if opts.IfMatch != "*" && info.ETag != opts.IfMatch {
				return storage.ObjectInfo{}, errs.E(op, errs.Conflict, errs.StatusPrecondition, "If-Match")
			}
		}
	}
	if opts.CreateOnly && (size < 0 || size > createOnlyProbe) {
		// A body of more than one part would be read (and uploaded) whole
		// before Complete's If-None-Match refused it, a one-part body before
		// MinIO's 412: an existing key is refused first. If-None-Match still
		// decides a race with a writer that creates the key meanwhile. Small
		// bodies (catalogd's manifests) skip the extra round trip.
		switch _, err := s.Head(ctx, key); {
		case err == nil:
			return storage.ObjectInfo{}, errs.E(op, errs.Conflict, errs.StatusPrecondition, fmt.Sprintf("object %q already exists (create-only write)", key))
		case !errs.Is(err, errs.NotFound):
			return storage.ObjectInfo{}, err
		}
	}
	body := &bodyReader{r: r, size: size}
	if size >= 0 && size <= s.cfg.PartSize {
		ui, err := s.core.PutObject(ctx, s.cfg.Bucket, key, body, size, opts.ContentMD5, "", po)
		if err != nil {
			return storage.ObjectInfo{}, s.putErr(ctx, key, body, err)
		}
		if err := body.checkEnd(); err != nil {
			// S3 has the declared size; the caller sent more. Do not keep it.
			_ = s.core.RemoveObject(context.WithoutCancel(ctx), s.cfg.Bucket, key, minio.RemoveObjectOptions{})
			return storage.ObjectInfo{}, err
		}
		return s.uploaded(ctx, key, ui, size, po.ContentType), nil
	}

	// Read the first part: if the body ends there, one PUT does.
	bp := s.bufs.Get().(*[]byte)
	first := *bp
	n, rerr := io.ReadFull(body, first)
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		s.bufs.Put(bp)
		return storage.ObjectInfo{}, s.putErr(ctx, key, body, rerr)
	}
	if rerr != nil { // the whole body is in first[:n]
		defer s.bufs.Put(bp)
		if err := body.checkEnd(); err != nil {
			return storage.ObjectInfo{}, err
		}
		ui, err := s.core.PutObject(ctx, s.cfg.Bucket, key, bytes.NewReader(first[:n]), int64(n), "", "", po)
		if err != nil {
			return storage.ObjectInfo{}, s.putErr(ctx, key, body, err)
		}
		return s.uploaded(ctx, key, ui, int64(n), po.ContentType), nil
	}
	return s.multipart(ctx, key, body, bp, n, po)
}

func (s *Store) multipart(ctx context.Context, key string, body *bodyReader, firstBuf *[]byte, firstN int, po minio.PutObjectOptions) (storage.ObjectInfo, error) {
	const op = "s3.put"
	// The initiate request must not carry If-None-Match (only Complete does).
	initOpts := minio.PutObjectOptions{ContentType: po.ContentType}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key, initOpts)
	if err != nil {
		s.bufs.Put(firstBuf)
		return storage.ObjectInfo{}, s.mapErr(ctx, op, key, err)
	}
	// Recorded (and fsynced) before the first part is sent: if this Put
	// cannot abort what it started (S3 down, or the process dies), the
	// janitor does (uploads.go).
	ref := uploadRef{Bucket: s.cfg.Bucket, Key: key, UploadID: uploadID}
	s.journal.begin(ref)
	completed := false
	defer func() {
		gone := completed
		if !completed {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			aerr := s.core.AbortMultipartUpload(actx, s.cfg.Bucket, key, uploadID)
			cancel()
			gone = aerr == nil || minio.ToErrorResponse(aerr).Code == "NoSuchUpload"
		}
		s.journal.end(ref, gone)
	}()

	type part struct {
		num int
		buf *[]byte
		n   int
	}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan part, 1) // one part being sent, one being read: two buffers
	type result struct {
		parts []minio.CompletePart
		total int64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		for p := range todo {
			if res.err == nil {
				op, err := s.core.PutObjectPart(uctx, s.cfg.Bucket, key, uploadID, p.num,
					bytes.NewReader((*p.buf)[:p.n]), int64(p.n), minio.PutObjectPartOptions{DisableContentSha256: true})
				if err != nil {
					res.err = err
					cancel()
				} else {
					res.parts = append(res.parts, minio.CompletePart{PartNumber: p.num, ETag: op.ETag})
					res.total += int64(p.n)
				}
			}
			s.bufs.Put(p.buf)
		}
		done <- res
	}()

	var readErr error
	todo <- part{num: 1, buf: firstBuf, n: firstN}
	for num := 2; ; num++ {
		if num > 10000 {
			readErr = errs.Errorf(op, errs.TooLarge, "object is larger than 10000 parts of %d bytes", s.cfg.PartSize)
			break
		}
		if uctx.Err() != nil {
			break
		}
		bp := s.bufs.Get().(*[]byte)
		n, rerr := io.ReadFull(body, *bp)
		if n > 0 {
			todo <- part{num: num, buf: bp, n: n}
		} else {
			s.bufs.Put(bp)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			readErr = body.checkEnd()
			break
		}
		if rerr != nil {
			readErr = rerr
			break
		}
	}
	close(todo)
	res := <-done
	switch {
	case readErr != nil:
		return storage.ObjectInfo{}, s.putErr(ctx, key, body, readErr)
	case res.err != nil:
		return storage.ObjectInfo{}, s.putErr(ctx, key, body, res.err)
	}
	ui, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, key, uploadID, res.parts, po)
	if err != nil {
		return storage.ObjectInfo{}, s.putErr(ctx, key, body, err)
	}
	completed = true
	return s.uploaded(ctx, key, ui, res.total, po.ContentType), nil
}

// uploaded builds the answer of a finished upload. S3 does not return
// Last-Modified on PUT; the time the upload finished stands in for it (a
// HEAD or List reports the server's own time).
func (s *Store) uploaded(ctx context.Context, key string, ui minio.UploadInfo, size int64, ct string) storage.ObjectInfo {
	info := storage.ObjectInfo{Key: key, Size: size, ETag: ui.ETag, Modified: ui.LastModified.UTC(), ContentType: storage.ContentTypeOf(ct)}
	if ui.LastModified.IsZero() {
		info.Modified = time.Now().UTC()
	}
	return info
}

// putErr prefers the body's own failure (short, long, or the caller's
// reader failing) over what minio-go made of it.
func (s *Store) putErr(ctx context.Context, key string, body *bodyReader, err error) error {
	if body.err != nil {
		return body.err
	}
	return s.mapErr(ctx, "s3.put", key, err)
}

// createOnlyProbe is the known size above which a create-only PUT asks
// whether the key exists before it sends the body.
const createOnlyProbe = 1 << 20

// bodyReader enforces the declared size and remembers why the body failed.
type bodyReader struct {
	r    io.Reader
	size int64 // -1 = unknown
	n    int64
	err  error // *errs.Error describing a body problem
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.size >= 0 && b.n >= b.size {
		return 0, io.EOF
	}
	if b.size >= 0 && int64(len(p)) > b.size-b.n {
		p = p[:b.size-b.n]
	}
	m, err := b.r.Read(p)
	b.n += int64(m)
	switch {
	case err == io.EOF:
		if b.size >= 0 && b.n < b.size {
			b.err = errs.Errorf("s3.put", errs.Invalid, "body ended after %d of its declared %d bytes", b.n, b.size)
			return m, b.err
		}
	case err != nil:
		var e *errs.Error
		if errors.As(err, &e) {
			b.err = err
		} else {
			b.err = errs.E("s3.put", errs.Invalid, fmt.Sprintf("reading the object body failed after %d bytes", b.n), err)
		}
		return m, b.err
	}
	return m, err
}

// checkEnd verifies, after the declared size was read, that the body has
// no more bytes.
func (b *bodyReader) checkEnd() error {
	if b.err != nil {
		return b.err
	}
	if b.size < 0 {
		return nil
	}
	if b.n < b.size {
		b.err = errs.Errorf("s3.put", errs.Invalid, "body ended after %d of its declared %d bytes", b.n, b.size)
		return b.err
	}
	var one [1]byte
	for {
		m, err := b.r.Read(one[:])
		if m > 0 {
			b.err = errs.Errorf("s3.put", errs.Invalid, "body is longer than its declared size of %d bytes", b.size)
			return b.err
		}
		if err != nil {
			return nil
		}
	}
}
