package storage_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestGetToAClientThatNeverReads: a 32 MiB GET from a client (4 KiB
// receive buffer) that never reads its answer ends once the client took
// no byte for the send stall (shortened to 1 s): the handler returns and
// the in-flight gauge is back to 0. Without the bound the handler stayed
// in sendfile, holding the file and the connection, for as long as the
// client stayed connected. A slow client that keeps reading (longer than
// the stall in all) gets the whole object, byte for byte. Real storaged,
// local backend, over loopback.
func TestGetToAClientThatNeverReads(t *testing.T) {
	getToAClientThatNeverReads(t, storagetest.Config(t), time.Second)
}

// TestS3GetToAClientThatNeverReads is the same on the s3 backend against a
// real MinIO: the object's body is copied through the pooled buffer, each
// piece's write under the paced deadline; the cut closes the S3 body.
func TestS3GetToAClientThatNeverReads(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := storagetest.S3Config(t, m)
	// Each 256 KiB piece must go within the stall here (not only some
	// byte of it): 4 s, a margin for a loaded host.
	getToAClientThatNeverReads(t, cfg, 4*time.Second)
}

func getToAClientThatNeverReads(t *testing.T, cfg *shared.Config, stall time.Duration) {
	defer storage.SetSendStall(stall)()
	c, s := storagetest.Start(t, cfg)
	data := storagetest.RandomBytes(32 << 20)
	storagetest.MustPut(t, c, "big", data)
	get := slowclient.Request(http.MethodGet, storage.ObjectsPath+"/big", nil)
	slowclient.SendBound(t, s, get, data, stall)
}

// BenchmarkHTTPGet1MiBNetHTTP is a 1 MiB GET over storaged's HTTP route
// (BenchmarkHTTPGet1MiB's client takes the short-circuit socket), with
// the send stall bound off (the copy as it was) and on, in one binary.
func BenchmarkHTTPGet1MiBNetHTTP(b *testing.B) {
	c, s := storagetest.Start(b, storagetest.Config(b))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	storagetest.MustPut(b, c, "k", storagetest.RandomBytes(1<<20))
	url := s.URL() + storage.ObjectsPath + "/k"
	buf := make([]byte, 256<<10)
	for _, bound := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("stall=%v", bound), func(b *testing.B) {
			defer storage.SetSendStall(bound)()
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := hc.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
				resp.Body.Close()
				if n != 1<<20 {
					b.Fatalf("%d bytes", n)
				}
			}
		})
	}
}
