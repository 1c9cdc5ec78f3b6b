package embed_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestEmbedAnswerToAClientThatNeverReads: the vectors of a big batch
// (10,000 texts, about 12 MB of JSON) to a client that sends it and never
// reads are cut once the write makes no progress for the stall bound
// (shared.AnswerStall): the handler returns (the in-flight gauge is back
// to zero) and the connection ends short of the answer. Without the bound
// the handler stayed blocked in its write, holding the answer and the
// connection, for as long as the client stayed connected.
// A slow client that keeps reading (about 2 MB/s, longer than the stall
// bound) gets every vector. Real embedd (builtin) through the harness.
func TestEmbedAnswerToAClientThatNeverReads(t *testing.T) {
	s := inproc.Start(t, inproc.Config(t), "embedd", embedd.New)
	texts := make([]string, 10_000)
	for i := range texts {
		texts[i] = fmt.Sprintf("the quick brown fox %d jumps over the lazy dog", i)
	}
	b, _ := json.Marshal(map[string]any{"input": texts})
	req := slowclient.Request(http.MethodPost, embed.RouteEmbed, b)
	slowclient.AnswerBound(t, s, req, req, func(t *testing.T, code int, body []byte) {
		var res embed.EmbedResponse
		if err := json.Unmarshal(body, &res); err != nil || code != 200 || len(res.Embeddings) != 10_000 {
			t.Fatalf("%d, %d bytes, %d vectors, %v", code, len(body), len(res.Embeddings), err)
		}
	})
}
