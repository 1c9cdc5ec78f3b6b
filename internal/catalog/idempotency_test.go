package catalog_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestCommitRecordsIdempotencyKey (ADR-123): a commit's idempotency_key and
// request_hash are stored in the manifest and come back from GET and from
// the versions page (read from the manifest's summary); a manifest written
// before the fields existed still reads; a bad key or hash is a 400 that
// writes nothing.
func TestCommitRecordsIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	storagetest.StartCatalog(t, cfg, catalog.New)
	base := storagetest.ClientFor(cfg, "catalogd", false)
	c := catalog.NewClient(base)

	// Version 1 as catalogd wrote it before ADR-123: no key fields.
	f1 := file(t, st, "datasets/idem/1.parquet", 2)
	old := `{"name":"idem","version":1,"row_count":2,"file_count":1,"bytes":` + jsonInt(f1.Bytes) +
		`,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","mode":"append","base_version":0,` +
		`"schema":[{"name":"id","type":"BIGINT"},{"name":"name","type":"VARCHAR"}],"files":[{"key":"` + f1.Key + `","rows":2,"bytes":` + jsonInt(f1.Bytes) + `}]}`
	storagetest.MustPut(t, st, catalog.ManifestKey("idem", 1), []byte(old))

	hash := strings.Repeat("ab", 32)
	f2 := file(t, st, "datasets/idem/2.parquet", 2)
	d, err := c.Commit(ctx, "idem", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{f2},
		IdempotencyKey: `order "7" <&>`, RequestHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 2 || d.IdempotencyKey != `order "7" <&>` || d.RequestHash != hash {
		t.Fatalf("commit answer %+v", d)
	}
	got, err := c.Get(ctx, "idem", 2)
	if err != nil || got.IdempotencyKey != d.IdempotencyKey || got.RequestHash != hash {
		t.Fatalf("get v2: %+v %v", got, err)
	}
	if got, err := c.Get(ctx, "idem", 1); err != nil || got.IdempotencyKey != "" || got.RowCount != 2 {
		t.Fatalf("get of a manifest without the fields: %+v %v", got, err)
	}
	// The stored manifest holds the key before the schema (the summary a
	// versions page reads).
	rc, _, err := st.Get(ctx, catalog.ManifestKey("idem", 2), storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if k, s := strings.Index(string(raw), `"idempotency_key"`), strings.Index(string(raw), `"schema"`); k < 0 || k > s {
		t.Fatalf("stored manifest:\n%s", raw)
	}
	page, err := c.VersionsPage(ctx, "idem", catalog.VersionsQuery{Desc: true})
	if err != nil || len(page.Versions) != 2 {
		t.Fatalf("versions: %+v %v", page, err)
	}
	if v := page.Versions[0]; v.Version != 2 || v.IdempotencyKey != d.IdempotencyKey || v.RequestHash != hash {
		t.Fatalf("versions page newest %+v", v)
	}
	if v := page.Versions[1]; v.Version != 1 || v.IdempotencyKey != "" || v.RequestHash != "" {
		t.Fatalf("versions page oldest %+v", v)
	}

	// Bad keys and hashes: 400 with the error body, nothing written.
	f3 := file(t, st, "datasets/idem/3.parquet", 2)
	for _, tc := range []struct{ key, hash, want string }{
		{strings.Repeat("k", 256), "", "256 bytes, at most 255"},
		{"tab\there", "", "byte 3 is 0x09"},
		{"caf\u00e9", "", "byte 3 is 0xc3"},
		{" lead", "", "starts or ends with a space"},
		{"", hash, "request_hash without an idempotency_key"},
		{"k", "ABAB", "want 64 lower-case hex digits"},
		{"k", strings.Repeat("AB", 32), "want 64 lower-case hex digits"},
	} {
		body, _ := json.Marshal(catalog.CommitRequest{BaseVersion: 2, Schema: schema, Files: []catalog.File{f3}, IdempotencyKey: tc.key, RequestHash: tc.hash})
		resp, err := http.Post(cfg.URL("catalogd")+catalog.DatasetsPath+"/idem/commit", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Kind, Message string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		if resp.StatusCode != 400 || e.Error.Kind != "invalid" || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("key %q hash %q: %d %s, want 400 invalid saying %q", tc.key, tc.hash, resp.StatusCode, b, tc.want)
		}
	}
	if _, err := c.Get(ctx, "idem", 3); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a refused commit wrote version 3: %v", err)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
