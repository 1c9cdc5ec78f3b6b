package smoke

import (
	"testing"

	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/observer"
	"lakehouse-go/internal/shared"
)

// TestBuiltinEmbedModelName: the name shared.Validate accepts for
// [embedd].default_model with provider = "builtin" is the built-in
// provider's model (shared cannot import it: builtin imports shared).
func TestBuiltinEmbedModelName(t *testing.T) {
	if shared.BuiltinEmbedModel != builtin.Model {
		t.Fatalf("shared.BuiltinEmbedModel %q, builtin.Model %q", shared.BuiltinEmbedModel, builtin.Model)
	}
}

// TestObserverRingMax: the largest [observerd].ring_size shared.Validate
// accepts is observerd's own maximum.
func TestObserverRingMax(t *testing.T) {
	if shared.MaxObserverRing != observer.MaxRingSize {
		t.Fatalf("shared.MaxObserverRing %d, observer.MaxRingSize %d", shared.MaxObserverRing, observer.MaxRingSize)
	}
}
