package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage/storagetest"
)

// TestStrictCommitBody: a commit body with a key twice ("mode" here: a
// proxy reading the first sees another commit than catalogd, which took
// the last) or with invalid UTF-8 is a 400 invalid naming it, and no
// version is written; the same body without the fault commits.
func TestStrictCommitBody(t *testing.T) {
	ctx := context.Background()
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	c := *cfg
	storagetest.StartCatalog(t, &c, catalog.New)
	hc := storagetest.ClientFor(&c, "catalogd", false)
	cat := catalog.NewClient(hc)

	good, err := json.Marshal(catalog.CommitRequest{Mode: "append", Schema: schema, Files: []catalog.File{file(t, st, "datasets/sales/1.parquet", 10)}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte) error {
		req, err := hc.NewRequest(ctx, "POST", catalog.DatasetsPath+"/sales/commit", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, tc := range []struct{ name, body, want string }{
		{"mode twice", `{"mode":"replace",` + string(good[1:]), `duplicate key "mode" at $.mode`},
		{"column name twice", strings.Replace(string(good), `"name":"id"`, `"name":"id","name":"id"`, 1), `duplicate key "name" at $.schema[0].name`},
		{"latin1", strings.Replace(string(good), `"mode":"append"`, "\"mode\":\"append\",\"x\":\"\xe9\"", 1), `invalid UTF-8 at byte`},
	} {
		if err := post([]byte(tc.body)); !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), tc.want) {
			t.Errorf("%s: %v, want invalid %q", tc.name, err, tc.want)
		}
	}
	if _, err := cat.Get(ctx, "sales", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after refused commits: %v, want not_found", err)
	}
	if err := post(good); err != nil {
		t.Fatalf("good body: %v", err)
	}
	if d, err := cat.Get(ctx, "sales", 0); err != nil || d.Version != 1 {
		t.Fatalf("after the good commit: %+v %v", d, err)
	}
}
