// Command querybench measures queryd against in-process DuckDB on the same
// Parquet: a TPC-H-like lineitem (default 6M rows, generated with DuckDB SQL
// since the tpch extension is not available offline) is ingested through
// ingestd (daemons as child processes); then a point query and a count+sum
// aggregate run 20 times each (median, after one warm-up) through
// POST /v1/sql and in-process on the dataset's own files. With a MinIO
// binary (see internal/testutil/miniotest) it also reports the cold first
// query on the s3 backend (queryd fetches into its cache) against the warm
// cache. It prints a markdown table.
//
//	go run ./bench/querybench [-rows 6000000] [-n 20]
package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/suite"
)

var (
	rowsFlag = flag.Int("rows", 6_000_000, "lineitem rows")
	nFlag    = flag.Int("n", 20, "runs per query (median)")
	dirFlag  = flag.String("dir", filepath.Join(os.TempDir(), "lakebench"), "work dir (generated Parquet kept for reruns)")
)

const (
	pointSQL = "SELECT * FROM lineitem WHERE l_orderkey = 1234567"
	aggSQL   = "SELECT count(*), sum(l_extendedprice) FROM lineitem"
)

func main() {
	flag.Parse()
	err := run()
	suite.Cleanup() // the daemon binaries built for the run
	if err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
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
	// Four lines per order on average, TPC-H-like value ranges.
	q := fmt.Sprintf(`COPY (SELECT
		(range // 4) + 1 AS l_orderkey,
		(hash(range) %% 200000) + 1 AS l_partkey,
		(hash(range * 7) %% 10000) + 1 AS l_suppkey,
		(range %% 4) + 1 AS l_linenumber,
		CAST((hash(range * 3) %% 50) + 1 AS DECIMAL(15,2)) AS l_quantity,
		CAST(((hash(range * 5) %% 10000000) / 100.0) + 900 AS DECIMAL(15,2)) AS l_extendedprice,
		CAST((hash(range * 11) %% 11) / 100.0 AS DECIMAL(15,2)) AS l_discount,
		CAST((hash(range * 13) %% 9) / 100.0 AS DECIMAL(15,2)) AS l_tax,
		['A','N','R'][(range %% 3) + 1] AS l_returnflag,
		['F','O'][(range %% 2) + 1] AS l_linestatus,
		DATE '1992-01-02' + CAST(hash(range) %% 2500 AS INTEGER) AS l_shipdate,
		DATE '1992-01-31' + CAST(hash(range * 17) %% 2500 AS INTEGER) AS l_commitdate,
		DATE '1992-01-05' + CAST(hash(range * 19) %% 2500 AS INTEGER) AS l_receiptdate,
		['DELIVER IN PERSON','COLLECT COD','NONE','TAKE BACK RETURN'][(range %% 4) + 1] AS l_shipinstruct,
		['AIR','FOB','MAIL','RAIL','REG AIR','SHIP','TRUCK'][(range %% 7) + 1] AS l_shipmode,
		'comment ' || (hash(range) %% 1000000)::VARCHAR AS l_comment
		FROM range(%d)) TO '%s' (FORMAT parquet, COMPRESSION zstd)`, rows, path)
	if _, err := db.Exec(q); err != nil {
		return err
	}
	return os.WriteFile(path+".done", []byte(strconv.Itoa(rows)), 0o644)
}

type ingestAnswer struct {
	Rows  int64
	Files []struct{ Key string }
}

func ingest(base, parquet string) (*ingestAnswer, error) {
	f, err := os.Open(parquet)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, _ := f.Stat()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/ingest?name=lineitem&mode=replace&format=parquet", f)
	req.ContentLength = st.Size()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("ingest: %d %s", resp.StatusCode, b)
	}
	var a ingestAnswer
	return &a, json.Unmarshal(b, &a)
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

// sqlOnce runs q through POST /v1/sql and returns the wall time.
func sqlOnce(base, q string) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"sql": q})
	start := time.Now()
	resp, err := client.Post(base+"/v1/sql", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	el := time.Since(start)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d %s", q, resp.StatusCode, b)
	}
	return el, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func timeN(n int, f func() (time.Duration, error)) (time.Duration, error) {
	if _, err := f(); err != nil { // warm-up
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	return median(ds), nil
}

// pairs runs f and g alternately n times (after one warm-up each) and
// returns their medians and the median of g-f per pair.
func pairs(n int, f, g func() (time.Duration, error)) (time.Duration, time.Duration, time.Duration, error) {
	if _, err := f(); err != nil {
		return 0, 0, 0, err
	}
	if _, err := g(); err != nil {
		return 0, 0, 0, err
	}
	var fs, gs, ds []time.Duration
	for i := 0; i < n; i++ {
		a, err := f()
		if err != nil {
			return 0, 0, 0, err
		}
		b, err := g()
		if err != nil {
			return 0, 0, 0, err
		}
		fs, gs, ds = append(fs, a), append(gs, b), append(ds, b-a)
	}
	return median(fs), median(gs), median(ds), nil
}

func msf(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func run() error {
	dir := *dirFlag
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pq := filepath.Join(dir, fmt.Sprintf("lineitem-%d.parquet", *rowsFlag))
	fmt.Fprintf(os.Stderr, "generating lineitem (%d rows) -> %s\n", *rowsFlag, pq)
	if err := generate(pq, *rowsFlag); err != nil {
		return err
	}
	sdir, err := os.MkdirTemp(dir, "suite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sdir)
	daemons := []string{"storaged", "catalogd", "ingestd", "queryd"}
	s, err := suite.StartE(sdir, suite.Options{Daemons: daemons, ExtraTOML: "[report]\nenabled = false\n[log]\naccess = false\n"})
	if err != nil {
		return err
	}
	defer s.Stop()
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		return err
	}
	ans, err := ingest(s.URL("ingestd"), pq)
	if err != nil {
		return err
	}
	// The dataset's own files, where storaged's local backend keeps them.
	var files []string
	for _, f := range ans.Files {
		files = append(files, "'"+filepath.Join(sdir, "data", "objects", "data", filepath.FromSlash(f.Key))+"'")
	}

	// In-process DuckDB on the same files.
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET autoload_known_extensions=false; CREATE VIEW lineitem AS SELECT * FROM read_parquet([" + strings.Join(files, ",") + "])"); err != nil {
		return err
	}
	inproc := func(q string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			start := time.Now()
			rows, err := db.Query(q)
			if err != nil {
				return 0, err
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				rows.Scan(ptrs...)
			}
			rows.Close()
			return time.Since(start), rows.Err()
		}
	}
	viaHTTP := func(base, q string) func() (time.Duration, error) {
		return func() (time.Duration, error) { return sqlOnce(base, q) }
	}
	type row struct {
		name                  string
		inproc, queryd, added time.Duration
	}
	var table []row
	for _, q := range []struct{ name, sql string }{{"point query (`l_orderkey = 1234567`)", pointSQL}, {"aggregate (`count(*), sum(l_extendedprice)`)", aggSQL}} {
		// Interleaved pairs, so both sides see the same machine load; the
		// added latency is the median of the per-pair differences.
		a, b, d, err := pairs(*nFlag, inproc(q.sql), viaHTTP(s.URL("queryd"), q.sql))
		if err != nil {
			return err
		}
		table = append(table, row{q.name, a, b, d})
	}
	fmt.Printf("\n### Query: lineitem %d rows, %d file(s), median of %d (%s)\n\n", ans.Rows, len(ans.Files), *nFlag, time.Now().Format("2006-01-02 15:04"))
	fmt.Println("| query | in-process DuckDB | `POST /v1/sql` (queryd) | added (median of pair differences) | ratio (in-process/queryd) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range table {
		fmt.Printf("| %s | %s | %s | %s | %.2fx |\n", r.name, msf(r.inproc), msf(r.queryd), msf(r.added), float64(r.inproc)/float64(r.queryd))
	}

	// Cold (MinIO -> cache) vs warm.
	if miniotest.Bin() == "" {
		fmt.Println("\n(cold/warm on MinIO skipped: no MinIO binary)")
		return nil
	}
	cold, warm, err := minioColdWarm(dir, pq)
	if err != nil {
		return err
	}
	fmt.Println("\n| s3 backend (MinIO) | aggregate |")
	fmt.Println("|---|---:|")
	fmt.Printf("| cold first query (queryd fetches the Parquet into its cache) | %s |\n", msf(cold))
	fmt.Printf("| warm (median of %d) | %s |\n", *nFlag, msf(warm))
	return nil
}

func minioColdWarm(dir, pq string) (time.Duration, time.Duration, error) {
	mdir, err := os.MkdirTemp(dir, "minio-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(mdir)
	ms, err := miniotest.Launch(miniotest.Bin(), mdir, "lakehouse-go-primary")
	if err != nil {
		return 0, 0, err
	}
	defer ms.Stop()
	secrets := filepath.Join(mdir, "secrets-go.toml")
	if err := ms.WriteSecretsFile(secrets); err != nil {
		return 0, 0, err
	}
	extra := fmt.Sprintf("[report]\nenabled = false\n[log]\naccess = false\n[s3]\nendpoint = %q\nbucket = \"lakehouse-go-primary\"\nsecrets_path = %q\n", ms.Endpoint(), secrets)
	sdir := filepath.Join(mdir, "suite")
	os.MkdirAll(sdir, 0o755)
	daemons := []string{"storaged", "catalogd", "ingestd", "queryd"}
	s, err := suite.StartE(sdir, suite.Options{Daemons: daemons, ExtraTOML: extra, Settings: map[string]string{"storaged": `backend = "s3"`}})
	if err != nil {
		return 0, 0, err
	}
	defer s.Stop()
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		return 0, 0, err
	}
	if _, err := ingest(s.URL("ingestd"), pq); err != nil {
		return 0, 0, err
	}
	cold, err := sqlOnce(s.URL("queryd"), aggSQL)
	if err != nil {
		return 0, 0, err
	}
	warm, err := timeN(*nFlag, func() (time.Duration, error) { return sqlOnce(s.URL("queryd"), aggSQL) })
	return cold, warm, err
}
