package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// killUntilBack kills victim (SIGKILL) and waits until devup has logged
// its restart number n and the restarted daemon answered /health.
func (r *devupRun) killUntilBack(victim string, n int) {
	r.t.Helper()
	pid := children(r.cmd.Process.Pid)[victim]
	if pid == 0 {
		r.t.Fatalf("%s does not run before its kill %d", victim, n)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up; restarting it in [0-9.]+m?s \(restart %d\)`, victim, pid, n), 30*time.Second)
	r.waitLog(fmt.Sprintf(`(?s)\(restart %d\).*%s is back`, n, victim), 60*time.Second)
}

// stoppedByLimit kills victim once more and waits for devup to say it
// hit the start limit with starts starts (windowRestarts of them
// restarts) in the window, and the limit as burst in interval; then checks
// that it was restarted restarts times in all and stays down while the
// ten others keep their processes and answer /health.
func (r *devupRun) stoppedByLimit(victim string, starts, windowRestarts, restarts, burst int, interval string) {
	r.t.Helper()
	pid := children(r.cmd.Process.Pid)[victim]
	if pid == 0 {
		r.t.Fatalf("%s does not run before its last kill", victim)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up: start limit hit: %d starts \(%d restarts\) within [0-9.ms]+; `+
		`one more within %s is a crash loop \(-start-limit-burst %d, -start-limit-interval %[5]s, as the units' `+
		`StartLimitBurst and StartLimitIntervalSec\); left down, 10 other daemons keep running; devup will exit 1`,
		victim, pid, starts, windowRestarts, interval, burst), 30*time.Second)
	// well past any restart delay: nothing was started again
	time.Sleep(2 * time.Second)
	if pid, ok := children(r.cmd.Process.Pid)[victim]; ok {
		r.t.Errorf("%s runs again (pid %d) after it hit its start limit", victim, pid)
	}
	if st := r.health(victim); st != "" {
		r.t.Errorf("%s answers /health (%q) after it hit its start limit", victim, st)
	}
	if n := strings.Count(r.out.String(), victim+" restarted"); n != restarts {
		r.t.Errorf("%s restarted %d times, want %d", victim, n, restarts)
	}
	r.othersKept(victim)
	for _, name := range shared.Daemons {
		if name != victim && r.health(name) == "" {
			r.t.Errorf("%s does not answer /health while %s is down", name, victim)
		}
	}
}

// TestStartLimitLeavesACrashLoopDown: a daemon killed each time it is
// back is restarted four times (five starts, its first one included: the
// default -start-limit-burst, the units' StartLimitBurst=5); the fifth
// crash leaves it down, and devup names the daemon, its starts and
// restarts, the window and the last exit status. The ten others keep
// their processes and answer /health; Ctrl-C stops them and devup exits 1.
// The interval is 3 min here (not the default 60 s) so that a slow,
// loaded host cannot stretch the five starts out of it. Before: it was
// restarted after every crash, forever, and devup exited 0.
func TestStartLimitLeavesACrashLoopDown(t *testing.T) {
	r := startDevup(t, "-start-limit-interval", "3m")
	victim := "ingestd"
	for n := 1; n <= 4; n++ {
		r.killUntilBack(victim, n)
	}
	r.stoppedByLimit(victim, 5, 4, 4, 5, "3m0s")
	running := children(r.cmd.Process.Pid)
	if code := r.interrupt(); code != 1 {
		t.Errorf("devup exited %d after Ctrl-C with %s left down by its start limit, want 1", code, victim)
	}
	if want := "devup: exit 1: " + victim + " left down by the start limit"; !strings.Contains(r.out.String(), want) {
		t.Errorf("devup's last words do not say %q", want)
	}
	r.allGone(running)
}

// TestStartLimitForgivesAStableDaemon: the start limit counts only the
// starts within -start-limit-interval, so a daemon that stayed up longer
// than that is restarted again after a later crash, with its whole burst
// (here 2) to use before the limit leaves it down. Without the
// forgetting, its first start and first restart would still count and
// the crash after the quiet time would leave it down.
func TestStartLimitForgivesAStableDaemon(t *testing.T) {
	r := startDevup(t, "-start-limit-burst", "2", "-start-limit-interval", "10s", "-restart-max", "100ms")
	victim := "pathwayd"
	r.killUntilBack(victim, 1) // its first start and this restart: 2, the burst
	time.Sleep(11 * time.Second)
	r.killUntilBack(victim, 2) // up past the window: forgiven
	r.killUntilBack(victim, 3)
	r.stoppedByLimit(victim, 2, 2, 3, 2, "10s")
	if code := r.interrupt(); code != 1 {
		t.Errorf("devup exited %d after Ctrl-C with %s left down by its start limit, want 1", code, victim)
	}
}

// TestStartLimitAsTheUnits: every unit in deploy/systemd sets
// StartLimitIntervalSec and StartLimitBurst in [Unit] (systemd ignores
// neither there, and they are not [Service] settings any more), to
// devup's defaults, and so that a crash loop is limited under the unit's
// RestartSec: burst restarts RestartSec apart must fit within the
// interval. Before: no unit set them, and systemd's default of 5 starts
// in 10 s never trips with RestartSec=2s (five starts take over 10 s), so
// a crash-looping daemon was restarted every 2 s forever.
func TestStartLimitAsTheUnits(t *testing.T) {
	for _, name := range shared.Daemons {
		path := filepath.Join(suite.RepoRoot(), "deploy", "systemd", "lakehouse-"+name+".service")
		sections := unitSections(t, path)
		unit, service := sections["Unit"], sections["Service"]
		for _, key := range []string{"StartLimitIntervalSec", "StartLimitBurst"} {
			if v, ok := service[key]; ok {
				t.Errorf("%s: %s=%s in [Service]; it belongs in [Unit]", path, key, v)
			}
		}
		interval, err := systemdSpan(unit["StartLimitIntervalSec"])
		if err != nil {
			t.Errorf("%s: StartLimitIntervalSec=%q: %v (systemd's default then: 5 starts in 10s)", path, unit["StartLimitIntervalSec"], err)
			continue
		}
		burst, err := strconv.Atoi(unit["StartLimitBurst"])
		if err != nil {
			t.Errorf("%s: StartLimitBurst=%q: %v", path, unit["StartLimitBurst"], err)
			continue
		}
		if interval != defaultStartInterval || burst != defaultStartBurst {
			t.Errorf("%s: StartLimitBurst=%d in StartLimitIntervalSec=%v; devup's start limit is %d in %v (the same meaning in both)",
				path, burst, interval, defaultStartBurst, defaultStartInterval)
		}
		restartSec, err := systemdSpan(service["RestartSec"])
		if err != nil {
			t.Errorf("%s: RestartSec=%q: %v", path, service["RestartSec"], err)
			continue
		}
		if loop := time.Duration(burst) * restartSec; loop >= interval {
			t.Errorf("%s: a crash loop makes %d starts in %v at least (RestartSec=%v), so %d in %v never trips", path, burst+1, loop, restartSec, burst, interval)
		}
	}
}

// unitSections reads a unit file's settings by section ("Unit",
// "Service", ...); a setting given twice fails the test.
func unitSections(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if m[section] == nil {
				m[section] = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q", path, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if old, dup := m[section][k]; dup && (k == "StartLimitIntervalSec" || k == "StartLimitBurst" || k == "RestartSec") {
				t.Fatalf("%s: [%s] %s set twice (%q, %q)", path, section, k, old, v)
			}
			m[section][k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// systemdSpan reads a systemd time span of one unit: "60s", "1min",
// "500ms", or bare seconds; "" is an error (the setting is missing).
func systemdSpan(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("not set")
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"min", time.Minute}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.Atoi(num)
			if err != nil {
				return 0, fmt.Errorf("not a time span: %q", s)
			}
			return time.Duration(n) * u.unit, nil
		}
	}
	return 0, fmt.Errorf("not a time span: %q", s)
}
