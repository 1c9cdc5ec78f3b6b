package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/suite"
)

// TestCatalogScale measures catalogd on a dataset with thousands of
// versions (agents append small batches often): it commits N appends of
// one tiny Parquet file each through a real catalogd over a real storaged
// (local backend), then times each read route and a commit against a
// freshly started catalogd process (cold, then warm) and reports that
// process's RSS. Skipped unless LH_CATALOG_SCALE=1 (N = LH_CATALOG_SCALE_N,
// default 5000):
//
//	LH_CATALOG_SCALE=1 go test -count=1 -run CatalogScale -v -timeout 30m ./internal/catalog
func TestCatalogScale(t *testing.T) {
	if os.Getenv("LH_CATALOG_SCALE") != "1" {
		t.Skip("set LH_CATALOG_SCALE=1 to measure catalogd with thousands of versions")
	}
	n := 5000
	if s := os.Getenv("LH_CATALOG_SCALE_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 20 {
			t.Fatalf("LH_CATALOG_SCALE_N=%q: want a number >= 20", s)
		}
	}
	bin := filepath.Join(t.TempDir(), "catalogd")
	if out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/catalogd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Log("built catalogd")
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)

	// The files: one tiny Parquet file, stored under N keys.
	one := file(t, st, "datasets/big/seed.parquet", 1)
	rc, _, err := st.Get(ctx, one.Key, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	seedCfg := *cfg
	storagetest.StartCatalog(t, &seedCfg, catalog.New)
	seed := catalog.NewClient(storagetest.ClientFor(&seedCfg, "catalogd", false))
	start := time.Now()
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("datasets/big/part-%06d.parquet", i)
		storagetest.MustPut(t, st, key, body)
		mode := catalog.ModeAppend
		if i == 1 {
			mode = ""
		}
		if _, err := seed.Commit(ctx, "big", catalog.CommitRequest{BaseVersion: int64(i - 1), Mode: mode, Schema: schema,
			Files: []catalog.File{{Key: key, Rows: 1}}}); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if i%1000 == 0 {
			t.Logf("seeded %d versions in %v", i, time.Since(start).Round(time.Millisecond))
		}
	}
	// A few small datasets beside it.
	for _, name := range []string{"alpha", "zeta"} {
		f := file(t, st, "datasets/"+name+"/1.parquet", 3)
		if _, err := seed.Commit(ctx, name, catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded %d versions (+2 small datasets) in %v", n, time.Since(start).Round(time.Millisecond))

	// A fresh catalogd process (built first: cold caches, its own RSS).
	ports, err := suite.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	bind := fmt.Sprintf("127.0.0.1:%d", ports[0])
	conf := filepath.Join(t.TempDir(), "lakehouse.toml")
	toml := fmt.Sprintf("[storaged]\nurl = %q\n[catalogd]\nbind = %q\n[report]\nenabled = false\n[log]\nlevel = \"warn\"\naccess = false\n", cfg.Storaged.URL, bind)
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", conf)
	cmd.Env = append(os.Environ(), "LAKEHOUSE_DATA_DIR="+cfg.DataDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + bind
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := http.Get(base + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("catalogd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rss := func() string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			return "?"
		}
		var cur, peak string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				cur = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				peak = strings.TrimSpace(v)
			}
		}
		return "rss " + cur + " (peak " + peak + ")"
	}
	t.Logf("fresh catalogd: %s", rss())

	do := func(label, method, path string, reqBody any) []byte {
		t.Helper()
		var rd io.Reader
		if reqBody != nil {
			b, _ := json.Marshal(reqBody)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		t0 := time.Now()
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		el := time.Since(t0)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v %s", method, path, r.StatusCode, err, b)
		}
		t.Logf("%-28s %-7s %9.1f ms %9d bytes  %s", label, method+" "+path, float64(el.Microseconds())/1000, len(b), rss())
		return b
	}
	next := int64(n)
	commit := func(label string) {
		next++
		key := fmt.Sprintf("datasets/big/part-%06d.parquet", next)
		storagetest.MustPut(t, st, key, body)
		do(label, "POST", "/v1/catalog/datasets/big/commit", catalog.CommitRequest{BaseVersion: next - 1, Mode: catalog.ModeAppend,
			Schema: schema, Files: []catalog.File{{Key: key, Rows: 1}}})
	}
	for _, pass := range []string{"cold", "warm"} {
		do(pass+" list", "GET", "/v1/catalog/datasets", nil)
		do(pass+" get latest", "GET", "/v1/catalog/datasets/big", nil)
		do(pass+" get ?version=17", "GET", "/v1/catalog/datasets/big?version=17", nil)
		b := do(pass+" versions (default)", "GET", "/v1/catalog/datasets/big/versions", nil)
		var vr struct {
			Versions []catalog.VersionInfo `json:"versions"`
			Next     json.RawMessage       `json:"next"`
		}
		if err := json.Unmarshal(b, &vr); err != nil {
			t.Fatal(err)
		}
		t.Logf("  versions answer: %d versions, next %s", len(vr.Versions), vr.Next)
		do(pass+" versions desc limit 20", "GET", "/v1/catalog/datasets/big/versions?order=desc&limit=20", nil)
		commit(pass + " commit (append)")
	}
	// Every version through the typed client (ingestd's and matrixd's path).
	c := catalog.NewClient(storagetest.ClientFor(&seedCfg, "catalogd", false))
	t0 := time.Now()
	vs, err := c.Versions(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != n+2 || vs[0].Version != 1 || vs[len(vs)-1].Version != int64(n+2) {
		t.Fatalf("client versions: %d, want %d", len(vs), n+2)
	}
	t.Logf("typed client Versions (all %d, the seeding instance, which never listed them): %v", len(vs), time.Since(t0).Round(time.Millisecond))
}
