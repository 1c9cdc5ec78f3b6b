package vector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/slowclient"
	"lakehouse-go/internal/vector"
)

// TestScrollToAClientThatNeverReads: a scroll page with its vectors (1,500
// items of 768 dims, about 13 MB of JSON) to a client that sends the GET
// and never reads is cut once the write makes no progress for the stall
// bound (shared.WriteJSON: shared.AnswerStall, 30 s; 4 s here): the
// handler returns and the connection ends short of the answer. Without
// the bound (confirmed at 5,000 x 768, a 45 MB answer) the handler stayed
// in its write, holding the page and the connection, for as long as the
// client stayed connected. A slow client that keeps reading (about 2
// MB/s: longer than the bound) gets every item. Real vectord and
// storaged.
func TestScrollToAClientThatNeverReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons, writes 13 MB answers")
	}
	const n, dims = 1500, 768
	ctx := context.Background()
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	v := inproc.Start(t, cfg, "vectord", vector.New)
	c := vector.NewClient(storagetest.ClientFor(cfg, "vectord", false))
	if _, err := c.CreateIndex(ctx, "big", vector.CreateIndexRequest{Dims: dims, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]vector.Item, n)
	for i := range items {
		vec := make([]float32, dims)
		for j := range vec {
			vec[j] = r.Float32()*2 - 1
		}
		items[i] = vector.Item{ID: fmt.Sprintf("item-%05d", i), Vector: vec}
	}
	if _, err := c.Upsert(ctx, "big", items); err != nil {
		t.Fatal(err)
	}
	req := slowclient.Request("GET", vector.IndexesPath+"/big/items?with_vector=true&limit=10000", nil)

	slowclient.AnswerBound(t, v, req, req, func(t *testing.T, code int, body []byte) {
		var page vector.ScrollResponse
		if err := json.Unmarshal(body, &page); err != nil || code != 200 || len(page.Items) != n || len(page.Items[0].Vector) != dims || page.Next != nil {
			t.Fatalf("%d, %d bytes, %d items, %v", code, len(body), len(page.Items), err)
		}
	})
}
