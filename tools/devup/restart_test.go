package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestMain runs this test binary as devup itself when DEVUP_MAIN=1 (the
// tests start it as a real child process, to send it a real SIGINT), and
// removes the daemons suite.Binaries built.
func TestMain(m *testing.M) {
	if os.Getenv("DEVUP_MAIN") == "1" {
		main()
		return
	}
	suite.Main(m)
}

// devupRun is a devup child process running the real daemons.
type devupRun struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *syncbuf.Buffer // stdout and stderr: the daemons' lines and devup's
	config  string
	ports   map[string]int
	exited  chan struct{}
	initial map[string]int // daemon name -> pid once the suite was healthy
}

// startDevup writes a lakehouse.toml with every daemon on a free loopback
// port and a temp data dir, starts devup -no-build on the real binaries
// with args, and waits until it says all eleven are healthy.
func startDevup(t *testing.T, args ...string) *devupRun {
	t.Helper()
	bin, err := suite.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	return startDevupIn(t, bin, nil, "", nil, args...)
}

// startDevupIn is startDevup with the daemons of bin, devup run through
// wrap (e.g. a shell that raises a limit), in dir cwd ("" = the test's),
// with env added to devup's environment; env's values may name a daemon's
// port as {port:name}.
func startDevupIn(t *testing.T, bin string, wrap []string, cwd string, env []string, args ...string) *devupRun {
	t.Helper()
	dir := t.TempDir()
	ports, err := suite.FreePorts(len(shared.Daemons))
	if err != nil {
		t.Fatal(err)
	}
	r := &devupRun{t: t, out: &syncbuf.Buffer{}, ports: map[string]int{}, exited: make(chan struct{})}
	var toml strings.Builder
	fmt.Fprintf(&toml, "data_dir = %q\n", filepath.Join(dir, "data"))
	for i, name := range shared.Daemons {
		r.ports[name] = ports[i]
		fmt.Fprintf(&toml, "[%s]\nbind = \"127.0.0.1:%d\"\n", name, ports[i])
	}
	r.config = filepath.Join(dir, "lakehouse.toml")
	if err := os.WriteFile(r.config, []byte(toml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string{}, wrap...), self, "-no-build", "-bin", bin, "-config", r.config), args...)
	r.cmd = exec.Command(argv[0], argv[1:]...)
	r.cmd.Dir = cwd
	r.cmd.Env = append(os.Environ(), "DEVUP_MAIN=1", "LAKEHOUSE_CONFIG=", "LAKEHOUSE_DATA_DIR=", "GOTRACEBACK=")
	for _, e := range env {
		for name, port := range r.ports {
			e = strings.ReplaceAll(e, "{port:"+name+"}", strconv.Itoa(port))
		}
		r.cmd.Env = append(r.cmd.Env, e)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			kids := children(r.cmd.Process.Pid)
			r.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-r.exited:
			case <-time.After(60 * time.Second):
				r.cmd.Process.Kill()
				for _, pid := range kids {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if t.Failed() {
			t.Logf("devup's output:\n%s", r.out.String())
		}
	})
	r.waitLog("all eleven daemons healthy", 120*time.Second)
	r.initial = children(r.cmd.Process.Pid)
	if len(r.initial) != len(shared.Daemons) {
		t.Fatalf("devup's children once healthy: %v; want all eleven", r.initial)
	}
	return r
}

// waitLog waits until devup's output matches re.
func (r *devupRun) waitLog(re string, timeout time.Duration) {
	r.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for !rx.MatchString(r.out.String()) {
		if time.Now().After(deadline) {
			r.t.Fatalf("devup never printed %q within %v", re, timeout)
		}
		select {
		case <-r.exited:
			if !rx.MatchString(r.out.String()) {
				r.t.Fatalf("devup exited (%v) before it printed %q", r.cmd.ProcessState, re)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// interrupt sends devup SIGINT (Ctrl-C) and returns its exit code.
func (r *devupRun) interrupt() int {
	r.t.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.exited:
	case <-time.After(90 * time.Second):
		r.t.Fatal("devup did not exit within 90 s of SIGINT")
	}
	return r.cmd.ProcessState.ExitCode()
}

// health GETs daemon name's /health: its status, or "" when it does not
// answer as that daemon.
func (r *devupRun) health(name string) string {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(r.ports[name]) + "/health")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h shared.Health
	if json.NewDecoder(resp.Body).Decode(&h) != nil || h.Service != name {
		return ""
	}
	return h.Status
}

// othersKept fails unless every daemon but the ones named still runs as
// the process it was once the suite was healthy.
func (r *devupRun) othersKept(but ...string) {
	r.t.Helper()
	now := children(r.cmd.Process.Pid)
	for name, pid := range r.initial {
		if contains(but, name) {
			continue
		}
		if now[name] != pid {
			r.t.Errorf("%s: pid %d, was %d (every daemon but %v is to keep running)", name, now[name], pid, but)
		}
	}
}

// allGone fails unless every process in pids has ended (devup waited
// for them) and devup printed no stop failure.
func (r *devupRun) allGone(pids map[string]int) {
	r.t.Helper()
	if len(pids) == 0 {
		r.t.Error("no daemon ran before Ctrl-C")
	}
	for name, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			r.t.Errorf("%s (pid %d) still runs after devup exited", name, pid)
		}
	}
	for _, name := range shared.Daemons {
		if strings.Contains(r.out.String(), "devup: "+name+": ") {
			r.t.Errorf("%s did not stop cleanly on Ctrl-C", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// children maps the process name of each live child of pid to its pid,
// from /proc.
func children(pid int) map[string]int {
	m := map[string]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			m[s[i+1:j]] = n
		}
	}
	return m
}

// TestRestartsACrashedDaemon: a daemon killed with SIGKILL is restarted
// alone, after 100 ms, then 200 ms the next time, and answers /health
// again while the ten others keep their processes; a daemon that exits 0
// (a SIGTERM devup did not send) stays down; Ctrl-C still stops all with
// exit 0. Before: the first kill stopped the whole suite, exit 1.
func TestRestartsACrashedDaemon(t *testing.T) {
	r := startDevup(t)
	victim := "catalogd"
	old := r.initial[victim]
	syscall.Kill(old, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up; restarting it in 100ms \(restart 1\)`, victim, old), 30*time.Second)
	r.waitLog(victim+` restarted \(pid [0-9]+\)`, 30*time.Second)
	r.waitLog(victim+` is back \(pid [0-9]+, healthy`, 60*time.Second)
	now := children(r.cmd.Process.Pid)
	if now[victim] == 0 || now[victim] == old {
		t.Fatalf("%s after its restart: pid %d (was %d)", victim, now[victim], old)
	}
	if st := r.health(victim); st != "ok" {
		t.Errorf("%s's /health after its restart: %q, want ok", victim, st)
	}
	r.othersKept(victim)

	// again: the delay has doubled
	second := now[victim]
	syscall.Kill(second, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up; restarting it in 200ms \(restart 2\)`, victim, second), 30*time.Second)
	r.waitLog(`(?s)restart 2\).*`+victim+` is back`, 60*time.Second)
	if st := r.health(victim); st != "ok" {
		t.Errorf("%s's /health after its second restart: %q, want ok", victim, st)
	}
	r.othersKept(victim)

	// a clean exit devup did not ask for: not restarted
	stopped := "pathwayd"
	syscall.Kill(r.initial[stopped], syscall.SIGTERM)
	r.waitLog(stopped+` exited \(exit status 0\): a clean stop devup did not ask for; not restarted, 10 other daemons keep running`, 60*time.Second)
	time.Sleep(time.Second)
	if pid, ok := children(r.cmd.Process.Pid)[stopped]; ok {
		t.Errorf("%s runs again (pid %d) after it exited 0", stopped, pid)
	}
	if st := r.health(stopped); st != "" {
		t.Errorf("%s answers /health (%q) after it exited 0", stopped, st)
	}
	r.othersKept(victim, stopped)

	running := children(r.cmd.Process.Pid)
	if code := r.interrupt(); code != 0 {
		t.Errorf("devup exited %d after Ctrl-C, want 0", code)
	}
	r.allGone(running)
}

// TestCtrlCDuringRestartDelay: Ctrl-C while a crashed daemon waits for
// its restart stops every other daemon and starts nothing; devup exits 0.
// Before: the crash itself stopped the suite, exit 1.
func TestCtrlCDuringRestartDelay(t *testing.T) {
	r := startDevup(t, "-restart-delay", "5s")
	victim := "vectord"
	syscall.Kill(r.initial[victim], syscall.SIGKILL)
	r.waitLog(victim+` \(pid [0-9]+\) crashed \(signal: killed\) after .* up; restarting it in 5s \(restart 1\)`, 30*time.Second)
	r.othersKept(victim)
	start := time.Now()
	code := r.interrupt()
	if code != 0 {
		t.Errorf("devup exited %d after Ctrl-C, want 0", code)
	}
	out := r.out.String()
	if !strings.Contains(out, "devup: stopping: "+victim+"'s restart is cancelled") {
		t.Errorf("devup did not say %s's restart was cancelled", victim)
	}
	if strings.Contains(out, victim+" restarted") {
		t.Errorf("%s was restarted after Ctrl-C", victim)
	}
	t.Logf("devup stopped %v after Ctrl-C", time.Since(start).Round(time.Millisecond))
	// past the restart's due time: nothing answers on its port, nothing runs
	time.Sleep(time.Until(start.Add(6 * time.Second)))
	if st := r.health(victim); st != "" {
		t.Errorf("%s answers /health (%q) after devup stopped", victim, st)
	}
	delete(r.initial, victim)
	r.allGone(r.initial)
	for name, port := range r.ports {
		if st := r.health(name); st != "" {
			t.Errorf("%s still answers on %d after devup stopped", name, port)
		}
	}
}

// TestConfigErrorNotRestarted: a daemon whose restart exits 2 (its config
// was broken while it ran) is not restarted again; the ten others keep
// running, and devup says why and exits 1 on Ctrl-C. Before: the kill
// stopped the whole suite.
func TestConfigErrorNotRestarted(t *testing.T) {
	r := startDevup(t)
	b, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.config, append([]byte("not_a_key = 1\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := "embedd"
	syscall.Kill(r.initial[victim], syscall.SIGKILL)
	r.waitLog(victim+` \(pid [0-9]+\) crashed \(signal: killed\) .*restarting it in 100ms`, 30*time.Second)
	r.waitLog(victim+` exited \(exit status 2\): a config or flag error, which a restart cannot fix; not restarted, 10 other daemons keep running`, 60*time.Second)
	r.waitLog(victim+`.*unknown keys: not_a_key`, 10*time.Second)
	time.Sleep(2 * time.Second)
	if n := strings.Count(r.out.String(), victim+" restarted"); n != 1 {
		t.Errorf("%s restarted %d times, want once (the start that met the config error)", victim, n)
	}
	if pid, ok := children(r.cmd.Process.Pid)[victim]; ok {
		t.Errorf("%s runs again (pid %d) after it exited 2", victim, pid)
	}
	r.othersKept(victim)
	for _, name := range shared.Daemons {
		if name != victim && r.health(name) == "" {
			t.Errorf("%s does not answer /health while %s is down", name, victim)
		}
	}
	running := children(r.cmd.Process.Pid)
	if code := r.interrupt(); code != 1 {
		t.Errorf("devup exited %d after Ctrl-C with %s down on a config error, want 1", code, victim)
	}
	r.allGone(running)
}

// panicd is a stand-in for one daemon: it answers /health as $PANICD_NAME
// on $PANICD_ADDR, panics in a goroutine on GET /panic (a crash Go ends
// with exit 2 unless GOTRACEBACK=crash), and exits 0 on SIGTERM.
const panicd = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	name := os.Getenv("PANICD_NAME")
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "{\"status\":\"ok\",\"service\":%q,\"version\":\"panicd\"}", name)
	})
	http.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		go func() { panic("panicd: asked to") }()
		select {}
	})
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		os.Exit(0)
	}()
	if err := http.ListenAndServe(os.Getenv("PANICD_ADDR"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// TestPanicIsRestarted: a daemon that panics is restarted, as the units
// do it (ADR-155): devup runs the daemons with GOTRACEBACK=crash, so the
// panic ends by SIGABRT rather than Go's exit 2 (a config error's status,
// which is not restarted), and with no core file (the units' LimitCORE=0;
// here under a shell that allows cores, in a working dir where the
// kernel's "core" pattern would put one). Before: exit 2, left down.
func TestPanicIsRestarted(t *testing.T) {
	victim := "pathwayd"
	bin := binWithStandIn(t, victim, "panicd", panicd)
	cwd := t.TempDir()
	r := startDevupIn(t, bin, []string{"sh", "-c", `ulimit -c unlimited && exec "$@"`, "sh"}, cwd,
		[]string{"PANICD_NAME=" + victim, "PANICD_ADDR=127.0.0.1:{port:" + victim + "}"})
	old := r.initial[victim]
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(r.ports[victim]) + "/panic"); err == nil {
		resp.Body.Close()
	}
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: aborted( \(core dumped\))?\) after .* up; restarting it in 100ms \(restart 1\)`, victim, old), 30*time.Second)
	r.waitLog(victim+` is back \(pid [0-9]+`, 30*time.Second)
	if st := r.health(victim); st != "ok" {
		t.Errorf("%s's /health after its restart: %q, want ok", victim, st)
	}
	if !strings.Contains(r.out.String(), "panicd: asked to") {
		t.Error("the panic's message is not in devup's output")
	}
	r.othersKept(victim)
	ents, _ := os.ReadDir(cwd)
	for _, e := range ents {
		t.Errorf("%s left in the working dir after the crash (cores are off)", e.Name())
	}
	running := children(r.cmd.Process.Pid)
	if code := r.interrupt(); code != 0 {
		t.Errorf("devup exited %d after Ctrl-C, want 0", code)
	}
	r.allGone(running)
}

// TestRestartDelayGrowsAndResets: each crash in a row doubles the delay up
// to -restart-max; a run that lasted -restart-reset starts it over. Its
// six starts within a minute would pass the start limit (5 in 60 s), which
// -start-limit-burst 0 turns off here.
func TestRestartDelayGrowsAndResets(t *testing.T) {
	r := startDevup(t, "-restart-max", "400ms", "-restart-reset", "3s", "-start-limit-burst", "0")
	victim := "catalogd"
	for i, want := range []string{"100ms", "200ms", "400ms", "400ms"} {
		pid := children(r.cmd.Process.Pid)[victim]
		syscall.Kill(pid, syscall.SIGKILL)
		r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up; restarting it in %s \(restart %d\)`, victim, pid, want, i+1), 30*time.Second)
		r.waitLog(fmt.Sprintf(`(?s)\(restart %d\).*%s is back`, i+1, victim), 30*time.Second)
	}
	time.Sleep(3500 * time.Millisecond)
	pid := children(r.cmd.Process.Pid)[victim]
	syscall.Kill(pid, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+s up; restarting it in 100ms \(restart 5\)`, victim, pid), 30*time.Second)
	r.waitLog(`(?s)\(restart 5\).*`+victim+` is back`, 30*time.Second)
	if st := r.health(victim); st != "ok" {
		t.Errorf("%s's /health after five restarts: %q, want ok", victim, st)
	}
	r.othersKept(victim)
}

// TestExitAtStartStopsTheSuite: a daemon that exits before its /health
// ever answered — here exit 2, a config error only it refuses — stops
// the suite with exit 1, as before restarts existed, and is not started
// again: at start a restart fixes no port taken, no locked data dir, no
// config error.
func TestExitAtStartStopsTheSuite(t *testing.T) {
	t.Setenv("LAKEHOUSE_CONFIG", "")
	t.Setenv("LAKEHOUSE_DATA_DIR", "")
	bin, mark := t.TempDir(), t.TempDir()
	fakeDaemons(t, bin, mark)
	victim := "chatd"
	script := "#!/bin/sh\necho started >> \"" + filepath.Join(mark, "chatd.runs") + "\"\necho 'chatd: [chatd] keys_dir: no such directory' >&2\nexit 2\n"
	if err := os.WriteFile(filepath.Join(bin, victim), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stderr := runDevup(t, options{binDir: bin, restart: true})
	if code != 1 || !strings.Contains(stderr, victim+" exited (exit status 2) before it answered /health; stopping the rest") {
		t.Fatalf("exit %d, stderr %s; want 1, and chatd's exit 2 at start named", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(mark, "chatd.runs")); strings.Count(string(b), "started") != 1 {
		t.Errorf("chatd started %d times, want once", strings.Count(string(b), "started"))
	}
	if strings.Contains(stderr, "restart") {
		t.Errorf("devup spoke of a restart: %s", stderr)
	}
}

// TestNoRestartFlag: with -restart=false a crash stops the suite, exit 1,
// the launcher's behaviour before restarts.
func TestNoRestartFlag(t *testing.T) {
	r := startDevup(t, "-restart=false")
	running := children(r.cmd.Process.Pid)
	syscall.Kill(r.initial["queryd"], syscall.SIGKILL)
	r.waitLog(`devup: queryd exited \(signal: killed\); stopping the rest`, 30*time.Second)
	select {
	case <-r.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("devup still runs 90 s after queryd was killed")
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("devup exited %d, want 1", code)
	}
	if strings.Contains(r.out.String(), "queryd restarted") {
		t.Error("queryd was restarted under -restart=false")
	}
	delete(running, "queryd")
	r.allGone(running)
}

// binWithStandIn is a bin directory holding the real daemons (symlinks)
// but victim, which is the Go program source built as module mod.
func binWithStandIn(t *testing.T, victim, mod, source string) string {
	t.Helper()
	real, err := suite.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range shared.Daemons {
		if name != victim {
			if err := os.Symlink(filepath.Join(real, name), filepath.Join(bin, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module "+mod+"\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(source), 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(bin, victim), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", mod, err, out)
	}
	return bin
}
