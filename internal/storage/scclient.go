package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// ForceHTTPEnv, set to 1, makes NewClient ignore WithSocket: every call
// goes over HTTP (benchmarks of the HTTP path, tests, debugging).
const ForceHTTPEnv = "LH_STORAGE_FORCE_HTTP"

// ClientOption configures NewClient.
type ClientOption func(*Client)

// WithSocket makes Get and Put use storaged's short-circuit socket at path
// (ADR-015; shared.Config.StoragedSocket gives it, "" = HTTP only). When
// the socket cannot be dialed (no such file, nobody listening: storaged on
// another host, an older storaged, the s3 backend) the calls fall back to
// HTTP silently. An error storaged answers on the socket is returned as is.
func WithSocket(path string) ClientOption {
	return func(c *Client) {
		if path == "" {
			c.sc = nil
			return
		}
		c.sc = &scPool{path: path, token: c.base.Token, direct: directReadsOn()}
		c.sc.lease.fd = -1
	}
}

// WithDirectReads overrides DirectReadsEnv for this client: on, Gets read
// objects where they live (the socket's direct reads, s3 redirects; ADR-015);
// off, every Get is answered by storaged. Give it after WithSocket.
func WithDirectReads(on bool) ClientOption {
	return func(c *Client) {
		c.redirects = on && loopbackURL(c.base.Base)
		if c.sc != nil {
			c.sc.direct = on
		}
	}
}

// SocketOps is how many Get and Put calls this client served through the
// short-circuit socket (for tests and benchmarks that must know).
func (c *Client) SocketOps() int64 {
	if c.sc == nil {
		return 0
	}
	return c.sc.ops.Load()
}

// DirectReads is how many of the SocketOps were Gets (or Heads) this
// client opened itself through the object directory's descriptor (no round
// trip).
func (c *Client) DirectReads() int64 {
	if c.sc == nil {
		return 0
	}
	return c.sc.directOps.Load()
}

// errNoSocket: the socket could not be dialed; the caller uses HTTP.
var errNoSocket = errors.New("short-circuit socket not reachable")

const (
	scMaxIdle     = 16               // pooled connections kept per client
	scIdleTimeout = 30 * time.Second // a pooled connection older than this is closed
	scRetryDial   = time.Second      // after a failed dial, HTTP only for this long
)

// scPool holds the idle connections to one storaged socket.
type scPool struct {
	path, token string
	ops         atomic.Int64
	direct      bool         // open objects through the lease (DirectReadsEnv)
	directOps   atomic.Int64 // Gets served that way
	lease       scLease

	mu        sync.Mutex
	idle      []*scConn
	downUntil time.Time
}

// scConn is one connection, on a blocking socket used with plain
// syscalls: the calling thread sleeps in recvmsg and the kernel wakes it
// when storaged answers, without the netpoller's park/epoll/wake hops
// (a large share of a short round trip between two processes).
type scConn struct {
	fd     int
	mu     sync.Mutex // guards closed against a ctx cancel shutting fd down
	closed bool
	rbuf   []byte
	wbuf   []byte
	oob    []byte
	authed bool
	broken bool
	last   time.Time
	// spare is the temp file storaged handed with the last commit's
	// answer for the next write (ADR-015 "Spares"), usable until
	// spareUntil; spareEvery is its progress interval.
	spare      *os.File
	spareEvery int64
	spareUntil time.Time
}

// quiet reports whether nothing is readable on c: storaged never writes
// unasked, so anything readable (EOF, a reset) means it closed its end.
func (c *scConn) quiet() bool {
	for {
		pfd := [1]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		n, err := unix.Poll(pfd[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 0
	}
}

// dropSpare closes c's spare, if any (storaged drops it at the next
// create, or when the connection ends).
func (c *scConn) dropSpare() {
	if c.spare != nil {
		c.spare.Close()
		c.spare = nil
	}
}

func (p *scPool) dial(ctx context.Context) (*scConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(ctx, "storaged sc dial", err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: p.path})
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		p.mu.Lock()
		p.downUntil = time.Now().Add(scRetryDial)
		p.mu.Unlock()
		return nil, errNoSocket
	}
	return &scConn{fd: fd, rbuf: make([]byte, 4096), oob: make([]byte, unix.CmsgSpace(4*4))}, nil
}

func (c *scConn) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		unix.Close(c.fd)
	}
	c.mu.Unlock()
	c.dropSpare()
}

// interrupt wakes a call blocked on c (ctx ended); c is broken after it.
func (c *scConn) interrupt() {
	c.mu.Lock()
	if !c.closed {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	c.mu.Unlock()
}

// conn returns a pooled connection (reused = true) or a new one;
// errNoSocket when the socket cannot be dialed.
func (p *scPool) conn(ctx context.Context) (c *scConn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		c = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(c.last) < scIdleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		c.close()
	}
	down := now.Before(p.downUntil)
	p.mu.Unlock()
	if down {
		return nil, false, errNoSocket
	}
	c, err = p.dial(ctx)
	return c, false, err
}

// spareConn takes a pooled connection with a spare temp file that
// storaged still keeps (nil if none): younger than half of storaged's
// idle timeout for it, and still open at storaged's end.
func (p *scPool) spareConn() *scConn {
	now := time.Now()
	p.mu.Lock()
	var c *scConn
	for i := len(p.idle) - 1; i >= 0; i-- {
		if x := p.idle[i]; x.spare != nil && now.Before(x.spareUntil) && now.Sub(x.last) < scIdleTimeout {
			c = x
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if c != nil && !c.quiet() {
		c.close()
		return nil
	}
	return c
}

// release pools c, or closes it when it is broken or the pool is full.
func (p *scPool) release(c *scConn) {
	if c.broken {
		c.close()
		return
	}
	c.last = time.Now()
	p.mu.Lock()
	if len(p.idle) < scMaxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// do sends req on a connection and reads the answer. A pooled connection
// that turns out dead (storaged restarted) is replaced by a fresh one once.
// errNoSocket means nothing was sent. On success the caller owns conn
// (release it, or close it) and the descriptor, if any.
func (p *scPool) do(ctx context.Context, req SCRequest) (*scConn, SCResponse, int, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.conn(ctx)
		if err != nil {
			return nil, SCResponse{}, -1, err
		}
		resp, fd, err := c.roundTrip(ctx, p.token, req, nil)
		if err == nil {
			return c, resp, fd, nil
		}
		c.close()
		if reused && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, SCResponse{}, -1, err
	}
}

// roundTrip writes req and reads one answer with the descriptor passed
// along with it, if any. whileWaiting, if set, runs between the two.
func (c *scConn) roundTrip(ctx context.Context, token string, req SCRequest, whileWaiting func()) (SCResponse, int, error) {
	op := "storaged sc." + req.Op
	req.V = SCVersion
	req.ReqID = shared.RequestID(ctx)
	if !c.authed && token != "" {
		req.Auth = "Bearer " + token
	}
	var err error
	if c.wbuf, err = AppendSCFrame(c.wbuf[:0], req); err != nil {
		return SCResponse{}, -1, errs.E(op, errs.Invalid, err)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.interrupt)
		defer func() {
			if !stop() {
				c.broken = true
			}
		}()
	}
	if err := c.writeAll(c.wbuf); err != nil {
		return SCResponse{}, -1, transportErr(ctx, op, err)
	}
	if whileWaiting != nil {
		whileWaiting()
	}
	var fds []int
	closeFDs := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	have, want := 0, -1
	for want < 0 || have < want {
		if have == len(c.rbuf) {
			nb := make([]byte, max(2*len(c.rbuf), want))
			copy(nb, c.rbuf[:have])
			c.rbuf = nb
		}
		n, oobn, flags, _, err := unix.Recvmsg(c.fd, c.rbuf[have:], c.oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if oobn > 0 {
			if cms, perr := unix.ParseSocketControlMessage(c.oob[:oobn]); perr == nil {
				for i := range cms {
					if got, perr := unix.ParseUnixRights(&cms[i]); perr == nil {
						fds = append(fds, got...)
					}
				}
			}
		}
		if err == nil && flags&unix.MSG_CTRUNC != 0 {
			err = errors.New("descriptor message truncated")
		}
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			c.broken = true
			closeFDs()
			return SCResponse{}, -1, transportErr(ctx, op, err)
		}
		have += n
		if want < 0 && have >= 4 {
			l, lerr := SCFrameLen(c.rbuf[:4])
			if lerr != nil {
				c.broken = true
				closeFDs()
				return SCResponse{}, -1, errs.E(op, errs.Unavailable, errs.StatusBadGateway, "bad answer from storaged", lerr)
			}
			want = 4 + l
		}
	}
	if have != want {
		c.broken = true
		closeFDs()
		return SCResponse{}, -1, errs.E(op, errs.Unavailable, errs.StatusBadGateway, "storaged sent more than one answer")
	}
	resp, err := DecodeSCResponse(c.rbuf[4:want])
	if err != nil || len(fds) > 1 {
		c.broken = true
		closeFDs()
		return SCResponse{}, -1, errs.E(op, errs.Unavailable, errs.StatusBadGateway, "undecodable answer from storaged", err)
	}
	if resp.Error == nil {
		c.authed = true
	} else if resp.Error.Kind == errs.Unauthorized || resp.Error.Kind == errs.Forbidden {
		c.broken = true // storaged closes it
	}
	if len(fds) == 1 {
		return resp, fds[0], nil
	}
	return resp, -1, nil
}

// writeAll writes b to the connection; an error breaks it.
func (c *scConn) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			c.broken = true
			return err
		}
		b = b[n:]
	}
	return nil
}

// wrote reports n bytes written into the temp file of the write in
// progress (a frame without an answer).
func (c *scConn) wrote(ctx context.Context, n int64) error {
	var err error
	if c.wbuf, err = AppendSCFrame(c.wbuf[:0], SCRequest{V: SCVersion, Op: SCWrote, Size: n}); err != nil {
		return errs.E("storaged sc.wrote", errs.Invalid, err)
	}
	if err := c.writeAll(c.wbuf); err != nil {
		return transportErr(ctx, "storaged sc.wrote", err)
	}
	return nil
}

// take tells storaged the next write goes into the spare (a frame
// without an answer).
func (c *scConn) take(ctx context.Context) error {
	var err error
	if c.wbuf, err = AppendSCFrame(c.wbuf[:0], SCRequest{V: SCVersion, Op: SCTake}); err != nil {
		return errs.E("storaged sc.take", errs.Invalid, err)
	}
	if err := c.writeAll(c.wbuf); err != nil {
		return transportErr(ctx, "storaged sc.take", err)
	}
	return nil
}

func transportErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctxErr(ctx, op, err)
	}
	return errs.E(op, errs.Unavailable, "storaged short-circuit connection failed", err)
}

func ctxErr(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.E(op, errs.Timeout, "storaged did not answer in time", err)
	}
	return errs.E(op, errs.Unavailable, "request canceled", err)
}

// get opens key through the socket. handled is false when the socket
// could not be dialed (use HTTP).
func (p *scPool) get(ctx context.Context, key string, opts GetOptions) (rc io.ReadCloser, info ObjectInfo, err error, handled bool) {
	if p.direct {
		if f, info, err, ok := p.openDirect(ctx, key); ok {
			p.ops.Add(1)
			p.directOps.Add(1)
			if err != nil {
				return nil, ObjectInfo{}, err, true
			}
			rc, info, err := section(f, info, opts)
			return rc, info, err, true
		}
	}
	c, resp, fd, err := p.do(ctx, SCRequest{Op: SCOpen, Key: key})
	if errors.Is(err, errNoSocket) {
		return nil, ObjectInfo{}, nil, false
	}
	if err != nil {
		return nil, ObjectInfo{}, err, true
	}
	p.release(c)
	p.ops.Add(1)
	const op = "storaged sc.open"
	f := rawFile(fd)
	if resp.Error != nil {
		f.Close()
		return nil, ObjectInfo{}, resp.Error.Err(op), true
	}
	if fd < 0 || resp.Info == nil {
		f.Close()
		return nil, ObjectInfo{}, errs.E(op, errs.Unavailable, errs.StatusBadGateway, "storaged answered open without a descriptor"), true
	}
	rc, info, err = section(f, *resp.Info, opts)
	return rc, info, err, true
}

// section is the reader of opts' range of the object open as f (which it
// closes on an error).
func section(f rawFile, info ObjectInfo, opts GetOptions) (io.ReadCloser, ObjectInfo, error) {
	off, n := int64(0), info.Size
	if opts.Offset > 0 || opts.Length > 0 { // a range; from the end on, an empty one (Store.Get)
		if opts.Offset > info.Size {
			f.Close()
			return nil, ObjectInfo{}, errs.E("storaged sc.open", errs.Invalid, 416, fmt.Sprintf("range not satisfiable: the object has %d bytes", info.Size))
		}
		off, n = opts.Offset, info.Size-opts.Offset
		if opts.Length > 0 {
			n = min(n, opts.Length)
		}
	}
	return &fileSection{SectionReader: io.NewSectionReader(f, off, n), f: f}, info, nil
}

// fileSection reads a byte range of a handed-over object file.
type fileSection struct {
	*io.SectionReader
	f rawFile
}

func (r *fileSection) Close() error { return r.f.Close() }

// rawFile is a handed-over read-only descriptor, read with pread(2)
// (no *os.File: its fcntl probe and finalizer cost more than a small read).
type rawFile int

func (f rawFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(int(f), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f rawFile) Close() error {
	if f < 0 {
		return nil
	}
	return unix.Close(int(f))
}

// put writes r through a handed-over temp file. handled is false when the
// socket could not be dialed (nothing was read from r: use HTTP).
func (p *scPool) put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (info ObjectInfo, err error, handled bool) {
	// A spare saves the create round trip. Keys the local backend would
	// refuse go through create, which answers why before r is read; so
	// does a create-only write of a key that exists (412, found through
	// the lease, or by create when the lease cannot tell), whose body
	// would otherwise be written whole before the commit refused it.
	spare := ValidateLocalKey(key) == nil
	if spare && opts.CreateOnly {
		spare = false
		if p.direct {
			f, _, err, ok := p.openDirect(ctx, key)
			switch {
			case ok && err == nil:
				f.Close()
				p.ops.Add(1)
				p.directOps.Add(1)
				return ObjectInfo{}, errs.E("storaged sc.create", errs.Conflict, errs.StatusPrecondition,
					fmt.Sprintf("object %q already exists (create-only write)", key)), true
			case ok && errs.Is(err, errs.NotFound):
				spare = true
			}
		}
	}
	if spare {
		if c := p.spareConn(); c != nil {
			if err := c.take(ctx); err != nil {
				c.close() // nothing was read from r: create on another
			} else {
				f, every := c.spare, c.spareEvery
				c.spare = nil
				p.ops.Add(1)
				info, err := p.fill(ctx, c, f, every, r, size, &SCRequest{Op: SCCommit, Key: key, CreateOnly: opts.CreateOnly, ContentType: opts.ContentType})
				return info, err, true
			}
		}
	}
	c, resp, fd, err := p.do(ctx, SCRequest{Op: SCCreate, Key: key, CreateOnly: opts.CreateOnly, ContentType: opts.ContentType})
	if errors.Is(err, errNoSocket) {
		return ObjectInfo{}, nil, false
	}
	if err != nil {
		return ObjectInfo{}, err, true
	}
	p.ops.Add(1)
	const op = "storaged sc.create"
	if resp.Error != nil {
		rawFile(fd).Close()
		p.release(c)
		return ObjectInfo{}, resp.Error.Err(op), true
	}
	if fd < 0 {
		c.close()
		return ObjectInfo{}, errs.E(op, errs.Unavailable, errs.StatusBadGateway, "storaged answered create without a descriptor"), true
	}
	f := os.NewFile(uintptr(fd), "storaged temp file")
	info, err = p.fill(ctx, c, f, resp.Progress, r, size, &SCRequest{Op: SCCommit})
	return info, err, true
}

// fill writes r into f, the temp file of the write in progress on c
// (reporting progress every `every` bytes when > 0), and commits it with
// commit (size and etag filled in). c goes back to the pool, with the
// spare the answer brings, or is closed.
func (p *scPool) fill(ctx context.Context, c *scConn, f *os.File, every int64, r io.Reader, size int64, commit *SCRequest) (ObjectInfo, error) {
	const op = "storaged sc.create"
	var wrote func(int64) error
	if every > 0 { // storaged hashes as we go
		var reported int64
		wrote = func(n int64) error {
			if n-reported < every {
				return nil
			}
			reported = n
			return c.wrote(ctx, n)
		}
	}
	n, err := writeBody(ctx, f, r, size, wrote)
	if err != nil {
		f.Close()
		c.close() // storaged removes the temp file; nothing is visible
		return ObjectInfo{}, err
	}
	commit.Size = n // no etag: storaged hashes the file itself (ADR-015)
	// A read-only descriptor of our own to the same file: storaged refuses a
	// commit while the file is open for writing, not for reading. While the
	// commit travels and storaged's thread wakes for it, this thread starts
	// the file's fdatasync, so storaged's fsync (which alone stands behind
	// the answer) finds the journal commit under way instead of starting it
	// a wake-up later (ADR-015, "Sync while the commit travels").
	ro, roErr := unix.Open("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err := f.Close(); err != nil {
		if roErr == nil {
			unix.Close(ro)
		}
		c.close()
		return ObjectInfo{}, errs.E(op, errs.Unavailable, "closing the temp file failed", err)
	}
	var syncEarly func()
	if roErr == nil {
		syncEarly = func() { _ = unix.Fdatasync(ro) }
		defer unix.Close(ro)
	}
	resp, extra, err := c.roundTrip(ctx, p.token, *commit, syncEarly)
	if err != nil {
		c.close()
		return ObjectInfo{}, err
	}
	if extra >= 0 && resp.Error == nil && resp.SpareFor > 0 {
		c.spare = os.NewFile(uintptr(extra), "storaged spare temp file")
		c.spareEvery = resp.Progress
		c.spareUntil = time.Now().Add(time.Duration(resp.SpareFor) * time.Millisecond / 2)
	} else {
		rawFile(extra).Close()
	}
	p.release(c)
	if resp.Error != nil {
		return ObjectInfo{}, resp.Error.Err("storaged sc.commit")
	}
	if resp.Info == nil {
		return ObjectInfo{}, errs.E("storaged sc.commit", errs.Unavailable, errs.StatusBadGateway, "storaged answered commit without info")
	}
	return *resp.Info, nil
}

var scBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writeBody copies r into f with the local backend's writeback; size >= 0
// is checked; wrote (if set) is told the bytes written so far. It does not
// hash: storaged hashes what the file holds, as it does an HTTP PUT's body
// (a second hash here cost a 256 MiB PUT 0.85-0.91x -> 0.94-1.08x of the
// direct copy on two cores, ADR-015).
func writeBody(ctx context.Context, f *os.File, r io.Reader, size int64, wrote func(int64) error) (int64, error) {
	bp := scBufs.Get().(*[]byte)
	defer scBufs.Put(bp)
	return CopyToFile(ctx, "storage.put", f, nil, r, size, *bp, wrote)
}
