package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestVanishedManifest: manifests written and removed behind catalogd's
// back through storaged (the raw storage API does not protect _catalog/),
// while one catalogd keeps serving.
//
//   - A foreign manifest at version n+1 that is not one catalogd wrote is a
//     502 (right); the operator deletes it through storaged. Every GET and
//     commit of the dataset then answered 404 "has no version n+1" until a
//     restart: the latest-version cache still said n+1. Now a 404 for a
//     version the cache says exists makes catalogd re-read the dataset's
//     versions from storaged, and GET, versions and commit work again.
//   - A right manifest at n+1 written behind its back is seen by the next
//     GET, and a commit on base n is a 409, then succeeds on n+1.
//   - A right foreign manifest this instance read, then deleted: a commit on
//     it as base was acknowledged into the gap it left (a restarted catalogd
//     then answered 502 for the dataset). Now it is a 409, nothing is
//     written, and the retry on the version that exists is the next version.
func TestVanishedManifest(t *testing.T) {
	t.Run("local", func(t *testing.T) { vanishedManifest(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) { vanishedManifest(t, minioConfig(t)) })
}

func vanishedManifest(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	st, _ := storagetest.Start(t, cfg)
	a := &auditSuite{t: t, cfg: cfg, st: st}
	url, c := a.catalogd()
	const ds = "vm"
	dsURL := url + "/v1/catalog/datasets/" + ds
	commit := func(base int64, n int) (catalog.Dataset, error) {
		f := file(t, st, fmt.Sprintf("datasets/%s/%d.parquet", ds, n), 2)
		return c.Commit(ctx, ds, catalog.CommitRequest{BaseVersion: base, Mode: catalog.ModeAppend, Schema: schema, Files: []catalog.File{f}})
	}
	putCreate := func(key string, b []byte) {
		t.Helper()
		if _, err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{CreateOnly: true, ContentType: "application/json"}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	// foreign is version from's manifest rewritten as version to on base
	// from: a manifest catalogd would accept, written by someone else.
	foreign := func(from, to int64) []byte {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(storagetest.MustGet(t, st, catalog.ManifestKey(ds, from), storage.Whole), &m); err != nil {
			t.Fatal(err)
		}
		m["version"], m["base_version"] = to, from
		b, _ := json.Marshal(m)
		return b
	}
	// latestIs checks GET of the latest, the versions (both orders) and the
	// dataset list all say version want is the latest.
	latestIs := func(step string, want int64) {
		t.Helper()
		code, _, b := do(t, "GET", dsURL, nil)
		var d catalog.Dataset
		if err := json.Unmarshal(b, &d); code != 200 || err != nil || d.Version != want {
			t.Fatalf("%s: GET latest: %d %s, want version %d", step, code, b, want)
		}
		var all []string
		for v := int64(1); v <= want; v++ {
			all = append(all, fmt.Sprint(v))
		}
		for _, q := range []string{"", "?order=desc"} {
			code, _, b := do(t, "GET", dsURL+"/versions"+q, nil)
			var vr catalog.VersionsResponse
			_ = json.Unmarshal(b, &vr)
			var got []string
			for _, v := range vr.Versions {
				got = append(got, fmt.Sprint(v.Version))
			}
			if q != "" {
				for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
					got[i], got[j] = got[j], got[i]
				}
			}
			if code != 200 || strings.Join(got, ",") != strings.Join(all, ",") {
				t.Fatalf("%s: GET versions%s: %d %s, want versions 1..%d", step, q, code, b, want)
			}
		}
		code, _, b = do(t, "GET", url+"/v1/catalog/datasets", nil)
		var lr catalog.ListResponse
		_ = json.Unmarshal(b, &lr)
		if code != 200 || len(lr.Datasets) != 1 || lr.Datasets[0].Version != want || len(lr.Unreadable) != 0 {
			t.Fatalf("%s: GET datasets: %d %s, want %s at version %d", step, code, b, ds, want)
		}
	}
	// restartedSees: a fresh catalogd (nothing cached) reads the same
	// latest, and finds no gap: every acknowledged commit is there.
	restartedSees := func(step string, want int64) {
		t.Helper()
		u, _ := a.catalogd()
		code, _, b := do(t, "GET", u+"/v1/catalog/datasets/"+ds, nil)
		var d catalog.Dataset
		if err := json.Unmarshal(b, &d); code != 200 || err != nil || d.Version != want {
			t.Fatalf("%s: a fresh catalogd's GET: %d %s, want version %d", step, code, b, want)
		}
	}

	if d, err := commit(0, 1); err != nil || d.Version != 1 {
		t.Fatalf("create: %+v %v", d, err)
	}
	latestIs("created", 1)

	// 1. A damaged foreign manifest at version 2: a 502 naming it.
	key2 := catalog.ManifestKey(ds, 2)
	putCreate(key2, []byte(`{"not":"a manifest"}`))
	if code, e, b := do(t, "GET", dsURL, nil); code != 502 || !strings.Contains(e.Message, key2) {
		t.Fatalf("GET over a damaged foreign manifest: %d %s, want a 502 naming %s", code, b, key2)
	}
	// The operator deletes it through storaged: the dataset is version 1
	// again, without a restart.
	if err := st.Delete(ctx, key2); err != nil {
		t.Fatal(err)
	}
	latestIs("damaged foreign manifest deleted", 1)
	if d, err := commit(1, 2); err != nil || d.Version != 2 {
		t.Fatalf("commit on base 1 after the foreign manifest was deleted: %+v %v", d, err)
	}
	latestIs("committed after the delete", 2)
	restartedSees("committed after the delete", 2)

	// 2. The same with the manifest deleted before any GET saw it: the
	// commit's own lookup hits the damaged one (502), then, deleted, the
	// commit goes through.
	key3 := catalog.ManifestKey(ds, 3)
	putCreate(key3, []byte(`garbage`))
	if _, err := commit(2, 3); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), key3) {
		t.Fatalf("commit over a damaged foreign manifest: %v, want a 502 naming %s", err, key3)
	}
	if err := st.Delete(ctx, key3); err != nil {
		t.Fatal(err)
	}
	if d, err := commit(2, 3); err != nil || d.Version != 3 {
		t.Fatalf("commit on base 2 after the foreign manifest was deleted: %+v %v", d, err)
	}
	latestIs("second commit after a delete", 3)

	// 3. A right manifest at version 4 written behind catalogd's back: a
	// commit on the stale base 3 is a 409, the GET sees version 4, and a
	// commit on it succeeds.
	putCreate(catalog.ManifestKey(ds, 4), foreign(3, 4))
	if _, err := commit(3, 4); !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 409 {
		t.Fatalf("commit on base 3 with a foreign version 4: %v, want a 409", err)
	}
	latestIs("foreign version 4", 4)
	if d, err := commit(4, 5); err != nil || d.Version != 5 {
		t.Fatalf("commit on the foreign version 4: %+v %v", d, err)
	}
	latestIs("committed on the foreign version", 5)

	// 4. A right foreign manifest at version 6, read by this instance, then
	// deleted: a commit on base 6 must not be acknowledged into the gap.
	key6 := catalog.ManifestKey(ds, 6)
	putCreate(key6, foreign(5, 6))
	latestIs("foreign version 6", 6)
	if err := st.Delete(ctx, key6); err != nil {
		t.Fatal(err)
	}
	if d, err := commit(6, 6); !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 409 {
		t.Fatalf("commit on the deleted version 6: %+v %v, want a 409 (nothing written)", d, err)
	}
	if _, err := st.Head(ctx, catalog.ManifestKey(ds, 7)); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the commit on the deleted version 6 wrote version 7: %v", err)
	}
	latestIs("foreign version 6 deleted", 5)
	if d, err := commit(5, 6); err != nil || d.Version != 6 {
		t.Fatalf("commit on base 5 after version 6 was deleted: %+v %v", d, err)
	}
	latestIs("committed after version 6 was deleted", 6)
	restartedSees("committed after version 6 was deleted", 6)

	// 5. The same, seen by the dataset list: the listing shows version 6
	// as the latest, and the list served the version 7 this instance had
	// read (and storage no longer has).
	key7 := catalog.ManifestKey(ds, 7)
	putCreate(key7, foreign(6, 7))
	latestIs("foreign version 7", 7)
	if err := st.Delete(ctx, key7); err != nil {
		t.Fatal(err)
	}
	code, _, b := do(t, "GET", url+"/v1/catalog/datasets", nil)
	var lr catalog.ListResponse
	_ = json.Unmarshal(b, &lr)
	if code != 200 || len(lr.Datasets) != 1 || lr.Datasets[0].Version != 6 {
		t.Fatalf("GET datasets after version 7 was deleted: %d %s, want %s at version 6", code, b, ds)
	}
	latestIs("foreign version 7 deleted", 6)

	// 6. A delete of the dataset on a latest removed behind catalogd's back
	// wrote its tombstone into the gap (a restarted catalogd: 502); now the
	// tombstone follows the latest there is.
	key8 := catalog.ManifestKey(ds, 8)
	putCreate(key7, foreign(6, 7))
	latestIs("foreign version 7 again", 7)
	if err := st.Delete(ctx, key7); err != nil {
		t.Fatal(err)
	}
	code, _, b = do(t, "DELETE", dsURL, nil)
	var dr catalog.DeleteResult
	if err := json.Unmarshal(b, &dr); code != 200 || err != nil || dr.Version != 7 {
		t.Fatalf("DELETE after version 7 was deleted: %d %s, want the tombstone at version 7", code, b)
	}
	if _, err := st.Head(ctx, key8); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the tombstone went into the gap at 8: %v", err)
	}
	u, _ := a.catalogd()
	if code, e, b := do(t, "GET", u+"/v1/catalog/datasets/"+ds, nil); code != 404 || !strings.Contains(e.Message, "deleted at version 7") {
		t.Fatalf("a fresh catalogd's GET after the delete: %d %s, want 404 deleted at version 7", code, b)
	}

	// 7. A delete over a gap (a manifest between two others removed behind
	// this instance's back, the later one written by another instance) is
	// a 502 naming the missing manifest, and writes nothing: the tombstone
	// went into the gap, acknowledged, shadowed by the later version.
	if d, err := commit(0, 10); err != nil || d.Version != 8 {
		t.Fatalf("re-create: %+v %v", d, err)
	}
	_, other := a.catalogd()
	for v := int64(8); v < 10; v++ {
		f := file(t, st, fmt.Sprintf("datasets/%s/o%d.parquet", ds, v), 1)
		if _, err := other.Commit(ctx, ds, catalog.CommitRequest{BaseVersion: v, Mode: catalog.ModeAppend, Schema: schema, Files: []catalog.File{f}}); err != nil {
			t.Fatal(err)
		}
	}
	missing := catalog.ManifestKey(ds, 9)
	if err := st.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}
	if code, e, b := do(t, "DELETE", dsURL, nil); code != 502 || !strings.Contains(e.Message, missing) {
		t.Fatalf("DELETE over a gap: %d %s, want a 502 naming %s", code, b, missing)
	}
	if _, err := st.Head(ctx, missing); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the tombstone went into the gap: %v", err)
	}
}
