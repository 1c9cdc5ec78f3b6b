package storaged_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/syncbuf"
)

// startSocket starts storaged (local backend) in-process with a short
// socket path and returns the socket client, an HTTP-only client, the
// config and the server.
func startSocket(t *testing.T, tweak ...func(*shared.Config)) (sc, httpc *storage.Client, cfg *shared.Config, srv *shared.Server) {
	t.Helper()
	cfg = storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	for _, f := range tweak {
		f(cfg)
	}
	sc, srv = storagetest.Start(t, cfg)
	httpc = storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	return sc, httpc, cfg, srv
}

func etagOf(b []byte) string {
	s := xxh3.Hash128(b).Bytes()
	return hex.EncodeToString(s[:])
}

// rawConn speaks the short-circuit protocol by hand, to do what the Client
// never does (lie, stop halfway, keep a descriptor open).
type rawConn struct{ c *net.UnixConn }

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c.(*net.UnixConn)}
}

func (r *rawConn) call(t *testing.T, req storage.SCRequest) (storage.SCResponse, *os.File) {
	t.Helper()
	r.send(t, req)
	buf := make([]byte, storage.SCMaxMessage+4)
	oob := make([]byte, unix.CmsgSpace(4))
	have := 0
	var f *os.File
	for have < 4 || have < 4+int(uint32(buf[0])<<24|uint32(buf[1])<<16|uint32(buf[2])<<8|uint32(buf[3])) {
		n, oobn, _, _, err := r.c.ReadMsgUnix(buf[have:], oob)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		if oobn > 0 {
			cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for i := range cms {
				fds, _ := unix.ParseUnixRights(&cms[i])
				for _, fd := range fds {
					f = os.NewFile(uintptr(fd), "handed")
				}
			}
		}
		have += n
	}
	resp, err := storage.DecodeSCResponse(buf[4:have])
	if err != nil {
		t.Fatal(err)
	}
	return resp, f
}

// tmpFiles counts the temp files of writes in progress.
func tmpFiles(t *testing.T, cfg *shared.Config) int { return len(writesInTmp(t, cfg.DataDir)) }

// writesInTmp names the temp files of writes in progress under dataDir's
// local backend (put-*; the spare-* files storaged makes ahead are not
// writes).
func writesInTmp(t *testing.T, dataDir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, "objects", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "spare-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func waitNoTmp(t *testing.T, cfg *shared.Config) {
	t.Helper()
	for i := 0; i < 200 && tmpFiles(t, cfg) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := tmpFiles(t, cfg); n > 0 {
		t.Fatalf("%d temp files left behind", n)
	}
}

// TestSocketGetSnapshot: a descriptor handed out by GET keeps reading the
// version it opened after the key is overwritten or deleted.
func TestSocketGetSnapshot(t *testing.T) {
	sc, httpc, _, _ := startSocket(t)
	ctx := context.Background()
	v1, v2, v3 := storagetest.RandomBytes(300<<10), storagetest.RandomBytes(200<<10), []byte("three")
	storagetest.MustPut(t, sc, "snap", v1)
	rc1, info1, err := sc.Get(ctx, "snap", storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc1.Close()
	storagetest.MustPut(t, httpc, "snap", v2) // overwrite over HTTP
	storagetest.MustPut(t, sc, "snap", v2)    // and through the socket
	rc2, _, err := sc.Get(ctx, "snap", storage.GetOptions{Offset: 100, Length: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if err := sc.Delete(ctx, "snap"); err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, sc, "snap", v3)
	got1, _ := io.ReadAll(rc1)
	got2, _ := io.ReadAll(rc2)
	if !bytes.Equal(got1, v1) || info1.Size != int64(len(v1)) || info1.ETag != etagOf(v1) {
		t.Fatalf("first descriptor read %d bytes, want the %d of version 1 (%+v)", len(got1), len(v1), info1)
	}
	if !bytes.Equal(got2, v2[100:1100]) {
		t.Fatalf("ranged descriptor read %d bytes, not version 2's range", len(got2))
	}
	if got := storagetest.MustGet(t, sc, "snap", storage.Whole); string(got) != "three" {
		t.Fatalf("now %q", got)
	}
	if sc.SocketOps() < 5 {
		t.Fatalf("only %d ops through the socket", sc.SocketOps())
	}
}

// TestSocketWriteInterrupted: a connection closed between create and
// commit (a killed client) leaves nothing visible and no temp file; so
// does a PUT whose body breaks midway.
func TestSocketWriteInterrupted(t *testing.T) {
	sc, _, cfg, _ := startSocket(t)
	ctx := context.Background()
	r := dialRaw(t, cfg.Storaged.Socket)
	resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "half"})
	if resp.Error != nil || f == nil {
		t.Fatalf("create: %+v, fd %v", resp.Error, f)
	}
	f.Write(bytes.Repeat([]byte("x"), 1<<20))
	f.Close()
	if tmpFiles(t, cfg) != 1 {
		t.Fatalf("%d temp files during the write, want 1", tmpFiles(t, cfg))
	}
	r.c.Close() // the client dies before commit
	waitNoTmp(t, cfg)
	if _, err := sc.Head(ctx, "half"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after an interrupted write: %v", err)
	}

	// The typed client: a body that fails after 1 MiB.
	body := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), errReader{})
	if _, err := sc.Put(ctx, "broken", body, -1, storage.PutOptions{}); err == nil {
		t.Fatal("a broken body was stored")
	}
	waitNoTmp(t, cfg)
	if _, err := sc.Head(ctx, "broken"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after a broken body: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("the source broke") }

// TestSocketCommitChecks: storaged re-hashes the file and refuses a lying
// etag or size, and a commit while the client still holds a writable
// descriptor; nothing becomes visible, the temp file is removed.
func TestSocketCommitChecks(t *testing.T) {
	sc, _, cfg, _ := startSocket(t)
	ctx := context.Background()
	body := []byte("the real content")
	for _, tc := range []struct {
		name     string
		size     int64
		etag     string
		keepOpen bool
		want     string
	}{
		{"lying etag", int64(len(body)), etagOf([]byte("something else")), false, "xxh3-128"},
		{"lying size", int64(len(body)) - 1, etagOf(body), false, "bytes"},
		{"malformed etag", int64(len(body)), "not-hex", false, "etag"},
		{"writer still open", int64(len(body)), etagOf(body), true, "still open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, cfg.Storaged.Socket)
			key := "lie/" + strings.ReplaceAll(tc.name, " ", "-")
			resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: key})
			if resp.Error != nil || f == nil {
				t.Fatalf("create: %+v", resp.Error)
			}
			f.Write(body)
			if !tc.keepOpen {
				f.Close()
			} else {
				defer f.Close()
			}
			resp, _ = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: tc.size, ETag: tc.etag})
			if resp.Error == nil || resp.Error.Kind != errs.Invalid || !strings.Contains(resp.Error.Message, tc.want) {
				t.Fatalf("commit answered %+v, want invalid mentioning %q", resp.Error, tc.want)
			}
			if _, err := sc.Head(ctx, key); !errs.Is(err, errs.NotFound) {
				t.Fatalf("refused commit is visible: %v", err)
			}
			waitNoTmp(t, cfg) // (the last subtest's spare goes with its connection)
			// The connection still works.
			resp, f = r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: key})
			if resp.Error != nil {
				t.Fatal(resp.Error)
			}
			f.Write(body)
			f.Close()
			resp, _ = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(body)), ETag: etagOf(body)})
			if resp.Error != nil || resp.Info == nil || resp.Info.ETag != etagOf(body) {
				t.Fatalf("honest commit: %+v %+v", resp.Error, resp.Info)
			}
		})
	}
	// Protocol misuse.
	r := dialRaw(t, cfg.Storaged.Socket)
	if resp, _ := r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: 1, ETag: etagOf(body)}); resp.Error == nil || resp.Error.Kind != errs.Invalid {
		t.Fatalf("commit without create: %+v", resp.Error)
	}
	for _, k := range []string{"a/../b", "a//b", "/abs", "x/./y"} {
		if resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: k}); resp.Error == nil || resp.Error.Kind != errs.Invalid || f != nil {
			t.Fatalf("create %q: %+v", k, resp.Error)
		}
		if resp, f := r.call(t, storage.SCRequest{Op: storage.SCOpen, Key: k}); resp.Error == nil || resp.Error.Kind != errs.Invalid || f != nil {
			t.Fatalf("open %q: %+v", k, resp.Error)
		}
	}
	storagetest.MustPut(t, sc, "tagged", body)
	if resp, _ := r.call(t, storage.SCRequest{Op: storage.SCOpen, Key: "tagged", ETag: etagOf([]byte("old"))}); resp.Error == nil || resp.Error.Kind != errs.Conflict {
		t.Fatalf("open of another version: %+v", resp.Error)
	}
	if resp, f := r.call(t, storage.SCRequest{Op: storage.SCOpen, Key: "tagged", ETag: etagOf(body)}); resp.Error != nil || f == nil {
		t.Fatalf("open of this version: %+v", resp.Error)
	} else {
		f.Close()
	}
}

// send writes req without waiting for an answer (call reads it; wrote
// frames have none).
func (r *rawConn) send(t *testing.T, req storage.SCRequest) {
	t.Helper()
	req.V = storage.SCVersion
	b, err := storage.AppendSCFrame(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// closedByPeer reports whether storaged closed the connection (EOF or a
// reset within a few seconds, no answer).
func (r *rawConn) closedByPeer() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer r.c.SetReadDeadline(time.Time{})
	n, err := r.c.Read(make([]byte, 1))
	return n == 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestSocketProgress: create asks for progress reports; a writer that
// sends them at odd offsets commits the right etag; a report going back or
// without a write closes the connection and leaves nothing; the typed
// client's big PUTs (which report) read back.
func TestSocketProgress(t *testing.T) {
	sc, _, cfg, _ := startSocket(t)
	ctx := context.Background()
	body := storagetest.RandomBytes(2*local.ProgressEvery + 12345)

	r := dialRaw(t, cfg.Storaged.Socket)
	resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "progress/raw"})
	if resp.Error != nil || f == nil || resp.Progress != local.ProgressEvery {
		t.Fatalf("create: %+v progress %d", resp.Error, resp.Progress)
	}
	n := 0
	for _, step := range []int{4097, local.ProgressEvery, 1} {
		f.Write(body[n : n+step])
		n += step
		r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: int64(n)})
	}
	f.Write(body[n:])
	f.Close()
	resp, _ = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(body)), ETag: etagOf(body)})
	if resp.Error != nil || resp.Info == nil || resp.Info.ETag != etagOf(body) {
		t.Fatalf("commit: %+v %+v", resp.Error, resp.Info)
	}
	if got := storagetest.MustGet(t, sc, "progress/raw", storage.Whole); !bytes.Equal(got, body) {
		t.Fatal("the object does not read back")
	}
	r.c.Close() // and with it the spare the commit answer brought

	// A report going back.
	r = dialRaw(t, cfg.Storaged.Socket)
	resp, f = r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "progress/back"})
	if resp.Error != nil || f == nil {
		t.Fatalf("create: %+v", resp.Error)
	}
	f.Write(body[:100])
	f.Close()
	r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: 100})
	r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: 50})
	if !r.closedByPeer() {
		t.Fatal("a progress report going back did not close the connection")
	}
	waitNoTmp(t, cfg)
	if _, err := sc.Head(ctx, "progress/back"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after a bad report: %v", err)
	}
	// A report without a write.
	r = dialRaw(t, cfg.Storaged.Socket)
	if resp, _ := r.call(t, storage.SCRequest{Op: storage.SCOpen, Key: "progress/raw"}); resp.Error != nil {
		t.Fatal(resp.Error)
	}
	r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: 1})
	if !r.closedByPeer() {
		t.Fatal("a progress report without a write did not close the connection")
	}

	// The typed client, over several report intervals and exactly on one.
	for _, size := range []int{3*local.ProgressEvery + 5, local.ProgressEvery} {
		b := storagetest.RandomBytes(size)
		key := fmt.Sprintf("progress/typed-%d", size)
		info := storagetest.MustPut(t, sc, key, b)
		if info.ETag != etagOf(b) || !bytes.Equal(storagetest.MustGet(t, sc, key, storage.Whole), b) {
			t.Fatalf("typed PUT of %d bytes: %+v", size, info)
		}
	}
}

// TestSocketCreateOnlyRaceWithHTTP: create-only writers over the socket and
// over HTTP race for the same keys; exactly one wins each, the rest get 412.
func TestSocketCreateOnlyRaceWithHTTP(t *testing.T) {
	sc, httpc, _, _ := startSocket(t)
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		key := fmt.Sprintf("race/%d", round)
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			c, via := sc, "socket"
			if w%2 == 1 {
				c, via = httpc, "http"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf("writer %d via %s", w, via)
				_, err := c.Put(ctx, key, strings.NewReader(body), int64(len(body)), storage.PutOptions{CreateOnly: true})
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(body)
				case errs.Is(err, errs.Conflict) && errs.StatusOf(err) == 412:
				default:
					t.Errorf("writer %d (%s): %v", w, via, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d winners", round, wins.Load())
		}
		if got := storagetest.MustGet(t, httpc, key, storage.Whole); string(got) != winner.Load().(string) {
			t.Fatalf("round %d: stored %q, winner %q", round, got, winner.Load())
		}
	}
	if sc.SocketOps() < 40 {
		t.Fatalf("only %d socket ops", sc.SocketOps())
	}
}

// TestSocketToken: with AUTH_TOKEN set, the socket wants it on the first
// request; a wrong or missing token is refused (and not retried over HTTP).
func TestSocketToken(t *testing.T) {
	sc, _, cfg, _ := startSocket(t, func(c *shared.Config) { c.Auth.Token = "primary-token"; c.Auth.SecondaryToken = "second-token" })
	storagetest.MustPut(t, sc, "k", []byte("v"))
	if got := storagetest.MustGet(t, sc, "k", storage.Whole); string(got) != "v" || sc.SocketOps() != 2 {
		t.Fatalf("with the token: %q, %d socket ops", got, sc.SocketOps())
	}
	second := storagetest.ClientFor(cfg, "storaged", true)
	second.Token = "second-token"
	if _, _, err := storage.NewClient(second, storage.WithSocket(cfg.Storaged.Socket)).Get(context.Background(), "k", storage.Whole); err != nil {
		t.Fatalf("secondary token: %v", err)
	}
	bad := storagetest.ClientFor(cfg, "storaged", true)
	bad.Token = "wrong"
	bc := storage.NewClient(bad, storage.WithSocket(cfg.Storaged.Socket))
	if _, _, err := bc.Get(context.Background(), "k", storage.Whole); !errs.Is(err, errs.Unauthorized) || bc.SocketOps() != 1 {
		t.Fatalf("wrong token: %v (%d socket ops)", err, bc.SocketOps())
	}
	if _, err := bc.Put(context.Background(), "k2", strings.NewReader("x"), 1, storage.PutOptions{}); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("wrong token put: %v", err)
	}
	r := dialRaw(t, cfg.Storaged.Socket)
	if resp, f := r.call(t, storage.SCRequest{Op: storage.SCOpen, Key: "k"}); resp.Error == nil || resp.Error.Kind != errs.Unauthorized || f != nil {
		t.Fatalf("no token: %+v", resp.Error)
	}
	if _, err := r.c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection after a refused token: %v, want EOF", err)
	}
}

// TestSocketFallback: no socket at the path (storaged on another host, an
// older storaged, socket = "off") -> the client uses HTTP, silently.
func TestSocketFallback(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = "off"
	storagetest.Start(t, cfg)
	if cfg.StoragedSocket() != "" {
		t.Fatal("socket = off still names a path")
	}
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(filepath.Join(t.TempDir(), "missing.sock")))
	storagetest.MustPut(t, c, "k", []byte("over http"))
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "over http" || c.SocketOps() != 0 {
		t.Fatalf("fallback: %q, %d socket ops", got, c.SocketOps())
	}
	// A socket file nobody listens on (ECONNREFUSED).
	dead := storagetest.SocketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	c = storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(dead))
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "over http" || c.SocketOps() != 0 {
		t.Fatalf("fallback on a dead socket: %q", got)
	}
	// The force-HTTP switch.
	t.Setenv(storage.ForceHTTPEnv, "1")
	c = storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(dead))
	if c.SocketOps() != 0 {
		t.Fatal("forced HTTP client has a socket")
	}
}

// TestSocketLifecycle: a stale socket file is replaced at start, the socket
// is 0600, a client survives a storaged restart (its pooled connection is
// dead: it redials), and the file is removed on shutdown. A non-socket file
// at the path is left alone (storaged runs on HTTP).
func TestSocketLifecycle(t *testing.T) {
	path := storagetest.SocketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // as a killed storaged leaves it
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = path
	srv, err := shared.Start(context.Background(), "storaged", cfg, storagedNew, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storaged.URL = srv.URL()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket after start: %v %v", fi, err)
	}
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(path))
	storagetest.MustPut(t, c, "k", []byte("1"))
	srv.Shutdown(context.Background())
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file after shutdown: %v", err)
	}
	srv, err = shared.Start(context.Background(), "storaged", cfg, storagedNew, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storaged.URL = srv.URL()
	c = storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(path))
	storagetest.MustPut(t, c, "k", []byte("2"))
	// Restart while c holds a pooled connection: the next call redials.
	srv.Shutdown(context.Background())
	srv, err = shared.Start(context.Background(), "storaged", cfg, storagedNew, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "2" || c.SocketOps() != 2 {
		t.Fatalf("after a restart: %q, %d socket ops", got, c.SocketOps())
	}

	// A regular file at the path: kept, storaged serves HTTP only.
	cfg2 := storagetest.Config(t)
	cfg2.Storaged.Socket = filepath.Join(t.TempDir(), "not-a-socket")
	os.WriteFile(cfg2.Storaged.Socket, []byte("mine"), 0o600)
	c2, _ := storagetest.Start(t, cfg2)
	storagetest.MustPut(t, c2, "k", []byte("x"))
	if b, _ := os.ReadFile(cfg2.Storaged.Socket); string(b) != "mine" || c2.SocketOps() != 0 {
		t.Fatalf("regular file at the socket path: %q, %d socket ops", b, c2.SocketOps())
	}
	// A path over the sun_path limit: HTTP only.
	cfg3 := storagetest.Config(t)
	cfg3.Storaged.Socket = "/tmp/" + strings.Repeat("s", 120) + ".sock"
	c3, _ := storagetest.Start(t, cfg3)
	storagetest.MustPut(t, c3, "k", []byte("x"))
	if c3.SocketOps() != 0 {
		t.Fatal("socket ops on an impossible path")
	}
}

var storagedNew = storaged.New

// Every socket op writes the harness's access line; a commit's names the
// key of the write it ends. A direct read leaves one sc.root line (the
// lease) and no line per GET; with direct reads off, each GET is an sc.open.
func TestSocketAccessLines(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	cfg.Log.Access, cfg.Log.Level = true, "info"
	var logs syncbuf.Buffer
	srv, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, &logs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storaged.URL = srv.URL()
	sc := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(cfg.StoragedSocket()))
	storagetest.MustPut(t, sc, "logs/one", []byte("hello"))
	for range 2 {
		if got := storagetest.MustGet(t, sc, "logs/one", storage.Whole); string(got) != "hello" {
			t.Fatalf("read %q", got)
		}
	}
	t.Setenv(storage.DirectReadsEnv, "0")
	noDirect := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithSocket(cfg.StoragedSocket()))
	if got := storagetest.MustGet(t, noDirect, "logs/one", storage.Whole); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if sc.DirectReads() != 2 || noDirect.DirectReads() != 0 || noDirect.SocketOps() != 1 {
		t.Fatalf("direct reads %d and %d, socket ops %d", sc.DirectReads(), noDirect.DirectReads(), noDirect.SocketOps())
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, line := range []string{
		`op="sc.create /v1/storage/objects/logs/one"`, `op="sc.commit /v1/storage/objects/logs/one"`,
		`op="sc.open /v1/storage/objects/logs/one"`, `op="sc.root /v1/storage/objects/"`,
	} {
		if strings.Count(out, line) != 1 {
			t.Errorf("want one access line with %s in:\n%s", line, out)
		}
	}
}

// TestDirectReads: with the object directory's descriptor the client opens
// objects itself and answers as storaged would — the same contents, info,
// errors and ranges — and leaves to storaged what only storaged can answer
// (a key it refuses, an object without its etag xattr).
func TestDirectReads(t *testing.T) {
	sc, httpc, cfg, _ := startSocket(t)
	ctx := context.Background()
	v1 := storagetest.RandomBytes(70 << 10)
	want := storagetest.MustPut(t, httpc, "d/one", v1)
	got, info, err := getAll(sc, "d/one", storage.Whole)
	if err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("direct read: %d bytes, %v", len(got), err)
	}
	httpGot, httpInfo, _ := getAll(httpc, "d/one", storage.Whole)
	if !bytes.Equal(httpGot, v1) || info.ETag != want.ETag || info.Size != want.Size || !info.Modified.Equal(httpInfo.Modified) ||
		httpInfo.Path != "" || !strings.HasSuffix(info.Path, "/d/one") {
		t.Fatalf("direct info %+v, HTTP %+v, PUT %+v", info, httpInfo, want)
	}
	if sc.DirectReads() != 1 {
		t.Fatalf("direct reads %d", sc.DirectReads())
	}
	// The file path is known to a same-host reader only (HTTP answers
	// never carry it).
	if hinfo, err := sc.Head(ctx, "d/one"); err != nil || hinfo.Path != info.Path || withPath(httpInfo, info.Path) != hinfo || sc.DirectReads() != 2 {
		t.Fatalf("direct HEAD %+v %v (%d direct), HTTP GET %+v", hinfo, err, sc.DirectReads(), httpInfo)
	}
	if part, _, _ := getAll(sc, "d/one", storage.GetOptions{Offset: 1000, Length: 5000}); !bytes.Equal(part, v1[1000:6000]) {
		t.Fatal("ranged direct read")
	}
	// Overwrites and deletes are seen at once.
	storagetest.MustPut(t, httpc, "d/one", []byte("two"))
	if got, _, _ := getAll(sc, "d/one", storage.Whole); string(got) != "two" {
		t.Fatalf("after an overwrite: %q", got)
	}
	if err := httpc.Delete(ctx, "d/one"); err != nil {
		t.Fatal(err)
	}
	sameError := func(key string, opts storage.GetOptions) {
		t.Helper()
		_, _, derr := sc.Get(ctx, key, opts)
		_, _, herr := httpc.Get(ctx, key, opts)
		if derr == nil || errs.KindOf(derr) != errs.KindOf(herr) || errs.StatusOf(derr) != errs.StatusOf(herr) || errs.Message(derr) != errs.Message(herr) {
			t.Fatalf("GET %q: socket %v, HTTP %v", key, derr, herr)
		}
		if opts != storage.Whole {
			return
		}
		_, derr = sc.Head(ctx, key)
		_, herr = httpc.Head(ctx, key)
		if derr == nil || errs.KindOf(derr) != errs.KindOf(herr) || errs.Message(derr) != errs.Message(herr) {
			t.Fatalf("HEAD %q: socket %v, HTTP %v", key, derr, herr)
		}

	}
	before := sc.DirectReads()
	sameError("d/one", storage.Whole)                   // deleted
	sameError("nothing/here", storage.Whole)            // never was
	storagetest.MustPut(t, httpc, "p/q/r", []byte("x")) //
	sameError("p/q", storage.Whole)                     // a prefix: a directory on disk
	sameError("p/q/r/s", storage.Whole)                 // below an object
	sameError("p/q/r", storage.GetOptions{Offset: 5})   // past the end: 416
	for _, c := range []*storage.Client{sc, httpc} {    // at the end: an empty read (Store.Get), on both paths
		if b, info, err := getAll(c, "p/q/r", storage.GetOptions{Offset: 1}); err != nil || len(b) != 0 || info.Size != 1 {
			t.Fatalf("GET at the end: %q %+v %v, want an empty read", b, info, err)
		}
	}
	if err := os.Symlink("r", filepath.Join(cfg.DataDir, "objects", "data", "p", "q", "link")); err != nil { //
		t.Fatal(err)
	}
	sameError("p/q/link", storage.Whole) // symlinks are never followed
	if sc.DirectReads()-before != 12 {   // 7 GETs, and a HEAD of each key read whole
		t.Fatalf("%d of 12 refusals answered directly", sc.DirectReads()-before)
	}
	// Keys storaged refuses: it words the refusal (no direct read).
	before = sc.DirectReads()
	for _, k := range []string{"a//b", "a/./b", "../x", strings.Repeat("s", 256)} {
		sameError(k, storage.Whole)
	}
	if sc.DirectReads() != before {
		t.Fatal("refused keys answered directly")
	}
	// An object written by hand has no etag xattr: storaged hashes it and
	// sets the xattr, after which it is read directly.
	hand := filepath.Join(cfg.DataDir, "objects", "data", "byhand")
	if err := os.WriteFile(hand, []byte("by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = sc.DirectReads()
	for i := range 2 {
		got, info, err := getAll(sc, "byhand", storage.Whole)
		if err != nil || string(got) != "by hand" || info.ETag != etagOf([]byte("by hand")) {
			t.Fatalf("read %d of a hand-written object: %q %+v %v", i, got, info, err)
		}
	}
	if sc.DirectReads()-before != 1 {
		t.Fatalf("%d direct reads of the hand-written object, want the second only", sc.DirectReads()-before)
	}
}

func getAll(c *storage.Client, key string, opts storage.GetOptions) ([]byte, storage.ObjectInfo, error) {
	rc, info, err := c.Get(context.Background(), key, opts)
	if err != nil {
		return nil, info, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, info, err
}

// TestDirectReadsEndWithStoraged: the directory descriptor is used only
// while storaged keeps the connection it came on. A storaged restarted on
// another directory (same socket path) is read there at once, not through
// the old directory's descriptor; so is one whose idle timeout closed the
// lease.
func TestDirectReadsEndWithStoraged(t *testing.T) {
	path := storagetest.SocketPath(t)
	cfgA := storagetest.Config(t)
	cfgA.Storaged.Socket = path
	srvA, err := shared.Start(context.Background(), "storaged", cfgA, storagedNew, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfgA.Storaged.URL = srvA.URL()
	c := storage.NewClient(storagetest.ClientFor(cfgA, "storaged", true), storage.WithSocket(path))
	storagetest.MustPut(t, c, "k", []byte("on A"))
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "on A" || c.DirectReads() != 1 {
		t.Fatalf("read %q, %d direct", got, c.DirectReads())
	}
	if err := srvA.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfgB := storagetest.Config(t) // another data directory
	cfgB.Storaged.Socket = path
	cfgB.Storaged.IdleTimeout = shared.Duration{Duration: 300 * time.Millisecond}
	_, srvB := storagetest.Start(t, cfgB)
	httpB := storage.NewClient(storagetest.ClientFor(cfgB, "storaged", true))
	storagetest.MustPut(t, httpB, "k", []byte("on B"))
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "on B" || c.DirectReads() != 2 {
		t.Fatalf("after the restart on another directory: %q, %d direct", got, c.DirectReads())
	}
	_ = srvB
	// B's idle timeout closes the lease; the next read takes a new one.
	time.Sleep(600 * time.Millisecond)
	storagetest.MustPut(t, httpB, "k", []byte("on B again"))
	if got := storagetest.MustGet(t, c, "k", storage.Whole); string(got) != "on B again" || c.DirectReads() != 3 {
		t.Fatalf("after the idle timeout: %q, %d direct", got, c.DirectReads())
	}
}

// TestDirectReadsNeverStale: readers racing an overwriting writer never see
// a version older than the last one acknowledged before their GET began,
// and every read is whole (its bytes hash to its etag).
func TestDirectReadsNeverStale(t *testing.T) {
	sc, httpc, _, _ := startSocket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := func(v int) []byte {
		return append([]byte(fmt.Sprintf("%08d|", v)), bytes.Repeat([]byte{byte(v)}, 1000+v%5000)...)
	}
	storagetest.MustPut(t, sc, "race", body(0))
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := 1; ctx.Err() == nil; v++ {
			w := sc
			if v%3 == 0 {
				w = httpc
			}
			if _, err := w.Put(context.Background(), "race", bytes.NewReader(body(v)), -1, storage.PutOptions{}); err != nil {
				t.Error(err)
				return
			}
			acked.Store(int64(v))
		}
	}()
	var reads atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				floor := acked.Load()
				got, info, err := getAll(sc, "race", storage.Whole)
				if err != nil {
					t.Error(err)
					return
				}
				var v int64
				fmt.Sscanf(string(got), "%08d|", &v)
				if v < floor || !bytes.Equal(got, body(int(v))) || info.ETag != etagOf(got) {
					t.Errorf("read version %d (%d bytes, etag ok %v) after version %d was acknowledged", v, len(got), info.ETag == etagOf(got), floor)
					return
				}
				reads.Add(1)
			}
		}()
	}
	// 1.5 s of the race and at least 10 writes and 100 reads, not a fixed
	// 1.5 s: on a loaded host the three readers left the writer 5 writes
	// in 1.5 s (13,729 reads).
	start := time.Now()
	for deadline := start.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if t.Failed() || time.Since(start) >= 1500*time.Millisecond && acked.Load() >= 10 && reads.Load() >= 100 {
			break
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d reads against %d writes in %v", reads.Load(), acked.Load(), time.Since(start).Round(time.Millisecond))
	if reads.Load() < 100 || acked.Load() < 10 || sc.DirectReads() < reads.Load()*9/10 {
		t.Fatalf("%d reads (%d direct) against %d writes", reads.Load(), sc.DirectReads(), acked.Load())
	}
}

// TestSocketSpares: a commit answer brings a spare temp file; a write
// taken into it commits with its key in one round trip; a refused commit
// of a spare (bad key, create-only conflict, lying etag) leaves nothing;
// take without a spare or during a write closes the connection; create
// drops an untaken spare; the idle timeout ends a connection with one and
// removes it; the typed client uses spares and falls back to create when
// one has expired.
func TestSocketSpares(t *testing.T) {
	idle := 400 * time.Millisecond
	if raceOn {
		// Under -race on a loaded host the steps between a commit and the
		// next take took over 400 ms: the idle timeout closed the
		// connection the test still used ("write: broken pipe").
		idle = 2 * time.Second
	}
	sc, _, cfg, _ := startSocket(t, func(c *shared.Config) { c.Storaged.IdleTimeout = shared.Duration{Duration: idle} })
	ctx := context.Background()
	r := dialRaw(t, cfg.Storaged.Socket)
	put := func(f *os.File, b []byte) {
		t.Helper()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	a := []byte("version a")
	resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "sp/a"})
	if resp.Error != nil || f == nil {
		t.Fatalf("create: %+v", resp.Error)
	}
	put(f, a)
	resp, spare := r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(a)), ETag: etagOf(a)})
	if resp.Error != nil || spare == nil || resp.SpareFor != idle.Milliseconds() || resp.Progress != local.ProgressEvery {
		t.Fatalf("commit: %+v, spare %v, spare_ms %d, progress %d", resp.Error, spare, resp.SpareFor, resp.Progress)
	}
	if n := tmpFiles(t, cfg); n != 0 {
		t.Fatalf("%d writes in progress with only a spare handed out, want 0 (a spare is spare-*)", n)
	}

	// A write into the spare, committed with its key.
	b := storagetest.RandomBytes(local.ProgressEvery + 99)
	r.send(t, storage.SCRequest{Op: storage.SCTake})
	f, spare = spare, nil
	f.Write(b[:local.ProgressEvery])
	r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: local.ProgressEvery})
	put(f, b[local.ProgressEvery:])
	time.Sleep(idle + 200*time.Millisecond) // a taken spare is a write: no idle timeout
	if n := tmpFiles(t, cfg); n != 1 {
		t.Fatalf("%d writes in progress after take, want 1 (the spare, renamed put-*)", n)
	}
	resp, spare = r.call(t, storage.SCRequest{Op: storage.SCCommit, Key: "sp/b", CreateOnly: true, Size: int64(len(b)), ETag: etagOf(b)})
	if resp.Error != nil || resp.Info == nil || resp.Info.Key != "sp/b" || resp.Info.ETag != etagOf(b) || spare == nil {
		t.Fatalf("commit of the spare: %+v %+v, next spare %v", resp.Error, resp.Info, spare)
	}
	if got := storagetest.MustGet(t, sc, "sp/b", storage.Whole); !bytes.Equal(got, b) {
		t.Fatal("sp/b does not read back")
	}

	// Refused commits of a spare: nothing visible, nothing left, the
	// connection goes on (each refusal ends its write; create brings the
	// next spare).
	next := func() {
		t.Helper()
		resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "sp/next"})
		if resp.Error != nil {
			t.Fatal(resp.Error)
		}
		put(f, a)
		if resp, spare = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(a)), ETag: etagOf(a)}); resp.Error != nil || spare == nil {
			t.Fatalf("commit: %+v", resp.Error)
		}
	}
	for _, tc := range []struct {
		name string
		req  storage.SCRequest
		kind errs.Kind
	}{
		{"create-only on an existing key", storage.SCRequest{Key: "sp/a", CreateOnly: true, ETag: etagOf([]byte("other"))}, errs.Conflict},
		{"lying etag", storage.SCRequest{Key: "sp/lie", ETag: etagOf(a)}, errs.Invalid},
		{"no key", storage.SCRequest{ETag: etagOf([]byte("other"))}, errs.Invalid},
		{"bad key", storage.SCRequest{Key: "sp/../a", ETag: etagOf([]byte("other"))}, errs.Invalid},
		{"create_only without a key", storage.SCRequest{CreateOnly: true, ETag: etagOf([]byte("other"))}, errs.Invalid},
	} {
		r.send(t, storage.SCRequest{Op: storage.SCTake})
		put(spare, []byte("other"))
		req := tc.req
		req.Op, req.Size = storage.SCCommit, 5
		if resp, extra := r.call(t, req); resp.Error == nil || resp.Error.Kind != tc.kind || extra != nil {
			t.Fatalf("%s: answered %+v (fd %v), want %s", tc.name, resp.Error, extra, tc.kind)
		}
		waitNoTmp(t, cfg)
		if got := storagetest.MustGet(t, sc, "sp/a", storage.Whole); !bytes.Equal(got, a) {
			t.Fatalf("%s: sp/a changed to %q", tc.name, got)
		}
		if _, err := sc.Head(ctx, "sp/lie"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		next()
	}
	// A commit naming a key after create named one.
	spare.Close()
	resp, f = r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "sp/named"})
	if resp.Error != nil {
		t.Fatal(resp.Error)
	}
	if n := tmpFiles(t, cfg); n != 1 {
		t.Fatalf("%d temp files after create, want 1 (create drops the spare)", n)
	}
	put(f, a)
	if resp, _ := r.call(t, storage.SCRequest{Op: storage.SCCommit, Key: "sp/other", Size: int64(len(a)), ETag: etagOf(a)}); resp.Error == nil || resp.Error.Kind != errs.Invalid {
		t.Fatalf("commit renaming a created write: %+v", resp.Error)
	}
	waitNoTmp(t, cfg)
	for _, k := range []string{"sp/named", "sp/other"} {
		if _, err := sc.Head(ctx, k); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%s: %v", k, err)
		}
	}

	// take without a spare, and take during a write, close the connection.
	r.send(t, storage.SCRequest{Op: storage.SCTake})
	if !r.closedByPeer() {
		t.Fatal("take without a spare did not close the connection")
	}
	r = dialRaw(t, cfg.Storaged.Socket)
	resp, f = r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "sp/twice"})
	if resp.Error != nil {
		t.Fatal(resp.Error)
	}
	put(f, a)
	r.send(t, storage.SCRequest{Op: storage.SCTake})
	if !r.closedByPeer() {
		t.Fatal("take during a write did not close the connection")
	}
	waitNoTmp(t, cfg)

	// An untaken spare lives as long as its connection: the idle timeout
	// ends both.
	r = dialRaw(t, cfg.Storaged.Socket)
	resp, f = r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "sp/idle"})
	if resp.Error != nil {
		t.Fatal(resp.Error)
	}
	put(f, a)
	if resp, spare = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(a)), ETag: etagOf(a)}); resp.Error != nil || spare == nil {
		t.Fatalf("commit: %+v", resp.Error)
	}
	defer spare.Close()
	if !r.closedByPeer() {
		t.Fatal("the idle timeout did not end a connection holding a spare")
	}
	waitNoTmp(t, cfg)

	// The typed client: the second PUT on a connection goes into the spare
	// (one commit, no create); after the spare's time it creates again on
	// a fresh connection; a body that breaks in a spare leaves nothing.
	var logs syncbuf.Buffer
	cfg2 := storagetest.Config(t)
	cfg2.Storaged.Socket = storagetest.SocketPath(t)
	cfg2.Storaged.IdleTimeout = shared.Duration{Duration: idle}
	cfg2.Log.Access, cfg2.Log.Level = true, "info"
	srv, err := shared.Start(ctx, "storaged", cfg2, storaged.New, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	cfg2.Storaged.URL = srv.URL()
	c := storage.NewClient(storagetest.ClientFor(cfg2, "storaged", true), storage.WithSocket(cfg2.StoragedSocket()))
	bodies := map[string][]byte{}
	for _, k := range []string{"typed/1", "typed/2", "typed/3"} {
		bodies[k] = storagetest.RandomBytes(1 << 20)
		if info := storagetest.MustPut(t, c, k, bodies[k]); info.ETag != etagOf(bodies[k]) {
			t.Fatalf("%s: %+v", k, info)
		}
	}
	time.Sleep(idle + 100*time.Millisecond) // storaged drops the connection and its spare
	bodies["typed/4"] = []byte("after the idle timeout")
	storagetest.MustPut(t, c, "typed/4", bodies["typed/4"])
	storagetest.MustPut(t, c, "typed/5", []byte("seeded a spare"))
	broken := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), errReader{})
	if _, err := c.Put(ctx, "typed/broken", broken, -1, storage.PutOptions{}); err == nil {
		t.Fatal("a broken body was stored")
	}
	for k, want := range bodies {
		if got := storagetest.MustGet(t, c, k, storage.Whole); !bytes.Equal(got, want) {
			t.Fatalf("%s does not read back", k)
		}
	}
	if _, err := c.Head(ctx, "typed/broken"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after a broken body: %v", err)
	}
	if c.SocketOps() < 6 {
		t.Fatalf("only %d socket ops", c.SocketOps())
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for line, want := range map[string]int{
		`op="sc.create /v1/storage/objects/typed/1"`: 1, `op="sc.commit /v1/storage/objects/typed/1"`: 1,
		`op="sc.create /v1/storage/objects/typed/2"`: 0, `op="sc.commit /v1/storage/objects/typed/2"`: 1,
		`op="sc.create /v1/storage/objects/typed/3"`: 0, `op="sc.commit /v1/storage/objects/typed/3"`: 1,
		`op="sc.create /v1/storage/objects/typed/4"`: 1, `op="sc.create /v1/storage/objects/typed/5"`: 0,
		`op="sc.commit /v1/storage/objects/typed/broken"`: 0,
	} {
		if got := strings.Count(out, line); got != want {
			t.Errorf("%d access lines with %s, want %d", got, line, want)
		}
	}
	if n := len(writesInTmp(t, cfg2.DataDir)); n != 0 {
		t.Fatalf("%d temp files after shutdown", n)
	}
}

// TestSocketCommitWithoutETag: a commit that claims no etag publishes the
// file with storaged's own hash as its etag, stored in the xattr (so the
// object is read directly, not rehashed); the typed client claims none.
func TestSocketCommitWithoutETag(t *testing.T) {
	sc, _, cfg, _ := startSocket(t)
	body := storagetest.RandomBytes(local.ProgressEvery + 4321)
	r := dialRaw(t, cfg.Storaged.Socket)
	resp, f := r.call(t, storage.SCRequest{Op: storage.SCCreate, Key: "noetag/raw"})
	if resp.Error != nil || f == nil {
		t.Fatalf("create: %+v", resp.Error)
	}
	f.Write(body[:local.ProgressEvery])
	r.send(t, storage.SCRequest{Op: storage.SCWrote, Size: local.ProgressEvery})
	f.Write(body[local.ProgressEvery:])
	f.Close()
	resp, _ = r.call(t, storage.SCRequest{Op: storage.SCCommit, Size: int64(len(body))})
	if resp.Error != nil || resp.Info == nil || resp.Info.ETag != etagOf(body) {
		t.Fatalf("commit without etag: %+v %+v", resp.Error, resp.Info)
	}
	typed := storagetest.MustPut(t, sc, "noetag/typed", body)
	if typed.ETag != etagOf(body) {
		t.Fatalf("typed PUT etag %s", typed.ETag)
	}
	for _, key := range []string{"noetag/raw", "noetag/typed"} {
		x := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(cfg.DataDir, "objects", "data", key), local.ETagXattr, x)
		if err != nil || string(x[:n]) != etagOf(body) {
			t.Fatalf("%s: etag xattr %q, %v", key, x[:max(n, 0)], err)
		}
		before := sc.DirectReads()
		if got := storagetest.MustGet(t, sc, key, storage.Whole); !bytes.Equal(got, body) {
			t.Fatalf("%s does not read back", key)
		}
		if sc.DirectReads() != before+1 {
			t.Fatalf("%s was not read directly", key)
		}
	}
}

// TestSocketEmptyFromSpareDatedNow: an empty object written into a spare
// made a while before is dated when it is committed, not when the spare
// was made.
func TestSocketEmptyFromSpareDatedNow(t *testing.T) {
	sc, _, _, _ := startSocket(t)
	storagetest.MustPut(t, sc, "dated/first", []byte("brings a spare"))
	time.Sleep(1500 * time.Millisecond)
	before := time.Now().Add(-100 * time.Millisecond)
	info := storagetest.MustPut(t, sc, "dated/empty", nil)
	if info.Size != 0 || info.Modified.Before(before) {
		t.Fatalf("empty object dated %v, written after %v", info.Modified, before)
	}
}

// TestSocketPutLeavesNoDescriptors: after socket PUTs that land, are
// refused or break off, no descriptor of this process (client and the
// in-process storaged) refers to an object or a write's temp file — only
// the spares the connections keep. The client syncs the file through a
// read-only descriptor of its own while the commit travels (ADR-015); this
// checks that every path closes it.
func TestSocketPutLeavesNoDescriptors(t *testing.T) {
	sc, _, cfg, _ := startSocket(t)
	ctx := context.Background()
	body := storagetest.RandomBytes(300 << 10)
	for i := range 8 {
		storagetest.MustPut(t, sc, fmt.Sprintf("fds/%d", i), body)
	}
	if _, err := sc.Put(ctx, "fds/0", bytes.NewReader(body), int64(len(body)), storage.PutOptions{CreateOnly: true}); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("create-only over an object: %v", err)
	}
	broken := io.MultiReader(bytes.NewReader(body[:1000]), iotest.ErrReader(errors.New("source broke")))
	if _, err := sc.Put(ctx, "fds/broken", broken, int64(len(body)), storage.PutOptions{}); err == nil {
		t.Fatal("a PUT whose body broke off succeeded")
	}
	storagetest.MustPut(t, sc, "fds/last", body)
	objects := filepath.Join(cfg.DataDir, "objects")
	// The broken PUT's client returns as soon as its source fails; the
	// server side ends that upload when it sees the connection go, which
	// on a loaded machine can come after the next PUT: what is still open
	// is looked at again until a deadline (a leak stays open for good).
	var open []string
	spares := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd:", err)
		}
		open, spares = nil, 0
		for _, e := range ents {
			link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			if err != nil || !strings.HasPrefix(link, objects+"/") || link == filepath.Join(objects, "LOCK") {
				continue // storaged's lock file
			}
			if st, err := os.Stat(link); err == nil && st.IsDir() {
				continue // storaged's directory handles (fsyncs)
			}
			if strings.HasPrefix(link, filepath.Join(objects, "tmp", "spare-")) && !strings.HasSuffix(link, " (deleted)") {
				spares++
				continue
			}
			open = append(open, fmt.Sprintf("descriptor %s still open on %s", e.Name(), link))
		}
		if len(open) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, o := range open {
		t.Error(o)
	}
	if spares == 0 {
		t.Error("no spare descriptor found: the check did not see storaged's files")
	}
}

func withPath(i storage.ObjectInfo, p string) storage.ObjectInfo { i.Path = p; return i }

// TestHTTPAnswersHoldNoFilePath: no HTTP answer of storaged tells a client
// where the object lives on the server (X-Lakehouse-Path did, on every GET
// and HEAD, through the gateway too).
func TestHTTPAnswersHoldNoFilePath(t *testing.T) {
	_, httpc, cfg, _ := startSocket(t)
	storagetest.MustPut(t, httpc, "p/one", []byte("hello"))
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, cfg.URL("storaged")+"/v1/storage/objects/p/one", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", method, resp.StatusCode)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, cfg.DataDir) || strings.Contains(v, url.PathEscape(cfg.DataDir)) {
					t.Fatalf("%s: header %s: %s names the data dir", method, k, v)
				}
			}
		}
		if strings.Contains(string(b), cfg.DataDir) {
			t.Fatalf("%s: body names the data dir", method)
		}
	}
}

// TestSocketContentType (ADR-084): the socket's create carries the
// Content-Type an HTTP PUT would (the typed client dropped it: catalogd's
// application/json manifests were served as application/octet-stream), a
// bad one is refused before a temp file is handed out, and a content_type
// on an op that takes none is refused.
func TestSocketContentType(t *testing.T) {
	_, httpc, cfg, _ := startSocket(t)
	ctx := context.Background()
	r := dialRaw(t, cfg.Storaged.Socket)
	resp, f := r.call(t, storage.SCRequest{V: storage.SCVersion, Op: storage.SCCreate, Key: "sct/m.json", ContentType: "application/json"})
	if resp.Error != nil || f == nil {
		t.Fatalf("create: %+v", resp.Error)
	}
	f.Write([]byte("{}"))
	f.Close()
	resp, _ = r.call(t, storage.SCRequest{V: storage.SCVersion, Op: storage.SCCommit, Size: 2})
	if resp.Error != nil || resp.Info == nil || resp.Info.ContentType != "application/json" {
		t.Fatalf("commit: %+v %+v", resp.Error, resp.Info)
	}
	if h, err := httpc.Head(ctx, "sct/m.json"); err != nil || h.ContentType != "application/json" {
		t.Fatalf("HTTP HEAD after a socket PUT: %q %v", h.ContentType, err)
	}
	for _, req := range []storage.SCRequest{
		{V: storage.SCVersion, Op: storage.SCCreate, Key: "sct/bad", ContentType: "text/csv\r\nX-Evil: 1"},
		{V: storage.SCVersion, Op: storage.SCCreate, Key: "sct/bad", ContentType: strings.Repeat("a", storage.MaxContentTypeBytes+1)},
		{V: storage.SCVersion, Op: storage.SCOpen, Key: "sct/m.json", ContentType: "text/csv"},
	} {
		r := dialRaw(t, cfg.Storaged.Socket)
		resp, f := r.call(t, req)
		if f != nil {
			f.Close()
		}
		if resp.Error == nil || resp.Error.Kind != errs.Invalid || f != nil {
			t.Errorf("%s with content_type %.40q: %+v, fd %v; want invalid and no descriptor", req.Op, req.ContentType, resp.Error, f != nil)
		}
	}
	if _, err := httpc.Head(ctx, "sct/bad"); !errs.Is(err, errs.NotFound) {
		t.Errorf("a refused create stored something: %v", err)
	}
}
