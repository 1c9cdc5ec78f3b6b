// Command gatewaybench measures what the gateway adds to a request, side by
// side in one run: wrk against a tiny Go upstream directly, through nginx
// (upstream keepalive, proxy_http_version 1.1), and through the gateway
// (real binary, auth on, full middleware chain, access log to a file) —
// twice: its fast serving path (ADR-070) and, with LH_GATEWAY_FASTPATH=0,
// the net/http path (-nethttp=false skips that one). It
// prints a markdown table: req/s, p50, p99, the p50 each proxy adds and
// each proxy's CPU time per request (user+system, from /proc), for the
// median of -rounds interleaved rounds, then the gateway/nginx ratio of
// every round. -b and -benv add a second gateway (another build, or this
// one with other environment, e.g. GOMAXPROCS=1) for A/B comparisons.
//
//	go run ./bench/gatewaybench [-d 10s] [-c 32] [-t 2] [-rounds 5] [-b DIR|. -benv K=V]
//
// Needs wrk and nginx (apt-get install wrk nginx-light); bench/run-all.sh
// installs them.
package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

const token = "bench-token-0123456789"

var (
	gwEnv, binB, envB string
	nginxWorkers      int
	nginxLog          bool
)

func main() {
	dur := flag.Duration("d", 10*time.Second, "wrk duration per target")
	conns := flag.Int("c", 32, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	rounds := flag.Int("rounds", 1, "rounds (targets interleaved each round; the median round is reported)")
	netHTTP := flag.Bool("nethttp", true, "also measure the gateway with LH_GATEWAY_FASTPATH=0 (net/http path)")
	flag.StringVar(&binB, "b", "", "A/B: a directory with a second gateway build, measured as one more target (same config)")
	flag.IntVar(&nginxWorkers, "nginx-workers", 1, "nginx worker_processes")
	flag.BoolVar(&nginxLog, "nginx-log", false, "also measure nginx writing a buffered access log (the gateway writes an access line per request; the verdict stays against nginx without one)")
	flag.StringVar(&envB, "benv", "", "A/B: extra environment for gateway B only (with -b; -b . uses this build)")
	flag.StringVar(&gwEnv, "gwenv", "", "extra environment for the gateways, comma-separated K=V (e.g. GOMAXPROCS=1)")
	flag.Parse()
	err := run(*dur, *conns, *threads, *rounds, *netHTTP)
	suite.Cleanup() // the daemon binaries built for the run
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

type result struct {
	name       string
	rps        float64
	p50, p99   time.Duration
	non2xx     int
	transferMB float64
	cpuPerReq  time.Duration // proxy process CPU (user+sys) per request; 0 for direct
	sysPerReq  time.Duration // of which system (kernel) time
}

func run(dur time.Duration, conns, threads, rounds int, netHTTP bool) error {
	for _, bin := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + bin); err2 != nil {
				return fmt.Errorf("%s not found: apt-get install wrk nginx-light", bin)
			}
		}
	}
	dir, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports, err := suite.FreePorts(6)
	if err != nil {
		return err
	}
	upPort, nginxPort, gwPort := ports[0], ports[1], ports[2]

	// 1. The upstream: a tiny Go server (the same shape as a daemon answer).
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		return err
	}
	go up.Serve(ln)
	defer up.Close()

	// 2. nginx in the foreground with a private prefix.
	nginxConf := filepath.Join(dir, "nginx.conf")
	os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755)
	conf := fmt.Sprintf(`worker_processes %[4]d;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/nginx-tmp;
  proxy_temp_path %[1]s/nginx-tmp;
  fastcgi_temp_path %[1]s/nginx-tmp;
  uwsgi_temp_path %[1]s/nginx-tmp;
  scgi_temp_path %[1]s/nginx-tmp;
  upstream backend { server 127.0.0.1:%[2]d; keepalive 64; }
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
  server {
    listen 127.0.0.1:%[5]d;
    access_log %[1]s/nginx-access.log combined buffer=64k flush=100ms;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`, dir, upPort, nginxPort, nginxWorkers, ports[5])
	if err := os.WriteFile(nginxConf, []byte(conf), 0o644); err != nil {
		return err
	}
	nginxBin := "nginx"
	if _, err := exec.LookPath("nginx"); err != nil {
		nginxBin = "/usr/sbin/nginx"
	}
	ng := exec.Command(nginxBin, "-c", nginxConf, "-p", dir)
	ng.Stderr = os.Stderr
	if err := ng.Start(); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	defer func() { ng.Process.Signal(os.Interrupt); ng.Wait() }()

	// 3. The gateway binary, /v1/storage routed to the upstream.
	bins, err := suite.Binaries()
	if err != nil {
		return err
	}
	pids := map[string]int{"nginx": ng.Process.Pid}
	startGateway := func(tag string, port int, fast string) (func(), error) {
		bins := bins
		if tag == "b" && binB != "." {
			bins = binB
		}
		cfgPath := filepath.Join(dir, "lakehouse-"+tag+".toml")
		cfgText := fmt.Sprintf("data_dir = %q\n[gateway]\nbind = \"127.0.0.1:%d\"\n[storaged]\nurl = \"http://127.0.0.1:%d\"\n[observerd]\nbind = \"127.0.0.1:%d\"\n",
			filepath.Join(dir, "data-"+tag), port, upPort, ports[0]+20000%1000+1)
		if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
			return nil, err
		}
		gwLog, _ := os.Create(filepath.Join(dir, "gateway-"+tag+".log"))
		gw := exec.Command(filepath.Join(bins, "gateway"), "--config", cfgPath)
		gw.Env = append(os.Environ(), "AUTH_TOKEN="+token, "LH_GATEWAY_FASTPATH="+fast)
		if gwEnv != "" {
			gw.Env = append(gw.Env, strings.Split(gwEnv, ",")...)
		}
		if tag == "b" && envB != "" {
			gw.Env = append(gw.Env, strings.Split(envB, ",")...)
		}
		gw.Stdout, gw.Stderr = gwLog, gwLog
		if err := gw.Start(); err != nil {
			gwLog.Close()
			return nil, err
		}
		pids[tag] = gw.Process.Pid
		return func() { gw.Process.Signal(os.Interrupt); gw.Wait(); gwLog.Close() }, nil
	}
	stop, err := startGateway("fast", gwPort, "1")
	if err != nil {
		return err
	}
	defer stop()
	if netHTTP {
		stop, err := startGateway("nethttp", ports[3], "0")
		if err != nil {
			return err
		}
		defer stop()
	}

	type target struct{ name, url, pid string }
	targets := []target{
		{"direct (Go upstream)", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", upPort), ""},
		{"nginx", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", nginxPort), "nginx"},
		{"gateway (auth + full chain)", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", gwPort), "fast"},
	}
	if nginxLog {
		targets = append(targets, target{"nginx, access log on (buffer=64k)", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", ports[5]), "nginx"})
	}
	if binB != "" {
		stop, err := startGateway("b", ports[4], "1")
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, target{"gateway B (" + binB + " " + envB + ")", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", ports[4]), "b"})
	}
	if netHTTP {
		targets = append(targets, target{"gateway, net/http path (LH_GATEWAY_FASTPATH=0)", fmt.Sprintf("http://127.0.0.1:%d/v1/storage/objects/x", ports[3]), "nethttp"})
	}
	for _, t := range targets {
		if err := waitOK(t.url); err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "gateway-fast.log"))
			return fmt.Errorf("%s not ready: %v\n%s", t.name, err, b)
		}
	}
	all := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, t := range targets {
			wrk(t.url, threads, conns, 2*time.Second) // warm-up
			var cpu0, sys0 time.Duration
			if t.pid != "" {
				cpu0, sys0 = treeCPU(pids[t.pid])
			}
			res, err := wrk(t.url, threads, conns, dur)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if t.pid != "" && res.rps > 0 {
				cpu1, sys1 := treeCPU(pids[t.pid])
				n := time.Duration(res.rps * dur.Seconds())
				res.cpuPerReq, res.sysPerReq = (cpu1-cpu0)/n, (sys1-sys0)/n
			}
			res.name = t.name
			all[t.name] = append(all[t.name], res)
		}
	}
	// The median round by req/s: this 2-core box is shared with wrk and
	// the upstream, and single rounds swing by 10-15%.
	best := map[string]result{}
	for name, rs := range all {
		s := slices.Clone(rs)
		slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.rps, b.rps) })
		best[name] = s[(len(s)-1)/2]
	}
	base := best[targets[0].name]
	fmt.Printf("\nGateway vs nginx vs direct — wrk -t%d -c%d -d%s, %d round(s), median round, %s\n\n", threads, conns, dur, rounds, time.Now().UTC().Format(time.RFC3339))
	fmt.Println("| target | req/s | p50 | p99 | p50 added | proxy CPU/req | non-2xx |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, t := range targets {
		r := best[t.name]
		added := "-"
		if t.name != targets[0].name {
			added = fmt.Sprintf("+%.3f ms", float64(r.p50-base.p50)/1e6)
		}
		cpu := "-"
		if r.cpuPerReq > 0 {
			cpu = fmt.Sprintf("%.1f us (kernel %.1f)", float64(r.cpuPerReq)/1e3, float64(r.sysPerReq)/1e3)
		}
		fmt.Printf("| %s | %.0f | %.3f ms | %.3f ms | %s | %s | %d |\n", r.name, r.rps, float64(r.p50)/1e6, float64(r.p99)/1e6, added, cpu, r.non2xx)
	}
	if rounds > 1 {
		// Paired by round (the proxies ran back to back): the spread.
		for _, t := range targets[2:] {
			var ratios []float64
			fmt.Printf("\n%s / nginx req/s by round:", t.name)
			for i := range all[t.name] {
				x := all[t.name][i].rps / all[targets[1].name][i].rps
				ratios = append(ratios, x)
				fmt.Printf(" %.2f", x)
			}
			slices.Sort(ratios)
			fmt.Printf(" (median %.2f)", ratios[(len(ratios)-1)/2])
		}
		// The added-latency target, paired by round too: the same direct
		// run is the base of both, so the difference of the added p50s is
		// the difference of the p50s.
		var diffs []float64
		fmt.Printf("\n%s p50 - nginx p50 by round (ms):", targets[2].name)
		le := 0
		for i := range all[targets[2].name] {
			d := float64(all[targets[2].name][i].p50-all[targets[1].name][i].p50) / 1e6
			diffs = append(diffs, d)
			if d <= 0 {
				le++
			}
			fmt.Printf(" %+.3f", d)
		}
		slices.Sort(diffs)
		fmt.Printf(" (median %+.3f; <= 0 in %d of %d rounds)\n", diffs[(len(diffs)-1)/2], le, len(diffs))
	}
	g, n := best[targets[2].name], best[targets[1].name]
	fmt.Printf("\ngateway/nginx req/s: %.2fx; gateway p50 added %.3f ms vs nginx %.3f ms\n", g.rps/n.rps, float64(g.p50-base.p50)/1e6, float64(n.p50-base.p50)/1e6)
	if netHTTP {
		s := best[targets[len(targets)-1].name]
		fmt.Printf("fast path / net/http path req/s: %.2fx; p50 added %.3f ms vs %.3f ms\n", g.rps/s.rps, float64(g.p50-base.p50)/1e6, float64(s.p50-base.p50)/1e6)
	}
	return nil
}

func waitOK(url string) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

var (
	reqRe    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latRe    = regexp.MustCompile(`^\s+(50|99)%\s+([0-9.]+)(us|ms|s)`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

func wrk(url string, threads, conns int, d time.Duration) (result, error) {
	cmd := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--latency", "-H", "Authorization: Bearer "+token, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var r result
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if m := reqRe.FindStringSubmatch(line); m != nil {
			r.rps, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := latRe.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
			dd := time.Duration(v * float64(unit))
			if m[1] == "50" {
				r.p50 = dd
			} else {
				r.p99 = dd
			}
		}
		if m := non2xxRe.FindStringSubmatch(line); m != nil {
			r.non2xx, _ = strconv.Atoi(m[1])
		}
	}
	if r.rps == 0 {
		return r, fmt.Errorf("could not parse wrk output:\n%s", out)
	}
	return r, nil
}

// treeCPU is the user+system CPU time of pid and its child processes
// (nginx's worker runs under its master), from /proc, and the system part.
func treeCPU(pid int) (total, sys time.Duration) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// fields after the ")" of comm: state ppid ... utime(14) stime(15)
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if p != pid && ppid != pid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * (time.Second / 100) // USER_HZ
		sys += time.Duration(st) * (time.Second / 100)
	}
	return total, sys
}
