package ingestd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/syncbuf"
)

// hangupStack is storaged, catalogd and an ingestd whose log the test reads.
func hangupStack(t *testing.T) (ingestdAddr, tempDir string, logs *syncbuf.Buffer, cat *catalog.Client) {
	t.Helper()
	cfg := config(t)
	cfg.Log.Level = "info"
	cfg.Log.Access = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs = &syncbuf.Buffer{}
	for _, b := range []struct {
		name string
		b    shared.Builder
		w    io.Writer
	}{{"storaged", storaged.New, io.Discard}, {"catalogd", catalog.New, io.Discard}, {"ingestd", ingestd.New, logs}} {
		s, err := shared.Start(context.Background(), b.name, cfg, b.b, b.w)
		if err != nil {
			t.Fatalf("start %s: %v", b.name, err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		if b.name == "ingestd" {
			ingestdAddr = s.Addr
		}
	}
	st := &stack{cfg: cfg}
	return ingestdAddr, cfg.DataPath(cfg.Ingestd.TempDir, "ingestd/tmp"), logs, st.catalog()
}

// ingestDirs are the per-upload directories under ingestd's temp dir.
func ingestDirs(t *testing.T, tempDir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tempDir, "ingest-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClientHangsUpMidUpload: a client that hangs up halfway through its
// upload (a Ctrl-C, a dropped link) leaves no spooled file in ingestd's
// temp dir and no dataset, and ingestd logs it as the client's doing (an
// INFO line, status 499), not as a server error.
func TestClientHangsUpMidUpload(t *testing.T) {
	addr, tempDir, logs, cat := hangupStack(t)

	row := "1,a name,2.5\n"
	half := strings.Repeat(row, (4<<20)/len(row)) // 4 MiB of 16 MiB announced
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/ingest?name=hungup&format=csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nX-Request-Id: hung-up-1\r\nContent-Length: %d\r\n\r\nid,name,amount\n", 16<<20)
	if _, err := io.WriteString(c, half); err != nil {
		t.Fatal(err)
	}
	// The upload is being spooled when the client leaves.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d := ingestDirs(t, tempDir); len(d) == 1 {
			if fi, err := os.Stat(filepath.Join(d[0], "upload")); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upload spooled in %s", tempDir)
		}
	}
	c.Close()

	for deadline := time.Now().Add(20 * time.Second); len(ingestDirs(t, tempDir)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned upload's files are still in ingestd's temp dir: %v", ingestDirs(t, tempDir))
		}
	}
	if _, err := cat.Get(context.Background(), "hungup", 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("a dataset after an abandoned upload: %v", err)
	}
	waitLog(t, logs, "req_id=hung-up-1", `op="POST /v1/ingest"`)
	if out := logs.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("a client's hang-up is logged at ERROR:\n%s", out)
	}
}

// waitLog waits for a log line holding every one of parts.
func waitLog(t *testing.T, logs *syncbuf.Buffer, parts ...string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", parts, logs.String())
		}
	}
}

// TestClientHangsUpMidConversion: a client that hangs up after sending
// its whole upload, while DuckDB converts it, stops the conversion: no
// dataset is committed for a request nobody waits for an answer to, and
// the temp dir is emptied.
func TestClientHangsUpMidConversion(t *testing.T) {
	addr, tempDir, logs, cat := hangupStack(t)

	var b strings.Builder
	b.WriteString("id,name,amount,note\n")
	for i := range 1_500_000 {
		fmt.Fprintf(&b, "%d,name %d,%d.25,note %x\n", i, i%977, i, i*7919)
	}
	body := b.String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/ingest?name=hungup&format=csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nX-Request-Id: hung-up-2\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(c, body); err != nil {
		t.Fatal(err)
	}
	// The whole body is spooled and converting when the client leaves.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if d := ingestDirs(t, tempDir); len(d) == 1 {
			if _, err := os.Stat(filepath.Join(d[0], "out")); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conversion started in %s:\n%s", tempDir, logs.String())
		}
	}
	c.Close()
	line := waitLog(t, logs, "req_id=hung-up-2", `op="POST /v1/ingest"`)
	t.Logf("access line: %s", line)
	if _, err := cat.Get(context.Background(), "hungup", 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("a dataset committed for an abandoned request: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(ingestDirs(t, tempDir)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned ingest's files are still in ingestd's temp dir: %v", ingestDirs(t, tempDir))
		}
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("a client's hang-up is logged at ERROR:\n%s", out)
	}
}
