package storage

import "time"

// SetConditionalHeadHook makes storaged run f between a conditional GET's
// HEAD and its read (see testHookConditionalHead); the returned func
// removes it. Tests only.
func SetConditionalHeadHook(f func(key string)) (restore func()) {
	testHookConditionalHead.Store(&f)
	return func() { testHookConditionalHead.Store(nil) }
}

// SetSendStall sets streamed GETs' bound on a client that takes nothing
// (sendStall); the returned func restores it. Tests only.
func SetSendStall(d time.Duration) (restore func()) {
	old := sendStall
	sendStall = d
	return func() { sendStall = old }
}
