package catalog

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// FuzzReadManifest: whatever bytes stand in storage as a manifest, a read
// never panics and either refuses them (502 unavailable naming the key,
// ADR-092), answers 404 for a tombstone, or serves a dataset that is
// right about itself — its name and version are the key's, its row_count
// is its files' sum, it has a schema and a file list, its idempotency key
// and request hash (ADR-123) are absent or well-formed — and that catalogd
// would write back byte for byte the same way.
func FuzzReadManifest(f *testing.F) {
	ok := &Dataset{Name: "fz", Version: 1, Schema: []Column{{Name: "id", Type: "BIGINT"}},
		Files: []File{{Key: "datasets/fz/a.parquet", Rows: 3, Bytes: 400}}, RowCount: 3, Mode: ModeAppend,
		CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC()}
	good, err := encodeManifest(ok)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(append([]byte{}, good...), "{}"...))
	f.Add(bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1))
	f.Add(bytes.Replace(good, []byte(`"row_count": 3`), []byte(`"row_count": 4`), 1))
	f.Add([]byte(`{"name":"fz","version":1,"deleted":true,"mode":"delete","schema":[],"files":[]}`))
	f.Add([]byte(`{"name":"fz","version":1,"schema":[{"name":"id","type":"BIGINT"}],"files":null,"row_count":0}`))
	keyed := *ok
	keyed.IdempotencyKey, keyed.RequestHash = "retry-1", strings.Repeat("0f", 32)
	withKey, err := encodeManifest(&keyed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withKey)
	f.Add(bytes.Replace(withKey, []byte(`"retry-1"`), []byte(`"retry\u0000"`), 1))
	f.Add(bytes.Replace(withKey, []byte(`"retry-1"`), []byte(`""`), 1))
	f.Add(bytes.Replace(withKey, []byte(`"request_hash": "0f`), []byte(`"request_hash": "0F`), 1))
	f.Add([]byte(`{"name":"fz","version":1,"deleted":true,"mode":"delete","idempotency_key":"k","schema":[],"files":[]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	st, err := local.Open(f.TempDir(), slog.Default())
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	key := ManifestKey("fz", 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		c := NewCatalog(st, nil) // nothing cached
		d, err := c.Get(ctx, "fz", 1)
		switch {
		case errs.Is(err, errs.Unavailable):
			if errs.StatusOf(err) != 502 || !bytes.Contains([]byte(errs.Message(err)), []byte(key)) {
				t.Fatalf("refused without naming %s as a 502: %d %v", key, errs.StatusOf(err), err)
			}
			return
		case errs.Is(err, errs.NotFound):
			return
		case err != nil:
			t.Fatalf("neither served nor refused: %v", err)
		}
		var rows int64
		for _, f := range d.Files {
			rows += f.Rows
		}
		if d.Name != "fz" || d.Version != 1 || d.RowCount != rows || len(d.Schema) == 0 || d.Files == nil || d.Deleted ||
			checkIdempotency(d.IdempotencyKey, d.RequestHash) != "" {
			t.Fatalf("served a manifest that is wrong about itself: %+v", d)
		}
		// Written back and read again, it is the same dataset.
		enc, err := encodeManifest(&d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, key, bytes.NewReader(enc), int64(len(enc)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		again, err := NewCatalog(st, nil).Get(ctx, "fz", 1)
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, d)
		}
	})
}
