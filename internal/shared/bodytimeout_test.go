package shared_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/miniotest"
)

// setBodyTimeout shortens shared.ClientBodyTimeout for the test.
func setBodyTimeout(t *testing.T, d time.Duration) {
	old := shared.ClientBodyTimeout
	shared.ClientBodyTimeout = d
	t.Cleanup(func() { shared.ClientBodyTimeout = old })
}

// startDaemon starts daemon name in-process (its real builder) on a free
// loopback port under cfg.
func startDaemon(t *testing.T, cfg *shared.Config, name string, b shared.Builder) *shared.Server {
	t.Helper()
	s, err := shared.Start(context.Background(), name, cfg, b, io.Discard)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func stallConfig(t *testing.T) *shared.Config {
	cfg := shared.Default(t.TempDir())
	for _, n := range shared.Daemons {
		cfg.Section(n).Bind = "127.0.0.1:0"
	}
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	return cfg
}

// stallRequest sends head and then part of a body (of the framing head
// announces) and stops sending, with the connection open; it returns the
// answer, its body, how long it took and whether the connection was
// closed after it.
func stallRequest(t *testing.T, addr, head, part string) (*http.Response, string, time.Duration, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, head+part); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(start), err)
	}
	took := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = br.ReadByte()
	return resp, string(b), took, err == io.EOF
}

func want408(t *testing.T, what string, resp *http.Response, body string, took time.Duration, closed bool, bound time.Duration) {
	t.Helper()
	var eb errs.Body
	if resp.StatusCode != http.StatusRequestTimeout || json.Unmarshal([]byte(body), &eb) != nil ||
		eb.Error.Kind != errs.Timeout || !strings.Contains(eb.Error.Message, "stalled") || eb.Error.RequestID == "" {
		t.Fatalf("%s: %d %q, want 408 with a timeout error body", what, resp.StatusCode, body)
	}
	if took < bound*3/4 || took > bound+3*time.Second {
		t.Fatalf("%s: answered after %v, bound %v", what, took, bound)
	}
	if !closed {
		t.Fatalf("%s: the connection stayed open after the 408", what)
	}
}

// noneLeft waits for dir to hold no entry whose name has prefix (what a
// daemon discards may go a moment after its answer).
func noneLeft(t *testing.T, what, dir, prefix string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		des, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var left []string
		for _, de := range des {
			if strings.HasPrefix(de.Name(), prefix) {
				left = append(left, de.Name())
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: left behind in %s: %v", what, dir, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that sent its head and part of its body and then stopped held,
// for ever (request_timeout 0, the defaults of storaged and ingestd), a
// connection and a goroutine of the daemon and its temp file (storaged's
// objects/tmp/put-*, ingestd's spool ingestd/tmp/ingest-*/upload). Now a
// body that sends nothing for shared.ClientBodyTimeout is answered 408
// (kind timeout, DESIGN.md's error body), the connection is closed, and the
// daemon has discarded what it had. Content-Length and chunked, the real
// storaged and ingestd. (ADR-110.)
func TestClientBodyStallIs408(t *testing.T) {
	const bound = 400 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	st := startDaemon(t, cfg, "storaged", storaged.New)
	in := startDaemon(t, cfg, "ingestd", ingestd.New)
	storTmp := filepath.Join(cfg.DataPath(cfg.Storaged.Dir, "objects"), "tmp")
	spool := cfg.DataPath(cfg.Ingestd.TempDir, "ingestd/tmp")
	part := strings.Repeat("a,b\n", 2048)
	for _, tc := range []struct {
		name, addr, head, part, dir, prefix string
	}{
		{"storaged PUT", st.Addr, "PUT /v1/storage/objects/stall/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", part, storTmp, "put-"},
		{"storaged PUT chunked", st.Addr, "PUT /v1/storage/objects/stall/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			fmt.Sprintf("%x\r\n%s\r\n", len(part), part), storTmp, "put-"},
		{"ingestd POST", in.Addr, "POST /v1/ingest?name=stalled HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n", "a,b\n" + part, spool, "ingest-"},
		{"ingestd POST chunked", in.Addr, "POST /v1/ingest?name=stalled HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n",
			fmt.Sprintf("%x\r\na,b\n%s\r\n", len(part)+4, part), spool, "ingest-"},
	} {
		resp, body, took, closed := stallRequest(t, tc.addr, tc.head, tc.part)
		want408(t, tc.name, resp, body, took, closed, bound)
		noneLeft(t, tc.name, tc.dir, tc.prefix)
	}
	// Nothing was stored.
	for _, k := range []string{"stall/a", "stall/b"} {
		resp, err := http.Get("http://" + st.Addr + "/v1/storage/objects/" + k)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d after a stalled PUT, want 404", k, resp.StatusCode)
		}
	}
}

// slowRoute is a daemon whose POST /v1/slow sleeps wait before it reads its
// body, then answers the body's size; POST /v1/work reads its body, then
// works for wait and answers the size if its context still holds.
func slowRoute(wait time.Duration) shared.Builder {
	return func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Post("/v1/slow", func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(wait)
				n, err := io.Copy(io.Discard, r.Body)
				if err != nil {
					errs.WriteHTTP(w, r, nil, errs.E("slow", errs.Invalid, err))
					return
				}
				fmt.Fprint(w, n)
			})
			r.Post("/v1/work", func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				if err != nil {
					errs.WriteHTTP(w, r, nil, errs.E("work", errs.Invalid, err))
					return
				}
				time.Sleep(wait) // long work after the body
				if err := r.Context().Err(); err != nil {
					errs.WriteHTTP(w, r, nil, errs.E("work", errs.Internal, err))
					return
				}
				fmt.Fprint(w, n)
			})
		}}, nil
	}
}

// The bound is on silence, not on the whole upload: a body sent in small
// pieces, each gap below the bound, for many times the bound in all, is
// taken whole — by storaged (stored) and by a daemon that reads it only
// after a wait (the time before its first read is not counted). Work after
// the whole body, longer than the bound, keeps its context (net/http's
// read behind a finished body must not run into the body's deadline: it
// cancels the request). (ADR-110.)
func TestSlowSteadyBodyNotCut(t *testing.T) {
	// Gaps of a quarter of the bound: on a loaded 2-core box a 150 ms
	// sleep against a 300 ms bound overshot it once (a 408).
	const bound = 600 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	st := startDaemon(t, cfg, "storaged", storaged.New)
	late := startDaemon(t, cfg, "queryd", slowRoute(2*bound))
	const pieces, piece = 16, 1000 // 16 gaps of 150 ms: 2.4 s, four bounds
	for _, tc := range []struct{ name, addr, head, want string }{
		{"storaged", st.Addr, fmt.Sprintf("PUT /v1/storage/objects/steady HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", pieces*piece), `"size":16000`},
		{"late reader", late.Addr, fmt.Sprintf("POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", pieces*piece), "16000"},
		{"long work after", late.Addr, fmt.Sprintf("POST /v1/work HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", pieces*piece), "16000"},
	} {
		c, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, tc.head)
		for i := 0; i < pieces; i++ {
			time.Sleep(bound / 4)
			if _, err := io.WriteString(c, strings.Repeat("x", piece)); err != nil {
				t.Fatalf("%s: piece %d: %v", tc.name, i, err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}
}

// A client that sends Expect: 100-continue waits for the 100 before its
// body: net/http sends it at the handler's first read of the body, so a
// handler that reads late keeps the client waiting — that wait is not a
// stalled body. (ADR-110.)
func TestExpectContinueWaitNotCut(t *testing.T) {
	const bound = 300 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	late := startDaemon(t, cfg, "queryd", slowRoute(4*bound))
	c, err := net.Dial("tcp", late.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /v1/slow HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(c)
	start := time.Now()
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("%q %v, want the 100 first", line, err)
	}
	if waited := time.Since(start); waited < 3*bound {
		t.Fatalf("the 100 came after %v, before the handler read", waited)
	}
	br.ReadString('\n')
	time.Sleep(bound / 2) // the client takes its time, within the bound
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "5" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}

// A request refused before its body was read (401 here): net/http reads
// what is left of the body (up to 256 KiB, to keep the connection) before
// it sends the answer's head, so a client that stopped sending never got
// its 401 and held the connection for ever. That read has the bound too:
// the 401 comes after it and the connection closes. (ADR-110.)
func TestRefusedStalledBodyReleased(t *testing.T) {
	const bound = 300 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	cfg.Auth.Token = "secret"
	st := startDaemon(t, cfg, "storaged", storaged.New)
	c, err := net.Dial("tcp", st.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "PUT /v1/storage/objects/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
	start := time.Now()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(start), err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%d, want 401", resp.StatusCode)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the 401: %v, want the connection closed", err)
	}
	if el := time.Since(start); el > bound+3*time.Second {
		t.Fatalf("answered and closed after %v", el)
	}
}

// The same stall on storaged's s3 backend, against a real MinIO, part way
// into a multipart upload (6 MiB sent of 20, 5 MiB parts): 408, and
// nothing is left in the bucket — no object, no incomplete upload holding
// its parts. (ADR-110.)
func TestClientBodyStallS3(t *testing.T) {
	const bound = 400 * time.Millisecond
	setBodyTimeout(t, bound)
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := stallConfig(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = m.Endpoint()
	cfg.S3.Bucket = m.Bucket
	cfg.S3.SecretsPath = m.WriteSecrets(t)
	cfg.S3.PartSize = 5 << 20
	st := startDaemon(t, cfg, "storaged", storaged.New)
	resp, body, took, closed := stallRequest(t, st.Addr,
		"PUT /v1/storage/objects/stall/s3 HTTP/1.1\r\nHost: x\r\nContent-Length: 20971520\r\n\r\n", strings.Repeat("z", 6<<20))
	want408(t, "s3 PUT", resp, body, took, closed, bound)
	mc := m.Client(t)
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for u := range mc.ListIncompleteUploads(ctx, m.Bucket, "", true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			left = append(left, u.Key+" "+u.UploadID)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incomplete uploads left: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := mc.StatObject(ctx, m.Bucket, "stall/s3", minio.StatObjectOptions{}); err == nil {
		t.Fatal("the stalled object was stored")
	}
}
