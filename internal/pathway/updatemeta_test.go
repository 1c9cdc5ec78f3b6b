package pathway_test

import (
	"context"
	"encoding/json"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPUpdateMetadataOnly: Mem0's update(memory_id, metadata=...) —
// `PUT /memories/{id}` with metadata and no text — replaces the metadata and
// keeps the text (ADR-148). It was a 400 `"text": required`, so a client
// could only change metadata by sending the text back. The change is one
// UPDATE in the history, filters see it, and a restart (replay) keeps it.
func TestHTTPUpdateMetadataOnly(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, _ := start(t, cfg)
	code, out := do(t, "POST", s.URL()+pathway.MemoriesPath,
		`{"text":"I am vegan","user_id":"u","metadata":{"source":"chat"}}`)
	if code != 200 {
		t.Fatalf("add: %d %s", code, out)
	}
	var add pathway.AddResponse
	if err := json.Unmarshal([]byte(out), &add); err != nil || len(add.Results) != 1 {
		t.Fatalf("add: %v %s", err, out)
	}
	id, text := add.Results[0].ID, add.Results[0].Memory

	code, out = do(t, "PUT", s.URL()+pathway.MemoriesPath+"/"+id, `{"metadata":{"verified":true,"source":"user"}}`)
	if code != 200 {
		t.Fatalf("metadata-only PUT: %d %s", code, out)
	}
	check := func(when, body string) {
		t.Helper()
		var m pathway.Memory
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v %s", when, err, body)
		}
		if m.Memory != text || m.Metadata["verified"] != true || m.Metadata["source"] != "user" || len(m.Metadata) != 2 {
			t.Fatalf("%s: want text %q and metadata {verified:true, source:user}, got %s", when, text, body)
		}
	}
	check("PUT answer", out)
	_, out = do(t, "GET", s.URL()+pathway.MemoriesPath+"/"+id, "")
	check("GET", out)

	// Filters see the new metadata, and the search still finds the text
	// (its vector was kept).
	code, out = do(t, "POST", s.URL()+pathway.SearchPath, `{"query":"vegan","user_id":"u","filters":{"verified":true}}`)
	if code != 200 || names(t, out)[0] != "vegan" {
		t.Fatalf("search by the new metadata: %d %s", code, out)
	}
	code, out = do(t, "GET", s.URL()+pathway.MemoriesPath+"/"+id+"/history", "")
	var hist pathway.HistoryResponse
	if err := json.Unmarshal([]byte(out), &hist); code != 200 || err != nil || len(hist.Results) != 2 {
		t.Fatalf("history: %d %v %s", code, err, out)
	}
	if h := hist.Results[1]; h.Event != pathway.EventUpdate || h.OldMemory == nil || *h.OldMemory != text || h.NewMemory == nil || *h.NewMemory != text {
		t.Fatalf("history row of the metadata change: %s", out)
	}

	// Neither text nor metadata is still a 400, and changes nothing.
	for _, body := range []string{`{}`, `{"text":" "}`, `{"metadata":null}`} {
		if code, out := do(t, "PUT", s.URL()+pathway.MemoriesPath+"/"+id, body); code != 400 {
			t.Fatalf("PUT %s: want 400, got %d %s", body, code, out)
		}
	}

	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s, c := start(t, cfg)
	_, out = do(t, "GET", s.URL()+pathway.MemoriesPath+"/"+id, "")
	check("GET after a restart", out)
	// The package's client sends metadata alone too.
	m, err := c.Update(ctx, id, pathway.UpdateRequest{Metadata: pathway.Metadata{"n": json.Number("2")}})
	if err != nil || m.Memory != text || m.Metadata["n"] != json.Number("2") {
		t.Fatalf("client metadata-only update: %v %+v", err, m)
	}
}
