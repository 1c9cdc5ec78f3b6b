package embedd_test

import (
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// TestDefaultModelInOtherSpelling (ADR-147): a [embedd].default_model
// written in another form Ollama accepts for the same model (another
// case, the "library/" namespace, the registry host, with or without the
// ":latest" tag) is listed once by GET /v1/embed/models: Ollama's own
// entry, marked default, with the dims /api/show gives; and a request
// naming no model is embedded by that model. Ollama decides identity:
// its name parser fills in registry.ollama.ai, library and latest, and it
// finds a model's manifest case-insensitively. Before: every spelling but
// the exact name or name without ":latest" was listed a second time, a
// default entry with dims 0, and the real entry was not the default.
func TestDefaultModelInOtherSpelling(t *testing.T) {
	fake := ollamatest.New(
		ollamatest.Model{Name: ollamaModel, Dims: 768},
		ollamatest.Model{Name: "mxbai-embed-large:v1", Dims: 1024, Family: "bert"},
	)
	defer fake.Close()
	listed := ollamaModel + ":latest"
	for _, tc := range []struct {
		def, want string
		dims      int
	}{
		{ollamaModel, listed, 768},
		{ollamaModel + ":latest", listed, 768},
		{"Nomic-Embed-Text-V2-MoE", listed, 768},
		{"library/" + ollamaModel, listed, 768},
		{"library/" + ollamaModel + ":latest", listed, 768},
		{"registry.ollama.ai/library/" + ollamaModel + ":latest", listed, 768},
		{"Registry.Ollama.AI/Library/" + ollamaModel + ":LATEST", listed, 768},
		{"MXBAI-embed-large:V1", "mxbai-embed-large:v1", 1024},
		{"library/mxbai-embed-large:v1", "mxbai-embed-large:v1", 1024},
	} {
		cfg := config(t)
		cfg.Embedd.Provider = "ollama"
		cfg.Embedd.ProviderURL = fake.URL
		cfg.Embedd.DefaultModel = tc.def
		_, s := start(t, cfg)
		ms := getModels(t, s.URL())
		var defaults []embed.ModelInfo
		for _, m := range ms.Models {
			if m.Default {
				defaults = append(defaults, m)
			}
		}
		if len(ms.Models) != 3 || len(defaults) != 1 {
			t.Errorf("default_model %q: want builtin and the two Ollama models, one of them default; got %+v", tc.def, ms.Models)
			continue
		}
		if d := defaults[0]; d.Name != tc.want || d.Dims != tc.dims || d.Provider != "ollama" || d.Revision == "" {
			t.Errorf("default_model %q: default listed as %+v, want %s with dims %d and its digest", tc.def, d, tc.want, tc.dims)
		}
		code, r, bad := post(t, s.URL(), `{"input":"forklift operator"}`)
		consistent(t, "default_model "+tc.def, code, r, bad, 1, tc.dims)
	}

	// Another tag, namespace or registry is another model: not listed by
	// Ollama, so listed as the default with dims unknown, beside the others.
	for _, def := range []string{ollamaModel + ":v2", "someone/" + ollamaModel, "example.com/library/" + ollamaModel} {
		cfg := config(t)
		cfg.Embedd.Provider = "ollama"
		cfg.Embedd.ProviderURL = fake.URL
		cfg.Embedd.DefaultModel = def
		_, s := start(t, cfg)
		ms := getModels(t, s.URL())
		if len(ms.Models) != 4 {
			t.Errorf("default_model %q: want builtin, the two Ollama models and the default apart; got %+v", def, ms.Models)
			continue
		}
		for _, m := range ms.Models {
			if m.Default != (m.Name == def) || (m.Default && (m.Dims != 0 || m.Provider != "ollama")) {
				t.Errorf("default_model %q: listed %+v", def, m)
			}
		}
	}

}
