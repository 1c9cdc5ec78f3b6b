package embed

import (
	"errors"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// A model a daemon embeds with by configuration, missing from its
// provider, is the operator's to fix: 502 unavailable, not the caller's 404.
func TestConfiguredModel(t *testing.T) {
	nf := errs.E("embed.Embed", errs.NotFound, `model "nomic-embed-text-v2-moe" not found: run ollama pull nomic-embed-text-v2-moe`)
	err := ConfiguredModel("matrix.search", "nomic-embed-text-v2-moe", nf)
	if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || !strings.Contains(errs.Message(err), "ollama pull") || !strings.Contains(errs.Message(err), "configured model") {
		t.Fatalf("%v: kind %s status %d", err, errs.KindOf(err), errs.StatusOf(err))
	}
	down := errs.E("embed.Embed", errs.Unavailable, "ollama down")
	if got := ConfiguredModel("x", "m", down); got != down {
		t.Fatalf("other errors changed: %v", got)
	}
	if ConfiguredModel("x", "m", nil) != nil {
		t.Fatal("nil changed")
	}
	if plain := errors.New("x"); ConfiguredModel("x", "m", plain) != plain {
		t.Fatal("plain error changed")
	}
}
