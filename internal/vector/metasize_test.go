package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestMetadataSizeLimit: an item's metadata is at most MaxMetadataBytes
// as JSON. At the limit it is stored; one byte over, the upsert is a 413
// too_large naming the item's index and id and the limit, and nothing of
// the batch is applied (the valid item before it neither). The size is
// the JSON as sent: characters HTML escaping would grow count once, and
// escapes (\n, \u0001) count as written. Before, only the whole body limit
// applied, so one upsert could store 200 MiB of metadata on one item.
func TestMetadataSizeLimit(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "meta", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, errs.Body, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+IndexesPath+"/meta/upsert", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var eb errs.Body
		json.Unmarshal(b, &eb)
		return resp.StatusCode, eb, string(b)
	}
	// {"t":"..."} is 8 bytes around the text.
	text := func(n int, c string) string { return strings.Repeat(c, n) }
	item := func(id, t string) string {
		b, _ := json.Marshal(t)
		return fmt.Sprintf(`{"id":%q,"vector":[1,2],"metadata":{"t":%s}}`, id, b)
	}

	at := text(MaxMetadataBytes-8, "a")
	if code, _, body := post(`{"items":[` + item("at-limit", at) + `]}`); code != 200 {
		t.Fatalf("metadata of exactly %d bytes: %d %s", MaxMetadataBytes, code, body)
	}
	// '<' is 1 byte as sent (encoding/json would write \u003c).
	if code, _, body := post(`{"items":[` + item("html", text(MaxMetadataBytes-8, "<")) + `]}`); code != 200 {
		t.Fatalf("metadata of %d '<': %d %s", MaxMetadataBytes-8, code, body)
	}
	over := []struct {
		name, meta string
		size       int
	}{
		{"one byte over", `{"t":"` + text(MaxMetadataBytes-7, "a") + `"}`, MaxMetadataBytes + 1},
		{"escapes count as written", `{"t":"` + text(MaxMetadataBytes/6, `\u0001`) + `"}`, 8 + 6*(MaxMetadataBytes/6)},
		{"many fields", manyFields(5000), len(manyFields(5000))},
	}
	for _, tc := range over {
		body := `{"items":[` + item("fine", "small") + `,{"id":"big-one","vector":[2,1],"metadata":` + tc.meta + `}]}`
		code, eb, raw := post(body)
		msg := eb.Error.Message
		if code != http.StatusRequestEntityTooLarge || eb.Error.Kind != errs.TooLarge ||
			!strings.Contains(msg, "item 1") || !strings.Contains(msg, `"big-one"`) ||
			!strings.Contains(msg, fmt.Sprint(MaxMetadataBytes)) || !strings.Contains(msg, fmt.Sprint(tc.size)) {
			t.Errorf("%s: %d %s; want 413 too_large naming item 1, big-one, %d bytes and the limit", tc.name, code, raw, tc.size)
		}
		for _, id := range []string{"fine", "big-one"} {
			if _, err := s.GetItem(ctx, "meta", id); !errs.Is(err, errs.NotFound) {
				t.Errorf("%s: %s stored by a refused batch: %v", tc.name, id, err)
			}
		}
	}
	if info, err := s.GetIndex(ctx, "meta"); err != nil || info.Count != 2 {
		t.Fatalf("index after: %+v %v, want the 2 items at the limit", info, err)
	}
	// The Go API measures the same way.
	if _, err := s.Upsert(ctx, "meta", []Item{{ID: "go", Vector: []float32{1, 1}, Metadata: Metadata{"t": text(MaxMetadataBytes, "a")}}}); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("Store.Upsert over the limit: %v", err)
	}
}

// manyFields is a metadata object of n short numeric fields.
func manyFields(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"field%05d":%d`, i, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
