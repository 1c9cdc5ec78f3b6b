package embed

import (
	"context"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestCanceledIsClientClosed: a client that hangs up while embedd waits
// for a slot is 499 invalid (was 503 unavailable: counted as a server
// failure), as in chatd and the gateway.
func TestCanceledIsClientClosed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ctxErr(ctx, nil, "m")
	if errs.KindOf(err) != errs.Invalid || errs.StatusOf(err) != errs.StatusClientClosed {
		t.Fatalf("%v (%s, %d)", err, errs.KindOf(err), errs.StatusOf(err))
	}
}
