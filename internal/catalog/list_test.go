package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storagetest"
)

// syncBuffer is a log sink written by the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestListIsolatesDamaged (ADR-093): one dataset whose latest manifest is
// damaged in storage, or whose versions have a gap (ADR-092), failed GET
// /v1/catalog/datasets as a whole with its 502 — SHOW TABLES, the
// console's dataset table and every other caller of the list lost every
// dataset. Now the list is a 200 with every readable dataset and names the
// unreadable ones under "unreadable" (with the error GET of them answers,
// still a 502), each logged at warn; with storaged down the whole list is
// still a 503.
func TestListIsolatesDamaged(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, stSrv := storagetest.Start(t, cfg)
	_, c := startCatalogLogged(t, cfg, nil)
	commit := func(name string, n int) {
		for v := int64(0); v < int64(n); v++ {
			f := file(t, st, fmt.Sprintf("datasets/%s/%d.parquet", name, v+1), 2)
			if _, err := c.Commit(ctx, name, catalog.CommitRequest{BaseVersion: v, Schema: schema, Files: []catalog.File{f}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit("alpha", 1)
	commit("dm", 2)
	commit("gap", 3)
	commit("zeta", 2)
	commit("gone", 1)
	if _, err := c.Delete(ctx, "gone", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Nothing damaged: "unreadable" is there, and empty.
	url, _ := startCatalogLogged(t, cfg, nil)
	code, _, body := do(t, "GET", url+catalog.DatasetsPath, nil)
	if code != 200 || !bytes.Contains(body, []byte(`"unreadable":[]`)) {
		t.Fatalf("GET datasets, nothing damaged: %d %s, want a 200 with \"unreadable\":[]", code, body)
	}

	damagedKey := catalog.ManifestKey("dm", 2)
	storagetest.MustPut(t, st, damagedKey, []byte(`{"name":"dm","vers`))
	missing := catalog.ManifestKey("gap", 2)
	if err := st.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	url, c2 := startCatalogLogged(t, cfg, logs) // a fresh instance: nothing cached
	code, _, body = do(t, "GET", url+catalog.DatasetsPath, nil)
	if code != 200 {
		t.Fatalf("GET datasets with dm damaged and a gap in gap: %d %s, want a 200", code, body)
	}
	var res catalog.ListResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range res.Datasets {
		names = append(names, fmt.Sprintf("%s@%d", d.Name, d.Version))
	}
	if fmt.Sprint(names) != "[alpha@1 zeta@2]" {
		t.Errorf("datasets: %v, want [alpha@1 zeta@2]", names)
	}
	checkUnreadable := func(how string, got []catalog.Unreadable) {
		t.Helper()
		if len(got) != 2 || got[0].Name != "dm" || got[1].Name != "gap" {
			t.Fatalf("%s: unreadable %+v, want dm and gap", how, got)
		}
		for i, want := range []string{damagedKey, missing} {
			if got[i].Error.Kind != errs.Unavailable || !strings.Contains(got[i].Error.Message, want) {
				t.Errorf("%s: unreadable %s: %+v, want kind unavailable naming %s", how, got[i].Name, got[i].Error, want)
			}
		}
	}
	checkUnreadable("HTTP", res.Unreadable)
	// The log is written out every 100 ms.
	warned := func(name string) bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "dataset="+name+" ") {
				return true
			}
		}
		return false
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !(warned("dm") && warned("gap")); {
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range []string{"dm", "gap"} {
		if !warned(name) {
			t.Errorf("log: no warning naming dataset %s:\n%s", name, logs)
		}
	}
	// GET of each by name keeps its 502.
	for name, key := range map[string]string{"dm": damagedKey, "gap": missing} {
		if code, e, b := do(t, "GET", url+catalog.DatasetsPath+"/"+name, nil); code != 502 || !strings.Contains(e.Message, key) {
			t.Errorf("GET %s: %d %s, want a 502 naming %s", name, code, b, key)
		}
	}
	// The typed client: ListAll names them, List is the readable ones.
	all, err := c2.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkUnreadable("client ListAll", all.Unreadable)
	if ds, err := c2.List(ctx); err != nil || len(ds) != 2 {
		t.Errorf("client List: %d datasets, %v; want alpha and zeta", len(ds), err)
	}

	// storaged down: nothing can be trusted, the whole list fails.
	if err := stSrv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	url, c3 := startCatalogLogged(t, cfg, nil)
	if code, e, b := do(t, "GET", url+catalog.DatasetsPath, nil); code != 503 || e.Kind != errs.Unavailable {
		t.Errorf("GET datasets with storaged down: %d %s, want a 503", code, b)
	}
	if _, err := c3.ListAll(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("client ListAll with storaged down: %v, want unavailable", err)
	}
	if _, err := c2.List(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("client List with storaged down (cached instance): %v, want unavailable", err)
	}
}

// startCatalogLogged starts a catalogd over cfg's storaged writing its log
// to logs (nil: discarded) and returns its URL and typed client.
func startCatalogLogged(t *testing.T, cfg *shared.Config, logs *syncBuffer) (string, *catalog.Client) {
	t.Helper()
	c := *cfg
	var out io.Writer = io.Discard
	if logs != nil {
		out = logs
	}
	s, err := shared.Start(context.Background(), "catalogd", &c, catalog.New, out)
	if err != nil {
		t.Fatalf("start catalogd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	c.Catalogd.URL = s.URL()
	return s.URL(), catalog.NewClient(storagetest.ClientFor(&c, "catalogd", false))
}
