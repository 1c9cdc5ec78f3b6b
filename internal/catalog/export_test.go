package catalog

// SetListReadGo sets how many manifests a dataset list reads at once, for
// an A/B measurement in one run; the returned func restores it.
func SetListReadGo(n int) (restore func()) {
	old := listReadGo
	listReadGo = n
	return func() { listReadGo = old }
}

// EncodeCacheEntry is the manifest cache's entry for key, etag and body.
func EncodeCacheEntry(key, etag string, body []byte) []byte {
	b, _ := encodeCacheEntry(key, etag, body)
	return b
}

// EncodeManifest is d as catalogd stores it.
func EncodeManifest(d *Dataset) ([]byte, error) { return encodeManifest(d) }
