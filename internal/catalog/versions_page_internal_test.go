package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// readCounter counts the manifest bytes read and the keys listed.
type readCounter struct {
	storage.Store
	gets, bytes, listed atomic.Int64
}

func (r *readCounter) Get(ctx context.Context, key string, opts storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, oi, err := r.Store.Get(ctx, key, opts)
	if err == nil && strings.HasPrefix(key, ManifestPrefix) {
		r.gets.Add(1)
		rc = &countingReader{rc, &r.bytes}
	}
	return rc, oi, err
}

func (r *readCounter) List(ctx context.Context, opts storage.ListOptions) (storage.ListPage, error) {
	p, err := r.Store.List(ctx, opts)
	r.listed.Add(int64(len(p.Objects)))
	return p, err
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// appends writes n manifests of dataset name, version v naming v files
// (as n appends of one file each do), through c.write.
func appends(t *testing.T, c *Catalog, name string, n int) {
	t.Helper()
	var files []File
	for v := int64(1); v <= int64(n); v++ {
		files = append(files, File{Key: fmt.Sprintf("datasets/%s/part-%06d.parquet", name, v), Rows: 10, Bytes: 1000})
		d := &Dataset{Name: name, Version: v, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Files: files, RowCount: 10 * v,
			Mode: ModeAppend, UpdatedAt: time.Unix(v, 0).UTC()}
		if err := c.write(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func openLocal(t *testing.T) storage.Store {
	st, err := local.Open(t.TempDir(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestVersionsReadSummaryOnly: a cold versions listing reads each
// manifest's summary (stored before its schema and files), not its file
// list: 300 appends name 45150 files in all, and the listing reads a
// bounded prefix of each manifest. A manifest stored before the summary
// came first (a Dataset's JSON) is read whole and summarized the same.
func TestVersionsReadSummaryOnly(t *testing.T) {
	st := openLocal(t)
	appends(t, NewCatalog(st, nil), "s", 300)
	// Version 7 as older catalogds wrote it.
	old := Dataset{Name: "s", Version: 7, Schema: []Column{{Name: "id", Type: "BIGINT"}}, RowCount: 70, Mode: ModeAppend, UpdatedAt: time.Unix(7, 0).UTC()}
	for i := 1; i <= 7; i++ {
		old.Files = append(old.Files, File{Key: fmt.Sprintf("datasets/s/part-%06d.parquet", i), Rows: 10, Bytes: 1000})
	}
	b, _ := json.MarshalIndent(old, "", " ")
	if _, err := st.Put(context.Background(), ManifestKey("s", 7), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	rc := &readCounter{Store: st}
	c := NewCatalog(rc, nil) // cold
	vs, err := c.Versions(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 300 {
		t.Fatalf("%d versions", len(vs))
	}
	for i, vi := range vs {
		v := int64(i + 1)
		want := VersionInfo{Version: v, Mode: ModeAppend, RowCount: 10 * v, FileCount: int(v), Bytes: 1000 * v, UpdatedAt: time.Unix(v, 0).UTC()}
		if !reflect.DeepEqual(vi, want) {
			t.Fatalf("version %d: %+v, want %+v", v, vi, want)
		}
	}
	// Whole manifests would be ~300*150*60 bytes; summaries are at most
	// summaryBytes each (plus version 7 whole).
	if got, limit := rc.bytes.Load(), int64(301*summaryBytes); got > limit {
		t.Fatalf("a cold listing of 300 versions read %d manifest bytes, want <= %d", got, limit)
	}
	if got := rc.gets.Load(); got != 301 {
		t.Fatalf("%d manifest reads, want 301 (300 summaries, version 7 again whole)", got)
	}
}

// TestVersionsPageShape: pages in both orders, next, after past the end,
// the default limit, a tombstone, and a commit of this instance seen on
// the next page at once.
func TestVersionsPageShape(t *testing.T) {
	ctx := context.Background()
	c := NewCatalog(openLocal(t), nil)
	appends(t, c, "s", DefaultVersionsLimit+5)
	n := int64(DefaultVersionsLimit + 5)
	vers := func(p VersionsResponse) []int64 {
		var out []int64
		for _, v := range p.Versions {
			out = append(out, v.Version)
		}
		return out
	}
	seq := func(from, to int64) []int64 {
		var out []int64
		for v := from; ; {
			out = append(out, v)
			if v == to {
				return out
			}
			if from < to {
				v++
			} else {
				v--
			}
		}
	}
	page := func(q VersionsQuery, want []int64, next int64) {
		t.Helper()
		p, err := c.VersionsPage(ctx, "s", q)
		if err != nil {
			t.Fatal(err)
		}
		if got := vers(p); !reflect.DeepEqual(got, want) || p.Next != next {
			t.Fatalf("%+v: versions %v next %d, want %v next %d", q, got, p.Next, want, next)
		}
	}
	page(VersionsQuery{}, seq(1, DefaultVersionsLimit), DefaultVersionsLimit)
	page(VersionsQuery{After: DefaultVersionsLimit}, seq(DefaultVersionsLimit+1, n), 0)
	page(VersionsQuery{Limit: 10}, seq(1, 10), 10)
	page(VersionsQuery{After: n - 10, Limit: 10}, seq(n-9, n), 0)
	page(VersionsQuery{After: n - 11, Limit: 10}, seq(n-10, n-1), n-1)
	page(VersionsQuery{After: n + 50}, nil, 0)
	page(VersionsQuery{Desc: true, Limit: 10}, seq(n, n-9), n-9)
	page(VersionsQuery{Desc: true, After: n - 9, Limit: 10}, seq(n-10, n-19), n-19)
	page(VersionsQuery{Desc: true, After: 6, Limit: 10}, seq(5, 1), 0)
	page(VersionsQuery{Desc: true, After: 1}, nil, 0)
	page(VersionsQuery{Desc: true, After: n + 50, Limit: 3}, seq(n, n-2), n-2)

	if _, err := c.Delete(ctx, "s", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.VersionsPage(ctx, "s", VersionsQuery{Desc: true, Limit: 1})
	if err != nil || len(p.Versions) != 1 || p.Versions[0].Version != n+1 || !p.Versions[0].Deleted || p.Next != n+1 {
		t.Fatalf("after delete: %+v %v", p, err)
	}
	for _, q := range []VersionsQuery{{}, {After: 3}, {Desc: true}} {
		if _, err := c.VersionsPage(ctx, "nope", q); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("missing dataset %+v: %v", q, err)
		}
	}
	all, err := c.Versions(ctx, "s")
	if err != nil || len(all) != int(n+1) {
		t.Fatalf("Versions: %d %v", len(all), err)
	}
}

// TestListSkipsVersions: the dataset list lists a page of each dataset's
// manifest keys, not all of them. Under -short, 700 versions, not 1,500:
// still more than the two pages the listing may read.
func TestListSkipsVersions(t *testing.T) {
	st := openLocal(t)
	w := NewCatalog(st, nil)
	versions := int64(1500)
	if testing.Short() {
		versions = 700
	}
	for v := int64(1); v <= versions; v++ { // one file each: the keys matter here
		d := &Dataset{Name: "big", Version: v, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Files: []File{}, Mode: ModeReplace}
		if err := w.write(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "big_2", "big0", "z"} {
		appends(t, w, n, 2)
	}
	appends(t, w, "gone", 1)
	if _, err := w.Delete(context.Background(), "gone", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := &readCounter{Store: st}
	c := NewCatalog(rc, nil)
	ds, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s@%d", d.Name, d.Version))
	}
	if want := []string{"a@2", fmt.Sprintf("big@%d", versions), "big0@2", "big_2@2", "z@2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list %v, want %v", got, want)
	}
	if n := rc.listed.Load(); n > 2*namesPage {
		t.Fatalf("listing the names listed %d keys (%d stored), want <= %d", n, versions+11, 2*namesPage)
	}
}

// TestParseVersionsQuery: the parameters of GET .../versions.
func TestParseVersionsQuery(t *testing.T) {
	good := map[string]VersionsQuery{
		"":                          {},
		"after=0":                   {},
		"after=17&limit=5":          {After: 17, Limit: 5},
		"order=desc":                {Desc: true},
		"order=asc&limit=1000":      {Limit: 1000},
		"after=9223372036854775807": {After: 1<<63 - 1},
	}
	for raw, want := range good {
		v, _ := url.ParseQuery(raw)
		q, err := ParseVersionsQuery(v)
		if err != nil || q != want {
			t.Errorf("%q: %+v %v, want %+v", raw, q, err, want)
		}
	}
	for _, raw := range []string{"after=-1", "after=x", "after=1.5", "limit=0", "limit=1001", "limit=-3", "order=up", "order=DESC", "after=99999999999999999999",
		"after=1&after=3", "limit=1&limit=2", "order=asc&order=desc", "order=desc&order=desc"} {
		v, _ := url.ParseQuery(raw)
		if _, err := ParseVersionsQuery(v); err == nil || !strings.Contains(err.Error(), strings.SplitN(raw, "=", 2)[0]) {
			t.Errorf("%q: %v, want an error naming the parameter", raw, err)
		}
	}
}

// FuzzVersionsQuery: any query string parses or is refused, never panics,
// and what parses is in range.
func FuzzVersionsQuery(f *testing.F) {
	for _, s := range []string{"", "after=3&limit=10&order=desc", "limit=1001", "after=-1", "order=%00", "after=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseVersionsQuery(v)
		if err != nil {
			return
		}
		if q.After < 0 || q.Limit < 0 || q.Limit > MaxVersionsLimit {
			t.Fatalf("%q parsed to %+v", raw, q)
		}
	})
}

// FuzzParseSummary: a stored manifest cut anywhere gives its exact
// summary or "read it whole", never a wrong one; any bytes never panic.
func FuzzParseSummary(f *testing.F) {
	f.Add("name", int64(3), int64(7), 2, "append", "BIGINT", false, 40, "", "", []byte(nil))
	f.Add("x", int64(1), int64(0), 0, "", "STRUCT(\"a\" INTEGER)", true, 9999, "", "", []byte(`{"version":1,"file_count":2,"bytes":3,"schema":[]}`))
	f.Add("k", int64(2), int64(5), 1, "append", "VARCHAR", false, 300, `key "<&>" \ 1`, strings.Repeat("ab", 32), []byte(`{"version":2,"file_count":1,"bytes":3,"idempotency_key":"k","request_hash":"x","schema":[]}`))
	f.Fuzz(func(t *testing.T, name string, version, rows int64, nfiles int, mode, typ string, deleted bool, cut int, key, hash string, raw []byte) {
		parseSummary(raw) // must not panic
		if !utf8.ValidString(mode) || !utf8.ValidString(key) || !utf8.ValidString(hash) {
			return // stored as U+FFFD: another mode or key
		}
		nfiles = nfiles & 63
		d := &Dataset{Name: name, Version: version, RowCount: rows, Mode: mode, Deleted: deleted,
			Schema: []Column{{Name: "c", Type: typ}}, UpdatedAt: time.Unix(version&0xffffffff, 0).UTC(),
			IdempotencyKey: key, RequestHash: hash}
		for i := 0; i < nfiles; i++ {
			d.Files = append(d.Files, File{Key: fmt.Sprint(i), Rows: rows, Bytes: int64(i) * 7})
		}
		b, err := encodeManifest(d)
		if err != nil {
			return
		}
		if cut < 0 {
			cut = -cut
		}
		if cut >= 0 && cut < len(b) {
			b = b[:cut]
		}
		info, ok := parseSummary(b)
		if !ok {
			return
		}
		if want := summarize(d); !reflect.DeepEqual(info, want) {
			t.Fatalf("summary %+v, want %+v", info, want)
		}
	})
}

// TestListSkipsForeignKeys: keys under _catalog/ that catalogd does not
// write (another name syntax, an unpadded version) are not datasets; a
// manifest stored at _catalog/BAD/0000000001.json was listed as a dataset
// (named "", version 0, from its content) that no route could read.
func TestListSkipsForeignKeys(t *testing.T) {
	st := openLocal(t)
	c := NewCatalog(st, nil)
	appends(t, c, "ok", 1)
	for _, k := range []string{"_catalog/BAD/0000000001.json", "_catalog/x/1.json", "_catalog/y/+000000001.json", "_catalog/select/0000000001.json"} {
		if _, err := st.Put(context.Background(), k, strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s@%d", d.Name, d.Version))
	}
	if want := []string{"ok@1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list %v, want %v", got, want)
	}
}

// FuzzManifestKey: parseManifestKey accepts exactly the keys ManifestKey
// makes (valid name, version >= 1) and inverts it.
func FuzzManifestKey(f *testing.F) {
	for _, k := range []string{"_catalog/sales/0000000003.json", "_catalog/BAD/0000000001.json", "_catalog/x/1.json",
		"_catalog/y/+000000001.json", "_catalog//0000000001.json", "_catalog/a/b/0000000001.json", "_catalog/a/0000000000.json",
		"_catalog/a/9223372036854775807.json", "_catalog/select/0000000001.json", "datasets/a/0000000001.json"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		name, v, ok := parseManifestKey(key)
		if !ok {
			return
		}
		if v < 1 || ValidateName(name) != nil || ManifestKey(name, v) != key {
			t.Fatalf("%q parsed as %q version %d", key, name, v)
		}
		if n2, v2, ok := parseManifestKey(ManifestKey(name, v)); !ok || n2 != name || v2 != v {
			t.Fatalf("round trip of %q: %q %d %v", key, n2, v2, ok)
		}
	})
}
