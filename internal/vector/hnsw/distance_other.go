//go:build !amd64 || purego

package hnsw

const useAVX2 = false

func dot(a, b []float32) float32  { return dotGeneric(a, b) }
func l2sq(a, b []float32) float32 { return l2sqGeneric(a, b) }

func dotBatch(q, base []float32, ids []uint32, out []float32) { dotBatchGeneric(q, base, ids, out) }
func l2Batch(q, base []float32, ids []uint32, out []float32)  { l2BatchGeneric(q, base, ids, out) }
