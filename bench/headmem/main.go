// Command headmem measures the memory a daemon holds for request heads
// that never end (ADR-198): it starts one daemon binary on a free
// loopback port with a temporary config, opens -conns connections, sends
// on each a request line and header fields totalling -head bytes, paced
// over -spread (below read_header_timeout) and never the blank line that
// ends the head, then reads the daemon's VmRSS and VmHWM from
// /proc/PID/status while every connection is held, and what each
// connection got back. Loopback only.
//
//	go build -o /tmp/h1bin/ ./cmd/gateway ./cmd/storaged
//	go run ./bench/headmem -bin /tmp/h1bin -daemon gateway -head 1052000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// daemons are the sections of lakehouse.toml (shared.Daemons; not
// imported, so that this builds whatever state the harness is in).
var daemons = []string{"observerd", "storaged", "catalogd", "embedd", "vectord", "queryd",
	"ingestd", "matrixd", "pathwayd", "chatd", "gateway"}

func main() {
	bin := flag.String("bin", "/tmp/h1bin", "directory holding the daemon binaries")
	daemon := flag.String("daemon", "gateway", "daemon to start")
	conns := flag.Int("conns", 300, "connections")
	head := flag.Int("head", 1<<20, "bytes of request head sent on each connection (never ended)")
	spread := flag.Duration("spread", 5*time.Second, "time over which each head is sent")
	extra := flag.String("toml", "", "extra lines for the daemon's section")
	flag.Parse()
	if err := run(*bin, *daemon, *conns, *head, *spread, *extra); err != nil {
		fmt.Fprintln(os.Stderr, "headmem:", err)
		os.Exit(1)
	}
}

func run(bin, daemon string, conns, head int, spread time.Duration, extra string) error {
	dir, err := os.MkdirTemp("", "headmem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("data_dir = %q\n[%s]\nbind = %q\n%s\n", filepath.Join(dir, "data"), daemon, addr, extra)
	// The other daemons' sections on free ports too: nothing listens there.
	for _, name := range daemons {
		if name == daemon {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		cfg += fmt.Sprintf("[%s]\nbind = %q\n", name, l.Addr().String())
		l.Close()
	}
	path := filepath.Join(dir, "lakehouse.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, daemon), "--config", path)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	for i := 0; ; i++ {
		resp, err := hc.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			return fmt.Errorf("%s did not start: %v", daemon, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	rss0, _ := memStatus(pid)

	line := "GET /v1/storage/objects/x HTTP/1.1\r\nHost: x\r\n"
	// The head in pieces of at most 4 KiB, each a whole header field.
	var pieces []string
	pieces = append(pieces, line)
	left := head - len(line)
	for i := 0; left > 0; i++ {
		name := fmt.Sprintf("X-Pad-%d: ", i)
		n := min(left, 4096) - len(name) - 2
		if n < 1 {
			break
		}
		p := name + strings.Repeat("a", n) + "\r\n"
		pieces = append(pieces, p)
		left -= len(p)
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		defer c.Close()
		cs[i] = c
	}
	start := time.Now()
	gap := spread / time.Duration(len(pieces))
	failed := make([]bool, conns)
	for k, p := range pieces {
		var wg sync.WaitGroup
		for i, c := range cs {
			if failed[i] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.WriteString(c, p); err != nil {
					failed[i] = true
				}
			}()
		}
		wg.Wait()
		if d := start.Add(gap * time.Duration(k+1)).Sub(time.Now()); d > 0 {
			time.Sleep(d)
		}
	}
	sent := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	rss, hwm := memStatus(pid)
	t0 := time.Now()
	resp, err := hc.Get("http://" + addr + "/health")
	health := time.Since(t0)
	if err != nil {
		return fmt.Errorf("/health with the connections held: %w", err)
	}
	resp.Body.Close()
	// What each connection got: an answer (a 431) or nothing yet.
	answers := map[string]int{}
	for _, c := range cs {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		l, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err == nil || l != "":
			answers[strings.TrimSpace(l)]++
		default:
			answers["(nothing yet)"]++
		}
	}
	var failedN int
	for _, f := range failed {
		if f {
			failedN++
		}
	}
	fmt.Printf("daemon=%s conns=%d head=%d bytes sent_in=%s write_failures=%d\n", daemon, conns, head, sent.Round(time.Millisecond), failedN)
	fmt.Printf("VmRSS before=%d kB held=%d kB (+%d MB)  VmHWM=%d kB  /health while held: %s\n", rss0, rss, (rss-rss0)/1024, hwm, health.Round(time.Microsecond))
	for a, n := range answers {
		fmt.Printf("  %4d connections: %s\n", n, a)
	}
	return nil
}

// memStatus reads VmRSS and VmHWM (kB) of pid.
func memStatus(pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			fmt.Sscan(f[1], &rss)
		case "VmHWM:":
			fmt.Sscan(f[1], &hwm)
		}
	}
	return rss, hwm
}
