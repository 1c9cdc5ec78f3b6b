package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// auditSuite is storaged (local backend) with catalogd instances started
// on demand, each a fresh process state (an empty latest-version cache).
type auditSuite struct {
	t   *testing.T
	cfg *shared.Config
	st  *storage.Client
}

func newAudit(t *testing.T) *auditSuite {
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	return &auditSuite{t: t, cfg: cfg, st: st}
}

// catalogd starts a catalogd instance and returns its URL and typed client.
func (a *auditSuite) catalogd() (string, *catalog.Client) {
	c := *a.cfg
	url := storagetest.StartCatalog(a.t, &c, catalog.New).URL()
	return url, catalog.NewClient(storagetest.ClientFor(&c, "catalogd", false))
}

// do sends method url with body (nil: none) and returns the status and
// the decoded error body (zero when the answer is not an error).
func do(t *testing.T, method, url string, body []byte) (int, errs.BodyError, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var eb errs.Body
	if r.StatusCode >= 300 {
		if err := json.Unmarshal(b, &eb); err != nil {
			t.Fatalf("%s %s: %d with a body that is not DESIGN.md's error: %s", method, url, r.StatusCode, b)
		}
	}
	return r.StatusCode, eb.Error, b
}

// TestDamagedManifest: a manifest changed in storage behind catalogd's
// back (a hand edit through storaged, a bad restore) is a 502 naming its
// key, on ?version=N and on a fresh instance's latest — never served as
// right. It was served: a manifest saying another version or dataset, or
// a row_count its files do not hold, came back as a 200; bad JSON was a
// 500 "internal error" naming nothing.
func TestDamagedManifest(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	_, c := a.catalogd()
	f1 := file(t, a.st, "datasets/dm/1.parquet", 3)
	f2 := file(t, a.st, "datasets/dm/2.parquet", 4)
	if _, err := c.Commit(ctx, "dm", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "dm", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{f2}}); err != nil {
		t.Fatal(err)
	}
	key := catalog.ManifestKey("dm", 2)
	orig := storagetest.MustGet(t, a.st, key, storage.Whole)
	edit := func(field string, val any) []byte {
		var m map[string]any
		if err := json.Unmarshal(orig, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = val
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		body []byte
		why  string
	}{
		{"other version", edit("version", 7), "says version 7"},
		{"other name", edit("name", "other"), `names dataset "other"`},
		{"row count", edit("row_count", 999), "row_count 999"},
		{"negative rows", edit("files", []map[string]any{{"key": f1.Key, "rows": -1, "bytes": f1.Bytes}}), "negative"},
		{"no schema", edit("schema", []any{}), "no schema"},
		{"bad mode", edit("mode", "merge"), `mode "merge"`},
		{"trailing data", append(append([]byte{}, orig...), []byte(`{"version":9}`)...), "data after"},
		{"cut", orig[:len(orig)/2], "not valid JSON"},
		{"empty", []byte{}, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.st.Put(ctx, key, bytes.NewReader(tc.body), int64(len(tc.body)), storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			url, _ := a.catalogd() // a fresh instance: nothing cached
			for _, q := range []string{"?version=2", ""} {
				code, e, b := do(t, "GET", url+"/v1/catalog/datasets/dm"+q, nil)
				if code != 502 || e.Kind != errs.Unavailable || !strings.Contains(e.Message, key) || !strings.Contains(e.Message, tc.why) {
					t.Errorf("GET %s: %d %s, want a 502 naming %s and %q", q, code, b, key, tc.why)
				}
			}
			// The dataset list: never with it wrong, nor silently without
			// it — a 200 naming it unreadable with the 502's message (ADR-093;
			// it was a 502 for the whole list).
			code, _, b := do(t, "GET", url+"/v1/catalog/datasets", nil)
			var lr catalog.ListResponse
			_ = json.Unmarshal(b, &lr)
			if code != 200 || !bytes.Contains(b, []byte(`"datasets":[]`)) || len(lr.Unreadable) != 1 || lr.Unreadable[0].Name != "dm" ||
				lr.Unreadable[0].Error.Kind != errs.Unavailable || !strings.Contains(lr.Unreadable[0].Error.Message, key) || !strings.Contains(lr.Unreadable[0].Error.Message, tc.why) {
				t.Errorf("GET datasets: %d %s, want a 200 with dm unreadable naming %s", code, b, key)
			}
			// The typed client says the same.
			if _, err := c.Get(ctx, "dm", 2); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), key) {
				t.Errorf("client Get: %v", err)
			}
		})
	}
	// Restored, it is served again.
	storagetest.MustPut(t, a.st, key, orig)
	url, _ := a.catalogd()
	if code, _, b := do(t, "GET", url+"/v1/catalog/datasets/dm?version=2", nil); code != 200 {
		t.Fatalf("restored: %d %s", code, b)
	}
}

// TestManifestGap: a manifest missing between two others (version 4 of 5
// deleted through storaged) made a fresh catalogd take version 3 for the
// latest; a commit on base 3 then wrote version 4, was acknowledged, and
// was shadowed by the old version 5 at once. Now the latest lookup is a
// 502 naming the missing manifest and the one after it, nothing is
// written, older versions stay readable by number, and the versions
// listing shows what is there (newest first without repeating a version).
func TestManifestGap(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	urlA, c := a.catalogd()
	for v := int64(0); v < 5; v++ {
		f := file(t, a.st, fmt.Sprintf("datasets/gap/%d.parquet", v+1), 1)
		if _, err := c.Commit(ctx, "gap", catalog.CommitRequest{BaseVersion: v, Schema: schema, Files: []catalog.File{f}}); err != nil {
			t.Fatal(err)
		}
	}
	missing := catalog.ManifestKey("gap", 4)
	if err := a.st.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}
	url, b := a.catalogd()
	code, e, body := do(t, "GET", url+"/v1/catalog/datasets/gap", nil)
	if code != 502 || e.Kind != errs.Unavailable || !strings.Contains(e.Message, missing) || !strings.Contains(e.Message, catalog.ManifestKey("gap", 5)) {
		t.Errorf("latest over a gap: %d %s, want a 502 naming %s", code, body, missing)
	}
	f := file(t, a.st, "datasets/gap/new.parquet", 1)
	if _, err := b.Commit(ctx, "gap", catalog.CommitRequest{BaseVersion: 3, Schema: schema, Files: []catalog.File{f}}); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), missing) {
		t.Errorf("commit on base 3 over the gap: %v, want a 502 naming %s", err, missing)
	}
	if _, err := a.st.Head(ctx, missing); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the commit wrote into the gap: %v", err)
	}
	if d, err := b.Get(ctx, "gap", 3); err != nil || d.Version != 3 {
		t.Errorf("?version=3: %+v %v", d, err)
	}
	var got []int64
	for after := int64(0); ; {
		p, err := c.VersionsPage(ctx, "gap", catalog.VersionsQuery{After: after, Limit: 2, Desc: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Versions {
			got = append(got, v.Version)
		}
		if p.Next == 0 {
			break
		}
		after = p.Next
	}
	if fmt.Sprint(got) != "[5 3 2 1]" {
		t.Errorf("versions newest first, pages of 2: %v, want [5 3 2 1]", got)
	}
	_ = urlA
}

// TestUnknownParams: a query parameter a route does not take is a 400
// naming it, and nothing changes. ?versoin=1 (or a Delta user's
// ?versionAsOf=1 or ?timestampAsOf=...) answered the latest version as if it
// were the one asked for; DELETE ?purge=true&force=1 deleted.
func TestUnknownParams(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	url, c := a.catalogd()
	f := file(t, a.st, "datasets/up/1.parquet", 2)
	if _, err := c.Commit(ctx, "up", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	ds := url + "/v1/catalog/datasets"
	commit := []byte(`{"base_version":1,"mode":"append","schema":[{"name":"id","type":"BIGINT"},{"name":"name","type":"VARCHAR"}],"files":[]}`)
	for _, tc := range []struct {
		method, url, param string
		body               []byte
	}{
		{"GET", ds + "/up?versoin=1", "versoin", nil},
		{"GET", ds + "/up?versionAsOf=1", "versionAsOf", nil},
		{"GET", ds + "/up?version=1&timestampAsOf=2020-01-01T00:00:00Z", "timestampAsOf", nil},
		{"GET", ds + "/up/versions?page=2", "page", nil},
		{"GET", ds + "?max-keys=5", "max-keys", nil}, // S3's name; this list takes limit (ADR-128)
		{"DELETE", ds + "/up?purge=true&force=1", "force", nil},
		{"POST", ds + "/up/commit?mode=replace", "mode", commit},
	} {
		code, e, b := do(t, tc.method, tc.url, tc.body)
		if code != 400 || e.Kind != errs.Invalid || !strings.Contains(e.Message, `"`+tc.param+`"`) {
			t.Errorf("%s %s: %d %s, want a 400 naming %s", tc.method, tc.url, code, b, tc.param)
		}
	}
	d, err := c.Get(ctx, "up", 0)
	if err != nil || d.Version != 1 {
		t.Fatalf("after the refused requests: %+v %v, want version 1 live", d, err)
	}
	if _, err := a.st.Head(ctx, f.Key); err != nil {
		t.Fatalf("file after the refused requests: %v", err)
	}
	// The parameters the routes take still work.
	for _, u := range []string{ds, ds + "/up?version=1", ds + "/up/versions?after=0&limit=5&order=desc", ds + "?prefix=u&after=a&limit=5"} {
		if code, _, b := do(t, "GET", u, nil); code != 200 {
			t.Errorf("GET %s: %d %s", u, code, b)
		}
	}
}

// TestUnparsableQuery: a query string that does not parse is a 400
// invalid saying so, on every route, and nothing changes. r.URL.Query()
// dropped a pair with a ';' or a bad %-escape without a word, so
// ?version=1;x answered the latest version (2), ?versoin%zz=1 was not
// refused as unknown, DELETE ?purge=true;x deleted without purging and
// POST .../commit?mode=replace;x committed.
func TestUnparsableQuery(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	url, c := a.catalogd()
	f1 := file(t, a.st, "datasets/uq/1.parquet", 2)
	f2 := file(t, a.st, "datasets/uq/2.parquet", 3)
	if _, err := c.Commit(ctx, "uq", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "uq", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{f2}}); err != nil {
		t.Fatal(err)
	}
	ds := url + "/v1/catalog/datasets"
	commit := []byte(`{"base_version":2,"mode":"append","schema":[{"name":"id","type":"BIGINT"},{"name":"name","type":"VARCHAR"}],"files":[]}`)
	for _, tc := range []struct {
		method, url string
		body        []byte
	}{
		{"GET", ds + "/uq?version=1;x", nil},
		{"GET", ds + "/uq?version=1&x;y", nil},
		{"GET", ds + "/uq?versoin%zz=1", nil},
		{"GET", ds + "/uq?as_of=%zz", nil},
		{"GET", ds + "/uq/versions?limit=1;x", nil},
		{"GET", ds + "/uq/versions?order=desc%", nil},
		{"GET", ds + "?prefix;=u", nil},
		{"DELETE", ds + "/uq?purge=true;x", nil},
		{"DELETE", ds + "/uq?%zz", nil},
		{"POST", ds + "/uq/commit?mode=replace;x", commit},
	} {
		code, e, b := do(t, tc.method, tc.url, tc.body)
		if code != 400 || e.Kind != errs.Invalid || !strings.Contains(e.Message, "query string") {
			t.Errorf("%s %s: %d %s, want a 400 saying the query string does not parse", tc.method, tc.url, code, b)
		}
	}
	d, err := c.Get(ctx, "uq", 0)
	if err != nil || d.Version != 2 || d.Deleted {
		t.Fatalf("after the refused requests: %+v %v, want version 2 live", d, err)
	}
	for _, f := range []catalog.File{f1, f2} {
		if _, err := a.st.Head(ctx, f.Key); err != nil {
			t.Fatalf("file %s after the refused requests: %v", f.Key, err)
		}
	}
	// An escaped ';' is a character of a value, not a separator: parsed.
	if code, e, b := do(t, "GET", ds+"/uq?version=1%3Bx", nil); code != 400 || !strings.Contains(e.Message, `version "1;x"`) {
		t.Errorf("GET ?version=1%%3Bx: %d %s, want a 400 about the version 1;x", code, b)
	}
	if code, _, b := do(t, "GET", ds+"/uq?version=1", nil); code != 200 || !strings.Contains(string(b), `"version":1`) {
		t.Errorf("GET ?version=1: %d %s", code, b)
	}
}

// TestCommitFileLimit: a commit of more than MaxCommitFiles files is a 413
// naming the limit, answered before any file is looked at (100,000 files
// were each HEADed and read in storage first).
func TestCommitFileLimit(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	_, c := a.catalogd()
	files := make([]catalog.File, 100000)
	for i := range files {
		files[i] = catalog.File{Key: fmt.Sprintf("datasets/big/%06d.parquet", i), Rows: 1}
	}
	_, err := c.Commit(ctx, "big", catalog.CommitRequest{Schema: schema, Files: files})
	if !errs.Is(err, errs.TooLarge) || !strings.Contains(err.Error(), fmt.Sprint(catalog.MaxCommitFiles)) {
		t.Fatalf("100,000 files: %v, want a 413 naming the limit %d", err, catalog.MaxCommitFiles)
	}
	if _, err := c.Get(ctx, "big", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after the refused commit: %v", err)
	}
}

// TestBaseBeyondLatest: a base_version past the latest is a 409 naming
// the latest and saying there is no such version; it said "not the latest
// (1): reload and retry", which no reload makes right.
func TestBaseBeyondLatest(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	_, c := a.catalogd()
	f := file(t, a.st, "datasets/bb/1.parquet", 1)
	if _, err := c.Commit(ctx, "bb", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	g := file(t, a.st, "datasets/bb/2.parquet", 1)
	for _, mode := range []string{"append", "replace", "compact"} {
		_, err := c.Commit(ctx, "bb", catalog.CommitRequest{BaseVersion: 9, Mode: mode, Schema: schema, Files: []catalog.File{g}})
		if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "beyond the latest version (1)") || strings.Contains(err.Error(), "reload") {
			t.Errorf("%s on base 9 of 1: %v", mode, err)
		}
	}
	// A stale base still says reload and retry, naming the latest.
	if _, err := c.Commit(ctx, "bb", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{g}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "bb", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/bb/3.parquet", 1)}}); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "not the latest (2): reload and retry") {
		t.Errorf("stale base: %v", err)
	}
}

// TestAsOf: GET .../{name}?as_of=<RFC 3339> answers the version that was
// the latest then (Delta Lake's timestampAsOf): before the first commit
// and while deleted a 404 saying so, each version between its commit and
// the next, the re-created dataset after; with version, or a time that is
// not RFC 3339, a 400. Before it, as_of was ignored and the latest served.
func TestAsOf(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	url, c := a.catalogd()
	_, b := a.catalogd() // another instance answers from the same storage
	tick := func() time.Time {
		time.Sleep(20 * time.Millisecond)
		tm := time.Now()
		time.Sleep(20 * time.Millisecond)
		return tm
	}
	before := tick()
	var at []time.Time // at[i]: a time when version i+1 was the latest
	for v := int64(0); v < 3; v++ {
		f := file(t, a.st, fmt.Sprintf("datasets/tt/%d.parquet", v+1), v+1)
		if _, err := c.Commit(ctx, "tt", catalog.CommitRequest{BaseVersion: v, Schema: schema, Files: []catalog.File{f}}); err != nil {
			t.Fatal(err)
		}
		at = append(at, tick())
	}
	if _, err := c.Delete(ctx, "tt", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := tick()
	f := file(t, a.st, "datasets/tt/again.parquet", 7)
	if _, err := c.Commit(ctx, "tt", catalog.CommitRequest{Schema: schema, Files: []catalog.File{f}}); err != nil {
		t.Fatal(err)
	}
	again := tick()

	for i, tm := range at {
		d, err := b.GetAsOf(ctx, "tt", tm)
		if rows := int64((i + 1) * (i + 2) / 2); err != nil || d.Version != int64(i+1) || d.RowCount != rows {
			t.Errorf("as of version %d's time: v%d rows %d %v", i+1, d.Version, d.RowCount, err)
		}
	}
	if d, err := b.GetAsOf(ctx, "tt", again); err != nil || d.Version != 5 || d.RowCount != 7 {
		t.Errorf("as of after the re-create: %+v %v", d, err)
	}
	if _, err := b.GetAsOf(ctx, "tt", before); !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "no version at or before") {
		t.Errorf("as of before the first commit: %v", err)
	}
	if _, err := b.GetAsOf(ctx, "tt", deleted); !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "was deleted") {
		t.Errorf("as of while deleted: %v", err)
	}
	ds := url + "/v1/catalog/datasets/tt"
	for _, q := range []string{"?as_of=yesterday", "?as_of=2026-01-01", "?version=1&as_of=" + at[0].UTC().Format(time.RFC3339Nano)} {
		if code, e, body := do(t, "GET", ds+q, nil); code != 400 || e.Kind != errs.Invalid || !strings.Contains(e.Message, "as_of") {
			t.Errorf("GET %s: %d %s, want a 400 naming as_of", q, code, body)
		}
	}
	if _, err := b.GetAsOf(ctx, "nope", again); !errs.Is(err, errs.NotFound) {
		t.Errorf("as of on a dataset that never existed: %v", err)
	}
}

// TestCommitIntoGap: an instance that last saw version 3 commits on base 3
// after another instance wrote 4 and 5 and manifest 4 was removed through
// storaged: the commit was acknowledged as version 4 and shadowed by
// version 5 at once (the next read answered 5, the commit's files gone from
// view). It is a 502 naming the gap, and nothing is written.
func TestCommitIntoGap(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	_, c := a.catalogd()
	_, b := a.catalogd()
	for v := int64(0); v < 5; v++ {
		w := c
		if v >= 3 {
			w = b
		}
		f := file(t, a.st, fmt.Sprintf("datasets/cg/%d.parquet", v+1), 1)
		if _, err := w.Commit(ctx, "cg", catalog.CommitRequest{BaseVersion: v, Schema: schema, Files: []catalog.File{f}}); err != nil {
			t.Fatal(err)
		}
	}
	missing := catalog.ManifestKey("cg", 4)
	if err := a.st.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}
	f := file(t, a.st, "datasets/cg/new.parquet", 1)
	_, err := c.Commit(ctx, "cg", catalog.CommitRequest{BaseVersion: 3, Schema: schema, Files: []catalog.File{f}})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), missing) {
		t.Errorf("commit on base 3 into the gap: %v, want a 502 naming %s", err, missing)
	}
	if _, err := a.st.Head(ctx, missing); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the commit wrote into the gap: %v", err)
	}
}

// TestDeleteRacingCommits: writers append with retry-on-409 through two
// instances while a third deletes: every acknowledged commit is its own
// version holding its file, below the tombstone; the delete's version is
// the tombstone and the latest; versions are gapless; after the delete a
// writer's retry reads 404 and stops.
func TestDeleteRacingCommits(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	_, c1 := a.catalogd()
	_, c2 := a.catalogd()
	_, c3 := a.catalogd()
	const writers = 8
	files := make([]catalog.File, writers)
	for i := range files {
		files[i] = file(t, a.st, fmt.Sprintf("datasets/dr/%d.parquet", i), 1)
	}
	if _, err := c1.Commit(ctx, "dr", catalog.CommitRequest{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	acked := make([]int64, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*catalog.Client{c1, c2}[w%2]
			for attempt := 0; attempt < 200; attempt++ {
				cur, err := c.Get(ctx, "dr", 0)
				if errs.Is(err, errs.NotFound) {
					return
				}
				if err != nil {
					t.Errorf("writer %d: get: %v", w, err)
					return
				}
				d, err := c.Commit(ctx, "dr", catalog.CommitRequest{BaseVersion: cur.Version, Schema: schema, Files: []catalog.File{files[w]}})
				if err == nil {
					acked[w] = d.Version
					return
				}
				if !errs.Is(err, errs.Conflict) {
					t.Errorf("writer %d: commit: %v", w, err)
					return
				}
			}
			t.Errorf("writer %d: no commit after 200 attempts", w)
		}()
	}
	time.Sleep(30 * time.Millisecond)
	del, err := c3.Delete(ctx, "dr", catalog.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	vs, err := c2.Versions(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v.Version != int64(i+1) {
			t.Fatalf("versions not gapless: %+v", vs)
		}
	}
	if last := vs[len(vs)-1]; last.Version != del.Version || !last.Deleted {
		t.Fatalf("latest %+v, want the delete's tombstone %d", last, del.Version)
	}
	n := 0
	for w, v := range acked {
		if v == 0 {
			continue
		}
		n++
		d, err := c3.Get(ctx, "dr", v)
		if err != nil || v >= del.Version || d.Files[len(d.Files)-1].Key != files[w].Key {
			t.Errorf("writer %d acknowledged at version %d: %+v %v", w, v, d, err)
		}
	}
	t.Logf("%d of %d writers committed before the delete at version %d", n, writers, del.Version)
	if _, err := c1.Get(ctx, "dr", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after the delete: %v", err)
	}
}

// TestMethodNotAllowedAllow: a 405 on a dataset's path names the methods
// the route serves (RFC 9110 15.5.6), as on every other route. The routes
// under .../{name} were a chi sub-router, whose own path chi registers for
// every method, so PUT .../{name} answered "Allow: GET, HEAD, POST, PUT,
// PATCH, DELETE, OPTIONS" — a client retrying with PUT got a 405 again.
func TestMethodNotAllowedAllow(t *testing.T) {
	a := newAudit(t)
	url, _ := a.catalogd()
	ds := url + "/v1/catalog/datasets"
	for _, tc := range []struct{ method, url, allow string }{
		{"PUT", ds + "/up", "GET, HEAD, DELETE"}, // HEAD answers as GET (shared.headAsGet)
		{"PATCH", ds + "/up/", "GET, HEAD, DELETE"},
		{"POST", ds + "/up", "GET, HEAD, DELETE"},
		{"GET", ds + "/up/commit", "POST"},
		{"DELETE", ds + "/up/versions", "GET, HEAD"},
		{"PUT", ds, "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var eb errs.Body
		if r.StatusCode != 405 || json.Unmarshal(b, &eb) != nil || eb.Error.Kind != errs.Invalid {
			t.Errorf("%s %s: %d %s, want a 405 invalid error body", tc.method, tc.url, r.StatusCode, b)
		}
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.url, got, tc.allow)
		}
	}
	// The served methods still answer, with and without a trailing slash.
	for _, u := range []string{ds + "/up", ds + "/up/"} {
		if code, e, b := do(t, "GET", u, nil); code != 404 || e.Kind != errs.NotFound {
			t.Errorf("GET %s: %d %s, want catalogd's 404 for a missing dataset", u, code, b)
		}
	}
}

// TestEmptyQueryValueIsAbsent (ADR-111): a query parameter given empty is
// answered as if left out, on every catalogd route that takes parameters.
// ?limit= on the dataset list was a 400, ?after= and ?prefix= turned the
// whole list into a page of 100, and ?as_of=T&version= was "give version
// or as_of, not both".
func TestEmptyQueryValueIsAbsent(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	url, c := a.catalogd()
	for i, name := range []string{"ea", "eb"} {
		for v := int64(0); v < 2; v++ {
			f := file(t, a.st, fmt.Sprintf("datasets/%s/%d.parquet", name, v+1), int64(i)+v+1)
			if _, err := c.Commit(ctx, name, catalog.CommitRequest{BaseVersion: v, Schema: schema, Files: []catalog.File{f}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	future := "as_of=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	ds := url + catalog.DatasetsPath
	for _, tc := range []struct{ with, without string }{
		{ds + "?limit=", ds},
		{ds + "?after=", ds},
		{ds + "?prefix=", ds},
		{ds + "?limit=&after=&prefix=", ds},
		{ds + "?limit=1&after=", ds + "?limit=1"},
		{ds + "?limit=&prefix=e", ds + "?prefix=e"},
		{ds + "/ea?version=", ds + "/ea"},
		{ds + "/ea?as_of=", ds + "/ea"},
		{ds + "/ea?" + future + "&version=", ds + "/ea?" + future},
		{ds + "/ea/versions?after=&limit=&order=", ds + "/ea/versions"},
	} {
		wcode, _, wb := do(t, "GET", tc.with, nil)
		code, _, b := do(t, "GET", tc.without, nil)
		if code != 200 || wcode != code || string(wb) != string(b) {
			t.Errorf("GET %s: %d %.200s; want the answer to %s: %d %.200s",
				strings.TrimPrefix(tc.with, url), wcode, wb, strings.TrimPrefix(tc.without, url), code, b)
		}
	}
}
