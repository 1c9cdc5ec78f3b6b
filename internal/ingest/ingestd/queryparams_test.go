package ingestd_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
)

// TestUnknownQueryParams: POST /v1/ingest and POST /v1/ingest/compact
// refuse a query parameter they do not take with a 400 invalid naming it
// and the ones the route takes, before reading the upload, and commit
// nothing (ADR-099). POST /v1/ingest?name=qq&mdoe=replace appended: the
// typo of mode was dropped and the default used. The catalog's version,
// the data files, the pending markers and the rows are as before; the
// typed client, with every parameter it sends, is still answered.
func TestUnknownQueryParams(t *testing.T) {
	ctx := context.Background()
	st := startStack(t, config(t))
	if a := st.upload(t, "name=qq", "a.csv", []byte("id,name\n1,a\n2,b\n")); a.Status != 200 {
		t.Fatalf("ingest: %d %s", a.Status, a.Body)
	}
	st.appendCSV(t, "qq", "id,name\n3,c\n")
	before, err := st.catalog().Get(ctx, "qq", 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := st.dataKeys(t, "qq")
	const (
		takes   = "(this route takes: name, mode, format)"
		compact = "(this route takes: name, target_file_mb, min_files)"
	)
	for _, tc := range []struct {
		compact bool
		query   string
		want    string
	}{
		{false, "name=qq&mdoe=replace", `unknown query parameter "mdoe" ` + takes},
		{false, "name=qq&mode=replace&formt=csv", `unknown query parameter "formt" ` + takes},
		{false, "name=qq&Mode=replace", `unknown query parameter "Mode" ` + takes},
		{false, "name=qq&mode=replace&dataset=qq&schema=x", `unknown query parameters "dataset", "schema" ` + takes},
		{false, "name=qq&mode=replace;x=1", "query string: "},
		{false, "name=qq&mode=re%place", "query string: "},
		{false, "name=qq&mode=replace&mode=append", `query parameter "mode" given 2 times`},
		{true, "name=qq&min_files=2&target_mb=1", `unknown query parameter "target_mb" ` + compact},
		{true, "name=qq&dry_run=true", `unknown query parameter "dry_run" ` + compact},
		{true, "name=qq;min_files=2", "query string: "},
	} {
		var a answer
		if tc.compact {
			a = st.postCompact(t, tc.query)
		} else {
			a = st.upload(t, tc.query, "r.csv", []byte("id,name\n9,z\n"))
		}
		var b errs.Body
		a.json(t, &b)
		if a.Status != 400 || b.Error.Kind != errs.Invalid || !strings.Contains(b.Error.Message, tc.want) || b.Error.RequestID == "" {
			t.Errorf("compact %v ?%s: %d %s, want a 400 saying %q", tc.compact, tc.query, a.Status, a.Body, tc.want)
		}
	}
	// Nothing was committed, nothing left behind.
	after, err := st.catalog().Get(ctx, "qq", 0)
	if err != nil || after.Version != before.Version || after.Mode != before.Mode {
		t.Fatalf("catalog after the refused requests: version %d %s %v; want version %d", after.Version, after.Mode, err, before.Version)
	}
	if k := st.dataKeys(t, "qq"); !slices.Equal(k, keys) {
		t.Fatalf("data files %v -> %v", keys, k)
	}
	if p := st.pending(t, "qq"); len(p) != 0 {
		t.Fatalf("pending markers left: %v", p)
	}
	if got := st.scalar(t, "SELECT COUNT(*) || '/' || MAX(id) FROM qq"); got != "3/3" {
		t.Fatalf("rows after the refused requests: %v, want 3/3", got)
	}

	// The typed client sends only what the routes take.
	c := st.compactClient()
	res, err := c.Ingest(ctx, ingest.Params{Name: "qq", Mode: ingest.ModeReplace, Format: "csv"}, strings.NewReader("id,name\n7,r\n"), -1)
	if err != nil || res.Version != before.Version+1 {
		t.Fatalf("client Ingest: %+v %v", res, err)
	}
	st.appendCSV(t, "qq", "id,name\n8,s\n")
	if _, err := c.Compact(ctx, ingest.CompactParams{Name: "qq", TargetFileMB: 64, MinFiles: 2}); err != nil {
		t.Fatalf("client Compact: %v", err)
	}
	if got := st.scalar(t, "SELECT COUNT(*) || '/' || MIN(id) FROM qq"); got != "2/7" {
		t.Fatalf("rows after the client's replace, append and compaction: %v, want 2/7", got)
	}
}
