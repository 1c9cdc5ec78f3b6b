package storage

// SetConditionalHeadHook makes storaged run f between a conditional GET's
// HEAD and its read (see testHookConditionalHead); the returned func
// removes it. Tests only.
func SetConditionalHeadHook(f func(key string)) (restore func()) {
	testHookConditionalHead.Store(&f)
	return func() { testHookConditionalHead.Store(nil) }
}
