package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/miniotest"
)

// The bare relay (-relay) is the ceiling of any storaged with a second
// loopback hop: a child process (this bench, re-run with relayEnv) whose
// net/http server hands each PUT's body to minio-go's Core.PutObject, as
// storaged's s3 backend does for a body of one part, and answers the JSON
// the typed client reads — no routing, middleware, checks, metrics or
// journal. The same storage.Client PUTs to it as to storaged.

type relayChild struct {
	cmd    *exec.Cmd
	client *storage.Client
}

// stop kills the relay: it has nothing to finish, and a bench started in
// the background (SIGINT ignored, and so inherited) could not interrupt it.
func (r *relayChild) stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

func startRelay(m *miniotest.Server) *relayChild {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	ln.Close()
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), relayEnv+"="+addr, "RELAY_S3="+strings.Join([]string{m.Addr, m.AccessKey, m.SecretKey, m.Bucket}, " "))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Start())
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 400 {
			fail("the relay did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	cfg := shared.Default(os.TempDir())
	cfg.Storaged.URL = "http://" + addr
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(0), StreamHTTP: shared.NewHTTPClient(0)}
	return &relayChild{cmd: cmd, client: storage.NewClient(env.StreamClient("storaged"), storage.WithDirectReads(true))}
}

// runRelay is the relay child: PUT /v1/storage/objects/<key> only.
func runRelay(addr string) {
	f := strings.Fields(os.Getenv("RELAY_S3"))
	if len(f) != 4 {
		fail("relay: RELAY_S3 wants endpoint, access key, secret key, bucket")
	}
	cl, err := minio.New(f[0], &minio.Options{Creds: credentials.NewStaticV4(f[1], f[2], ""), Region: "us-east-1"})
	check(err)
	core, bucket := minio.Core{Client: cl}, f[3]
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, storage.ObjectsPath+"/")
		ui, err := core.PutObject(r.Context(), bucket, key, r.Body, r.ContentLength, "", "", minio.PutObjectOptions{DisableContentSha256: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(storage.ObjectInfo{Key: key, Size: r.ContentLength, ETag: ui.ETag, Modified: time.Now().UTC()})
	})
	fmt.Fprintln(os.Stderr, "relay:", http.ListenAndServe(addr, h))
}

// benchRelay measures the 1 MiB PUT through the bare relay against minio-go
// straight to MinIO, and storaged against the relay, each interleaved.
func benchRelay(c *child, rl *relayChild, m *miniotest.Server) []row {
	ctx := context.Background()
	mc, err := m.NewClient()
	check(err)
	const size = 1 << 20
	n := *smallN
	mb := float64(size) * float64(n) / (1 << 20)
	key := func(who string, i int) string { return fmt.Sprintf("bench/%s/1MiB-%d", who, i) }
	toRelay := func(i int) {
		_, err := rl.client.Put(ctx, key("relay", i), newSource(size), size, storage.PutOptions{})
		check(err)
	}
	ceiling := row{backend: "s3 (MinIO)", via: "bare relay (the ceiling)", op: "PUT", size: "1 MiB", mb: mb}
	ceiling.direct, ceiling.storaged, ceiling.dCalls, ceiling.sCalls = alternate(n, func(i int) {
		_, err := mc.PutObject(ctx, m.Bucket, key("direct", i), newSource(size), size, minio.PutObjectOptions{DisableContentSha256: true})
		check(err)
	}, toRelay)
	vs := row{backend: "s3 (MinIO)", via: "HTTP; direct = the bare relay", op: "PUT", size: "1 MiB", mb: mb}
	vs.direct, vs.storaged, vs.dCalls, vs.sCalls = alternate(n, toRelay, func(i int) {
		_, err := c.client.Put(ctx, key("storaged", i), newSource(size), size, storage.PutOptions{})
		check(err)
	})
	return []row{ceiling, vs}
}

// timeline PUTs n 1 MiB objects each way — minio-go straight to MinIO, the
// bare relay, storaged — in turn, and returns the median microseconds of
// each call's steps as its client saw them (net/http/httptrace): the
// request head written, the body written (it sits in loopback socket
// buffers from then on), the answer's first byte, the call's end.
func timeline(c *child, rl *relayChild, m *miniotest.Server, n int) []string {
	mc, err := m.NewClient()
	check(err)
	const size = 1 << 20
	type steps struct{ head, body, first, end []float64 }
	sides := []struct {
		name string
		put  func(ctx context.Context, i int)
	}{
		{"minio-go straight to MinIO", func(ctx context.Context, i int) {
			_, err := mc.PutObject(ctx, m.Bucket, fmt.Sprintf("bench/tl-direct/%d", i), newSource(size), size, minio.PutObjectOptions{DisableContentSha256: true})
			check(err)
		}},
		{"bare relay", func(ctx context.Context, i int) {
			_, err := rl.client.Put(ctx, fmt.Sprintf("bench/tl-relay/%d", i), newSource(size), size, storage.PutOptions{})
			check(err)
		}},
		{"storaged", func(ctx context.Context, i int) {
			_, err := c.client.Put(ctx, fmt.Sprintf("bench/tl-storaged/%d", i), newSource(size), size, storage.PutOptions{})
			check(err)
		}},
	}
	got := make([]steps, len(sides))
	us := func(t0 time.Time, t time.Time) float64 { return float64(t.Sub(t0).Microseconds()) }
	for i := 0; i < n; i++ {
		for k := range sides {
			j := (k + i) % len(sides) // each side first in turn
			var head, body, first time.Time
			tr := &httptrace.ClientTrace{
				WroteHeaders:         func() { head = time.Now() },
				WroteRequest:         func(httptrace.WroteRequestInfo) { body = time.Now() },
				GotFirstResponseByte: func() { first = time.Now() },
			}
			t0 := time.Now()
			sides[j].put(httptrace.WithClientTrace(context.Background(), tr), i)
			end := time.Now()
			g := &got[j]
			g.head, g.body, g.first, g.end = append(g.head, us(t0, head)), append(g.body, us(t0, body)), append(g.first, us(t0, first)), append(g.end, us(t0, end))
		}
	}
	out := []string{"| PUT 1 MiB | head written | body written | first answer byte | end |", "|---|---:|---:|---:|---:|"}
	for k, s := range sides {
		g := got[k]
		out = append(out, fmt.Sprintf("| %s | %.0f | %.0f | %.0f | %.0f |", s.name, median(g.head), median(g.body), median(g.first), median(g.end)))
	}
	return out
}
