package storage_test

import (
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestConditionalGets: on the local backend, a GET or HEAD with a
// matching If-None-Match or an If-Modified-Since not before the object's
// Last-Modified is 304 without a body (it was 200 with the object).
func TestConditionalGets(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	storagetest.Conditional(t, base, storage.NewClient(base))
}
