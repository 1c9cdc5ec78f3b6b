// Command devup is the developer launcher behind `just up`: it builds the
// eleven daemons into the -bin dir (default $BIN_DIR, else bin/; with
// -no-build it runs the binaries already there), starts them all on embedded defaults (or the
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
	"strings"
	"sync"
	"syscall"
	"time"

	"lakehouse-go/internal/shared"
)

func main() {
	config := flag.String("config", "", "lakehouse.toml to use (default: embedded defaults)")
	dataDir := flag.String("data", "lakehouse-data", "data dir for embedded defaults")
	binDir := flag.String("bin", defaultBinDir(os.Getenv), "dir of the daemon binaries: built there, or with -no-build run from there (default $BIN_DIR, else bin)")
	noBuild := flag.Bool("no-build", false, "run the binaries already in the -bin dir")
	flag.Parse()
	os.Exit(run(options{config: *config, dataDir: *dataDir, binDir: *binDir, build: !*noBuild}, os.Stdout, os.Stderr))
}

// defaultBinDir is -bin's default: $BIN_DIR (scripts/install.sh's dir of
// binaries already built), else bin.
func defaultBinDir(getenv func(string) string) string {
	if d := getenv("BIN_DIR"); d != "" {
		return d
	}
	return "bin"
}

type options struct {
	config, dataDir string
	binDir          string // where the daemons are built, or run from with build false
	build           bool
}

// binaries is the absolute path of every daemon's binary in dir, or an
// error naming each one missing or not executable there (before any
// daemon starts: a missing chatd let the ten before it start, then
// stopped them).
func binaries(dir string) (map[string]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	paths := make(map[string]string, len(shared.Daemons))
	var bad []string
	missing := 0
	for _, name := range shared.Daemons {
		p := filepath.Join(abs, name)
		paths[name] = p
		switch fi, err := os.Stat(p); {
		case err != nil:
			bad = append(bad, p+" is missing")
			missing++
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			bad = append(bad, p+" is not an executable file")
		}
	}
	if missing == len(shared.Daemons) {
		bad = []string{fmt.Sprintf("no daemon binary in %s (looked for %s and the ten others)", abs, paths["gateway"])}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s (-no-build runs the daemons in -bin %q, default $BIN_DIR, else bin; build them with `just build`, or drop -no-build)",
			strings.Join(bad, "; "), dir)
	}
	return paths, nil
}

func run(o options, stdout, stderr io.Writer) int {
	if o.build {
		dir := strings.TrimRight(o.binDir, string(filepath.Separator)) + string(filepath.Separator)
		fmt.Fprintln(stderr, "devup: go build -o", dir, "./cmd/...")
		cmd := exec.Command("go", "build", "-o", dir, "./cmd/...")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(stderr, "devup: build failed:", err)
			return 1
		}
	}
	bins, err := binaries(o.binDir)
	if err != nil {
		fmt.Fprintln(stderr, "devup:", err)
		return 1
	}
	config, dataDir := o.config, o.dataDir
	cfg, err := shared.Load(config, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "devup:", err)
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
		cmd := exec.Command(bins[name])
		cmd.Env = env
		// Own process group: Ctrl-C reaches devup only, which stops the
		// daemons in order (gateway first, observerd last).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		go prefix(name, pr, stdout, &out)
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(stderr, "devup: start %s: %v\n", name, err)
			stopAll(procs, stderr)
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
			fmt.Fprintf(stderr, "devup: all eleven daemons healthy in %v — gateway %s (data in %s); Ctrl-C stops them\n", took.Round(time.Millisecond), cfg.URL("gateway"), cfg.DataDir)
			out.Unlock()
		}
	}()
	code := 0
	select {
	case <-ctx.Done():
	case name := <-exited:
		fmt.Fprintf(stderr, "devup: %s exited (%v); stopping the rest\n", name, procs[name].cmd.ProcessState)
		delete(procs, name)
		code = 1
	}
	if !stopAll(procs, stderr) {
		code = 1
	}
	return code
}

func prefix(name string, r io.Reader, w io.Writer, mu *sync.Mutex) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintf(w, "%-9s | %s\n", name, sc.Text())
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
func stopAll(procs map[string]*proc, stderr io.Writer) bool {
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
				fmt.Fprintf(stderr, "devup: %s: %v\n", name, p.cmd.ProcessState)
				mu.Unlock()
			}
		}()
	}
	return ok
}
