package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawReader and rawWriter do the proxied path's socket I/O through
// syscall.RawConn (ADR-071).
//
// They call read(2) and write(2) with syscall.RawSyscall: on a
// non-blocking socket neither call can sleep, so the runtime's syscall
// bookkeeping (entersyscall/exitsyscall) is not needed — and without it
// the runtime's monitor thread does not hand the goroutine's P to another
// thread while a loopback write is busy delivering to its peer, which cost
// thread wake-ups on every request. EAGAIN waits in the runtime's poller,
// as net.Conn does; deadlines apply as they do to net.Conn.
//
// A rawReader can also run one step — a flush of what was written to the
// connection — just before a read, inside the socket's raw read.
// net.Conn.Read always tries read(2) first and waits for readiness only
// after EAGAIN; when the bytes wanted are the answer to what the flush
// sends, that first read is always empty. Run inside RawConn.Read, the
// step happens after the runtime has reset the socket's readiness, so an
// answer arriving at any moment after the flush wakes the wait: no read is
// wasted and no wake-up is lost.
type rawReader struct {
	nc net.Conn
	rc syscall.RawConn // nil: not a socket; Read falls back to nc.Read

	// limited: the Reads until unlimit return at most left bytes in all,
	// then fail (a response head's size on the net/http path).
	limited bool
	left    int64

	// pre runs once, before the next Read waits (set by the caller,
	// cleared by Read).
	pre func() error

	fn func(uintptr) bool // r.step, bound once (no allocation per Read)
	// one Read's state, for step
	run    func() error
	p      []byte
	n      int
	errno  syscall.Errno
	preErr error
}

func rawConnOf(nc net.Conn) syscall.RawConn {
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

func newRawReader(nc net.Conn) *rawReader {
	r := &rawReader{nc: nc, rc: rawConnOf(nc)}
	r.fn = r.step
	return r
}

// limit caps what the Reads from now on return in all at n bytes.
func (r *rawReader) limit(n int64) { r.limited, r.left = true, n }

// unlimit ends limit.
func (r *rawReader) unlimit() { r.limited = false }

var errRespHeadTooLarge = errors.New("response head too large")

func (r *rawReader) readLimited(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errRespHeadTooLarge
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	r.limited = false
	n, err := r.Read(p)
	r.limited = true
	r.left -= int64(n)
	return n, err
}

func (r *rawReader) Read(p []byte) (int, error) {
	if r.limited {
		return r.readLimited(p)
	}
	pre := r.pre
	r.pre = nil
	if r.rc == nil || len(p) == 0 {
		if pre != nil {
			if err := pre(); err != nil {
				return 0, err
			}
		}
		return r.nc.Read(p)
	}
	r.run, r.p, r.n, r.errno, r.preErr = pre, p, 0, 0, nil
	err := r.rc.Read(r.fn)
	n, errno, preErr := r.n, r.errno, r.preErr
	r.run, r.p, r.preErr = nil, nil, nil
	switch {
	case preErr != nil:
		return 0, preErr
	case err != nil: // deadline, closed: already a *net.OpError
		return 0, err
	case errno != 0:
		return 0, opError("read", r.nc, errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// step is the RawConn callback: with a step to run, the first call runs
// it and asks the runtime to wait for readiness; otherwise it reads.
func (r *rawReader) step(fd uintptr) bool {
	if run := r.run; run != nil {
		r.run = nil
		if r.preErr = run(); r.preErr != nil {
			return true
		}
		return false
	}
	r.n, r.errno = sysRead(fd, r.p)
	return r.errno != syscall.EAGAIN
}

// rawWriter writes to a socket with write(2) through RawConn (see above).
type rawWriter struct {
	nc net.Conn
	rc syscall.RawConn

	fn func(uintptr) bool // w.step, bound once
	// one Write's state
	p     []byte
	n     int
	errno syscall.Errno
}

func newRawWriter(nc net.Conn) io.Writer {
	rc := rawConnOf(nc)
	if rc == nil {
		return nc
	}
	w := &rawWriter{nc: nc, rc: rc}
	w.fn = w.step
	return w
}

func (w *rawWriter) Write(p []byte) (int, error) {
	w.p, w.n, w.errno = p, 0, 0
	err := w.rc.Write(w.fn)
	n, errno := w.n, w.errno
	w.p = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, opError("write", w.nc, errno)
	}
	return n, nil
}

// maxRawWrite bounds one write(2): the goroutine keeps its P for the call.
const maxRawWrite = 256 << 10

// step writes until all of w.p is written (true), an error (true), or the
// socket buffer is full (false: the runtime waits for writability).
func (w *rawWriter) step(fd uintptr) bool {
	for w.n < len(w.p) {
		chunk := w.p[w.n:]
		if len(chunk) > maxRawWrite {
			chunk = chunk[:maxRawWrite]
		}
		m, errno := sysWrite(fd, chunk)
		if errno == syscall.EAGAIN {
			return false
		}
		if errno != 0 {
			w.errno = errno
			return true
		}
		w.n += m
	}
	return true
}

func sysRead(fd uintptr, p []byte) (int, syscall.Errno)  { return sysIO(syscall.SYS_READ, fd, p) }
func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return sysIO(syscall.SYS_WRITE, fd, p) }

// sysIO is read(2) or write(2) of p on fd, retried on EINTR.
func sysIO(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
}

func opError(op string, nc net.Conn, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
