package storage_test

import (
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestContractHTTPLocal runs the contract through storaged's HTTP API and
// the typed Client, on the local backend (the client without its socket,
// although storaged listens on one).
func TestContractHTTPLocal(t *testing.T) {
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		cfg := storagetest.Config(t)
		storagetest.Start(t, cfg)
		return storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	})
}

// TestContractSocketLocal runs the contract through the short-circuit
// socket (Get and Put; Head, Delete and List stay HTTP), and checks that
// the socket did serve them.
func TestContractSocketLocal(t *testing.T) {
	var clients []*storage.Client
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		cfg := storagetest.Config(t)
		cfg.Storaged.Socket = storagetest.SocketPath(t)
		c, _ := storagetest.Start(t, cfg)
		clients = append(clients, c)
		return c
	})
	var ops int64
	for _, c := range clients {
		ops += c.SocketOps()
	}
	if ops < 50 {
		t.Fatalf("only %d calls went through the socket", ops)
	}
	t.Logf("%d Get/Put calls through the socket", ops)
}
