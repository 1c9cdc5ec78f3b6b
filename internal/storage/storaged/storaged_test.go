package storaged_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/syncbuf"
)

func s3Config(t *testing.T, m *miniotest.Server) *shared.Config {
	cfg := storagetest.S3Config(t, m)
	cfg.S3.PartSize = 5 << 20
	return cfg
}

// TestContractHTTPS3 runs the Store contract through storaged's HTTP API on
// the s3 backend against a real MinIO.
func TestContractHTTPS3(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	n := 0
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		n++
		cfg := s3Config(t, m)
		cfg.S3.Bucket = "lakehouse-go-h" + string(rune('a'+n))
		if err := m.Client(t).MakeBucket(context.Background(), cfg.S3.Bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		c, _ := storagetest.Start(t, cfg)
		return c
	})
}

// TestS3Outage: MinIO killed during a run -> 503 with the error body, no
// crash; MinIO back on the same dir and port -> requests succeed without
// restarting storaged.
func TestS3Outage(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	c, srv := storagetest.Start(t, cfg)
	ctx := context.Background()
	storagetest.MustPut(t, c, "before", []byte("kept"))

	m.Stop()
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"put", func() error {
			_, err := c.Put(ctx, "during", strings.NewReader("x"), 1, storage.PutOptions{})
			return err
		}},
		{"get", func() error { _, _, err := c.Get(ctx, "before", storage.Whole); return err }},
		{"list", func() error { _, err := c.List(ctx, storage.ListOptions{}); return err }},
	} {
		start := time.Now()
		err := tc.do()
		if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 503 || !strings.Contains(err.Error(), m.Addr) || !strings.Contains(err.Error(), m.Bucket) {
			t.Fatalf("%s during the outage: %v (status %d)", tc.name, err, errs.StatusOf(err))
		}
		t.Logf("%s during the outage answered in %v: %v", tc.name, time.Since(start).Round(time.Millisecond), err)
	}
	// The raw body is DESIGN.md's error body.
	resp, err := http.Get(srv.URL() + storage.ObjectURLPath("before"))
	if err != nil {
		t.Fatal(err)
	}
	var body errs.Body
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || body.Error.Kind != errs.Unavailable || body.Error.Message == "" {
		t.Fatalf("raw answer %d %+v", resp.StatusCode, body)
	}
	// storaged itself is fine.
	if h, err := http.Get(srv.URL() + "/health"); err != nil || h.StatusCode != 200 {
		t.Fatalf("health during the outage: %v", err)
	}

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.MustGet(t, c, "before", storage.Whole); string(got) != "kept" {
		t.Fatalf("after restart: %q", got)
	}
	storagetest.MustPut(t, c, "after", []byte("ok"))
}

// TestS3DownAtStart: storaged starts although S3 is down, answers 503, and
// works once S3 is up.
func TestS3DownAtStart(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	m.Stop()
	cfg := s3Config(t, m)
	c, _ := storagetest.Start(t, cfg)
	if _, err := c.Head(context.Background(), "x"); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("head with S3 down: %v", err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, c, "x", []byte("y"))
}

func TestRefuseReadableSecrets(t *testing.T) {
	cfg := storagetest.Config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = "127.0.0.1:1"
	p := t.TempDir() + "/secrets-go.toml"
	os.WriteFile(p, []byte("[s3.primary]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n"), 0o644)
	cfg.S3.SecretsPath = p
	_, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Fatalf("start with a 0644 secrets file: %v", err)
	}
}

// TestS3RedirectedGets: a client on storaged's host reads s3 objects from
// MinIO itself through a presigned redirect — the same bytes, info, ranges
// and errors as a GET storaged streams — and storaged streams nothing
// (its access lines say 307). [s3].proxy_gets turns it off.
func TestS3RedirectedGets(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	cfg.Log.Access, cfg.Log.Level = true, "info"
	var logs syncbuf.Buffer
	srv, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	cfg.Storaged.URL = srv.URL()
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	t.Setenv(storage.DirectReadsEnv, "0")
	proxied := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	ctx := context.Background()

	body := storagetest.RandomBytes(3<<20 + 17)
	storagetest.MustPut(t, c, "dir/obj", body)
	for _, opts := range []storage.GetOptions{storage.Whole, {Offset: 1000, Length: 5000}, {Offset: 3 << 20}} {
		got, info, err := getAll(c, "dir/obj", opts)
		want, pinfo, perr := getAll(proxied, "dir/obj", opts)
		if err != nil || perr != nil || !bytes.Equal(got, want) || info != pinfo {
			t.Fatalf("%+v: redirected %d bytes %+v %v; proxied %d bytes %+v %v", opts, len(got), info, err, len(want), pinfo, perr)
		}
	}
	sameError := func(key string, opts storage.GetOptions) {
		t.Helper()
		_, _, err := c.Get(ctx, key, opts)
		_, _, perr := proxied.Get(ctx, key, opts)
		if err == nil || errs.KindOf(err) != errs.KindOf(perr) || errs.StatusOf(err) != errs.StatusOf(perr) || errs.Message(err) != errs.Message(perr) {
			t.Fatalf("GET %q %+v: redirected %v, proxied %v", key, opts, err, perr)
		}
	}
	// Keys whose escaping a presigned URL must get right (a wrong one is a
	// refused signature, which would fall back to streaming: counted below).
	odd := []string{"odd/a b+c%d=e&f;g.txt", "odd/ü/ñ/日本", "odd/x~y*z(1)!'$,@:", "odd/%2F%2e%2E"}
	for _, k := range odd {
		storagetest.MustPut(t, c, k, []byte(k))
		if got, _, err := getAll(c, k, storage.Whole); err != nil || string(got) != k {
			t.Fatalf("key %q: %q %v", k, got, err)
		}
	}
	sameError("no/such", storage.Whole)
	sameError("dir/obj", storage.GetOptions{Offset: 4 << 20})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	redirected, streamed := strings.Count(out, `op="GET /v1/storage/objects/dir/obj" status=307`), strings.Count(out, `op="GET /v1/storage/objects/dir/obj" status=20`)
	// 4 redirected reads (3 ranges, the bad range's first try); 3 proxied
	// reads, plus the bad range proxied twice (the redirected client falls
	// back to storaged to word it).
	if redirected != 4 || streamed != 3 {
		t.Fatalf("%d redirected and %d streamed GETs of dir/obj in:\n%s", redirected, streamed, out)
	}
	for _, k := range odd {
		if n := strings.Count(out, `op="GET `+storage.ObjectsPath+"/"+k+`" status=307`); n != 1 {
			t.Errorf("key %q: %d redirected GETs (a streamed one means S3 refused the URL) in:\n%s", k, n, out)
		}
		if n := strings.Count(out, `op="GET `+storage.ObjectsPath+"/"+k+`" status=200`); n != 0 {
			t.Errorf("key %q: streamed after the redirect", k)
		}
	}

	// [s3].proxy_gets: storaged streams, even when asked for a redirect.
	cfg2 := s3Config(t, m)
	cfg2.S3.ProxyGets = true
	c2, _ := storagetest.Start(t, cfg2)
	req, _ := http.NewRequest(http.MethodGet, cfg2.Storaged.URL+storage.ObjectURLPath("dir/obj"), nil)
	req.Header.Set(storage.HeaderRedirect, "presigned")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxy_gets: status %d", resp.StatusCode)
	}
	if got := storagetest.MustGet(t, c2, "dir/obj", storage.Whole); !bytes.Equal(got, body) {
		t.Fatal("proxy_gets: wrong bytes")
	}
}

// TestS3ConditionalGets: conditional GETs and HEADs through storaged on the
// s3 backend (a real MinIO): 304 on a matching If-None-Match or an
// If-Modified-Since not before Last-Modified, 412 on a failed If-Match or
// If-Unmodified-Since, the whole object on a stale If-Range, as S3 itself
// answers.
func TestS3ConditionalGets(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	storagetest.Conditional(t, base, storage.NewClient(base))
}

// TestS3HTTPAnswers: storaged's raw HTTP answers on the s3 backend are the
// local backend's (TestHTTPAnswersLocal).
func TestS3HTTPAnswers(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	storagetest.Start(t, cfg)
	storagetest.HTTPAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}

// TestS3UnknownQueryParams: storaged refuses query parameters its routes
// do not take on the s3 backend (a real MinIO) as on the local one
// (TestUnknownQueryParamsLocal); ADR-099.
func TestS3UnknownQueryParams(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	storagetest.Start(t, cfg)
	storagetest.QueryParamAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}

// TestS3ContentType: a PUT's Content-Type round trips through storaged on
// the s3 backend (a real MinIO) as on the local one (TestContentTypeLocal).
func TestS3ContentType(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	storagetest.Start(t, cfg)
	storagetest.ContentTypeAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}

// TestS3SuffixUnderReplace: a suffix Range is one GET to MinIO
// (TestSuffixUnderReplaceLocal on the local backend).
func TestS3SuffixUnderReplace(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	storagetest.Start(t, cfg)
	storagetest.SuffixUnderReplace(t, storagetest.ClientFor(cfg, "storaged", true))
}
