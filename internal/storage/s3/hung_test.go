package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/s3"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// hungStore is newStore with short silence bounds.
func hungStore(t *testing.T, m *miniotest.Server, header, stall time.Duration, partSize int64) *s3.Store {
	t.Helper()
	b := fmt.Sprintf("lakehouse-go-t%d", bucketN.Add(1))
	if err := m.Client(t).MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: b, Region: "us-east-1",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey, PartSize: partSize,
		HeaderTimeout: header, StallTimeout: stall}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestHungServer: a MinIO that stops answering (SIGSTOP: its port still
// accepts) ends every call in bounded time — a read stalled mid-object,
// HEAD, GET, List, PUT — with unavailable naming the endpoint and bucket
// (they waited for minio-go's 5-minute header timeout, times its retries).
func TestHungServer(t *testing.T) {
	m := miniotest.Start(t, "")
	const header, stall = 700 * time.Millisecond, 700 * time.Millisecond
	s := hungStore(t, m, header, stall, 5<<20)
	one := hungStore(t, m, header, stall, 32<<20) // a 24 MiB PUT is one request
	ctx := context.Background()
	data := storagetest.RandomBytes(48 << 20)
	if _, err := s.Put(ctx, "big", bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "big", storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	resume := storagetest.Freeze(t, m.Addr)
	bound := 10 * time.Second // retries and backoff included; was minutes
	check := func(what string, start time.Time, err error) {
		t.Helper()
		took := time.Since(start)
		msg := errs.Message(err)
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(msg, m.Addr) || !strings.Contains(msg, "bucket") || took > bound {
			t.Errorf("%s with MinIO hung: %v (kind %s) after %v, want unavailable naming endpoint and bucket within %v",
				what, err, errs.KindOf(err), took.Round(time.Millisecond), bound)
			return
		}
		t.Logf("%s with MinIO hung: %v after %v", what, msg, took.Round(time.Millisecond))
	}
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	if err == nil {
		t.Fatal("the whole object was read from a stopped MinIO")
	}
	check("read mid-object", start, err)
	if !strings.Contains(errs.Message(err), `"big"`) {
		t.Errorf("mid-object error %q does not name the object", errs.Message(err))
	}
	start = time.Now()
	_, err = s.Head(ctx, "big")
	check("HEAD", start, err)
	start = time.Now()
	_, _, err = s.Get(ctx, "big", storage.Whole)
	check("GET", start, err)
	start = time.Now()
	_, err = s.List(ctx, storage.ListOptions{})
	check("List", start, err)
	start = time.Now()
	_, err = s.Put(ctx, "up", bytes.NewReader(data[:24<<20]), -1, storage.PutOptions{})
	check("multipart PUT", start, err)
	// One request of 24 MiB: more than the sockets hold, so its write
	// blocks; the header timeout starts only once a request is sent.
	start = time.Now()
	_, err = one.Put(ctx, "up", bytes.NewReader(data[:24<<20]), 24<<20, storage.PutOptions{})
	check("PUT 24 MiB in one request", start, err)
	start = time.Now()
	err = s.Check(ctx)
	check("Check", start, err)

	resume()
	if got := storagetest.MustGet(t, s, "big", storage.Whole); !bytes.Equal(got, data) {
		t.Fatal("after resume: wrong bytes")
	}
}

// TestSlowReadNotCut: a GET whose sender pauses often, each pause shorter
// than the stall bound, and which takes many times that bound in all,
// completes (the bound is on silence, not on the transfer).
func TestSlowReadNotCut(t *testing.T) {
	m := miniotest.Start(t, "")
	const stall = 800 * time.Millisecond
	s := hungStore(t, m, 2*time.Second, stall, 5<<20)
	ctx := context.Background()
	data := storagetest.RandomBytes(16 << 20)
	if _, err := s.Put(ctx, "slow", bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "slow", storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pause, resume := storagetest.Pause(t, m.Addr)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // MinIO stopped 400 ms of every 500
		defer close(done)
		for !stop.Load() {
			pause()
			time.Sleep(400 * time.Millisecond)
			resume()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	var got bytes.Buffer
	buf := make([]byte, 256<<10)
	for {
		n, err := rc.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			stop.Store(true)
			<-done
			t.Fatalf("slow read cut after %d bytes, %v: %v", got.Len(), time.Since(start), err)
		}
		time.Sleep(50 * time.Millisecond) // a slow consumer: 5 MB/s at most
	}
	stop.Store(true)
	<-done
	took := time.Since(start)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("wrong bytes")
	}
	if took < 3*stall {
		t.Fatalf("the read took %v, not several stall bounds (%v): the test proves nothing", took, stall)
	}
	t.Logf("16 MiB read in %v with MinIO paused 400 ms of every 500", took.Round(time.Millisecond))
}
