package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowd is a stand-in for one daemon: on $SLOWD_ADDR it answers /health as
// $SLOWD_NAME at once to the gateway (its probe carries X-Request-Id),
// but to anyone else (devup) only 2 s after it started (503 before), and
// exits 0 on SIGTERM.
const slowd = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	name, start := os.Getenv("SLOWD_NAME"), time.Now()
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Request-Id") == "" && time.Since(start) < 2*time.Second {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"status\":\"draining\",\"service\":%q,\"version\":\"slowd\"}", name)
			return
		}
		fmt.Fprintf(w, "{\"status\":\"ok\",\"service\":%q,\"version\":\"slowd\"}", name)
	})
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		os.Exit(0)
	}()
	if err := http.ListenAndServe(os.Getenv("SLOWD_ADDR"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// TestAllHealthyMeansSeenByDevup: devup says "all eleven daemons healthy"
// only once it has seen each daemon's own /health answer, not as soon as
// the gateway says so; a daemon killed right after that line is a crash,
// restarted alone. Before: the line came from the gateway's report while
// devup's own probe of a daemon could still be pending, and a kill then
// was taken for an exit at start: "exited (signal: killed) before it
// answered /health; stopping the rest", the whole suite down, exit 1.
func TestAllHealthyMeansSeenByDevup(t *testing.T) {
	victim := "pathwayd"
	bin := binWithStandIn(t, victim, "slowd", slowd)
	r := startDevupIn(t, bin, nil, "", []string{"SLOWD_NAME=" + victim, "SLOWD_ADDR=127.0.0.1:{port:" + victim + "}"})
	old := r.initial[victim]
	syscall.Kill(old, syscall.SIGKILL)
	r.waitLog(fmt.Sprintf(`devup: %s \(pid %d\) crashed \(signal: killed\) after [0-9.]+m?s up; restarting it in 100ms \(restart 1\)`, victim, old), 30*time.Second)
	r.waitLog(victim+` is back \(pid [0-9]+`, 30*time.Second)
	if strings.Contains(r.out.String(), "before it answered /health") {
		t.Errorf("devup took the kill after \"all eleven daemons healthy\" for an exit at start")
	}
	r.othersKept(victim)
	running := children(r.cmd.Process.Pid)
	if code := r.interrupt(); code != 0 {
		t.Errorf("devup exited %d after Ctrl-C, want 0", code)
	}
	r.allGone(running)
}
