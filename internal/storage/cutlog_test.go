package storage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestGetCutShowsInAccessLine: a 32 MiB GET whose client (4 KiB receive
// buffer) never reads is cut by storaged's send stall (shortened); its
// access line keeps status 200 (the head was out) and gets err naming the
// stall and the bytes written (the line's bytes) of the object's size;
// lakehouse_http_answers_cut_total{route="/v1/storage/objects/*"} (served
// at 0 from the start) moves by exactly one. A complete GET then has no
// err and moves nothing. Before, the cut read as a success: 200, no err.
// Real storaged over loopback: the local backend (sendfile) and, with
// MINIO_BIN, the s3 backend against a real MinIO (the paced copy).
func TestGetCutShowsInAccessLine(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		getCutShowsInAccessLine(t, storagetest.Config(t), time.Second)
	})
	t.Run("s3", func(t *testing.T) {
		m := miniotest.Start(t, "lakehouse-go-primary")
		cfg := storagetest.S3Config(t, m)
		getCutShowsInAccessLine(t, cfg, 2*time.Second)
	})
}

func getCutShowsInAccessLine(t *testing.T, cfg *shared.Config, stall time.Duration) {
	defer storage.SetSendStall(stall)()
	cfg.Log.Access, cfg.Log.Format, cfg.Log.Level = true, "json", "info"
	var log syncbuf.Buffer
	s, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	cfg.Storaged.URL = s.URL()
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true), storage.WithConfig(cfg))
	const size = 32 << 20
	storagetest.MustPut(t, c, "big", storagetest.RandomBytes(size))
	path := storage.ObjectsPath + "/big"
	const cutName, route = "lakehouse_http_answers_cut_total", storage.ObjectsPath + "/*"
	start := metricstest.Scrape(t, s.URL())
	if v, found := start.Value(cutName, "route", route); !found || v != 0 {
		t.Fatalf("%s{route=%q} at start: %v, found %v; want present at 0", cutName, route, v, found)
	}
	start.Lint(t, "lakehouse_http_answers")

	slowclient.NeverReads(t, s, slowclient.Request("GET", path, nil), 5*stall+20*time.Second)
	lines := log.AccessLines(t, "GET "+path, 1)
	errRe := regexp.MustCompile(`^client took no byte for ` + strconv.FormatFloat(stall.Seconds(), 'f', -1, 64) +
		`s: answer cut at (\d+) of ` + strconv.Itoa(size) + ` bytes$`)
	errMsg, _ := lines[0]["err"].(string)
	m := errRe.FindStringSubmatch(errMsg)
	if fmt.Sprint(lines[0]["status"]) != "200" || m == nil || m[1] != fmt.Sprint(lines[0]["bytes"]) {
		t.Fatalf("the cut GET's access line: %v; want status 200, err %q with its bytes", lines[0], errRe)
	}
	if sent, _ := strconv.Atoi(m[1]); sent <= 0 || sent >= size {
		t.Fatalf("cut at %d of %d bytes: want some, short of the object", sent, size)
	}
	if v := metricstest.Scrape(t, s.URL()).Get(cutName, "route", route); v != 1 {
		t.Fatalf("%s = %v after one cut, want 1", cutName, v)
	}

	resp, err := http.Get(s.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || got != size {
		t.Fatalf("complete GET: %d, %d of %d bytes, %v", resp.StatusCode, got, size, err)
	}
	lines = log.AccessLines(t, "GET "+path, 2)
	if _, has := lines[1]["err"]; has || fmt.Sprint(lines[1]["bytes"]) != strconv.Itoa(size) {
		t.Fatalf("the complete GET's access line: %v; want all bytes, no err", lines[1])
	}
	if v := metricstest.Scrape(t, s.URL()).Get(cutName, "route", route); v != 1 {
		t.Fatalf("%s = %v after a complete GET, want still 1", cutName, v)
	}
}
