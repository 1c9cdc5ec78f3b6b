package catalog

// SetListReadGo sets how many manifests a dataset list reads at once, for
// an A/B measurement in one run; the returned func restores it.
func SetListReadGo(n int) (restore func()) {
	old := listReadGo
	listReadGo = n
	return func() { listReadGo = old }
}
