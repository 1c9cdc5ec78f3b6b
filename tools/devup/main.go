// Command devup is the developer launcher behind `just up`: it builds the
// eleven daemons into bin/, starts them all on embedded defaults (or the
// config given with -config), prefixes each log line with the daemon's name,
// waits until the gateway reports every daemon healthy, and on Ctrl-C sends
// SIGTERM to all of them and waits for clean exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"lakehouse-go/internal/shared"
)

func main() {
	config := flag.String("config", "", "lakehouse.toml to use (default: embedded defaults)")
	dataDir := flag.String("data", "lakehouse-data", "data dir for embedded defaults")
	noBuild := flag.Bool("no-build", false, "use the binaries already in bin/")
	flag.Parse()
	os.Exit(run(*config, *dataDir, !*noBuild))
}

func run(config, dataDir string, build bool) int {
	if build {
		fmt.Fprintln(os.Stderr, "devup: go build -o bin/ ./cmd/...")
		cmd := exec.Command("go", "build", "-o", "bin/", "./cmd/...")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "devup: build failed:", err)
			return 1
		}
	}
	cfg, err := shared.Load(config, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devup:", err)
		return 2
	}
	env := os.Environ()
	if config != "" {
		abs, _ := filepath.Abs(config)
		env = append(env, "LAKEHOUSE_CONFIG="+abs)
	} else if os.Getenv("LAKEHOUSE_DATA_DIR") == "" {
		abs, _ := filepath.Abs(dataDir)
		env = append(env, "LAKEHOUSE_DATA_DIR="+abs)
		cfg.DataDir = abs
	}
	var out sync.Mutex
	procs := map[string]*proc{}
	exited := make(chan string, len(shared.Daemons))
	for _, name := range shared.Daemons {
		cmd := exec.Command(filepath.Join("bin", name))
		cmd.Env = env
		// Own process group: Ctrl-C reaches devup only, which stops the
		// daemons in order (gateway first, observerd last).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		go prefix(name, pr, &out)
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "devup: start %s: %v\n", name, err)
			stopAll(procs)
			return 1
		}
		p := &proc{cmd: cmd, done: make(chan struct{})}
		procs[name] = p
		go func() { cmd.Wait(); pw.Close(); close(p.done); exited <- name }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if took, err := waitHealthy(ctx, cfg.URL("gateway")); err == nil {
			out.Lock()
			fmt.Fprintf(os.Stderr, "devup: all eleven daemons healthy in %v — gateway %s (data in %s); Ctrl-C stops them\n", took.Round(time.Millisecond), cfg.URL("gateway"), cfg.DataDir)
			out.Unlock()
		}
	}()
	code := 0
	select {
	case <-ctx.Done():
	case name := <-exited:
		fmt.Fprintf(os.Stderr, "devup: %s exited (%v); stopping the rest\n", name, procs[name].cmd.ProcessState)
		delete(procs, name)
		code = 1
	}
	if !stopAll(procs) {
		code = 1
	}
	return code
}

func prefix(name string, r io.Reader, mu *sync.Mutex) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Printf("%-9s | %s\n", name, sc.Text())
		mu.Unlock()
	}
}

func waitHealthy(ctx context.Context, gateway string) (time.Duration, error) {
	start := time.Now()
	c := &http.Client{Timeout: time.Second}
	for ctx.Err() == nil && time.Since(start) < 60*time.Second {
		resp, err := c.Get(gateway + "/v1/health")
		if err == nil {
			var h struct{ Status string }
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Status == "ok" {
				return time.Since(start), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("not healthy")
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
}

// stopAll stops the daemons in reverse start order (the gateway first,
// observerd last, so the others can flush their reports to it), each with
// SIGTERM and a wait; it reports whether all exited 0.
func stopAll(procs map[string]*proc) bool {
	ok := true
	var mu sync.Mutex
	for i := len(shared.Daemons) - 1; i >= 0; i-- {
		name := shared.Daemons[i]
		p := procs[name]
		if p == nil {
			continue
		}
		func() {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(25 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
			if !p.cmd.ProcessState.Success() {
				mu.Lock()
				ok = false
				fmt.Fprintf(os.Stderr, "devup: %s: %v\n", name, p.cmd.ProcessState)
				mu.Unlock()
			}
		}()
	}
	return ok
}
