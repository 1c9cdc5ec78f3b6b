package storaged_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/testutil/syncbuf"
)

// sockStorage starts storaged (local backend, the socket on) with JSON
// access lines into the returned log, and puts one object.
func sockStorage(t *testing.T) (*shared.Server, *shared.Config, *syncbuf.Buffer) {
	t.Helper()
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = storagetest.SocketPath(t)
	cfg.Log.Access, cfg.Log.Format, cfg.Log.Level = true, "json", "info"
	var log syncbuf.Buffer
	srv, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	cfg.Storaged.URL = srv.URL()
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	storagetest.MustPut(t, c, "one", []byte("hello"))
	return srv, cfg, &log
}

// openFrames is n open requests for key, one after the other.
func openFrames(t *testing.T, key string, n int) []byte {
	t.Helper()
	var b []byte
	for range n {
		var err error
		if b, err = storage.AppendSCFrame(b, storage.SCRequest{V: storage.SCVersion, Op: storage.SCOpen, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestSocketClientThatNeverReads: a short-circuit client that sends open
// after open and never reads the answers (each carrying a descriptor) is
// cut once the socket buffers are full and it took no byte for the send
// stall (storage.SendStall, shortened to 1 s): storaged's in-flight gauge
// is back to 0 and the connection is closed (what the buffers held, then
// the end). The cut answer's access line keeps status 200 and gets err,
// with the bytes of the frame written (the line's bytes) of its size, and
// lakehouse_http_answers_cut_total{route="sc.open"} moves by exactly one;
// no other line has err. Before, the bound was a fixed 10 s (SO_SNDTIMEO)
// and the cut read as a success. A client that reads its answers slowly
// (one at a time, for longer than the stall in all) gets every one, and
// nothing is counted cut. Real storaged, real Unix socket.
func TestSocketClientThatNeverReads(t *testing.T) {
	const stall = time.Second
	defer storaged.SetSocketSendStall(stall)()
	srv, cfg, log := sockStorage(t)
	const cutName = "lakehouse_http_answers_cut_total"

	t.Run("never reads", func(t *testing.T) {
		c, err := net.Dial("unix", cfg.StoragedSocket())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		reqs := openFrames(t, "one", 5000)
		go c.Write(reqs) // blocks once storaged stops reading; fails at the cut
		sent := time.Now()
		const within = 7 * time.Second // the old fixed bound was 10 s
		for slowclient.OthersInFlight(t, srv) == 0 {
			if time.Since(sent) > within {
				t.Fatal("no open seen in flight")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for slowclient.OthersInFlight(t, srv) != 0 {
			if time.Since(sent) > within {
				t.Fatalf("the answer to a socket client that never reads is still being written after %v (stall %v)", time.Since(sent).Round(time.Millisecond), stall)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("released after %v", time.Since(sent).Round(time.Millisecond))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		answers := 0
		var rerr error
		for {
			if _, rerr = storage.ReadSCFrame(br, nil); rerr != nil {
				break
			}
			answers++
		}
		if answers == 0 || answers >= 5000 || errors.Is(rerr, os.ErrDeadlineExceeded) {
			t.Fatalf("after the cut: %d answers, then %v; want some, then the end", answers, rerr)
		}

		var cut []string
		var opens int
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cut, opens = cut[:0], 0
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.Contains(line, `"op":"sc.open /v1/storage/objects/one"`) {
					opens++
					if strings.Contains(line, `"err"`) {
						cut = append(cut, line)
					}
				}
			}
			if opens > answers || time.Now().After(deadline) {
				break
			}
		}
		if len(cut) != 1 {
			t.Fatalf("%d access lines of sc.open with err (of %d), want 1:\n%s", len(cut), opens, strings.Join(cut, "\n"))
		}
		var line struct {
			Status int    `json:"status"`
			Bytes  int64  `json:"bytes"`
			Err    string `json:"err"`
		}
		if err := json.Unmarshal([]byte(cut[0]), &line); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`^client took no byte for 1s: answer cut at (\d+) of (\d+) bytes$`).FindStringSubmatch(line.Err)
		if line.Status != 200 || m == nil || m[1] != strconv.FormatInt(line.Bytes, 10) {
			t.Fatalf("the cut answer's access line: %s; want status 200, err naming the stall with its bytes", cut[0])
		}
		if v := metricstest.Scrape(t, srv.URL()).Get(cutName, "route", "sc.open"); v != 1 {
			t.Fatalf("%s{route=sc.open} = %v after one cut, want 1", cutName, v)
		}
	})

	t.Run("slow reader", func(t *testing.T) {
		const n = 1500
		c, err := net.Dial("unix", cfg.StoragedSocket())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go c.Write(openFrames(t, "one", n))
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		br := bufio.NewReader(c) // the descriptors are dropped by plain reads
		for i := range n {
			p, err := storage.ReadSCFrame(br, nil)
			if err != nil {
				t.Fatalf("answer %d of %d after %v: %v", i, n, time.Since(start).Round(time.Millisecond), err)
			}
			resp, err := storage.DecodeSCResponse(p)
			if err != nil || resp.Info == nil || resp.Info.Size != 5 {
				t.Fatalf("answer %d: %+v, %v", i, resp, err)
			}
			time.Sleep(stall / 400)
		}
		if took := time.Since(start); took < 2*stall {
			t.Fatalf("the slow read took %v: not slower than the stall, proves nothing", took)
		}
		if v := metricstest.Scrape(t, srv.URL()).Get(cutName, "route", "sc.open"); v != 1 {
			t.Fatalf("%s{route=sc.open} = %v after a slow reader, want still 1", cutName, v)
		}
	})
}
