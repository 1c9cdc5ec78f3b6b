package storaged_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestS3Hung: a MinIO that stops answering (SIGSTOP: the port accepts,
// nothing answers) ends storaged's GETs, HEADs and listings, streamed or
// redirected, in bounded time with unavailable naming who stopped — they
// waited for minio-go's 5-minute header timeout (times its retries), and
// catalog listings ended in the gateway's 504. /health stays 200 but says
// degraded, naming the endpoint and bucket; ok again once MinIO resumes.
// The bounds are [s3] header_timeout and stall_timeout, set short here:
// storaged's s3 backend and the typed client (WithConfig) both use them.
func TestS3Hung(t *testing.T) {
	const silence = 700 * time.Millisecond
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	cfg.S3.HeaderTimeout = shared.Duration{Duration: silence}
	cfg.S3.StallTimeout = shared.Duration{Duration: silence}
	_, srv := storagetest.Start(t, cfg)
	redirected := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithConfig(cfg))
	t.Setenv(storage.DirectReadsEnv, "0")
	streamed := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	ctx := context.Background()
	storagetest.MustPut(t, streamed, "big", storagetest.RandomBytes(48<<20))
	if h := health(t, srv); h.Status != "ok" {
		t.Fatalf("health before: %+v", h)
	}

	var bodies []io.ReadCloser
	for _, c := range []*storage.Client{redirected, streamed} {
		rc, _, err := c.Get(ctx, "big", storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, rc)
	}
	resume := storagetest.Freeze(t, m.Addr)
	s3Where := "S3 endpoint " + m.Endpoint() + ` bucket "lakehouse-go-primary"`
	const bound = 10 * time.Second // retries included; was minutes
	check := func(what string, start time.Time, err error, want string) {
		t.Helper()
		took := time.Since(start)
		msg := errs.Message(err)
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(msg, want) || took > bound {
			t.Errorf("%s with MinIO hung: %v (kind %s) after %v, want unavailable naming %s within %v", what, err, errs.KindOf(err), took, want, bound)
			return
		}
		t.Logf("%s with MinIO hung: %s after %v", what, msg, took.Round(time.Millisecond))
	}
	for i, want := range []string{s3Where, "storaged at " + srv.URL()} {
		start := time.Now()
		_, err := io.Copy(io.Discard, bodies[i])
		if err == nil {
			t.Fatalf("%s: read all of a 48 MiB object from a stopped MinIO", want)
		}
		check("read mid-object from "+want, start, err, want)
		if i == 0 && !strings.Contains(errs.Message(err), "nothing came for "+silence.String()) {
			t.Errorf("redirected read mid-object: %q, want the configured stall_timeout (%s) named", errs.Message(err), silence)
		}
	}
	start := time.Now()
	_, _, err := redirected.Get(ctx, "big", storage.Whole)
	check("redirected GET", start, err, s3Where)
	start = time.Now()
	_, _, err = streamed.Get(ctx, "big", storage.Whole)
	check("streamed GET", start, err, s3Where)
	start = time.Now()
	_, err = streamed.Head(ctx, "big")
	check("HEAD", start, err, s3Where)
	start = time.Now()
	_, err = streamed.List(ctx, storage.ListOptions{Prefix: "b"})
	check("list", start, err, s3Where)

	start = time.Now()
	h := health(t, srv)
	if h.Status != "degraded" || !strings.Contains(h.Error, m.Addr) || !strings.Contains(h.Error, "lakehouse-go-primary") || time.Since(start) > 2*time.Second {
		t.Errorf("health with MinIO hung: %+v after %v, want degraded naming endpoint and bucket", h, time.Since(start))
	}
	t.Logf("health with MinIO hung: %+v after %v", h, time.Since(start).Round(time.Millisecond))

	resume()
	waitHealth(t, srv, "ok")
	if got := storagetest.MustGet(t, redirected, "big", storage.Whole); len(got) != 48<<20 {
		t.Fatalf("after resume: %d bytes", len(got))
	}
}

// TestS3HealthDegraded: storaged's /health is 200 "ok" with S3 up, 200
// "degraded" naming endpoint and bucket while MinIO is down or the bucket
// is missing (it said ok: the gateway's /v1/health read all ok through an
// outage), and ok again when they are back.
func TestS3HealthDegraded(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	_, srv := storagetest.Start(t, cfg)
	waitHealth(t, srv, "ok")
	m.Stop()
	h := waitHealth(t, srv, "degraded")
	if !strings.Contains(h.Error, m.Addr) || !strings.Contains(h.Error, "lakehouse-go-primary") {
		t.Errorf("S3 down: %+v, want the endpoint and bucket named", h)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, srv, "ok")

	cfg2 := s3Config(t, m)
	cfg2.S3.Bucket = "no-such-bucket"
	_, srv2 := storagetest.Start(t, cfg2)
	h = waitHealth(t, srv2, "degraded")
	if !strings.Contains(h.Error, "NoSuchBucket") || !strings.Contains(h.Error, "no-such-bucket") {
		t.Errorf("bucket missing: %+v, want NoSuchBucket naming it", h)
	}
}

// health GETs /health, which must be 200 whatever S3 does (liveness).
func health(t *testing.T, srv *shared.Server) shared.Health {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h shared.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK || h.Service != "storaged" {
		t.Fatalf("/health: %d %+v %v", resp.StatusCode, h, err)
	}
	return h
}

// waitHealth polls /health until its status is want (the check's result is
// reused for 2 s).
func waitHealth(t *testing.T, srv *shared.Server, want string) shared.Health {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h := health(t, srv)
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health still %+v, want %s", h, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
