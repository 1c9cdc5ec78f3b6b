package embedd_test

import (
	"slices"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/errs"
)

// TestBuiltinModelNameAnyCase (ADR-149): the builtin model's name compares
// case-insensitively, as Ollama's names do since ADR-147: a request
// naming "BUILTIN-GLOVE-100D" is embedded by builtin-glove-100d and the
// answer names it canonically, with the same vectors; a default_model in
// another case is the listed entry, marked default, listed once. Before:
// a 404 "model not found", and the default listed a second time with
// dims 0. Another name is still a 404.
func TestBuiltinModelNameAnyCase(t *testing.T) {
	_, s := start(t, config(t))
	code, want, bad := post(t, s.URL(), `{"input":"forklift operator","model":"`+builtin.Model+`"}`)
	consistent(t, "canonical name", code, want, bad, 1, builtin.Dims)
	for _, name := range []string{"BUILTIN-GLOVE-100D", "Builtin-GloVe-100d"} {
		code, r, bad := post(t, s.URL(), `{"input":"forklift operator","model":"`+name+`"}`)
		consistent(t, name, code, r, bad, 1, builtin.Dims)
		if r.Model != builtin.Model || r.Revision != want.Revision || !slices.Equal(r.Embeddings[0], want.Embeddings[0]) {
			t.Errorf("%s: answered as %q revision %q, want %q %q and the same vector", name, r.Model, r.Revision, builtin.Model, want.Revision)
		}
	}
	if code, _, bad := post(t, s.URL(), `{"input":"x","model":"builtin-glove-100"}`); code != 404 || bad.Error.Kind != errs.NotFound {
		t.Errorf("another name: %d %+v, want 404", code, bad.Error)
	}

	// [embedd] with provider = "builtin" accepts only the exact name
	// (shared's config check); with Ollama first, builtin still serves
	// its model, and a default_model naming it in another case is it.
	fake := ollamatest.New(ollamatest.Model{Name: ollamaModel, Dims: 768})
	defer fake.Close()
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = fake.URL
	cfg.Embedd.DefaultModel = "BUILTIN-GloVe-100D"
	_, s = start(t, cfg)
	ms := getModels(t, s.URL())
	var defaults []embed.ModelInfo
	for _, m := range ms.Models {
		if m.Default {
			defaults = append(defaults, m)
		}
	}
	if len(ms.Models) != 2 || len(defaults) != 1 || defaults[0].Name != builtin.Model || defaults[0].Dims != builtin.Dims {
		t.Errorf("default_model in another case: listed %+v, want the Ollama model and builtin-glove-100d, builtin the default with dims 100", ms.Models)
	}
	code, r, bad := post(t, s.URL(), `{"input":"forklift operator"}`)
	consistent(t, "default in another case", code, r, bad, 1, builtin.Dims)
	if r.Model != builtin.Model {
		t.Errorf("default in another case: answered as %q, want %q", r.Model, builtin.Model)
	}
}

// TestStringInputErrorsNameInput (ADR-149): "input" given as one string
// that is blank (or too long) is refused naming "input", the field the
// request had; "input[0]" is for an array's first element. Before: a
// string of spaces said "input[0] is empty". embedd has one embedding
// route, POST /v1/embed, taking both shapes.
func TestStringInputErrorsNameInput(t *testing.T) {
	_, s := start(t, config(t))
	for _, tc := range []struct{ body, msg string }{
		{`{"input":"   "}`, "input is empty"},
		{`{"input":""}`, "input is empty"},
		{`{"input":" \n\t"}`, "input is empty"},
		{`{"input":["   "]}`, "input[0] is empty"},
		{`{"input":["ok","   "]}`, "input[1] is empty"},
	} {
		code, _, bad := post(t, s.URL(), tc.body)
		if code != 400 || bad.Error.Kind != errs.Invalid || bad.Error.Message != tc.msg {
			t.Errorf("%s: %d %+v, want 400 %q", tc.body, code, bad.Error, tc.msg)
		}
	}
	long := make([]byte, 512<<10+1)
	for i := range long {
		long[i] = 'a'
	}
	code, _, bad := post(t, s.URL(), `{"input":"`+string(long)+`"}`)
	if code != 413 || bad.Error.Message != "input is 524289 bytes, over the limit of 524288" {
		t.Errorf("long string: %d %+v", code, bad.Error)
	}
}
