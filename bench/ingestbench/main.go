// Command ingestbench measures ingest end to end: a generated CSV (default
// 14M rows, ~1 GB: id, name, amount, day, note) POSTed to ingestd's
// /v1/ingest (upload + convert + store + commit, daemons as child
// processes) against in-process DuckDB COPY ... TO parquet (zstd) of the
// same file, run in a child process so both peak RSS figures are VmHWM of
// the process doing the work. It prints a markdown table and the Parquet
// bytes each wrote.
//
//	go run ./bench/ingestbench [-rows 14000000] [-dir /tmp/lakebench]
//
// -phases N skips the reference and the table: it ingests the CSV N times
// and prints, per run, the wall time, the CPU time (user + system, from
// /proc) of ingestd and storaged, and the phases ingestd logs (spool,
// wait, convert, store, commit: wall and CPU ms, ADR-138). With -ab
// "NAME=VALUE", two suites run side by side, B with that variable in the
// daemons' environment, and the runs alternate A, B, A, B...
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/testutil/suite"
)

func main() {
	rows := flag.Int("rows", 14_000_000, "rows of the generated CSV")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "lakebench"), "work dir (the CSV is kept for reruns)")
	ref := flag.String("ref", "", "internal: run the in-process reference on this CSV")
	phaseRuns := flag.Int("phases", 0, "ingest N times and print each run's phases (no reference)")
	ab := flag.String("ab", "", "with -phases: NAME=VALUE set in suite B's daemons; runs alternate A and B")
	flag.Parse()
	if *ref != "" {
		reference(*ref, flag.Arg(0))
		return
	}
	var err error
	if *phaseRuns > 0 {
		err = runPhases(*rows, *dir, *phaseRuns, *ab)
	} else {
		err = run(*rows, *dir)
	}
	suite.Cleanup() // the daemon binaries built for the run
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

// reference converts csv to parquet in-process and prints seconds and VmHWM.
func reference(csv, out string) {
	c, err := duckdb.NewConnector("", nil)
	must(err)
	db := sql.OpenDB(c)
	_, err = db.Exec("SET autoinstall_known_extensions=false; SET autoload_known_extensions=false")
	must(err)
	os.RemoveAll(out)
	start := time.Now()
	_, err = db.Exec(fmt.Sprintf("COPY (FROM read_csv('%s')) TO '%s' (FORMAT parquet, COMPRESSION zstd)", csv, out))
	must(err)
	sec := time.Since(start).Seconds()
	st, err := os.Stat(out)
	must(err)
	fmt.Printf("%f %d %d\n", sec, vmHWM(os.Getpid()), st.Size())
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// vmHWM is a process's peak RSS in bytes (/proc/PID/status).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func generate(path string, rows int) error {
	if st, err := os.Stat(path + ".done"); err == nil && st.Size() == int64(len(strconv.Itoa(rows))) {
		return nil
	}
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	q := fmt.Sprintf(`COPY (SELECT range AS id,
		'name_' || (range %% 100000) AS name,
		round((hash(range) %% 1000000) / 100.0, 2) AS amount,
		DATE '2020-01-01' + CAST(range %% 1500 AS INTEGER) AS day,
		'note ' || md5(range::VARCHAR) AS note
		FROM range(%d)) TO '%s' (FORMAT csv, HEADER)`, rows, path)
	if _, err := db.Exec(q); err != nil {
		return err
	}
	return os.WriteFile(path+".done", []byte(strconv.Itoa(rows)), 0o644)
}

func run(rows int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	csv := filepath.Join(dir, "ingest.csv")
	fmt.Fprintf(os.Stderr, "generating %d rows -> %s\n", rows, csv)
	if err := generate(csv, rows); err != nil {
		return err
	}
	st, err := os.Stat(csv)
	if err != nil {
		return err
	}
	size := st.Size()

	// In-process reference (child process for its own VmHWM).
	self, _ := os.Executable()
	fmt.Fprintln(os.Stderr, "in-process DuckDB COPY ...")
	out, err := exec.Command(self, "-ref", csv, filepath.Join(dir, "ref.parquet")).Output()
	if err != nil {
		return fmt.Errorf("reference: %v", err)
	}
	var refSec float64
	var refRSS, refBytes int64
	fmt.Sscan(string(out), &refSec, &refRSS, &refBytes)
	os.Remove(filepath.Join(dir, "ref.parquet"))

	// Daemons as child processes.
	sdir, err := os.MkdirTemp(dir, "suite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sdir)
	s, err := suite.StartE(sdir, suite.Options{
		Daemons:   []string{"storaged", "catalogd", "ingestd"},
		ExtraTOML: "[report]\nenabled = false\n[log]\naccess = false\n",
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "POST /v1/ingest ...")
	f, err := os.Open(csv)
	if err != nil {
		return err
	}
	defer f.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL("ingestd")+"/v1/ingest?name=bench&format=csv", f)
	req.ContentLength = size
	req.Header.Set("Content-Type", "text/csv")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sec := time.Since(start).Seconds()
	if resp.StatusCode != 200 {
		return fmt.Errorf("ingest: %d %s", resp.StatusCode, body)
	}
	ingRSS := vmHWM(s.Process("ingestd").Pid)
	storRSS := vmHWM(s.Process("storaged").Pid)

	mb := float64(size) / 1e6
	fmt.Printf("\n### Ingest: %d-row CSV, %.2f GB (%s)\n\n", rows, float64(size)/1e9, time.Now().Format("2006-01-02 15:04"))
	fmt.Println("| path | time | throughput | vs in-process | peak RSS (VmHWM) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	fmt.Printf("| in-process DuckDB `COPY (FROM read_csv(...)) TO ... (FORMAT parquet, COMPRESSION zstd)` | %.2f s | %.0f MB/s | 1.00x | %d MiB |\n", refSec, mb/refSec, refRSS>>20)
	fmt.Printf("| `POST /v1/ingest` (upload + convert + store + commit) | %.2f s | %.0f MB/s | %.2fx | ingestd %d MiB, storaged %d MiB |\n", sec, mb/sec, refSec/sec, ingRSS>>20, storRSS>>20)
	var ans struct {
		Bytes int64 `json:"bytes"`
		Files []any `json:"files"`
	}
	json.Unmarshal(body, &ans)
	fmt.Printf("\nParquet written (zstd): in-process %d bytes (1 file), ingestd %d bytes (%d files), %.3fx\n", refBytes, ans.Bytes, len(ans.Files), float64(ans.Bytes)/float64(max(refBytes, 1)))
	fmt.Printf("\ningest answer: %s\n", truncate(string(body), 400))
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// cpuOf is a process's user + system CPU time (/proc/PID/stat, clock ticks
// of 10 ms on Linux).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is 3,
	// utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func runPhases(rows int, dir string, runs int, ab string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	csv := filepath.Join(dir, fmt.Sprintf("ingest-%d.csv", rows))
	fmt.Fprintf(os.Stderr, "generating %d rows -> %s\n", rows, csv)
	if err := generate(csv, rows); err != nil {
		return err
	}
	type side struct {
		name string
		s    *suite.Suite
		logs *lockedBuf
	}
	var sides []side
	names := []string{"A"}
	if ab != "" {
		names = append(names, "B "+ab)
	}
	for i, n := range names {
		sdir, err := os.MkdirTemp(dir, "suite-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(sdir)
		opts := suite.Options{
			Daemons:   []string{"storaged", "catalogd", "ingestd"},
			ExtraTOML: "[report]\nenabled = false\n[log]\naccess = false\n",
			Log:       &lockedBuf{},
		}
		if i == 1 {
			opts.Env = []string{ab}
		}
		s, err := suite.StartE(sdir, opts)
		if err != nil {
			return err
		}
		defer s.Stop()
		if _, err := s.WaitHealthy(60 * time.Second); err != nil {
			return err
		}
		sides = append(sides, side{n, s, opts.Log.(*lockedBuf)})
	}
	fmt.Printf("| run | side | wall s | ingestd CPU s | storaged CPU s | phases (ms: wall/cpu) |\n|---|---|---:|---:|---:|---|\n")
	self, _ := os.Executable()
	for r := 0; r < runs; r++ {
		// The in-process reference in a child: its wall time and CPU.
		cmd := exec.Command(self, "-ref", csv, filepath.Join(dir, "ref.parquet"))
		start := time.Now()
		if _, err := cmd.Output(); err != nil {
			return fmt.Errorf("reference: %v", err)
		}
		fmt.Printf("| %d | in-process COPY | %.2f | %.2f (all of it) | | |\n", r+1, time.Since(start).Seconds(),
			(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
		os.Remove(filepath.Join(dir, "ref.parquet"))
		for _, sd := range sides {
			ing, stor := sd.s.Process("ingestd").Pid, sd.s.Process("storaged").Pid
			ic, sc := cpuOf(ing), cpuOf(stor)
			f, err := os.Open(csv)
			if err != nil {
				return err
			}
			st, _ := f.Stat()
			req, _ := http.NewRequest(http.MethodPost, sd.s.URL("ingestd")+"/v1/ingest?name=bench&mode=replace&format=csv", f)
			req.ContentLength = st.Size()
			req.Header.Set("Content-Type", "text/csv")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			f.Close()
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wall := time.Since(start)
			if resp.StatusCode != 200 {
				return fmt.Errorf("ingest: %d %s", resp.StatusCode, body)
			}
			time.Sleep(200 * time.Millisecond) // the log line
			fmt.Printf("| %d | %s | %.2f | %.2f | %.2f | %s |\n", r+1, sd.name, wall.Seconds(),
				(cpuOf(ing) - ic).Seconds(), (cpuOf(stor) - sc).Seconds(), sd.logs.lastPhases())
		}
	}
	return nil
}

// lockedBuf keeps the daemons' output; lastPhases finds ingestd's last
// "ingest committed" line.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) lastPhases() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(l.b.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], "ingest committed") {
			continue
		}
		var out []string
		for _, ph := range []string{"spool", "wait", "convert", "store", "commit"} {
			out = append(out, fmt.Sprintf("%s %s/%s", ph, field(lines[i], ph+"_ms"), field(lines[i], ph+"_cpu_ms")))
		}
		return strings.Join(out, ", ") + ", streamed " + field(lines[i], "files_stored_while_converting")
	}
	return "(no phases logged)"
}

// field is the value of key in a log line (text or JSON handler).
func field(line, key string) string {
	for _, pre := range []string{key + "=", `"` + key + `":`} {
		if i := strings.Index(line, pre); i >= 0 {
			v := line[i+len(pre):]
			if j := strings.IndexAny(v, " ,}"); j >= 0 {
				v = v[:j]
			}
			return v
		}
	}
	return "?"
}
