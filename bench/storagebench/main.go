// Command storagebench measures storaged against its backends used
// directly, in the same run, and prints markdown tables:
//
//	go run ./bench/storagebench [-rounds 5] [-small-n 64] [-big-mb 256] [-big-n 3] [-stream-mb 2048] [-only local|s3] [-relay]
//
// PUT/GET throughput of 1 MiB and big objects through a real storaged child
// process (HTTP on 127.0.0.1, the typed storage.Client; for local also
// through the short-circuit socket, ADR-015, the client daemons build:
// rows "via socket", each paired with its own direct measurement) versus
// the backend directly. Reads are measured the way daemons make them (the
// socket's direct reads; s3 GETs redirected to MinIO) and, in rows of their
// own, with storaged answering each GET ("socket (open per GET)", "HTTP
// (streamed)"). Every row is measured -rounds times (each round measures every row; the
// table shows the medians and the range of the ratio, as one round on a
// shared VM moves by +-0.1; its last column is the median of the single
// calls' times, direct over through storaged, which a few stalls on a
// loaded host move less than the sums): for local, a careful file copy (temp file, writeback started
// every 256 KiB, fsync, rename, fsync of the directory — what storaged does)
// and a plain read; for s3, minio-go straight to the same MinIO (same
// unsigned-payload option). Every side moves bytes through the same reused
// 1 MiB buffer (no per-call allocation, no 32 KiB fallbacks of io.Copy).
// GET is measured two ways: "into memory" (the strict comparison: a
// page-cache read against an HTTP hop) and, for local, "to a file" the way a
// user copies the object (cp of the object file against curl -o of a GET),
// both writing a new destination file through the same read/write loop
// (cp's copy_file_range, which skips the user-space copy, has no curl -o
// counterpart, so it is not used). Then one object
// of -stream-mb streamed through storaged (unknown length) and read back,
// with storaged's peak RSS (VmHWM from /proc/<pid>/status) before and after.
// With -relay, the 1 MiB s3 PUT is also measured through a bare relay (a
// child net/http server that only hands each body to minio-go, relay.go):
// against minio-go directly (the ceiling of any design with the second
// loopback hop) and against storaged, and a per-PUT timeline of the three
// as the client sees it (ADR-201).
// MinIO comes from $MINIO_BIN or scripts/ensure-minio.sh's cache path; the
// s3 rows are skipped without it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/miniotest"
)

var (
	smallN   = flag.Int("small-n", 64, "number of 1 MiB objects per measurement")
	bigMB    = flag.Int("big-mb", 256, "size of the big objects in MiB")
	bigN     = flag.Int("big-n", 3, "number of big objects per measurement")
	streamMB = flag.Int("stream-mb", 2048, "size of the streamed object in MiB (0 = skip)")
	rounds   = flag.Int("rounds", 5, "rounds of every measurement; the table shows medians and the ratio's range")
	keep     = flag.Bool("keep", false, "keep the temp dir")
	binFlag  = flag.String("storaged", "", "use this storaged binary instead of building one (A/B runs)")
	only     = flag.String("only", "", "measure only this backend: local or s3 (\"\" = both)")
	relay    = flag.Bool("relay", false, "s3: also PUT through a bare relay (a child net/http server that only hands each body to minio-go's Core.PutObject): the ceiling of any design with a second loopback hop")
)

// relayEnv, set in a child's environment, makes the bench that child: the
// bare relay of -relay, on the address it holds (relay.go).
const relayEnv = "STORAGEBENCH_RELAY"

// source is a reader of exactly n bytes repeating a random 8 MiB block
// (cheap to produce, incompressible).
var block = func() []byte { b := make([]byte, 8<<20); rand.Read(b); return b }()

type source struct {
	off  int
	left int64
}

func newSource(n int64) *source { return &source{left: n} }

func (s *source) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := copy(p, block[s.off:])
	s.off = (s.off + n) % len(block)
	s.left -= int64(n)
	return n, nil
}

type row struct {
	backend, via, op, size string
	direct, storaged, mb   float64 // seconds, seconds, MiB moved per measurement
	// dCalls, sCalls: the seconds of each call of the measurement (one
	// object's PUT or GET), direct and through storaged.
	dCalls, sCalls []float64
}

func main() {
	if addr := os.Getenv(relayEnv); addr != "" {
		runRelay(addr)
		return
	}
	flag.Parse()
	tmp, err := os.MkdirTemp("", "storagebench-")
	check(err)
	if !*keep {
		defer os.RemoveAll(tmp)
		onFail(func() { os.RemoveAll(tmp) })
	}
	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(tmp, "storaged")
		out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/storaged").CombinedOutput()
		if err != nil {
			fail("go build storaged: %v\n%s", err, out)
		}
	}
	var rows []row
	var mem, tl []string

	if *only != "" && *only != "local" && *only != "s3" {
		fail("-only %q: want local or s3", *only)
	}
	// local
	if *only != "s3" {
		child := startStoraged(bin, tmp, "local", "")
		onFail(child.stop)
		for r := 0; r < *rounds; r++ {
			rows = append(rows, benchLocal(child.client, "HTTP", "HTTP", tmp, true)...)
			rows = append(rows, benchLocal(child.socket, "socket", "socket", tmp, true)...)
			rows = append(rows, benchLocal(child.socketOpen, "socket (open per GET)", "socket", tmp, false)...)
		}
		if child.socket.SocketOps() == 0 || child.socket.DirectReads() == 0 || child.socketOpen.DirectReads() != 0 {
			fail("the socket rows did not go through the socket %s as meant (%d ops, %d direct reads; %d without direct reads)",
				child.socketPath, child.socket.SocketOps(), child.socket.DirectReads(), child.socketOpen.DirectReads())
		}
		mem = append(mem, streamMem("local", child)...)
		child.stop()
	}
	// s3 on MinIO
	if mbin := miniotest.Bin(); *only != "local" && mbin != "" {
		mdir := filepath.Join(tmp, "minio")
		os.MkdirAll(mdir, 0o700)
		m, err := miniotest.Launch(mbin, mdir, "lakehouse-go-primary")
		if m != nil {
			onFail(m.Stop)
		}
		if err != nil {
			fail("minio: %v", err)
		}
		secrets := filepath.Join(tmp, "secrets-go.toml")
		check(m.WriteSecretsFile(secrets))
		s3conf := fmt.Sprintf("[s3]\nendpoint = %q\nbucket = %q\nsecrets_path = %q\n", m.Endpoint(), m.Bucket, secrets)
		child := startStoraged(bin, tmp, "s3", s3conf)
		onFail(child.stop)
		var rl *relayChild
		if *relay {
			rl = startRelay(m)
			onFail(rl.stop)
		}
		for r := 0; r < *rounds; r++ {
			rows = append(rows, benchS3(child, m)...)
			if rl != nil {
				rows = append(rows, benchRelay(child, rl, m)...)
			}
		}
		if rl != nil {
			tl = timeline(child, rl, m, *smallN*2)
			rl.stop()
		}
		mem = append(mem, streamMem("s3 (MinIO)", child)...)
		child.stop()
		m.Stop()
	} else if *only != "local" {
		fmt.Fprintln(os.Stderr, "storagebench: no MinIO binary ($MINIO_BIN or "+miniotest.DefaultBin+"): s3 rows skipped")
	}

	fmt.Printf("### storaged vs backend directly (%s, %d cores, median of %d rounds)\n\n", time.Now().UTC().Format("2006-01-02"), numCPU(), *rounds)
	fmt.Println("| backend | through storaged via | op | object | direct MiB/s | through storaged MiB/s | ratio (median) | ratio range | >= 0.9x | per-call median ratio |")
	fmt.Println("|---|---|---|---|---:|---:|---:|---|---|---:|")
	for _, g := range groupRows(rows) {
		var d, s, ratio, dc, sc []float64
		for _, r := range g {
			d = append(d, r.mb/r.direct)
			s = append(s, r.mb/r.storaged)
			ratio = append(ratio, r.direct/r.storaged)
			dc, sc = append(dc, r.dCalls...), append(sc, r.sCalls...)
		}
		r := g[0]
		ok := "yes"
		if median(ratio) < 0.9 {
			ok = "**no**"
		}
		fmt.Printf("| %s | %s | %s | %s | %.0f | %.0f | %.2f | %.2f-%.2f | %s | %.2f |\n", r.backend, r.via, r.op, r.size,
			median(d), median(s), median(ratio), slices.Min(ratio), slices.Max(ratio), ok, median(dc)/median(sc))
	}
	if len(tl) > 0 {
		fmt.Printf("\n### one 1 MiB PUT as its client sees it (-relay; median microseconds from the call's start, %d calls each, in turn)\n\n", *smallN*2)
		fmt.Println(strings.Join(tl, "\n"))
	}
	if len(mem) > 0 {
		fmt.Printf("\n### storaged memory while streaming one %d MiB object (child process, /proc/<pid>/status)\n\n", *streamMB)
		fmt.Println("| backend | step | MiB/s | VmHWM (peak RSS) | VmRSS |")
		fmt.Println("|---|---|---:|---:|---:|")
		for _, m := range mem {
			fmt.Println(m)
		}
	}
}

// groupRows gathers the rounds of each measurement, in first-seen order.
func groupRows(rows []row) [][]row {
	var out [][]row
	at := map[[4]string]int{}
	for _, r := range rows {
		k := [4]string{r.backend, r.via, r.op, r.size}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

type child struct {
	cmd        *exec.Cmd
	client     *storage.Client // HTTP only (s3: GETs redirected to MinIO, ADR-015)
	streamed   *storage.Client // HTTP only, every GET streamed by storaged
	socket     *storage.Client // short-circuit socket (local backend), as daemons build it: direct reads
	socketOpen *storage.Client // the socket with a round trip (op open) per GET
	socketPath string
	dir        string
}

func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
}

func startStoraged(bin, tmp, backend, extra string) *child {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(tmp, "storaged-"+backend)
	os.MkdirAll(dir, 0o700)
	conf := filepath.Join(dir, "lakehouse.toml")
	body := fmt.Sprintf("data_dir = %q\n[storaged]\nbind = %q\nbackend = %q\n[report]\nenabled = false\n[log]\naccess = false\n%s",
		dir, addr, backend, extra)
	check(os.WriteFile(conf, []byte(body), 0o600))
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	check(cmd.Start())
	for i := 0; ; i++ {
		if r, err := http.Get("http://" + addr + "/health"); err == nil {
			r.Body.Close()
			break
		}
		if i > 400 {
			fail("storaged did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	cfg := shared.Default(dir)
	cfg.Storaged.URL = "http://" + addr
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(0), StreamHTTP: shared.NewHTTPClient(0)}
	return &child{cmd: cmd, client: storage.NewClient(env.StreamClient("storaged"), storage.WithDirectReads(true)),
		streamed:   storage.NewClient(env.StreamClient("storaged"), storage.WithDirectReads(false)),
		socket:     storage.NewClient(env.StreamClient("storaged"), storage.WithSocket(cfg.StoragedSocket()), storage.WithDirectReads(true)),
		socketOpen: storage.NewClient(env.StreamClient("storaged"), storage.WithSocket(cfg.StoragedSocket()), storage.WithDirectReads(false)),
		socketPath: cfg.StoragedSocket(), dir: dir}
}

type sizes struct {
	label string
	size  int64
	n     int
}

func sizeSet() []sizes {
	return []sizes{{"1 MiB", 1 << 20, *smallN}, {fmt.Sprintf("%d MiB", *bigMB), int64(*bigMB) << 20, *bigN}}
}

// buf is the one 1 MiB buffer every measured copy uses (the bench is
// sequential): a fresh 1 MiB buffer per call costs an allocation and page
// faults that would swamp a 1 MiB read.
var buf = make([]byte, 1<<20)

// copyBuf copies r to w with reads and writes of up to len(buf) bytes. The
// wrappers hide WriterTo/ReaderFrom: *os.File has both, and their generic
// fallbacks copy 32 KiB at a time, so without them the two sides of a
// comparison would not move bytes the same way.
func copyBuf(w io.Writer, r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, buf)
}

// drain reads r to the end with 1 MiB reads, the same way for every path
// measured.
func drain(r io.Reader) (int64, error) { return copyBuf(io.Discard, r) }

// writeEarly copies r into f the way storaged's local backend writes an
// object: it starts writeback (sync_file_range, no wait) of every 256 KiB
// written, so the fsync that follows waits only for the tail. Without it the
// baseline would lose to storaged on big objects for a reason that has
// nothing to do with the HTTP hop.
func writeEarly(f *os.File, r io.Reader) error {
	const chunk = 256 << 10
	var n, started int64
	for {
		m, rerr := io.ReadFull(r, buf[:chunk])
		if m > 0 {
			if _, err := f.Write(buf[:m]); err != nil {
				return err
			}
			n += int64(m)
			_ = unix.SyncFileRange(int(f.Fd()), started, n-started, unix.SYNC_FILE_RANGE_WRITE)
			started = n
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// toFile writes r into a new file at path (create, write, close; no fsync,
// like cp and curl -o), the same way for every path measured.
func toFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := copyBuf(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func timeIt(f func()) float64 { t := time.Now(); f(); return time.Since(t).Seconds() }

// alternate runs direct(i) and through(i) for i < n, alternating which goes
// first, and returns the total seconds of each and the seconds of every
// call (direct, then through storaged), so that disk and cache state
// drift affects both sides alike. after, if given, runs untimed after each
// call (with the side's name), to clean up what it left.
func alternate(n int, direct, through func(i int), after ...func(side string, i int)) (float64, float64, []float64, []float64) {
	var d, s float64
	var dc, sc []float64
	run := func(side string, f func(int), i int) float64 {
		t := timeIt(func() { f(i) })
		for _, a := range after {
			a(side, i)
		}
		return t
	}
	for i := 0; i < n; i++ {
		var dt, st float64
		if i%2 == 0 {
			dt = run("direct", direct, i)
			st = run("storaged", through, i)
		} else {
			st = run("storaged", through, i)
			dt = run("direct", direct, i)
		}
		d, s = d+dt, s+st
		dc, sc = append(dc, dt), append(sc, st)
	}
	return d, s, dc, sc
}

// benchLocal compares the local backend used directly with storaged
// through client (via: "HTTP" or "socket"...). keyVia names the objects
// (and the direct side's files): a run without puts reads those an earlier
// run with puts wrote.
func benchLocal(client *storage.Client, via, keyVia, tmp string, puts bool) []row {
	ctx := context.Background()
	direct := filepath.Join(tmp, "direct-"+keyVia)
	os.MkdirAll(filepath.Join(direct, "tmp"), 0o700)
	os.MkdirAll(filepath.Join(direct, "data"), 0o700)
	dst := filepath.Join(tmp, "dst-"+via) // where the "to a file" GETs land
	os.MkdirAll(dst, 0o700)
	dstPath := func(side string, i int) string { return filepath.Join(dst, fmt.Sprintf("%s-%d", side, i)) }
	var rows []row
	for _, sz := range sizeSet() {
		mb := float64(sz.size) * float64(sz.n) / (1 << 20)
		key := func(i int) string {
			return fmt.Sprintf("bench/%s/%s-%d", keyVia, strings.ReplaceAll(sz.label, " ", ""), i)
		}
		put := row{backend: "local", via: via, op: "PUT", size: sz.label, mb: mb}
		put.direct, put.storaged, put.dCalls, put.sCalls = alternate(sz.n*boolInt(puts), func(i int) {
			{
				f, err := os.CreateTemp(filepath.Join(direct, "tmp"), "put-*")
				check(err)
				check(writeEarly(f, newSource(sz.size)))
				check(f.Sync())
				check(f.Close())
				check(os.Rename(f.Name(), filepath.Join(direct, "data", fmt.Sprintf("%s-%d", sz.label, i))))
				d, _ := os.Open(filepath.Join(direct, "data"))
				check(d.Sync())
				d.Close()
			}
		}, func(i int) {
			_, err := client.Put(ctx, key(i), newSource(sz.size), sz.size, storage.PutOptions{})
			check(err)
		})
		get := row{backend: "local", via: via, op: "GET (into memory)", size: sz.label, mb: mb}
		get.direct, get.storaged, get.dCalls, get.sCalls = alternate(sz.n, func(i int) {
			f, err := os.Open(filepath.Join(direct, "data", fmt.Sprintf("%s-%d", sz.label, i)))
			check(err)
			_, err = drain(f)
			check(err)
			f.Close()
		}, func(i int) {
			rc, _, err := client.Get(ctx, key(i), storage.Whole)
			check(err)
			_, err = drain(rc)
			check(err)
			rc.Close()
		})
		file := row{backend: "local", via: via, op: "GET (to a file, cp vs curl -o)", size: sz.label, mb: mb}
		file.direct, file.storaged, file.dCalls, file.sCalls = alternate(sz.n, func(i int) {
			f, err := os.Open(filepath.Join(direct, "data", fmt.Sprintf("%s-%d", sz.label, i)))
			check(err)
			check(toFile(dstPath("direct", i), f))
			f.Close()
		}, func(i int) {
			rc, _, err := client.Get(ctx, key(i), storage.Whole)
			check(err)
			check(toFile(dstPath("storaged", i), rc))
			rc.Close()
		}, func(side string, i int) { check(os.Remove(dstPath(side, i))) })
		if puts {
			rows = append(rows, put)
		}
		rows = append(rows, get, file)
	}
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func benchS3(c *child, m *miniotest.Server) []row {
	ctx := context.Background()
	mc, err := m.NewClient()
	check(err)
	var rows []row
	for _, sz := range sizeSet() {
		mb := float64(sz.size) * float64(sz.n) / (1 << 20)
		key := func(who string, i int) string {
			return fmt.Sprintf("bench/%s/%s-%d", who, strings.ReplaceAll(sz.label, " ", ""), i)
		}
		put := row{backend: "s3 (MinIO)", via: "HTTP", op: "PUT", size: sz.label, mb: mb}
		put.direct, put.storaged, put.dCalls, put.sCalls = alternate(sz.n, func(i int) {
			_, err := mc.PutObject(ctx, m.Bucket, key("direct", i), newSource(sz.size), sz.size, minio.PutObjectOptions{DisableContentSha256: true})
			check(err)
		}, func(i int) {
			_, err := c.client.Put(ctx, key("storaged", i), newSource(sz.size), sz.size, storage.PutOptions{})
			check(err)
		})
		rows = append(rows, put)
		for _, v := range []struct {
			via    string
			client *storage.Client
		}{{"HTTP (redirect)", c.client}, {"HTTP (streamed)", c.streamed}} {
			get := row{backend: "s3 (MinIO)", via: v.via, op: "GET (into memory)", size: sz.label, mb: mb}
			get.direct, get.storaged, get.dCalls, get.sCalls = alternate(sz.n, func(i int) {
				o, err := mc.GetObject(ctx, m.Bucket, key("direct", i), minio.GetObjectOptions{})
				check(err)
				_, err = drain(o)
				check(err)
				o.Close()
			}, func(i int) {
				rc, _, err := v.client.Get(ctx, key("storaged", i), storage.Whole)
				check(err)
				_, err = drain(rc)
				check(err)
				rc.Close()
			})
			rows = append(rows, get)
		}
	}
	return rows
}

// streamMem streams one big object of unknown length through storaged and
// reads it back, reporting the child's peak RSS around each step.
func streamMem(backend string, c *child) []string {
	if *streamMB <= 0 {
		return nil
	}
	ctx := context.Background()
	pid := c.cmd.Process.Pid
	line := func(step string, mbps float64) string {
		hwm, rss := procMem(pid)
		rate := "-"
		if mbps > 0 {
			rate = fmt.Sprintf("%.0f", mbps)
		}
		return fmt.Sprintf("| %s | %s | %s | %s | %s |", backend, step, rate, hwm, rss)
	}
	out := []string{line("after the throughput runs", 0)}
	size := int64(*streamMB) << 20
	secs := timeIt(func() {
		_, err := c.client.Put(ctx, "bench/stream", newSource(size), -1, storage.PutOptions{})
		check(err)
	})
	out = append(out, line(fmt.Sprintf("PUT %d MiB, unknown length", *streamMB), float64(*streamMB)/secs))
	secs = timeIt(func() {
		rc, info, err := c.streamed.Get(ctx, "bench/stream", storage.Whole)
		check(err)
		n, err := drain(rc)
		check(err)
		rc.Close()
		if n != size || info.Size != size {
			fail("stream read back %d of %d bytes", n, size)
		}
	})
	out = append(out, line(fmt.Sprintf("GET %d MiB", *streamMB), float64(*streamMB)/secs))
	return out
}

func procMem(pid int) (hwm, rss string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?", "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			switch f[0] {
			case "VmHWM:":
				hwm = kib(f[1])
			case "VmRSS:":
				rss = kib(f[1])
			}
		}
	}
	return
}

func kib(s string) string {
	n, _ := strconv.ParseFloat(s, 64)
	return fmt.Sprintf("%.1f MiB", n/1024)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("processor\t:"))
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

// atFail is what fail undoes before it exits, last first: the children it
// started and the temp dir (GBs with MinIO's data).
var atFail []func()

func onFail(f func()) { atFail = append(atFail, f) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "storagebench: "+format+"\n", args...)
	for i := len(atFail) - 1; i >= 0; i-- {
		atFail[i]()
	}
	os.Exit(1)
}
