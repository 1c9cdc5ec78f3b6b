package storage_test

import (
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestContractHTTPLocal runs the contract through storaged's HTTP API and
// the typed Client, on the local backend.
func TestContractHTTPLocal(t *testing.T) {
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		c, _ := storagetest.Start(t, storagetest.Config(t))
		return c
	})
}
