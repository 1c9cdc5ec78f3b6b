package storaged_test

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// nobody is the uid and gid the child of TestSocketRefusesOtherUsers runs as.
const nobody = 65534

// TestSocketRefusesOtherUsers: the trust model of ADR-015 from another
// user's side. With the socket at its 0600 the kernel refuses the connect;
// with the socket opened to everyone (an operator's chmod) storaged still
// refuses by SO_PEERCRED: a forbidden answer, the connection closed, no
// descriptor, nothing read. Runs a copy of this test binary as nobody, so
// it needs root (CI runs as root; elsewhere it is skipped).
func TestSocketRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a child under another uid")
	}
	sc, _, cfg, _ := startSocket(t)
	// A copy of this binary where nobody can run it; the socket's directory
	// traversable (its own mode stays what storaged made it).
	dir, err := os.MkdirTemp("", "scuid")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "child")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(cfg.Storaged.Socket)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	storagetest.MustPut(t, sc, "secret", []byte("for storaged's user only"))
	run := func() string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestSocketDialHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LH_SC_DIAL="+cfg.Storaged.Socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	if fi, err := os.Stat(cfg.Storaged.Socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	if out := run(); !strings.Contains(out, "DIAL-REFUSED permission denied") {
		t.Fatalf("connect as nobody to the 0600 socket:\n%s", out)
	}
	if err := os.Chmod(cfg.Storaged.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	out := run()
	if !strings.Contains(out, "ANSWER kind="+string(errs.Forbidden)+" fds=0") || !strings.Contains(out, "THEN closed") {
		t.Fatalf("storaged's answer to nobody:\n%s", out)
	}
	if strings.Contains(out, "for storaged's user only") {
		t.Fatalf("the object leaked:\n%s", out)
	}
}

// TestSocketDialHelper is the child of TestSocketRefusesOtherUsers: it
// dials the socket named by LH_SC_DIAL, asks to open "secret" and prints
// what happened.
func TestSocketDialHelper(t *testing.T) {
	path := os.Getenv("LH_SC_DIAL")
	if path == "" {
		t.Skip("the child of TestSocketRefusesOtherUsers")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		if opErr, ok := err.(*net.OpError); ok && os.IsPermission(opErr.Err) {
			println("DIAL-REFUSED permission denied")
		} else {
			println("DIAL-ERROR", err.Error())
		}
		return
	}
	defer c.Close()
	b, _ := storage.AppendSCFrame(nil, storage.SCRequest{V: storage.SCVersion, Op: storage.SCOpen, Key: "secret"})
	c.Write(b)
	uc := c.(*net.UnixConn)
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, storage.SCMaxMessage+4)
	oob := make([]byte, 64)
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil || n < 4 {
		println("READ-ERROR", n, err)
		return
	}
	resp, err := storage.DecodeSCResponse(buf[4:n])
	if err != nil || resp.Error == nil {
		println("ANSWER not an error:", string(buf[4:n]))
		return
	}
	fds := "0"
	if oobn > 0 {
		fds = "some"
	}
	println("ANSWER kind=" + string(resp.Error.Kind) + " fds=" + fds)
	// storaged refuses before reading the request, so its close may come
	// as a reset (unread data) rather than an end of stream.
	if _, err := uc.Read(buf); err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		println("THEN closed")
	} else {
		println("THEN", err.Error())
	}
}
