package chatd

import (
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestRequestEnded: a client that hangs up before the first token is a
// 499 invalid (kept out of the 5xx counts and the ERROR log; was 503
// unavailable), a passed deadline a 504 timeout.
func TestRequestEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := requestEnded(ctx, "ollama")
	if errs.KindOf(err) != errs.Invalid || errs.StatusOf(err) != errs.StatusClientClosed {
		t.Fatalf("canceled: %v (%s, %d)", err, errs.KindOf(err), errs.StatusOf(err))
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if err := requestEnded(ctx, "ollama"); errs.StatusOf(err) != 504 {
		t.Fatalf("deadline: %v", err)
	}
}
