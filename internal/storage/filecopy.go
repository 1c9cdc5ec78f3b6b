package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
)

// WritebackChunk is how much written data CopyToFile lets accumulate
// before it starts writeback with sync_file_range(SYNC_FILE_RANGE_WRITE):
// the disk then writes while the rest of the body still arrives, and the
// final fsync (which alone makes the data durable) waits only for the tail
// (ADR-014). A 256 MiB PUT went from ~780 to ~1250 MiB/s on the dev VM.
const WritebackChunk = 256 << 10

// CopyToFile streams r into f and h through buf, checking ctx between reads
// and the length against size (when size >= 0), and starting writeback
// every WritebackChunk. It is the one write loop of an object body: the
// local backend's Put (HTTP) and the short-circuit client (ADR-015), which
// writes into the file storaged handed it. h, if set, is fed every chunk
// (the local backend's etag). wrote, if set, is called with the bytes
// written so far after each write; its error ends the copy. op names the
// errors.
func CopyToFile(ctx context.Context, op string, f *os.File, h io.Writer, r io.Reader, size int64, buf []byte, wrote func(n int64) error) (int64, error) {
	fd := int(f.Fd())
	var n, started int64 // bytes written; offset up to which writeback was started
	for {
		if err := ctx.Err(); err != nil {
			return n, errs.E(op, err)
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if size >= 0 && n > size {
				return n, errs.Errorf(op, errs.Invalid, "body is longer than its declared size of %d bytes", size)
			}
			chunk := buf[:m]
			if h != nil {
				h.Write(chunk)
			}
			if _, err := f.Write(chunk); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					return n, errs.OSError(op, "local storage", err)
				}
				return n, errs.E(op, errs.Unavailable, "local storage: write failed", err)
			}
			if n-started >= WritebackChunk {
				_ = unix.SyncFileRange(fd, started, n-started, unix.SYNC_FILE_RANGE_WRITE)
				started = n
			}
			if wrote != nil {
				if err := wrote(n); err != nil {
					return n, err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			var e *errs.Error
			if errors.As(rerr, &e) {
				return n, rerr
			}
			if ctx.Err() != nil {
				return n, errs.E(op, ctx.Err())
			}
			return n, errs.E(op, errs.Invalid, fmt.Sprintf("reading the object body failed after %d bytes", n), rerr)
		}
	}
	if size >= 0 && n != size {
		return n, errs.Errorf(op, errs.Invalid, "body ended after %d of its declared %d bytes", n, size)
	}
	return n, nil
}
