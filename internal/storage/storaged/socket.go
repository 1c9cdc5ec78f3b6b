package storaged

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// scServer serves the short-circuit protocol (storage/shortcircuit.go,
// ADR-015) on [storaged].socket for the local backend: it hands clients on
// this host open file descriptors instead of streaming bytes over HTTP.
// Every connection is checked with SO_PEERCRED (storaged's own uid only)
// and, when tokens are configured, by the bearer token on its first
// request, through the harness's own check (RequestHooks.CheckAuth).
type scServer struct {
	store *local.Store
	ln    *net.UnixListener
	path  string
	log   *slog.Logger
	hooks *shared.RequestHooks // set by start
	uid   int
	idle  time.Duration // a connection waiting for its next request is closed after this

	metrics *metrics // set by New before start (nil in tests that build one alone)

	mu      sync.Mutex
	conns   map[*scConn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// scConn is one accepted connection, moved off the runtime's poller: a
// duplicate of its descriptor in blocking mode, read and written with plain
// syscalls by its own goroutine, so a request wakes that goroutine's thread
// directly (no epoll wake-up, no hop through the scheduler) — the same as
// the client side, and most of a short round trip's cost (ADR-015). Idle
// and write timeouts are SO_RCVTIMEO/SO_SNDTIMEO; shutdown(2) wakes a
// blocked read; the descriptor is closed only by its own goroutine.
type scConn struct {
	fd   int
	idle bool // waiting for a request with no write in progress (under scServer.mu)
	down bool // shut down (under scServer.mu)
}

// Read implements io.Reader on the blocking descriptor.
func (c *scConn) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, os.ErrDeadlineExceeded // SO_RCVTIMEO: idle too long
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// setRecvTimeout sets SO_RCVTIMEO (0 = none).
func (c *scConn) setRecvTimeout(d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	_ = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// shutdown wakes the connection's goroutine (under scServer.mu).
func (c *scConn) shutdown() {
	if !c.down {
		c.down = true
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// blockingFD takes c's descriptor off the poller: a blocking duplicate
// (close-on-exec) with a write timeout; c itself is closed.
func blockingFD(c *net.UnixConn) (int, error) {
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if cerr := raw.Control(func(f uintptr) { fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.NsecToTimeval(scSendStall.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return fd, nil
}

// scSendStall bounds how long an answer's write may wait with no byte
// taken by the client (SO_SNDTIMEO: a send(2) that moves nothing for it
// fails with EAGAIN, one that moves some returns and the next waits
// afresh): storaged's send stall, as for its streamed GETs
// (storage.SendStall, 60 s). A client that sends requests and never reads
// their answers is cut (its connection closed) once the socket buffers
// are full and nothing was taken for this long; one that keeps reading,
// however slowly, gets every answer. It was a fixed 10 s, and the cut's
// access line read as a success. A variable for tests (export_test.go).
var scSendStall = storage.SendStall

// maxSunPath is the longest socket path bind(2) takes (sun_path minus NUL).
const maxSunPath = len(unix.RawSockaddrUnix{}.Path) - 1

// listenSC listens on path, removing a stale socket a killed storaged left.
// Any problem is logged and storaged runs without the socket (clients use
// HTTP): nil, nil.
func listenSC(path string, store *local.Store, log *slog.Logger, idle time.Duration) *scServer {
	warn := func(msg string, args ...any) *scServer {
		log.Warn(msg+"; running without the short-circuit socket (clients use HTTP)", append([]any{"op", "start", "socket", path}, args...)...)
		return nil
	}
	if len(path) > maxSunPath {
		return warn("[storaged].socket path is longer than the "+strconv.Itoa(maxSunPath)+"-byte limit of a Unix socket path", "len", len(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return warn("[storaged].socket exists and is not a socket")
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return warn("another process answers on [storaged].socket")
		}
		if err := os.Remove(path); err != nil {
			return warn("cannot remove a stale socket", "err", err.Error())
		}
		log.Info("removed a stale short-circuit socket", "op", "start", "socket", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return warn("cannot listen on [storaged].socket", "err", err.Error())
	}
	// SO_PEERCRED is the guard; the mode keeps other users from connecting at all.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return warn("cannot chmod [storaged].socket", "err", err.Error())
	}
	log.Info("short-circuit socket", "op", "start", "socket", path)
	return &scServer{store: store, ln: ln, path: path, log: log, uid: os.Getuid(), idle: idle, conns: map[*scConn]struct{}{}}
}

// start accepts connections until shutdown.
func (s *scServer) start(hooks *shared.RequestHooks) {
	s.hooks = hooks
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.AcceptUnix()
			if err != nil {
				s.mu.Lock()
				closing := s.closing
				s.mu.Unlock()
				if closing || errors.Is(err, net.ErrClosed) {
					return
				}
				s.log.Warn("short-circuit accept failed", "op", "sc.accept", "err", err.Error())
				time.Sleep(50 * time.Millisecond)
				continue
			}
			fd, err := blockingFD(c)
			if err != nil {
				s.log.Warn("short-circuit accept failed", "op", "sc.accept", "err", err.Error())
				continue
			}
			sc := &scConn{fd: fd}
			s.mu.Lock()
			if s.closing {
				s.mu.Unlock()
				unix.Close(fd)
				return
			}
			s.conns[sc] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go s.serveConn(sc)
		}
	}()
}

// shutdown stops accepting (the socket file is removed), closes idle
// connections and waits for writes in progress to commit, until ctx ends;
// then it closes the rest (their temp files are removed).
func (s *scServer) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		if c.idle {
			c.shutdown()
		}
	}
	s.mu.Unlock()
	s.ln.Close() // unlinks the socket file
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.close()
		<-done
		return ctx.Err()
	}
}

// close closes the listener and every connection.
func (s *scServer) close() {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	s.ln.Close()
}

// setIdle marks c idle or busy; it reports false when c should end
// (shutting down and idle).
func (s *scServer) setIdle(c *scConn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !(idle && s.closing)
}

func (s *scServer) serveConn(c *scConn) {
	var w scWrites
	defer func() {
		if w.pending != nil {
			w.pending.Abort() // closed before commit: nothing becomes visible
		}
		if w.spare != nil {
			w.spare.Abort()
		}
		w.dropNext()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		unix.Close(c.fd)
		s.wg.Done()
	}()
	peer := "unix"
	var cred *unix.Ucred
	cred, _ = unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if cred != nil {
		peer = "unix/pid" + strconv.Itoa(int(cred.Pid))
	}
	if cred == nil || int(cred.Uid) != s.uid {
		uid := -1
		if cred != nil {
			uid = int(cred.Uid)
		}
		s.log.Warn("short-circuit connection refused: peer uid is not storaged's", "op", "sc.accept", "peer", peer, "peer_uid", uid, "uid", s.uid)
		s.answer(c.fd, storage.SCResponse{Error: storage.SCErrorOf(errs.E("storage.sc", errs.Forbidden, "the short-circuit socket serves only storaged's own user"), "")}, nil)
		return
	}
	br := bufio.NewReaderSize(c, 4096)
	var buf []byte
	authed := false
	idleTO := false
	for {
		if !s.setIdle(c, w.pending == nil) {
			return
		}
		// The idle timeout applies between requests, not while the client
		// writes a file between create and commit; the option is changed
		// only when that changes (two syscalls per PUT, none per GET).
		if want := w.pending == nil && s.idle > 0; want != idleTO {
			idleTO = want
			if want {
				c.setRecvTimeout(s.idle)
			} else {
				c.setRecvTimeout(0)
			}
		}
		p, err := storage.ReadSCFrame(br, buf)
		if err != nil {
			if errs.Is(err, errs.TooLarge) {
				s.answer(c.fd, storage.SCResponse{Error: storage.SCErrorOf(err, "")}, nil)
			}
			return // EOF, idle timeout, shutdown, or a broken frame
		}
		buf = p[:0]
		s.setIdle(c, false)
		start := time.Now()
		req, err := storage.DecodeSCRequest(p)
		if err == nil && (req.Op == storage.SCWrote || req.Op == storage.SCTake) {
			// Progress of the write in progress, or the start of one in
			// the spare (so never on a connection that has not
			// authenticated): no answer, no access line.
			switch {
			case req.Op == storage.SCTake && (w.spare == nil || w.pending != nil):
				err = errs.E("storage.sc", errs.Invalid, "take without a spare, or during a write")
			case req.Op == storage.SCTake:
				w.pending, w.spare = w.spare, nil
				w.pending.Claim()
				s.prepare(&w) // while the client writes
			case w.pending == nil:
				err = errs.E("storage.sc", errs.Invalid, "wrote without create")
			default:
				err = w.pending.Progress(req.Size)
			}
			if err != nil {
				s.log.Warn("short-circuit connection closed: bad "+req.Op+" message", "op", "sc."+req.Op, "peer", peer, "err", err.Error())
				return
			}
			continue
		}
		s.hooks.Begin()
		ri := &shared.RequestInfo{ReqID: s.hooks.RequestID(req.ReqID), Method: "sc." + req.Op, Route: "sc." + req.Op, Peer: peer, Start: start}
		if req.Op == "" || len(req.Op) > 16 {
			ri.Method, ri.Route = "sc.invalid", "sc.invalid"
		}
		if req.Key != "" {
			ri.Path = storage.ObjectURLPath(req.Key)
		} else if w.pending != nil { // commit: the key of the write it ends
			ri.Path = storage.ObjectURLPath(w.pending.Key())
		} else if req.Op == storage.SCRoot { // the whole object directory
			ri.Path = storage.ObjectURLPath("")
		}
		var resp storage.SCResponse
		var fd *os.File
		if err == nil && !authed {
			if err = s.hooks.CheckAuth(req.Auth); err == nil {
				authed = true
			}
		}
		ri.Authed = authed
		if err == nil {
			resp, fd, err = s.do(req, &w)
		} else if req.Op == storage.SCCommit && w.pending != nil {
			w.pending.Abort() // a refused commit ends the write, as do's errors do
			w.pending = nil
		}
		ri.Status = http.StatusOK
		if err != nil {
			resp = storage.SCResponse{Error: storage.SCErrorOf(err, ri.ReqID)}
			ri.Status = resp.Error.Status
			lvl := slog.LevelWarn
			if ri.Status >= 500 {
				lvl = slog.LevelError
			}
			s.log.Log(context.Background(), lvl, "short-circuit request failed", "req_id", ri.ReqID, "op", ri.Method,
				"key", req.Key, "status", ri.Status, "dur_ms", time.Since(start).Milliseconds(), "err", err.Error())
		}
		sent, total, werr := s.answerN(c.fd, resp, fd)
		if fd != nil {
			fd.Close() // the client has its own copy now
		}
		if errors.Is(werr, unix.EAGAIN) {
			// SO_SNDTIMEO: the client took no byte for scSendStall. The
			// access line keeps the status decided and says so.
			ri.Cut = shared.CutMessage(scSendStall, int64(sent), int64(total))
			ri.Bytes = int64(sent)
			s.log.Warn("client took no byte of the answer; connection closed", "op", ri.Method, "peer", peer, "req_id", ri.ReqID, "stall", scSendStall.String())
		}
		if err == nil && req.Op == storage.SCCreate {
			s.prepare(&w) // while the client writes
		}
		s.hooks.End(ri)
		if werr != nil || !authed || errs.Is(err, errs.TooLarge) {
			return
		}
	}
}

// scWrites are a connection's write in progress, its spare temp file, and
// the next spare, made ahead while the client writes so that the commit
// answer only passes its fd.
type scWrites struct {
	pending  *local.Write // between create (or take) and commit
	spare    *local.Write // handed with the last commit's answer, not taken yet
	next     *local.Write // made ahead for the next commit's answer
	nextFile *os.File     // next's writer fd, to hand over
}

// prepare makes w's next spare if there is none (a failure only means the
// commit answer will try again).
func (s *scServer) prepare(w *scWrites) {
	if w.next == nil {
		if sw, f, err := s.store.BeginSpare(); err == nil {
			w.next, w.nextFile = sw, f
		}
	}
}

// takeNext hands over w's next spare (made now if it was not ready), or
// nils when none can be made.
func (s *scServer) takeNext(w *scWrites) (*local.Write, *os.File) {
	s.prepare(w)
	sw, f := w.next, w.nextFile
	w.next, w.nextFile = nil, nil
	return sw, f
}

func (w *scWrites) dropNext() {
	if w.next != nil {
		w.nextFile.Close()
		w.next.Abort()
		w.next, w.nextFile = nil, nil
	}
}

// do runs one request: the answer (without its error) and the descriptor
// to pass with it. w holds the connection's writes.
func (s *scServer) do(req storage.SCRequest, w *scWrites) (storage.SCResponse, *os.File, error) {
	switch req.Op {
	case storage.SCOpen:
		f, info, err := s.store.OpenFile(req.Key)
		if err != nil {
			return storage.SCResponse{}, nil, err
		}
		if req.ETag != "" && req.ETag != info.ETag {
			f.Close()
			return storage.SCResponse{}, nil, errs.Errorf("storage.sc", errs.Conflict, "object %q has etag %s, not the %s asked for", req.Key, info.ETag, req.ETag)
		}
		s.count("get", info.Size)
		return storage.SCResponse{Info: &info}, f, nil
	case storage.SCCreate:
		if w.pending != nil {
			return storage.SCResponse{}, nil, errs.E("storage.sc", errs.Invalid, "create: a write is already in progress on this connection")
		}
		if w.spare != nil { // the client did not take it
			w.spare.Abort()
			w.spare = nil
		}
		pw, f, err := s.store.BeginWrite(req.Key, req.CreateOnly)
		if err != nil {
			return storage.SCResponse{}, nil, err
		}
		if err := pw.SetContentType(req.ContentType); err != nil { // validated with the request already
			pw.Abort()
			f.Close()
			return storage.SCResponse{}, nil, err
		}
		w.pending = pw
		return storage.SCResponse{Progress: local.ProgressEvery}, f, nil // hash while the client writes
	case storage.SCCommit:
		pw := w.pending
		if pw == nil {
			return storage.SCResponse{}, nil, errs.E("storage.sc", errs.Invalid, "commit without create or take")
		}
		w.pending = nil
		if req.Key != "" || req.CreateOnly {
			if err := pw.Name(req.Key, req.CreateOnly); err != nil {
				pw.Abort()
				return storage.SCResponse{}, nil, err
			}
			if err := pw.SetContentType(req.ContentType); err != nil {
				pw.Abort()
				return storage.SCResponse{}, nil, err
			}
		}
		info, err := pw.Commit(context.Background(), req.Size, req.ETag)
		if err != nil {
			return storage.SCResponse{}, nil, err
		}
		s.count("put", info.Size)
		resp := storage.SCResponse{Info: &info}
		if w.spare != nil {
			return resp, nil, nil
		}
		// The next write on this connection needs no create: its temp
		// file goes with this answer. A failure here only means it will.
		sw, f := s.takeNext(w)
		if sw == nil {
			return resp, nil, nil
		}
		w.spare = sw
		resp.Progress, resp.SpareFor = local.ProgressEvery, s.spareFor()
		return resp, f, nil
	case storage.SCRoot:
		f, root, err := s.store.Root()
		if err != nil {
			return storage.SCResponse{}, nil, err
		}
		return storage.SCResponse{Root: root}, f, nil
	}
	return storage.SCResponse{}, nil, errs.Errorf("storage.sc", errs.Invalid, "unknown op %q", req.Op)
}

// count records an object handed out (get) or committed (put) through
// the socket.
func (s *scServer) count(op string, size int64) {
	if s.metrics != nil {
		s.metrics.objects.WithLabelValues(op, "local", "socket").Inc()
		s.metrics.bytes.WithLabelValues(op, "local", "socket").Add(float64(size))
	}
}

// spareFor is how long (ms) a spare outlives its connection's idleness:
// the idle timeout, or a day without one.
func (s *scServer) spareFor() int64 {
	if s.idle > 0 {
		return max(s.idle.Milliseconds(), 1)
	}
	return (24 * time.Hour).Milliseconds()
}

// answer writes resp on the blocking descriptor cfd, with fd attached
// (SCM_RIGHTS, on the first bytes) when non-nil.
func (s *scServer) answer(cfd int, resp storage.SCResponse, fd *os.File) error {
	_, _, err := s.answerN(cfd, resp, fd)
	return err
}

// answerN is answer, with the bytes of the frame written and its size.
// An answer the client took nothing of for scSendStall fails with EAGAIN.
func (s *scServer) answerN(cfd int, resp storage.SCResponse, fd *os.File) (sent, total int, err error) {
	resp.V = storage.SCVersion
	b, err := storage.AppendSCFrame(nil, resp)
	if err != nil {
		return 0, 0, err
	}
	total = len(b)
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	for len(b) > 0 {
		n, err := unix.SendmsgN(cfd, b, oob, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return sent, total, err
		}
		sent += n
		b, oob = b[n:], nil
	}
	return sent, total, nil
}

// serving is the harness's HTTP server plus the socket server, with one
// lifecycle (shared.Serving).
type serving struct {
	srv *http.Server
	ln  net.Listener
	sc  *scServer
}

func (v *serving) Serve() error { return v.srv.Serve(v.ln) }

func (v *serving) Shutdown(ctx context.Context) error {
	return errors.Join(v.sc.shutdown(ctx), v.srv.Shutdown(ctx))
}

func (v *serving) Close() error {
	v.sc.close()
	return v.srv.Close()
}

var _ shared.Serving = (*serving)(nil)
