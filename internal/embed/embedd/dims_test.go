package embedd_test

import (
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// listedModel is name's entry in GET /v1/embed/models.
func listedModel(t *testing.T, base, name string) embed.ModelInfo {
	t.Helper()
	ms := getModels(t, base)
	for _, m := range ms.Models {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s not listed: %+v", name, ms)
	return embed.ModelInfo{}
}

// TestModelsDimsOfTheListedDigest (ADR-141): GET /v1/embed/models gives an
// Ollama model's dims from /api/show's model_info before any embedding,
// and the dims and revision of one entry belong to the same weights: a
// model pulled again with other dims is listed with the new dims (from
// /api/show of the new digest), or 0 when that answer lacks
// embedding_length, never with the dims of vectors the old weights
// answered. Before: after one embedding the listing kept the old dims
// beside the new revision until the next embedding (matrixd's status read
// "same dims" for a model that had changed them).
func TestModelsDimsOfTheListedDigest(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	name := ollamaModel + ":latest"
	if m := listedModel(t, base, name); m.Dims != 768 || m.Revision != ollamatest.Digest(ollamatest.Model{Name: ollamaModel}) {
		t.Fatalf("before any embedding: %+v, want dims 768 from model_info", m)
	}
	code, r, bad := post(t, base, inputs("hello"))
	consistent(t, "embed", code, r, bad, 1, 768)
	m2 := ollamatest.Model{Name: ollamaModel, Dims: 1024, Revision: "2"}
	fake.AddModel(m2)
	if m := listedModel(t, base, name); m.Dims != 1024 || m.Revision != ollamatest.Digest(m2) {
		t.Fatalf("pulled again with 1024 dims: listed %+v, want dims 1024 and revision %s", m, ollamatest.Digest(m2))
	}
	m3 := ollamatest.Model{Name: ollamaModel, Dims: 384, Revision: "3", NoLength: true}
	fake.AddModel(m3)
	if m := listedModel(t, base, name); m.Dims != 0 || m.Revision != ollamatest.Digest(m3) {
		t.Fatalf("pulled again, model_info without embedding_length: listed %+v, want dims 0 (unknown)", m)
	}
	code, r, bad = post(t, base, inputs("hello again"))
	consistent(t, "embed after the re-pull", code, r, bad, 1, 384)
	if m := listedModel(t, base, name); m.Dims != 384 {
		t.Fatalf("after an embedding with the new weights: %+v, want 384", m)
	}
}
