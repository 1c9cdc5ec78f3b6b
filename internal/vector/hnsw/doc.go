// Package hnsw is vectord's in-memory vector index: a Hierarchical Navigable
// Small World graph (Malkov & Yashunin) written for this workload, in pure Go
// with AVX2 assembly kernels for the distances on amd64.
//
// It owns the vectors, ids, metadata and graph of one index; vectord calls it
// (Upsert, Delete, Search, Stats) and the lhv1 package snapshots it through
// Export or Copy (a point-in-time copy encoded while writes go on) and
// Builder. Persistence of single operations is the wal package's
// job; this package never touches disk.
//
// Layout: vectors live in one contiguous []float32 slab (slot*dims), the
// layer-0 neighbour lists in one flat []uint32 ([count, n1..n2M] per slot),
// the upper layers in a second flat []uint32 addressed per slot. Cosine
// indexes store unit vectors and compare by dot product.
//
// Concurrency: an Index is safe for concurrent use. Searches share a read
// lock; each upserted or deleted item takes the write lock on its own, so a
// search sees every item either entirely before or entirely after its change,
// and long batches do not starve searches.
//
// Filtered search never returns fewer than k results while k live items
// match: selective filters are answered by an exact scan over the matching
// set (found through an inverted index of metadata values), broad ones by a
// filter-aware graph traversal that falls back to the exact scan if the graph
// cannot supply k matches.
// A numeric range finds its matching set in a per-field range index (numbers
// and slots in order, built by the first range search over a field, kept by
// the writers, memory only: rangeindex.go).
//
// Deletes leave tombstones that keep the graph navigable; the next inserts
// reuse tombstoned slots (re-linking them), so deleted space is reclaimed.
//
// Errors: invalid input is reported as lakehouse-go/internal/errs errors of
// kind errs.Invalid.
package hnsw
