package storaged_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// payload is a deterministic body: size bytes of a ChaCha8 stream.
type payload struct {
	seed uint64
	size int64
}

func (p payload) reader() io.Reader {
	var s [32]byte
	s[0], s[1], s[2], s[3] = byte(p.seed), byte(p.seed>>8), byte(p.seed>>16), byte(p.seed>>24)
	return io.LimitReader(rand.NewChaCha8(s), p.size)
}

func (p payload) sum() [32]byte {
	h := sha256.New()
	io.Copy(h, p.reader())
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// contentType is the Content-Type the payload is PUT with: one of its own
// for two seeds in three (ADR-084: never another object's after a crash),
// none for the rest.
func (p payload) contentType() string {
	if p.seed%3 == 1 {
		return ""
	}
	return fmt.Sprintf("application/x-seed-%d", p.seed)
}

// buildStoraged builds cmd/storaged into a temp dir.
func buildStoraged(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "storaged")
	out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/storaged").CombinedOutput()
	if err != nil {
		t.Fatalf("go build storaged: %v\n%s", err, out)
	}
	return bin
}

// startChild runs the storaged binary with a config under dir on addr and
// waits for /health.
func startChild(t *testing.T, bin, dir, addr string) *exec.Cmd {
	t.Helper()
	conf := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n[storaged]\nbind = %q\n[report]\nenabled = false\n[log]\naccess = false\n", filepath.Join(dir, "data"), addr)), 0o600)
	return runChild(t, bin, conf, addr)
}

// runChild runs the storaged binary with the config file conf and waits
// for /health on addr.
func runChild(t *testing.T, bin, conf, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if r, err := http.Get("http://" + addr + "/health"); err == nil {
			r.Body.Close()
			return cmd
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("storaged child did not come up")
	return nil
}

// TestCrashDuringPuts kills -9 a real storaged process in the middle of
// large PUTs, repeatedly: after each restart no partial object is visible
// and every acknowledged object reads back byte-identical.
func TestCrashDuringPuts(t *testing.T) { crashDuringPuts(t, false) }

// TestCrashDuringSocketPuts is TestCrashDuringPuts with the PUTs (and the
// reads that check them) going through the short-circuit socket: the
// client writes into handed-out temp files when storaged dies; each restart
// also finds the stale socket file the killed storaged left.
func TestCrashDuringSocketPuts(t *testing.T) { crashDuringPuts(t, true) }

func crashDuringPuts(t *testing.T, socket bool) {
	if testing.Short() {
		t.Skip("builds and kills a storaged binary")
	}
	bin := buildStoraged(t)
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := shared.Default(dir)
	cfg.Storaged.URL = "http://" + addr
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(0), StreamHTTP: shared.NewHTTPClient(0)}
	c := storage.NewClient(env.StreamClient("storaged"))
	if socket {
		// startChild's data_dir is dir/data: the default socket is there.
		c = storage.NewClient(env.StreamClient("storaged"), storage.WithSocket(filepath.Join(dir, "data", "storaged.sock")))
	}
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[string]payload{}     // key -> acknowledged content
	attempted := map[string]payload{} // key -> every content ever sent (unique keys)
	seed := uint64(1)
	const rounds, writers = 6, 4
	for round := 0; round < rounds; round++ {
		cmd := startChild(t, bin, dir, addr)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					seed++
					chunked := seed%3 == 0
					p := payload{seed: seed, size: int64(8<<20 + rand.IntN(24<<20))}
					key := fmt.Sprintf("crash/r%d/w%d/%d.bin", round, w, seed)
					attempted[key] = p
					mu.Unlock()
					size := p.size
					if chunked {
						size = -1 // chunked, unknown length
					}
					_, err := c.Put(ctx, key, p.reader(), size, storage.PutOptions{ContentType: p.contentType()})
					if err != nil {
						return // the server died under us
					}
					mu.Lock()
					acked[key] = p
					mu.Unlock()
				}
			}()
		}
		// Kill once this round has acknowledged something (so the kill lands
		// with PUTs in flight, also under -race), plus a random delay.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > before {
				break
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(os.Kill)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}

	startChild(t, bin, dir, addr)
	visible := map[string]storage.ObjectInfo{}
	err := storage.ListAll(ctx, c, "crash/", func(o storage.ObjectInfo) error { visible[o.Key] = o; return nil })
	if err != nil {
		t.Fatal(err)
	}
	for key := range acked {
		if _, ok := visible[key]; !ok {
			t.Errorf("acknowledged object %s is gone", key)
		}
	}
	for key, o := range visible {
		p, ok := attempted[key]
		if !ok {
			t.Errorf("object %s was never written", key)
			continue
		}
		if o.Size != p.size {
			t.Errorf("object %s is partial: %d of %d bytes", key, o.Size, p.size)
			continue
		}
		rc, info, err := c.Get(ctx, key, storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		if want := storage.ContentTypeOf(p.contentType()); info.ContentType != want {
			t.Errorf("object %s has Content-Type %q, its PUT gave %q", key, info.ContentType, want)
		}
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		var got [32]byte
		copy(got[:], h.Sum(nil))
		if got != p.sum() {
			t.Errorf("object %s does not read back byte-identical", key)
		}
	}
	leftovers := writesInTmp(t, filepath.Join(dir, "data"))
	t.Logf("%d rounds: %d objects acknowledged, %d visible (acknowledged or completed just before the kill), %d attempted; %d temp files left after restart",
		rounds, len(acked), len(visible), len(attempted), len(leftovers))
	if len(acked) == 0 {
		t.Fatal("no PUT was acknowledged: the test proved nothing")
	}
	if len(visible) == len(attempted) {
		t.Log("note: no PUT was interrupted in this run")
	}
	if len(leftovers) != 0 {
		t.Errorf("temp files of interrupted writes were not cleaned at start: %d", len(leftovers))
	}
	if socket {
		before := c.SocketOps()
		storagetestMustPut(t, c, "crash/after-restart", []byte("x"))
		if before == 0 || c.SocketOps() == before {
			t.Errorf("socket ops: %d during the rounds, none after the last restart: the socket was not used", before)
		}
		t.Logf("%d calls through the socket", c.SocketOps())
	}
}

func storagetestMustPut(t *testing.T, c *storage.Client, key string, b []byte) {
	t.Helper()
	if _, err := c.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}
