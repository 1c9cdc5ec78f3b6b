package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/catalog"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestCatalogListMeasure splits a cold dataset list on MinIO into its
// parts (ADR-137): the listing of the manifest keys, and one GET of each
// latest manifest through storaged — by a presigned redirect (two round
// trips: storaged, then MinIO) or streamed by storaged — at several
// degrees of parallelism, each repeated in alternation so a shared host's
// load falls on every variant alike. Skipped unless
// LH_CATALOG_LIST_MEASURE=1 (N = LH_CATALOG_LIST_MEASURE_N, default 1000;
// rounds LH_CATALOG_LIST_MEASURE_ROUNDS, default 3):
//
//	LH_CATALOG_LIST_MEASURE=1 go test -count=1 -run CatalogListMeasure -v -timeout 30m ./internal/catalog
func TestCatalogListMeasure(t *testing.T) {
	if os.Getenv("LH_CATALOG_LIST_MEASURE") != "1" {
		t.Skip("set LH_CATALOG_LIST_MEASURE=1 to measure where a cold dataset list's time goes on MinIO")
	}
	n := envInt(t, "LH_CATALOG_LIST_MEASURE_N", 1000)
	rounds := envInt(t, "LH_CATALOG_LIST_MEASURE_ROUNDS", 3)
	ctx := context.Background()
	cfg := minioConfig(t)
	minio := minioPIDOf(t, cfg.S3.Endpoint)
	// MinIO behind a relay that can add latency (delayProxy): 0 for the
	// breakdown, then LH_CATALOG_LIST_MEASURE_DELAY_MS (default 20) as a
	// remote S3.
	proxy := startDelayProxy(t, strings.TrimPrefix(cfg.S3.Endpoint, "http://"))
	cfg.S3.Endpoint = "http://" + proxy.Addr()
	delay := time.Duration(envInt(t, "LH_CATALOG_LIST_MEASURE_DELAY_MS", 20)) * time.Millisecond
	st, _ := storagetest.Start(t, cfg)
	// Manifests as catalogd writes them for a one-file dataset, put
	// directly (a commit each would take minutes to seed).
	t0 := time.Now()
	seedManifests(t, ctx, st, n, "ds_%05d")
	t.Logf("seeded %d manifests in %v", n, time.Since(t0).Round(time.Millisecond))

	// Clients as catalogd builds them: by redirect (the default on
	// storaged's host) and streamed by storaged (redirects off).
	redirect := storage.NewClient(storagetest.ClientFor(cfg, "storaged", false), storage.WithConfig(cfg))
	t.Setenv(storage.DirectReadsEnv, "0")
	streamed := storage.NewClient(storagetest.ClientFor(cfg, "storaged", false), storage.WithConfig(cfg))
	os.Unsetenv(storage.DirectReadsEnv)

	var keys []string
	listKeys := func() time.Duration {
		t0 := time.Now()
		keys = keys[:0]
		after := ""
		for {
			p, err := redirect.List(ctx, storage.ListOptions{Prefix: catalog.ManifestPrefix, After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range p.Objects {
				keys = append(keys, o.Key)
			}
			if p.Next == "" {
				return time.Since(t0)
			}
			after = p.Next
		}
	}
	getAll := func(c *storage.Client, par int) (time.Duration, []time.Duration) {
		lat := make([]time.Duration, len(keys))
		t0 := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(par)
		for i, k := range keys {
			g.Go(func() error {
				s := time.Now()
				rc, _, err := c.Get(gctx, k, storage.Whole)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				lat[i] = time.Since(s)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0), lat
	}
	coldList := func() time.Duration {
		// Without the manifest cache: the GETs are what is measured.
		if err := os.RemoveAll(catalog.ManifestCacheDir(cfg)); err != nil {
			t.Fatal(err)
		}
		base, _ := startCatalogLogged(t, cfg, nil)
		t0 := time.Now()
		r, err := http.Get(base + catalog.DatasetsPath)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("list: %d %s", r.StatusCode, b)
		}
		return time.Since(t0)
	}
	type variant struct {
		name string
		run  func() (time.Duration, []time.Duration)
	}
	if f := os.Getenv("LH_CATALOG_LIST_MEASURE_PROFILE"); f != "" {
		// A CPU profile of cold lists alone (catalogd, storaged and the
		// relay are in this process; MinIO is not).
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		for range rounds {
			t.Logf("profiled cold list: %v", coldList())
		}
		pprof.StopCPUProfile()
		out.Close()
		return
	}
	listAt := func(par int, d time.Duration) func() (time.Duration, []time.Duration) {
		return func() (time.Duration, []time.Duration) {
			defer catalog.SetListReadGo(par)()
			proxy.SetDelay(d)
			defer proxy.SetDelay(0)
			return coldList(), nil
		}
	}
	var vs []variant
	for _, par := range []int{16, 64} {
		vs = append(vs, variant{fmt.Sprintf("catalogd cold list, %d at a time", par), listAt(par, 0)})
	}
	vs = append(vs, variant{"list manifest keys only", func() (time.Duration, []time.Duration) { return listKeys(), nil }})
	for _, par := range []int{16, 64} {
		vs = append(vs,
			variant{fmt.Sprintf("GET each, redirect, %d at a time", par), func() (time.Duration, []time.Duration) { return getAll(redirect, par) }},
			variant{fmt.Sprintf("GET each, streamed by storaged, %d at a time", par), func() (time.Duration, []time.Duration) { return getAll(streamed, par) }})
	}
	for _, par := range []int{16, 32, 64, 128} {
		vs = append(vs, variant{fmt.Sprintf("catalogd cold list, S3 +%v, %d at a time", delay, par), listAt(par, delay)})
	}
	listKeys()
	type result struct {
		walls   []time.Duration
		lat     []time.Duration
		cpuSelf time.Duration
		cpuMin  time.Duration
	}
	res := make([]result, len(vs))
	for range rounds {
		for i, v := range vs {
			s0, m0 := selfCPU(), procCPU(t, minio)
			w, lat := v.run()
			res[i].cpuSelf += selfCPU() - s0
			res[i].cpuMin += procCPU(t, minio) - m0
			res[i].walls = append(res[i].walls, w)
			res[i].lat = append(res[i].lat, lat...)
		}
	}
	for i, v := range vs {
		r := res[i]
		line := fmt.Sprintf("%-48s wall %v", v.name, r.walls)
		if len(r.lat) > 0 {
			slices.Sort(r.lat)
			line += fmt.Sprintf("; per GET p50 %v p99 %v", r.lat[len(r.lat)/2].Round(10*time.Microsecond), r.lat[len(r.lat)*99/100].Round(10*time.Microsecond))
		}
		line += fmt.Sprintf("; CPU per round: test process %v, MinIO %v",
			(r.cpuSelf / time.Duration(rounds)).Round(time.Millisecond), (r.cpuMin / time.Duration(rounds)).Round(time.Millisecond))
		t.Log(line)
	}
}

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	s := os.Getenv(key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", key, s)
	}
	return n
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of process pid (0: none).
func procCPU(t *testing.T, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100 // USER_HZ
}

// minioPIDOf finds the MinIO process serving endpoint (http://addr).
func minioPIDOf(t *testing.T, endpoint string) int {
	addr := strings.TrimPrefix(endpoint, "http://")
	want := []byte("\x00--address\x00" + addr + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			return pid
		}
	}
	t.Logf("no MinIO process found for %s: its CPU is not counted", endpoint)
	return 0
}

// seedManifests puts, 16 at a time, the version-1 manifests of n one-file
// datasets named by the format (with their index) as catalogd writes
// them, straight into st: a commit each would take minutes to seed, and a
// list reads manifests only.
func seedManifests(t *testing.T, ctx context.Context, st storage.Store, n int, format string) {
	t.Helper()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	now := time.Now().UTC()
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf(format, i)
			d := catalog.Dataset{Name: name, Version: 1, Schema: schema, Files: []catalog.File{{Key: "datasets/" + name + "/1.parquet", Rows: 1, Bytes: 500}},
				RowCount: 1, CreatedAt: now, UpdatedAt: now, Mode: catalog.ModeAppend}
			b, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				return err
			}
			_, err = st.Put(gctx, catalog.ManifestKey(name, 1), bytes.NewReader(b), int64(len(b)), storage.PutOptions{CreateOnly: true, ContentType: "application/json"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
