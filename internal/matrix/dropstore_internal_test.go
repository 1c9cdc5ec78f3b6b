package matrix

import (
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix/keyword"
)

// atVersionCatalog answers the row store's version check: the dataset is
// at version v.
type atVersionCatalog struct {
	catalog.Service
	v int64
}

func (c atVersionCatalog) VersionsPage(context.Context, string, catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	return catalog.VersionsResponse{Versions: []catalog.VersionInfo{{Version: c.v}}}, nil
}

// TestDropWhileRowStoreReadQueued: a DELETE of an index whose row store
// read is waiting for its turn (storeSem: one read at a time) left the
// read to start on the dropped index, whose keyword index Drop had set to
// nil: loadStore called kw.Len() on nil and the panic took matrixd down.
// The read now sees the drop and ends with an error.
func TestDropWhileRowStoreReadQueued(t *testing.T) {
	m, err := NewMatrix(Deps{Catalog: atVersionCatalog{v: 1}}, Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := &dsIndex{spec: IndexRequest{Dataset: "d", IDColumn: "id", TextColumns: []string{"txt"}},
		status: IndexStatus{Dataset: "d", State: StateReady, Version: 1}, kw: keyword.New()}
	m.idx["d"] = x
	m.storeSem <- struct{}{} // another dataset's read holds the turn
	m.maybeLoadStore(x)
	x.mu.Lock()
	busy := x.storeBusy
	x.mu.Unlock()
	if !busy {
		t.Fatal("no row store read was started")
	}
	// What Drop does to the index under x.mu.
	x.mu.Lock()
	x.dropped, x.kw = true, nil
	x.mu.Unlock()
	<-m.storeSem // the other read ends: this one runs
	deadline := time.Now().Add(10 * time.Second)
	for {
		x.mu.Lock()
		busy, st, msg := x.storeBusy, x.store, x.storeErr
		x.mu.Unlock()
		if !busy {
			if st != nil {
				t.Fatalf("a dropped index got a row store: %+v", st)
			}
			if msg == "" {
				t.Error("the read of the dropped index ended without saying why")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the row store read did not end")
		}
		time.Sleep(time.Millisecond)
	}
	m.Close(context.Background())
}
