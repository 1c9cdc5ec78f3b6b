// Command devup is the developer launcher behind `just up`: it builds the
// eleven daemons into the -bin dir (default $BIN_DIR, else bin/; with
// -no-build it runs the binaries already there), starts them all on embedded defaults (or the
// config given with -config), prefixes each log line with the daemon's name,
// waits until the gateway reports every daemon healthy, and on Ctrl-C sends
// SIGTERM to all of them and waits for clean exits.
//
// As the systemd units (Restart=on-failure, RestartPreventExitStatus=2), a
// daemon that crashes after its /health answered — killed, a panic (run
// with GOTRACEBACK=crash: SIGABRT), or an exit other than 0 and 2 — is
// restarted alone after a delay: -restart-delay (100ms), doubling up to
// -restart-max (10s), the first again once a run lasted -restart-reset
// (30s). An exit 2 (a config or flag error) or 0 (a clean stop devup did
// not ask for) leaves it down and the others running; Ctrl-C cancels a
// restart that is due. A daemon that exits before it first answered
// /health stops the suite, exit 1, as does any exit with -restart=false.
// A daemon's port that already answers before devup started anything
// (another `just up`) stops it at once, exit 1, nothing started.
//
// As the units' StartLimitBurst=5 and StartLimitIntervalSec=60s, a daemon
// whose restart would be its sixth start within 60 s (-start-limit-burst,
// -start-limit-interval; its first start counts) is left down instead: a
// crash loop. devup says so (the daemon, its starts and restarts in that
// window, the last exit status), the others keep running, and devup's own
// exit is 1. A daemon up longer than the interval is forgiven: the starts
// before it no longer count.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
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
	restart := flag.Bool("restart", true, "restart a daemon that crashes (killed, or an exit other than 0 and 2) after it came up, "+
		"with a delay doubling from -restart-delay to -restart-max, as the systemd units do; false: any exit stops the suite")
	restartDelay := flag.Duration("restart-delay", defaultRestartDelay, "the first restart's delay (doubles per crash, up to -restart-max)")
	restartMax := flag.Duration("restart-max", defaultRestartMax, "the longest restart delay")
	restartReset := flag.Duration("restart-reset", defaultStableAfter, "a daemon up this long before it crashed is restarted after -restart-delay again")
	startBurst := flag.Int("start-limit-burst", defaultStartBurst, "a daemon whose restart would be more than this many starts (its first one included) within -start-limit-interval "+
		"is left down, and devup exits 1, as the units' StartLimitBurst; 0: no start limit")
	startInterval := flag.Duration("start-limit-interval", defaultStartInterval, "the window of -start-limit-burst, as the units' StartLimitIntervalSec: "+
		"a daemon up longer than this is forgiven its earlier starts; 0: no start limit")
	flag.Parse()
	if *restart {
		// As the units' LimitCORE=0: a crash ends by SIGABRT (GOTRACEBACK=crash),
		// and a core would hold the tokens, in the working directory.
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_CORE, &lim) == nil {
			lim.Cur = 0
			syscall.Setrlimit(syscall.RLIMIT_CORE, &lim)
		}
	}
	os.Exit(run(options{config: *config, dataDir: *dataDir, binDir: *binDir, build: !*noBuild,
		restart: *restart, restartDelay: *restartDelay, restartMax: *restartMax, stableAfter: *restartReset,
		startBurst: *startBurst, startInterval: *startInterval}, os.Stdout, os.Stderr))
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
	// restart: a daemon that crashes after it came up is restarted alone,
	// after restartDelay doubling up to restartMax (back to restartDelay
	// once a run lasted stableAfter); false: any exit stops the suite.
	restart                               bool
	restartDelay, restartMax, stableAfter time.Duration
	// startBurst, startInterval: the start limit (the units'
	// StartLimitBurst, StartLimitIntervalSec); either <= 0: none.
	startBurst    int
	startInterval time.Duration
}

// startLimit reports whether starting d once more at t would make more
// than o.startBurst starts within o.startInterval, as systemd's
// StartLimitBurst and StartLimitIntervalSec (a sliding window: the starts
// counted are d's after t minus the interval). It forgets the starts
// before that window, and returns the starts counted and how long ago
// (from now) the first of them was.
func (o options) startLimit(d *daemon, t, now time.Time) (hit bool, n int, span time.Duration) {
	if o.startBurst <= 0 || o.startInterval <= 0 {
		return false, 0, 0
	}
	from := t.Add(-o.startInterval)
	i := 0
	for i < len(d.starts) && !d.starts[i].After(from) {
		i++
	}
	d.starts = d.starts[i:]
	if len(d.starts) == 0 {
		return false, 0, 0
	}
	return len(d.starts) >= o.startBurst, len(d.starts), now.Sub(d.starts[0])
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
	if taken := portsTaken(cfg); len(taken) > 0 {
		fmt.Fprintf(stderr, "devup: in use before devup started anything: %s; another `just up` or suite runs there (stop it, or give other ports with -config); nothing started\n",
			strings.Join(taken, ", "))
		return 1
	}
	if o.restart {
		// As the units (ADR-155): Go exits 2 on a panic or a runtime fatal
		// error, the status of a config error, which is not restarted;
		// GOTRACEBACK=crash ends a crash by SIGABRT (all stacks printed),
		// which is.
		env = append(env, "GOTRACEBACK=crash")
	}
	if o.restartDelay <= 0 {
		o.restartDelay = defaultRestartDelay
	}
	if o.restartMax < o.restartDelay {
		o.restartMax = o.restartDelay
	}
	if o.stableAfter <= 0 {
		o.stableAfter = defaultStableAfter
	}

	var out sync.Mutex
	logf := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(stderr, "devup: "+format+"\n", args...)
		out.Unlock()
	}
	quit := make(chan struct{}) // closed when run returns: the watchers stop
	defer close(quit)
	events := make(chan event, 2*len(shared.Daemons))
	send := func(ev event) {
		select {
		case events <- ev:
		case <-quit:
		}
	}
	// start starts daemon name: its output prefixed, an exited event when
	// it ends, a healthy event when its /health first answers.
	start := func(name string) (*proc, error) {
		cmd := exec.Command(bins[name])
		cmd.Env = env
		// Own process group: Ctrl-C reaches devup only, which stops the
		// daemons in order (gateway first, observerd last).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// A child the daemon left holding its output must not keep the
		// exit (and so the restart) from being seen.
		cmd.WaitDelay = 5 * time.Second
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		go prefix(name, pr, stdout, &out)
		if err := cmd.Start(); err != nil {
			pw.Close()
			return nil, err
		}
		p := &proc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
		go func() {
			cmd.Wait()
			p.ended = time.Now()
			pw.Close()
			close(p.done)
			send(event{name: name, p: p})
		}()
		go func() {
			if took, ok := waitUp(name, cfg.URL(name), p.done, quit); ok {
				send(event{name: name, p: p, healthy: true, took: took})
			}
		}()
		return p, nil
	}

	daemons := map[string]*daemon{}
	running := func() map[string]*proc {
		m := map[string]*proc{}
		for name, d := range daemons {
			if d.p != nil {
				m[name] = d.p
			}
		}
		return m
	}
	for _, name := range shared.Daemons {
		p, err := start(name)
		if err != nil {
			fmt.Fprintf(stderr, "devup: start %s: %v\n", name, err)
			stopAll(running(), stderr)
			return 1
		}
		daemons[name] = &daemon{p: p, delay: o.restartDelay, first: p.started, starts: []time.Time{p.started}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// "All healthy" once the gateway says so and devup has seen each
	// daemon's own /health answer: a daemon that dies right after that line
	// is a crash, restarted, not an exit at start that stops the suite.
	begun := time.Now()
	gatewayOK := make(chan struct{})
	go func() {
		if _, err := waitHealthy(ctx, cfg.URL("gateway")); err == nil {
			close(gatewayOK)
		}
	}()
	announced := false
	announce := func() {
		if announced {
			return
		}
		select {
		case <-gatewayOK:
		default:
			return
		}
		for _, d := range daemons {
			if !d.up {
				return
			}
		}
		announced = true
		logf("all eleven daemons healthy in %v — gateway %s (data in %s); Ctrl-C stops them", time.Since(begun).Round(time.Millisecond), cfg.URL("gateway"), cfg.DataDir)
	}
	gatewayUp := gatewayOK                             // nil once seen: its case is not taken again
	restarts := make(chan string, len(shared.Daemons)) // a backoff has passed
	code := 0
	// limited reports whether restarting d after its delay would pass the
	// start limit, and if so says why as a sentence (after "...: ").
	var limitedDown []string // the daemons the start limit left down
	limited := func(name string, d *daemon) (string, bool) {
		now := time.Now()
		hit, n, span := o.startLimit(d, now.Add(d.delay), now)
		if !hit {
			return "", false
		}
		again := n
		if d.starts[0].Equal(d.first) {
			again-- // the window holds its first start
		}
		limitedDown = append(limitedDown, name)
		return fmt.Sprintf("start limit hit: %d starts (%d %s) within %v; one more within %v is a crash loop "+
			"(-start-limit-burst %d, -start-limit-interval %v, as the units' StartLimitBurst and StartLimitIntervalSec); "+
			"left down, %d other daemons keep running; devup will exit 1 (fix it, then restart devup)",
			n, again, plural(again, "restart"), span.Round(time.Millisecond), o.startInterval, o.startBurst, o.startInterval, len(running())), true
	}
loop:
	for {
		pending := 0
		for _, d := range daemons {
			if d.p != nil || d.timer != nil {
				pending++
			}
		}
		if pending == 0 {
			logf("no daemon left running")
			break
		}
		if ctx.Err() != nil {
			// Ctrl-C: nothing restarts from here on, also when a restart
			// was due in the same instant.
			for _, name := range shared.Daemons {
				if d := daemons[name]; d.timer != nil {
					d.timer.Stop()
					d.timer = nil
					logf("stopping: %s's restart is cancelled", name)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			continue
		case <-gatewayUp:
			gatewayUp = nil
			announce()
		case ev := <-events:
			d := daemons[ev.name]
			if ev.p != d.p {
				continue // an earlier run's
			}
			if ev.healthy {
				d.up = true
				announce()
				if d.restarts > 0 {
					logf("%s is back (pid %d, healthy %v after its restart)", ev.name, ev.p.cmd.Process.Pid, ev.took.Round(time.Millisecond))
				}
				continue
			}
			d.p = nil
			st := ev.p.cmd.ProcessState
			others := len(running())
			switch {
			case !o.restart:
				logf("%s exited (%v); stopping the rest", ev.name, st)
				code = 1
				break loop
			case !d.up:
				// At start an exit is a port taken, a data dir locked by
				// another suite, a config only this daemon refuses: a
				// restart fixes none of them, and the suite is not up.
				logf("%s exited (%v) before it answered /health; stopping the rest", ev.name, st)
				code = 1
				break loop
			case st.Exited() && st.ExitCode() == 0:
				logf("%s exited (%v): a clean stop devup did not ask for; not restarted, %d other daemons keep running", ev.name, st, others)
			case st.Exited() && st.ExitCode() == 2:
				logf("%s exited (%v): a config or flag error, which a restart cannot fix; not restarted, %d other daemons keep running (fix it, then restart devup)", ev.name, st, others)
				code = 1
			default:
				up := ev.p.ended.Sub(ev.p.started)
				if up >= o.stableAfter {
					d.delay = o.restartDelay
				}
				if why, hit := limited(ev.name, d); hit {
					logf("%s (pid %d) crashed (%v) after %v up: %s", ev.name, ev.p.cmd.Process.Pid, st, up.Round(time.Millisecond), why)
					code = 1
					continue
				}
				delay := d.delay
				d.delay = min(2*d.delay, o.restartMax)
				d.restarts++
				name := ev.name
				d.timer = time.AfterFunc(delay, func() { restarts <- name })
				logf("%s (pid %d) crashed (%v) after %v up; restarting it in %v (restart %d)", name, ev.p.cmd.Process.Pid, st, up.Round(time.Millisecond), delay, d.restarts)
			}
		case name := <-restarts:
			d := daemons[name]
			if d.timer == nil || ctx.Err() != nil {
				continue // cancelled, or Ctrl-C came with it
			}
			d.timer = nil
			p, err := start(name)
			if err != nil {
				d.starts = append(d.starts, time.Now()) // as systemd, a start that fails counts
				if why, hit := limited(name, d); hit {
					logf("restart %s: %v: %s", name, err, why)
					code = 1
					continue
				}
				delay := d.delay
				d.delay = min(2*d.delay, o.restartMax)
				d.restarts++
				d.timer = time.AfterFunc(delay, func() { restarts <- name })
				logf("restart %s: %v; trying again in %v", name, err, delay)
				continue
			}
			d.p = p
			d.starts = append(d.starts, p.started)
			logf("%s restarted (pid %d)", name, p.cmd.Process.Pid)
		}
	}
	if !stopAll(running(), stderr) {
		code = 1
	}
	if len(limitedDown) > 0 {
		logf("exit 1: %s left down by the start limit (see above)", strings.Join(limitedDown, ", "))
	}
	return code
}

const (
	defaultRestartDelay = 100 * time.Millisecond
	defaultRestartMax   = 10 * time.Second
	// defaultStableAfter: a daemon up this long before it crashed is
	// restarted after the first delay again, not the grown one.
	defaultStableAfter = 30 * time.Second
	// The start limit, the units' StartLimitBurst and StartLimitIntervalSec
	// (TestStartLimitAsTheUnits). Not systemd's default 5 in 10 s: the
	// delays from 100 ms double, so a daemon that dies at once makes its
	// five starts in ~1.5 s and the sixth is due after ~3 s, but one that
	// runs 2 s before each crash starts the sixth time after ~13 s and was
	// never limited. Within 60 s six starts fit while each run is under
	// ~11 s (5 runs + 3.1 s of delays), as under the units' RestartSec=2s
	// (~10 s: 5 runs + 10 s): the same loops are stopped.
	defaultStartBurst    = 5
	defaultStartInterval = 60 * time.Second
)

// daemon is devup's state of one daemon.
type daemon struct {
	p        *proc         // the running process; nil while down
	up       bool          // its /health answered since devup started it
	delay    time.Duration // the next restart's delay
	restarts int
	timer    *time.Timer // a restart after its delay; nil when none is due
	// starts: when devup started it (its first start too), oldest first;
	// startLimit forgets those that fell out of the window.
	starts []time.Time
	first  time.Time // its first start
}

// event is a daemon process that exited, or whose /health answered.
type event struct {
	name    string
	p       *proc
	healthy bool
	took    time.Duration // from its start to its first healthy answer
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// portsTaken names each daemon whose bind address (0.0.0.0 and :: as
// loopback) already accepts a connection before devup started anything:
// its daemon would fail to listen, while devup's /health probe, answered
// by the other process, took it for up (and its exit for a crash).
func portsTaken(cfg *shared.Config) []string {
	var taken []string
	for _, name := range shared.Daemons {
		s := cfg.Section(name)
		if s == nil {
			continue
		}
		host, port, err := net.SplitHostPort(s.Bind)
		if err != nil || port == "0" {
			continue
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		addr := net.JoinHostPort(host, port)
		if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
			c.Close()
			taken = append(taken, fmt.Sprintf("%s's port (%s)", name, addr))
		}
	}
	return taken
}

// waitUp polls daemon name's /health at url until it answers 200 as that
// daemon ("ok" or "degraded": alive), the process ends (done), or quit.
func waitUp(name, url string, done, quit <-chan struct{}) (time.Duration, bool) {
	start := time.Now()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	for {
		resp, err := c.Get(url + "/health")
		if err == nil {
			var h shared.Health
			derr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h)
			resp.Body.Close()
			if derr == nil && resp.StatusCode == http.StatusOK && h.Service == name && (h.Status == "ok" || h.Status == "degraded") {
				return time.Since(start), true
			}
		}
		select {
		case <-done:
			return 0, false
		case <-quit:
			return 0, false
		case <-time.After(50 * time.Millisecond):
		}
	}
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
	cmd            *exec.Cmd
	done           chan struct{} // closed when Wait returned
	started, ended time.Time
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
