package smoke

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// unitDirectives reads a systemd unit: directive -> every value given.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q", path, line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

// writePaths is every path daemon name writes under cfg (its state, temp
// and cache directories, journals, the storaged socket clients connect to).
func writePaths(cfg *shared.Config) []string {
	return []string{
		cfg.DataDir,
		cfg.DataPath(cfg.Storaged.Dir, "objects"), cfg.StoragedSocket(), cfg.DataPath("", "storaged/uploads.jsonl"),
		cfg.DataPath(cfg.Ingestd.TempDir, "ingestd/tmp"),
		cfg.DataPath(cfg.Queryd.CacheDir, "queryd/cache"), cfg.DataPath("", "queryd/tmp"),
		cfg.DataPath(cfg.Vectord.Dir, "vectord"), cfg.DataPath(cfg.Matrixd.Dir, "matrixd"),
		cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl"), cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl"),
	}
}

func under(p string, dirs []string) bool {
	for _, d := range dirs {
		for _, d := range strings.Fields(d) {
			d = strings.TrimPrefix(d, "-")
			if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
				return true
			}
		}
	}
	return false
}

// TestSystemdUnitsMatchTheConfig: each unit against the installed config
// (deploy/etc-lakehouse/lakehouse.toml.example) and the binary it runs:
// ReadWritePaths covers every path the daemon writes (ProtectSystem=strict
// makes everything else read-only: a miss is EROFS at the first write);
// TimeoutStopSec outlasts shutdown_timeout plus the telemetry flushes
// (else SIGKILL cuts the drain); MemoryDenyWriteExecute is off exactly for
// the binaries that link DuckDB; both env files are read, optionally; a
// config error (exit 2) is not restarted in a loop; the data dir is 0750.
func TestSystemdUnitsMatchTheConfig(t *testing.T) {
	root := suite.RepoRoot()
	cfg, err := shared.Load(filepath.Join(root, "deploy/etc-lakehouse/lakehouse.toml.example"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range shared.Daemons {
		t.Run(name, func(t *testing.T) {
			d := unitDirectives(t, filepath.Join(root, "deploy/systemd/lakehouse-"+name+".service"))
			for _, p := range writePaths(cfg) {
				if !under(p, d["ReadWritePaths"]) {
					t.Errorf("writes %s; ReadWritePaths %v does not cover it", p, d["ReadWritePaths"])
				}
			}
			if cfg.DataDir != "/var/lib/lakehouse" || !slices.Contains(d["StateDirectory"], "lakehouse") || !slices.Contains(d["WorkingDirectory"], cfg.DataDir) {
				t.Errorf("data_dir %s, StateDirectory %v, WorkingDirectory %v", cfg.DataDir, d["StateDirectory"], d["WorkingDirectory"])
			}
			if !slices.Equal(d["StateDirectoryMode"], []string{"0750"}) {
				t.Errorf("StateDirectoryMode %v: systemd's default 0755 lets every local user read the objects", d["StateDirectoryMode"])
			}
			stop, err := time.ParseDuration(strings.Join(d["TimeoutStopSec"], ""))
			if err != nil {
				t.Fatalf("TimeoutStopSec %v: %v", d["TimeoutStopSec"], err)
			}
			if need := cfg.Section(name).ShutdownTimeout.Duration + 2*2*time.Second; stop <= need {
				t.Errorf("TimeoutStopSec %v: a full drain takes up to %v (shutdown_timeout + two 2 s flushes)", stop, need)
			}
			if !slices.Contains(d["RestartPreventExitStatus"], "2") {
				t.Errorf("RestartPreventExitStatus %v: a config error (exit 2) restarts in a loop", d["RestartPreventExitStatus"])
			}
			for _, env := range []string{"-/etc/lakehouse/lakehouse.env", "-/etc/lakehouse/" + name + ".env"} {
				if !slices.Contains(d["EnvironmentFile"], env) {
					t.Errorf("EnvironmentFile %v: want %s", d["EnvironmentFile"], env)
				}
			}
			list := exec.Command("go", "list", "-deps", "./cmd/"+name)
			list.Dir = root
			out, err := list.Output()
			if err != nil {
				t.Fatal(err)
			}
			duckdb := bytes.Contains(out, []byte("github.com/duckdb/"))
			if mdwe := strings.Join(d["MemoryDenyWriteExecute"], ""); (mdwe == "no") != duckdb {
				t.Errorf("MemoryDenyWriteExecute=%s with DuckDB linked: %v", mdwe, duckdb)
			}
		})
	}
}

// TestConfigErrorExitsTwo: the exit status RestartPreventExitStatus=2
// names is what a daemon gives for a bad config (with every problem on
// stderr), and a start failure that a restart can fix (the port is taken)
// is another status, which systemd does restart.
func TestConfigErrorExitsTwo(t *testing.T) {
	bin := buildDaemon(t, "catalogd")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[catalogd]\nbind = \"127.0.0.1:0\"\nidle_timeout = \"-1s\"\nbnid = \"x\"\n"), 0o600)
	var stderr bytes.Buffer
	run := exec.Command(bin, "--config", bad)
	run.Env = []string{"PATH=/usr/bin:/bin"}
	run.Stderr = &stderr
	err := run.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("bad config: %v, want exit 2", err)
	}
	for _, want := range []string{"catalogd.bnid", `[catalogd].idle_timeout "-1s"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name %s: %s", want, stderr.String())
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(fmt.Sprintf("data_dir = %q\n[catalogd]\nbind = %q\n[report]\nenabled = false\n", filepath.Join(dir, "data"), ln.Addr())), 0o600)
	run = exec.Command(bin, "--config", good)
	run.Env = []string{"PATH=/usr/bin:/bin"}
	err = run.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 2 || ee.ExitCode() == 0 {
		t.Fatalf("port taken: %v, want a restartable failure (exit 1)", err)
	}
}

// TestStartConfigErrorsExitTwo: config errors that only a daemon's own
// start finds — chatd's provider settings, storaged's S3 secrets file
// (readable by others, or the example's placeholder key) — are exit 2 like
// Load's, so systemd's RestartPreventExitStatus=2 does not restart them
// every 2 s until it gives up (they were exit 1).
func TestStartConfigErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := write("open.toml", "[s3.primary]\naccess_key_id = \"a\"\nsecret_access_key = \"real-secret\"\n", 0o644)
	placeholder := write("placeholder.toml", "[s3.primary]\naccess_key_id = \"lakehouse\"\nsecret_access_key = \"change-me\"\n", 0o600)
	for _, c := range []struct {
		daemon, config, want string
	}{
		{"chatd", "[chatd]\nbind = \"127.0.0.1:0\"\nfallback = [\"nosuch\"]\n", `fallback "nosuch"`},
		{"storaged", fmt.Sprintf("[storaged]\nbind = \"127.0.0.1:0\"\nbackend = \"s3\"\n[s3]\nendpoint = \"127.0.0.1:9\"\nsecrets_path = %q\n", open), "readable by group or others"},
		{"storaged", fmt.Sprintf("[storaged]\nbind = \"127.0.0.1:0\"\nbackend = \"s3\"\n[s3]\nendpoint = \"127.0.0.1:9\"\nsecrets_path = %q\n", placeholder), "placeholder"},
	} {
		bin := buildDaemon(t, c.daemon)
		cfg := write(c.daemon+".toml", fmt.Sprintf("data_dir = %q\n[report]\nenabled = false\n", filepath.Join(dir, "data"))+c.config, 0o600)
		var stderr bytes.Buffer
		// A daemon that starts after all is stopped (and fails the check).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		run := exec.CommandContext(ctx, bin, "--config", cfg)
		run.Env = []string{"PATH=/usr/bin:/bin"}
		run.Stderr = &stderr
		err := run.Run()
		cancel()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s with %q: %v, stderr %q; want exit 2 naming %q", c.daemon, c.config, err, stderr.String(), c.want)
		}
	}
}

// TestComposeFile: docker-compose.yml, the Dockerfile and the image's
// lakehouse.toml agree: one service per daemon running that daemon as
// 999:999 with the named volume at data_dir, its own -healthcheck, the
// gates its non-loopback bind needs, a url the others reach it at (its
// service name and DESIGN.md port), the daemons it calls started first,
// only the gateway published and only on loopback, and a stop grace
// period longer than the drain (Docker's default 10 s is not).
func TestComposeFile(t *testing.T) {
	root := suite.RepoRoot()
	var compose struct {
		Services map[string]struct {
			Image           string            `yaml:"image"`
			User            string            `yaml:"user"`
			Command         []string          `yaml:"command"`
			Volumes         []string          `yaml:"volumes"`
			Ports           []string          `yaml:"ports"`
			Environment     map[string]string `yaml:"environment"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
			DependsOn       map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	cfg, err := shared.Load(filepath.Join(root, "deploy/docker/lakehouse.toml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(compose.Services) != len(shared.Daemons) {
		t.Errorf("%d services, want %d", len(compose.Services), len(shared.Daemons))
	}
	if _, ok := compose.Volumes["lakehouse-state"]; !ok {
		t.Error("no named volume lakehouse-state")
	}
	for _, name := range shared.Daemons {
		s, ok := compose.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		errorf := func(format string, args ...any) { t.Errorf(name+": "+format, args...) }
		if s.Image != "lakehouse-go:latest" || s.User != "999:999" || !slices.Equal(s.Command, []string{name}) {
			errorf("image %q user %q command %q", s.Image, s.User, s.Command)
		}
		if !slices.Contains(s.Volumes, "lakehouse-state:"+cfg.DataDir) {
			errorf("volumes %v: want lakehouse-state:%s (data_dir)", s.Volumes, cfg.DataDir)
		}
		if !slices.Equal(s.Healthcheck.Test, []string{"CMD", name, "-healthcheck"}) {
			errorf("healthcheck %q", s.Healthcheck.Test)
		}
		if s.Environment["LH_"+strings.ToUpper(name)+"_ALLOW_NONLOOPBACK"] != "1" || !strings.Contains(s.Environment["AUTH_TOKEN"], "AUTH_TOKEN") {
			errorf("environment %v: a non-loopback bind needs AUTH_TOKEN and LH_%s_ALLOW_NONLOOPBACK=1", s.Environment, strings.ToUpper(name))
		}
		port := shared.DefaultPorts[name]
		if sec := cfg.Section(name); sec.Bind != fmt.Sprintf("0.0.0.0:%d", port) || cfg.URL(name) != fmt.Sprintf("http://%s:%d", name, port) {
			errorf("bind %s url %s: want 0.0.0.0:%d and http://%s:%d", sec.Bind, cfg.URL(name), port, name, port)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if need := cfg.Section(name).ShutdownTimeout.Duration + 2*2*time.Second; err != nil || grace <= need {
			errorf("stop_grace_period %q: a full drain takes up to %v; Docker's default is 10s", s.StopGracePeriod, need)
		}
		wantPorts := []string(nil)
		if name == "gateway" {
			wantPorts = []string{"127.0.0.1:3110:3110"}
		}
		if !slices.Equal(s.Ports, wantPorts) {
			errorf("ports %v, want %v", s.Ports, wantPorts)
		}
		// What the systemd unit starts first, compose waits for too.
		d := unitDirectives(t, filepath.Join(root, "deploy/systemd/lakehouse-"+name+".service"))
		for _, after := range strings.Fields(strings.Join(d["After"], " ")) {
			dep, ok := strings.CutPrefix(strings.TrimSuffix(after, ".service"), "lakehouse-")
			if !ok {
				continue
			}
			if c := s.DependsOn[dep].Condition; c != "service_healthy" {
				errorf("the unit starts after %s; compose depends_on %s: %q, want service_healthy", dep, dep, c)
			}
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"chown 999:999 " + cfg.DataDir, "USER 999:999", "WORKDIR " + cfg.DataDir, `VOLUME ["` + cfg.DataDir + `"]`,
		"COPY deploy/docker/lakehouse.toml /etc/lakehouse/lakehouse.toml", "ENV LAKEHOUSE_CONFIG=/etc/lakehouse/lakehouse.toml",
		// .dockerignore leaves .git out, so the binaries cannot read their
		// version from it: without this /health said "dev" in every image.
		"-X lakehouse-go/internal/shared.Version=${VERSION}",
	} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
}

// calls is whom each daemon calls (env.Client in its package: the gateway
// forwards to all ten; observerd, which every daemon reports to
// fail-open, is not waited for, ADR-074).
var calls = map[string][]string{
	"gateway":   {"storaged", "catalogd", "ingestd", "queryd", "vectord", "embedd", "pathwayd", "matrixd", "observerd", "chatd"},
	"catalogd":  {"storaged"},
	"ingestd":   {"storaged", "catalogd"},
	"queryd":    {"storaged", "catalogd"},
	"vectord":   {"storaged"},
	"matrixd":   {"catalogd", "queryd", "vectord", "embedd"},
	"storaged":  nil,
	"embedd":    nil,
	"pathwayd":  nil,
	"observerd": nil,
	"chatd":     nil,
}

// TestUnitsStopCallersFirst: each unit is After= exactly the daemons it
// calls, and compose's depends_on names the same ones. systemd stops in
// the reverse of After=, so `systemctl stop lakehouse-go.target` drains a
// caller's in-flight requests (an upload through the gateway to ingestd to
// storaged) while what it calls still serves; a caller without the After=
// got SIGTERM at the same moment as storaged, whose listener closed at
// once, and its drain ended in 502s. docker compose stops in the reverse
// of depends_on the same way.
func TestUnitsStopCallersFirst(t *testing.T) {
	root := suite.RepoRoot()
	var compose struct {
		Services map[string]struct {
			DependsOn map[string]any `yaml:"depends_on"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(shared.Daemons) {
		t.Fatalf("calls names %d daemons, want %d", len(calls), len(shared.Daemons))
	}
	for _, name := range shared.Daemons {
		want := slices.Sorted(slices.Values(calls[name]))
		d := unitDirectives(t, filepath.Join(root, "deploy/systemd/lakehouse-"+name+".service"))
		var after []string
		for _, u := range strings.Fields(strings.Join(d["After"], " ")) {
			if dep, ok := strings.CutPrefix(strings.TrimSuffix(u, ".service"), "lakehouse-"); ok {
				after = append(after, dep)
			}
		}
		slices.Sort(after)
		if !slices.Equal(after, want) {
			t.Errorf("%s: the unit is After= %v; it calls %v (stopped before them only with After=)", name, after, want)
		}
		var deps []string
		for dep := range compose.Services[name].DependsOn {
			deps = append(deps, dep)
		}
		slices.Sort(deps)
		if !slices.Equal(deps, want) {
			t.Errorf("%s: compose depends_on %v; it calls %v", name, deps, want)
		}
	}
}

// TestUnitsRestartACrash: a daemon that crashes is restarted. Go exits 2
// on an unrecovered panic and on a runtime fatal error, the status
// RestartPreventExitStatus=2 keeps for config errors, so a crash left the
// daemon down for good. Under each unit's Environment= and LimitCORE= a
// real Go program that panics, and one that dies of a fatal error, must
// end in a way Restart=on-failure restarts (a signal or another status),
// with the stacks on stderr (the journal) and no core file in its working
// directory.
func TestUnitsRestartACrash(t *testing.T) {
	dir := t.TempDir()
	progs := map[string]string{
		"panic": "package main\n\nfunc main() {\n\tdone := make(chan bool)\n\tgo func() { panic(\"boom\") }()\n\t<-done\n}\n",
		"fatal": "package main\n\nfunc main() { select {} }\n", // all goroutines are asleep
	}
	for name, src := range progs {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name, "main.go"), []byte(src), 0o644)
		os.WriteFile(filepath.Join(dir, name, "go.mod"), []byte("module crash\n\ngo 1.22\n"), 0o644)
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name+".bin"), ".")
		build.Dir = filepath.Join(dir, name)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	root := suite.RepoRoot()
	for _, unit := range shared.Daemons {
		d := unitDirectives(t, filepath.Join(root, "deploy/systemd/lakehouse-"+unit+".service"))
		env := []string{"PATH=/usr/bin:/bin"}
		for _, e := range d["Environment"] {
			env = append(env, strings.Fields(e)...)
		}
		core := "unlimited" // without LimitCORE=, what systemd passes on (infinity on many systems)
		if v := d["LimitCORE"]; len(v) > 0 {
			core = strings.Replace(v[len(v)-1], "infinity", "unlimited", 1)
		}
		prevent := strings.Fields(strings.Join(d["RestartPreventExitStatus"], " "))
		for name := range progs {
			cwd := t.TempDir()
			var stderr bytes.Buffer
			run := exec.Command("sh", "-c", "ulimit -c "+core+" && exec \"$0\"", filepath.Join(dir, name+".bin"))
			run.Env, run.Dir, run.Stderr = env, cwd, &stderr
			err := run.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("%s: %s: %v", unit, name, err)
			}
			ws := ee.Sys().(syscall.WaitStatus)
			if ws.Exited() && slices.Contains(prevent, strconv.Itoa(ws.ExitStatus())) {
				t.Errorf("%s: a %s exits %d, which RestartPreventExitStatus=%v keeps down", unit, name, ws.ExitStatus(), prevent)
			}
			if !strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("%s: a %s left no stacks on stderr:\n%s", unit, name, stderr.String())
			}
			if files, _ := os.ReadDir(cwd); len(files) > 0 {
				t.Errorf("%s: a %s left %s in the working directory (the data dir)", unit, name, files[0].Name())
			}
		}
	}
}

func buildDaemon(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = suite.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestBadMemoryLimitExitsTwo: a queryd given a memory_limit DuckDB refuses
// stops at load with exit 2 naming [queryd].memory_limit (it used to get
// as far as opening DuckDB and exit 1 on "SET memory_limit = '80%':
// Parser Error", which systemd restarted every 2 s).
func TestBadMemoryLimitExitsTwo(t *testing.T) {
	bin := buildDaemon(t, "queryd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n[queryd]\nbind = \"127.0.0.1:0\"\nmemory_limit = \"80%%\"\n[report]\nenabled = false\n", filepath.Join(dir, "data"))), 0o600)
	var stderr bytes.Buffer
	run := exec.Command(bin, "--config", conf)
	run.Env = []string{"PATH=/usr/bin:/bin"}
	run.Stderr = &stderr
	done := make(chan error, 1)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- run.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), `[queryd].memory_limit "80%"`) {
			t.Fatalf("exit %v, stderr %s; want exit 2 naming [queryd].memory_limit", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		run.Process.Kill()
		t.Fatal("queryd started with memory_limit = \"80%\"")
	}
}
