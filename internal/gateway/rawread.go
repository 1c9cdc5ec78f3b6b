package gateway

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader reads a TCP connection and can run one step — a flush of
// what was written to it — just before a read, inside the socket's raw
// read (ADR-071). net.Conn.Read always tries read(2) first and waits for
// readiness only after EAGAIN; when the bytes wanted are the answer to
// what the flush sends, that first read is always empty. Run inside
// syscall.RawConn.Read, the step happens after the runtime has reset the
// socket's readiness, so an answer that arrives at any moment after the
// flush wakes the wait: no read is wasted and no wake-up is lost.
type rawReader struct {
	nc net.Conn
	rc syscall.RawConn // nil: not a socket; Read falls back to nc.Read

	// pre runs once, before the next Read waits (set by the caller,
	// cleared by Read).
	pre func() error

	fn func(uintptr) bool // r.step, bound once (no allocation per Read)
	// one Read's state, for step
	run     func() error
	p       []byte
	n       int
	err     error
	preErr  error
	started bool
}

func newRawReader(nc net.Conn) *rawReader {
	r := &rawReader{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
		}
	}
	r.fn = r.step
	return r
}

func (r *rawReader) Read(p []byte) (int, error) {
	pre := r.pre
	if pre == nil {
		return r.nc.Read(p)
	}
	r.pre = nil
	if r.rc == nil || len(p) == 0 {
		if err := pre(); err != nil {
			return 0, err
		}
		return r.nc.Read(p)
	}
	r.run, r.p, r.n, r.err, r.preErr, r.started = pre, p, 0, nil, nil, false
	err := r.rc.Read(r.fn)
	n, rerr, preErr := r.n, r.err, r.preErr
	r.run, r.p, r.err, r.preErr = nil, nil, nil, nil
	switch {
	case preErr != nil:
		return 0, preErr
	case err != nil: // deadline, closed: already a *net.OpError
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.nc.LocalAddr(), Addr: r.nc.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// step is the RawConn callback: the first call runs the step and asks the
// runtime to wait for readiness; later calls read.
func (r *rawReader) step(fd uintptr) bool {
	if !r.started {
		r.started = true
		if r.preErr = r.run(); r.preErr != nil {
			return true
		}
		return false
	}
	for {
		r.n, r.err = syscall.Read(int(fd), r.p)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		r.n, r.err = 0, nil
		return false
	}
	if r.n < 0 {
		r.n = 0
	}
	return true
}
