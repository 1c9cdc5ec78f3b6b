// Package suite starts the real Lakehouse-Go binaries as child processes on
// free loopback ports with a temporary lakehouse.toml, for smoke tests and
// whole-system benchmarks. It is test support only: no daemon imports it.
package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	builtTemp bool // binDir is a temp dir this process made (Cleanup removes it)
)

// RepoRoot is the module root (found from this source file).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Binaries builds ./cmd/... once per test process into a temp dir (or uses
// $LH_BIN_DIR when set, e.g. by `just verify` after `just build`).
func Binaries() (string, error) {
	buildOnce.Do(func() {
		if d := os.Getenv("LH_BIN_DIR"); d != "" {
			binDir = d
			return
		}
		dir, err := os.MkdirTemp("", "lakehouse-bin-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			buildErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
			return
		}
		binDir, builtTemp = dir, true
	})
	return binDir, buildErr
}

// Cleanup removes the binaries Binaries built into a temp dir (~300 MB a
// build; never $LH_BIN_DIR). Test packages that start daemons call it
// through Main; the benches when they end.
func Cleanup() {
	if builtTemp {
		os.RemoveAll(binDir)
	}
}

// Main is TestMain for the packages that start daemons: it runs the tests
// and removes the binaries built for them.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// FreePorts returns n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Options shape a suite.
type Options struct {
	// Daemons to start; nil = all eleven.
	Daemons []string
	// Env is added to every daemon's environment (AUTH_TOKEN, LANGFUSE_*...).
	Env []string
	// ExtraTOML is appended to the generated lakehouse.toml (sections other
	// than the daemons', e.g. [langfuse]).
	ExtraTOML string
	// Settings adds lines to a daemon's own section, e.g.
	// {"vectord": "snapshot_interval = \"1s\""} (its bind is set already).
	Settings map[string]string
	// Log receives every daemon's output, each line prefixed with its name;
	// nil = kept in memory and printed through t.Log on failure.
	Log io.Writer
	// Hosts puts daemons on other loopback addresses, as if on other hosts
	// (e.g. {"storaged": "127.0.0.2"}); a daemon not named runs on
	// 127.0.0.1. Each address gets its own lakehouse.toml and data dir
	// (127.0.0.1's stay Dir/lakehouse.toml and Dir/data; another's are
	// under Dir/<address>/): a daemon's section there has its bind, the
	// sections of daemons on other addresses only their url. nil = every
	// daemon in one config, as before.
	Hosts map[string]string
	// HostTOML is appended to the config of one address (after ExtraTOML),
	// e.g. {"127.0.0.2": "[s3]\n..."}.
	HostTOML map[string]string
}

// Suite is a set of running daemons.
type Suite struct {
	Dir    string // temp dir: lakehouse.toml and data/
	Config string // path of lakehouse.toml
	Ports  map[string]int
	Token  string
	// Configs is each address's lakehouse.toml (only 127.0.0.1's without
	// Options.Hosts; Config is that one).
	Configs map[string]string
	procs   map[string]*exec.Cmd
	opts    Options
	logBuf  *syncbuf.Buffer
	bin     string
	mu      sync.Mutex
}

// URL of daemon name.
func (s *Suite) URL(name string) string {
	return fmt.Sprintf("http://%s:%d", s.Host(name), s.Ports[name])
}

// Host is the loopback address daemon name runs on (Options.Hosts).
func (s *Suite) Host(name string) string {
	if h := s.opts.Hosts[name]; h != "" {
		return h
	}
	return "127.0.0.1"
}

// HostDir is the directory of address host's lakehouse.toml and data/.
func (s *Suite) HostDir(host string) string {
	if host == "127.0.0.1" {
		return s.Dir
	}
	return filepath.Join(s.Dir, host)
}

// writeHostConfigs writes one lakehouse.toml per address of Options.Hosts
// (without Hosts, the one config every daemon reads: Dir/lakehouse.toml).
func (s *Suite) writeHostConfigs() error {
	s.Configs = map[string]string{}
	hosts := []string{"127.0.0.1"}
	for _, name := range shared.Daemons {
		h := s.Host(name)
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, h := range hosts {
		dir := s.HostDir(h)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		var toml strings.Builder
		fmt.Fprintf(&toml, "data_dir = %q\n", filepath.Join(dir, "data"))
		for _, name := range shared.Daemons {
			if s.Host(name) != h {
				fmt.Fprintf(&toml, "[%s]\nurl = %q\n", name, s.URL(name))
				continue
			}
			fmt.Fprintf(&toml, "[%s]\nbind = \"%s:%d\"\n", name, h, s.Ports[name])
			if extra := s.opts.Settings[name]; extra != "" {
				toml.WriteString(strings.TrimSpace(extra) + "\n")
			}
		}
		toml.WriteString(s.opts.ExtraTOML)
		toml.WriteString(s.opts.HostTOML[h])
		s.Configs[h] = filepath.Join(dir, "lakehouse.toml")
		if err := os.WriteFile(s.Configs[h], []byte(toml.String()), 0o600); err != nil {
			return err
		}
	}
	s.Config = s.Configs["127.0.0.1"]
	return nil
}

// Gateway is the gateway's base URL.
func (s *Suite) Gateway() string { return s.URL("gateway") }

// Start writes a config and starts the daemons; Stop is registered with t.Cleanup.
func Start(t testing.TB, opts Options) *Suite {
	t.Helper()
	s, err := StartE(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.logBuf != nil {
			t.Logf("daemon logs:\n%s", s.logBuf.String())
		}
	})
	return s
}

// StartE is Start without testing: dir holds config and data.
func StartE(dir string, opts Options) (*Suite, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	if opts.Daemons == nil {
		opts.Daemons = shared.Daemons
	}
	ports, err := FreePorts(len(shared.Daemons))
	if err != nil {
		return nil, err
	}
	s := &Suite{Dir: dir, Ports: map[string]int{}, procs: map[string]*exec.Cmd{}, opts: opts, bin: bin}
	for i, name := range shared.Daemons {
		s.Ports[name] = ports[i]
	}
	if err := s.writeHostConfigs(); err != nil {
		return nil, err
	}
	if s.opts.Log == nil {
		s.logBuf = &syncbuf.Buffer{}
		s.opts.Log = s.logBuf
	}
	for _, e := range opts.Env {
		if strings.HasPrefix(e, "AUTH_TOKEN=") {
			s.Token = strings.TrimPrefix(e, "AUTH_TOKEN=")
		}
	}
	for _, name := range opts.Daemons {
		if err := s.StartDaemon(name); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// StartDaemon (re)starts one daemon.
func (s *Suite) StartDaemon(name string) error {
	cmd := exec.Command(filepath.Join(s.bin, name), "--config", s.Configs[s.Host(name)])
	cmd.Env = append(os.Environ(), s.opts.Env...)
	pw := &prefixWriter{prefix: name + " | ", out: s.opts.Log}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[name] = cmd
	s.mu.Unlock()
	return nil
}

// Process returns the child process of daemon name.
func (s *Suite) Process(name string) *os.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.procs[name]; c != nil {
		return c.Process
	}
	return nil
}

// Kill sends SIGKILL to daemon name and waits for it.
func (s *Suite) Kill(name string) {
	s.mu.Lock()
	c := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if c != nil {
		c.Process.Kill()
		c.Wait()
	}
}

// Stop sends SIGTERM to every daemon in reverse start order (dependents
// first, as systemd's After= ordering does), waiting for each (SIGKILL after
// 15 s). It returns the daemons that did not exit 0.
func (s *Suite) Stop() []string {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*exec.Cmd{}
	s.mu.Unlock()
	var bad []string
	for i := len(shared.Daemons) - 1; i >= 0; i-- {
		name := shared.Daemons[i]
		c := procs[name]
		if c == nil {
			continue
		}
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			err = <-done
		}
		if err != nil {
			bad = append(bad, name+": "+err.Error())
		}
	}
	return bad
}

// WaitHealthy polls GET /v1/health on the gateway until every started
// daemon is ok, or timeout. It returns how long that took.
func (s *Suite) WaitHealthy(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	var last string
	for time.Since(start) < timeout {
		ok := true
		for _, name := range s.opts.Daemons {
			resp, err := client.Get(s.URL(name) + "/health")
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			var h shared.Health
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Status != "ok" {
				ok, last = false, name+" "+h.Status
				break
			}
		}
		if ok {
			return time.Since(start), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("not healthy after %v: %s", timeout, last)
}

// Do sends a request to the gateway with the suite's token.
func (s *Suite) Do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Gateway()+path, body)
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// Logs is what the daemons printed so far (when Options.Log was nil).
func (s *Suite) Logs() string {
	if s.logBuf == nil {
		return ""
	}
	return s.logBuf.String()
}

// prefixWriter prefixes every line with a daemon name.
type prefixWriter struct {
	mu      sync.Mutex
	prefix  string
	out     io.Writer
	partial []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	consumed := 0
	for {
		i := bytes.IndexByte(w.partial[consumed:], '\n')
		if i < 0 {
			break
		}
		line := w.partial[consumed : consumed+i+1]
		w.out.Write(append([]byte(w.prefix), line...))
		consumed += i + 1
	}
	w.partial = append(w.partial[:0], w.partial[consumed:]...)
	return len(p), nil
}
