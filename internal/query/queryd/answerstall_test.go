package queryd_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/slowclient"
)

// TestJSONAnswerToAClientThatNeverReads: a json answer (30 MB) to a client
// that sends its query and never reads is cut once the write makes no
// progress for the stall bound (shared.AnswerStall): the handler returns
// (the in-flight gauge is back to zero) and the connection ends short of
// the answer. Without the bound the handler stayed blocked in its write,
// holding the built answer (up to 128 MiB) and the connection, for as
// long as the client stayed connected.
// A slow client that keeps reading (about 2 MB/s, a 12 MB answer: longer
// than the stall bound) gets the whole answer.
func TestJSONAnswerToAClientThatNeverReads(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Queryd.MaxRows = 10_000_000
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	req := func(rows int) []byte {
		body := fmt.Sprintf(`{"sql":"SELECT range AS id, repeat('x', 1000) AS pad FROM range(%d)"}`, rows)
		return slowclient.Request(http.MethodPost, query.Route, []byte(body))
	}
	slowclient.AnswerBound(t, s, req(30_000), req(12_000), func(t *testing.T, code int, body []byte) {
		if code != 200 || !strings.Contains(string(body), `"row_count":12000,"truncated":false`) {
			t.Fatalf("%d, %d bytes: %.200s", code, len(body), body)
		}
	})
}
