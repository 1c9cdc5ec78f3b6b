package catalog_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestListToAClientThatNeverReads: the dataset list (and a dataset's GET)
// of a catalog holding a dataset of 12,000 files with long keys (about 12
// MB of JSON) to a client that sends the GET and never reads is cut once
// the write makes no progress for the stall bound (shared.WriteJSON:
// shared.AnswerStall, 30 s; 4 s here): the handler returns and the
// connection ends short of the answer. Without the bound the handler
// stayed in its write, holding the list and the connection, for as long
// as the client stayed connected. A slow client that keeps reading (about
// 2 MB/s: longer than the bound) gets the whole list. Real catalogd and
// storaged; the manifest is put in storage as catalogd would read it.
func TestListToAClientThatNeverReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons, writes 12 MB answers")
	}
	const files = 12_000
	cfg := storagetest.Config(t)
	st, _ := storagetest.Start(t, cfg)
	d := catalog.Dataset{Name: "wide", Version: 1, Schema: schema, RowCount: files,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), Mode: catalog.ModeReplace}
	long := strings.Repeat("p", 960)
	for i := range files {
		d.Files = append(d.Files, catalog.File{Key: fmt.Sprintf("datasets/wide/%s-%06d.parquet", long, i), Rows: 1, Bytes: 500})
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, st, catalog.ManifestKey("wide", 1), b)
	c := storagetest.StartCatalog(t, cfg, catalog.New)

	for _, tc := range []struct{ name, path string }{
		{"list", catalog.DatasetsPath},
		{"get", catalog.DatasetsPath + "/wide"},
	} {
		req := slowclient.Request("GET", tc.path, nil)
		t.Run(tc.name, func(t *testing.T) {
			slowclient.AnswerBound(t, c, req, req, func(t *testing.T, code int, body []byte) {
				var got struct {
					catalog.Dataset
					Datasets []catalog.Dataset `json:"datasets"`
				}
				err := json.Unmarshal(body, &got)
				if len(got.Datasets) == 1 {
					got.Dataset = got.Datasets[0]
				}
				if err != nil || code != 200 || got.Name != "wide" || len(got.Files) != files {
					t.Fatalf("%d, %d bytes, %q with %d files, %v", code, len(body), got.Name, len(got.Files), err)
				}
			})
		})
	}
}
