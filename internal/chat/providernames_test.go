package chat

import (
	"slices"
	"testing"

	"lakehouse-go/internal/shared"
)

// shared.Validate checks [chatd].fallback against its own copy of the
// provider names (shared cannot import this package).
func TestProviderNamesMatchShared(t *testing.T) {
	if !slices.Equal(ProviderNames, shared.ChatProviders) {
		t.Fatalf("chat.ProviderNames %v, shared.ChatProviders %v", ProviderNames, shared.ChatProviders)
	}
}
