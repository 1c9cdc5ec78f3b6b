package embed

import (
	"testing"
	"time"
)

// SetAnswerStall makes Routes bound an answer's write by d without
// progress, until t ends.
func SetAnswerStall(t testing.TB, d time.Duration) {
	old := answerStall
	answerStall = d
	t.Cleanup(func() { answerStall = old })
}
