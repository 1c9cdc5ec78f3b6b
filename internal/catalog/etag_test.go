package catalog_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
)

// condGet sends method url with the given If-None-Match field lines and
// returns the status, the ETag and the body.
func condGet(t *testing.T, method, url string, inm ...string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range inm {
		req.Header.Add("If-None-Match", v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, r.Header.Get("ETag"), b
}

// TestDatasetETag (ADR-137): GET /v1/catalog/datasets/{name} carries a
// strong ETag naming dataset and version, and If-None-Match naming it is a
// 304 with no body — over real HTTP, on the latest, ?version=N and
// ?as_of=, through two catalogd instances (a commit by the other between
// two conditional GETs is a 200 with the new version, not a 304 from the
// first one's cache). A malformed If-None-Match never makes a 304: the
// whole answer, as without it. A precondition never hides an error: a
// deleted or missing dataset is its 404 whatever the field says. Before,
// there was no ETag and every GET sent the whole manifest.
func TestDatasetETag(t *testing.T) {
	ctx := context.Background()
	a := newAudit(t)
	baseA, ca := a.catalogd()
	_, cb := a.catalogd()
	urlA := baseA + catalog.DatasetsPath + "/sales"

	v1, err := ca.Commit(ctx, "sales", catalog.CommitRequest{Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/1.parquet", 3)}})
	if err != nil {
		t.Fatal(err)
	}
	tag1 := catalog.ETag("sales", 1)
	if tag1 != `"sales.1"` {
		t.Fatalf("ETag(sales, 1) = %s", tag1)
	}
	wantDataset := func(what string, code int, etag string, body []byte, version int64) {
		t.Helper()
		var d catalog.Dataset
		if code != 200 || json.Unmarshal(body, &d) != nil || d.Name != "sales" || d.Version != version || len(d.Files) != int(version) {
			t.Fatalf("%s: %d %s, want 200 with version %d", what, code, body, version)
		}
		if want := catalog.ETag("sales", version); etag != want {
			t.Fatalf("%s: ETag %q, want %q", what, etag, want)
		}
	}
	notModified := func(what string, code int, etag string, body []byte, version int64) {
		t.Helper()
		if code != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("%s: %d %q, want 304 with no body", what, code, body)
		}
		if want := catalog.ETag("sales", version); etag != want {
			t.Fatalf("%s: 304 with ETag %q, want %q", what, etag, want)
		}
	}

	code, etag, body := condGet(t, "GET", urlA)
	wantDataset("plain GET", code, etag, body, 1)
	// The same bytes as before: the ETag is the only change.
	var plain catalog.Dataset
	if err := json.Unmarshal(body, &plain); err != nil || !plain.UpdatedAt.Equal(v1.UpdatedAt) {
		t.Fatalf("plain GET: %s", body)
	}
	for _, inm := range [][]string{
		{tag1},
		{`W/"sales.1"`},
		{`"other.1", "sales.1"`},
		{`"other.1"`, `"sales.1"`}, // two field lines are one list
		{` ,"x", ,  "sales.1" , `},
		{"*"},
	} {
		code, etag, body := condGet(t, "GET", urlA, inm...)
		notModified("If-None-Match "+jsonText(inm), code, etag, body, 1)
	}
	code, etag, body = condGet(t, "HEAD", urlA, tag1)
	notModified("HEAD with If-None-Match", code, etag, body, 1)
	code, etag, _ = condGet(t, "HEAD", urlA)
	if code != 200 || etag != tag1 {
		t.Fatalf("HEAD: %d ETag %q", code, etag)
	}
	code, etag, body = condGet(t, "GET", urlA, `"sales.2"`, `"other.1"`)
	wantDataset("If-None-Match naming other versions", code, etag, body, 1)

	// Another instance commits between two conditional GETs of A: A
	// answers the new version, whole.
	if _, err := cb.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 1, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/2.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	code, etag, body = condGet(t, "GET", urlA, tag1)
	wantDataset("If-None-Match of version 1 after a commit by another instance", code, etag, body, 2)
	code, etag, body = condGet(t, "GET", urlA, etag)
	notModified("If-None-Match of version 2", code, etag, body, 2)

	// ?version=N: the tag of that version.
	code, etag, body = condGet(t, "GET", urlA+"?version=1")
	wantDataset("?version=1", code, etag, body, 1)
	code, etag, body = condGet(t, "GET", urlA+"?version=1", tag1)
	notModified("?version=1 with its tag", code, etag, body, 1)
	code, etag, body = condGet(t, "GET", urlA+"?version=1", catalog.ETag("sales", 2))
	wantDataset("?version=1 with version 2's tag", code, etag, body, 1)
	code, etag, body = condGet(t, "GET", urlA+"?version=2", tag1)
	wantDataset("?version=2 with version 1's tag", code, etag, body, 2)
	// ?as_of= answers a version: its tag too.
	code, etag, body = condGet(t, "GET", urlA+"?as_of="+v1.UpdatedAt.Format(time.RFC3339Nano))
	wantDataset("?as_of= version 1's time", code, etag, body, 1)
	code, etag, body = condGet(t, "GET", urlA+"?as_of="+v1.UpdatedAt.Format(time.RFC3339Nano), tag1)
	notModified("?as_of= with version 1's tag", code, etag, body, 1)

	// Malformed fields are ignored: the whole answer, never a 304.
	for _, inm := range []string{
		`sales.2`,                 // not quoted
		`"sales.2`,                // no closing quote
		`"sales.2" "x"`,           // no comma
		`*, "sales.2"`,            // "*" is the whole field or absent
		`W/ "sales.2"`,            // space after W/
		`w/"sales.2"`,             // W/ is case-sensitive
		`"sales.2"x`,              // junk after the tag
		`"sales" .2"`,             // a space inside a tag
		"\"sales.2\", \"a\\\"b\"", // a quote inside a tag
	} {
		code, etag, body := condGet(t, "GET", urlA, inm)
		wantDataset("malformed If-None-Match "+inm, code, etag, body, 2)
	}

	// Client.GetIfChanged.
	if d, changed, err := ca.GetIfChanged(ctx, "sales", 2); err != nil || changed || d.Version != 0 {
		t.Fatalf("GetIfChanged(2) at version 2: %v %v %v", d.Version, changed, err)
	}
	if d, changed, err := ca.GetIfChanged(ctx, "sales", 1); err != nil || !changed || d.Version != 2 || len(d.Files) != 2 {
		t.Fatalf("GetIfChanged(1) at version 2: %v %v %v", d.Version, changed, err)
	}
	if d, changed, err := ca.GetIfChanged(ctx, "sales", 0); err != nil || !changed || d.Version != 2 {
		t.Fatalf("GetIfChanged(0): %v %v %v", d.Version, changed, err)
	}
	if _, err := cb.Commit(ctx, "sales", catalog.CommitRequest{BaseVersion: 2, Schema: schema, Files: []catalog.File{file(t, a.st, "datasets/sales/3.parquet", 3)}}); err != nil {
		t.Fatal(err)
	}
	if d, changed, err := ca.GetIfChanged(ctx, "sales", 2); err != nil || !changed || d.Version != 3 || len(d.Files) != 3 {
		t.Fatalf("GetIfChanged(2) after another instance's commit: %v %v %v", d.Version, changed, err)
	}

	// Errors stay errors whatever If-None-Match says.
	if _, err := cb.Delete(ctx, "sales", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, inm := range []string{catalog.ETag("sales", 3), catalog.ETag("sales", 4), "*"} {
		code, _, body := condGet(t, "GET", urlA, inm)
		var eb errs.Body
		if code != 404 || json.Unmarshal(body, &eb) != nil || eb.Error.Kind != errs.NotFound {
			t.Fatalf("deleted dataset, If-None-Match %s: %d %s, want 404 not_found", inm, code, body)
		}
	}
	code, _, body = condGet(t, "GET", baseA+catalog.DatasetsPath+"/nothing", "*")
	if code != 404 {
		t.Fatalf("missing dataset, If-None-Match *: %d %s", code, body)
	}
	if _, _, err := ca.GetIfChanged(ctx, "sales", 3); !errs.Is(err, errs.NotFound) {
		t.Fatalf("GetIfChanged of a deleted dataset: %v, want NotFound", err)
	}
	// Old versions stay readable, with their tags.
	code, etag, body = condGet(t, "GET", urlA+"?version=3", catalog.ETag("sales", 3))
	notModified("?version=3 of the deleted dataset with its tag", code, etag, body, 3)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
