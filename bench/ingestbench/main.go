// Command ingestbench measures ingest end to end: a generated CSV (default
// 14M rows, ~1 GB: id, name, amount, day, note) POSTed to ingestd's
// /v1/ingest (upload + convert + store + commit, daemons as child
// processes) against in-process DuckDB COPY ... TO parquet (zstd) of the
// same file, run in a child process so both peak RSS figures are VmHWM of
// the process doing the work. It prints a markdown table and the Parquet
// bytes each wrote.
//
//	go run ./bench/ingestbench [-rows 14000000] [-dir /tmp/lakebench]
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
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/testutil/suite"
)

func main() {
	rows := flag.Int("rows", 14_000_000, "rows of the generated CSV")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "lakebench"), "work dir (the CSV is kept for reruns)")
	ref := flag.String("ref", "", "internal: run the in-process reference on this CSV")
	flag.Parse()
	if *ref != "" {
		reference(*ref, flag.Arg(0))
		return
	}
	err := run(*rows, *dir)
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
