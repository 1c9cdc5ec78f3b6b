package storage

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
)

// Bounds on a conversation with S3 that stops (a hung, SIGSTOPped MinIO
// answers no request and sends no byte, but its TCP port still accepts):
// without them a GET waited for minio-go's response-header timeout, minutes
// times its retries. They are the defaults of [s3] dial_timeout,
// header_timeout and stall_timeout (shared.S3Config; ADR-011), and what a
// zero bound means to s3.Open and the typed client. Each bounds a silence,
// never a whole transfer: a slow object that keeps moving is never cut.
const (
	// S3DialTimeout bounds a TCP connect to the endpoint.
	S3DialTimeout = 5 * time.Second
	// S3HeaderTimeout bounds the wait for an answer's headers once the
	// request was sent (MinIO keeps a long CompleteMultipartUpload alive
	// with early headers and whitespace).
	S3HeaderTimeout = 15 * time.Second
	// S3StallTimeout bounds one read of an object's body, or one write of
	// an upload's 1 MiB chunk, that moves no byte.
	S3StallTimeout = 30 * time.Second
)

// StallGuard returns rc (a body read from an S3 server at from, under a
// request context whose cancel is cancel) whose Read fails when one read
// waits longer than idle for a byte: cancel is called, and the error is
// Unavailable naming from, key and how far the object came. Time spent
// between reads (the caller writing to a slow client) does not count.
// Close calls cancel. idle <= 0 guards nothing but still cancels on Close.
func StallGuard(rc io.ReadCloser, idle time.Duration, cancel context.CancelFunc, op, from, key string) io.ReadCloser {
	g := &stallGuard{rc: rc, idle: idle, cancel: cancel, op: op, from: from, key: key}
	if idle > 0 {
		g.timer = time.AfterFunc(time.Hour, func() { g.fired.Store(true); cancel() })
		g.timer.Stop()
	}
	return g
}

type stallGuard struct {
	rc            io.ReadCloser
	idle          time.Duration
	timer         *time.Timer
	fired         atomic.Bool
	cancel        context.CancelFunc
	op, from, key string
	n             int64
}

func (g *stallGuard) Read(p []byte) (int, error) {
	if g.timer != nil {
		g.timer.Reset(g.idle)
	}
	n, err := g.rc.Read(p)
	if g.timer != nil {
		g.timer.Stop()
	}
	g.n += int64(n)
	if err != nil && err != io.EOF && g.fired.Load() {
		err = errs.E(g.op, errs.Unavailable, fmt.Sprintf("%s stopped sending object %q after %d bytes: nothing came for %s",
			g.from, g.key, g.n, g.idle))
	}
	return n, err
}

func (g *stallGuard) Close() error {
	if g.timer != nil {
		g.timer.Stop()
	}
	err := g.rc.Close()
	g.cancel()
	return err
}

// StallConn wraps a connection to S3 so that a write that moves nothing for
// idle fails (an upload to a server that stopped reading): writes go out
// in chunks of 1 MiB, each with its own deadline. Reads are untouched (the
// transport's reader waits for an answer while an upload is sent;
// S3HeaderTimeout and StallGuard bound the reads).
func StallConn(c net.Conn, idle time.Duration) net.Conn {
	if idle <= 0 {
		return c
	}
	return &stallConn{Conn: c, idle: idle}
}

type stallConn struct {
	net.Conn
	idle time.Duration
}

const stallChunk = 1 << 20

func (c *stallConn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+stallChunk)]
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom is how net/http's transport sends a streamed request body (an
// upload storaged relays from its client): without it, io.Copy moved the
// body in 32 KiB pieces, a read from the client and a write to S3 each.
// Pieces of up to copyBufSize (server.go's pool) take an eighth of the
// system calls.
func (c *stallConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c}, r, *bp) // hides ReadFrom: no recursion
}
