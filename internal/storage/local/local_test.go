package local_test

import (
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
	"lakehouse-go/internal/storage/storagetest"
)

func TestContractLocal(t *testing.T) {
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		s, err := local.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
