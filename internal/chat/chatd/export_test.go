package chatd

// SetFirstTokenHook sets the hook run between an attempt's first token and
// its switch to the idle timer; the returned func unsets it. Tests that
// use it must not run in parallel.
func SetFirstTokenHook(f func()) (restore func()) {
	testHookFirstToken = f
	return func() { testHookFirstToken = nil }
}
