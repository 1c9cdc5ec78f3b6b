package s3_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/s3"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestReadOnlyKeys: keys allowed s3:GetObject but not s3:ListBucket (MinIO's
// canned "readonly" policy: GetBucketLocation and GetObject; what
// [queryd].secrets_path asks for) cannot HEAD the bucket. A HEAD of a
// missing object is still not_found: queryd's freshness check HEADs the
// next manifest, which is missing until a commit, and every query of a
// dataset after its first was a 503 "refused storaged's credentials". A
// missing bucket is still named as such. The keys are played by a proxy in
// front of MinIO that refuses HEAD of the bucket as S3 does: 403, no body.
func TestReadOnlyKeys(t *testing.T) {
	m := miniotest.Start(t, "")
	ctx := context.Background()
	target, _ := url.Parse(m.Endpoint())
	var bucketHeads atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 {
			bucketHeads.Add(1)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r) // Host stays the proxy's: the signature holds
	}))
	defer proxy.Close()

	if err := m.Client(t).MakeBucket(ctx, "lakehouse-go-ro", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	open := func(bucket string) *s3.Store {
		st, err := s3.Open(s3.Config{Endpoint: proxy.URL, Bucket: bucket, Region: "us-east-1",
			AccessKey: m.AccessKey, SecretKey: m.SecretKey}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open("lakehouse-go-ro")
	storagetest.MustPut(t, st, "_catalog/d/0000000001.json", []byte("{}"))
	for i := range 3 {
		if _, err := st.Head(ctx, "_catalog/d/0000000001.json"); err != nil {
			t.Fatalf("head of an object: %v", err)
		}
		_, err := st.Head(ctx, fmt.Sprintf("_catalog/d/%010d.json", 2+i))
		if !errs.Is(err, errs.NotFound) {
			t.Fatalf("head %d of a missing object with keys that cannot HEAD the bucket: %v (message %q), want not_found", i, err, errs.Message(err))
		}
	}
	if bucketHeads.Load() != 0 {
		t.Errorf("%d HEADs of the bucket, which these keys may not do", bucketHeads.Load())
	}

	gone := open("lakehouse-go-ro-missing")
	_, err := gone.Head(ctx, "k")
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "NoSuchBucket") ||
		!strings.Contains(errs.Message(err), "lakehouse-go-ro-missing") {
		t.Fatalf("head in a missing bucket: %v (message %q), want unavailable naming the bucket", err, errs.Message(err))
	}
	if _, _, err := gone.Get(ctx, "k", storage.Whole); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "NoSuchBucket") {
		t.Fatalf("get in a missing bucket: %v", err)
	}
}
