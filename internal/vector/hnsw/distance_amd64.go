//go:build amd64 && !purego

package hnsw

// useAVX2 is set when the CPU and OS support AVX2 and FMA3.
var useAVX2 = hasAVX2FMA()

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func l2sqAVX2(a, b *float32, n int) float32

//go:noescape
func dotBatchAVX2(q, base *float32, ids *uint32, n, dims int, out *float32)

//go:noescape
func l2BatchAVX2(q, base *float32, ids *uint32, n, dims int, out *float32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state enabled by the OS
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

func dot(a, b []float32) float32 {
	if useAVX2 && len(a) > 0 {
		_ = b[len(a)-1]
		return dotAVX2(&a[0], &b[0], len(a))
	}
	return dotGeneric(a, b)
}

func l2sq(a, b []float32) float32 {
	if useAVX2 && len(a) > 0 {
		_ = b[len(a)-1]
		return l2sqAVX2(&a[0], &b[0], len(a))
	}
	return l2sqGeneric(a, b)
}

// dotBatch sets out[i] = dot(q, row ids[i] of base) (rows of len(q) floats).
func dotBatch(q, base []float32, ids []uint32, out []float32) {
	if useAVX2 && len(ids) > 0 && len(q) > 0 {
		_ = out[len(ids)-1]
		dotBatchAVX2(&q[0], &base[0], &ids[0], len(ids), len(q), &out[0])
		return
	}
	dotBatchGeneric(q, base, ids, out)
}

// l2Batch sets out[i] = l2sq(q, row ids[i] of base).
func l2Batch(q, base []float32, ids []uint32, out []float32) {
	if useAVX2 && len(ids) > 0 && len(q) > 0 {
		_ = out[len(ids)-1]
		l2BatchAVX2(&q[0], &base[0], &ids[0], len(ids), len(q), &out[0])
		return
	}
	l2BatchGeneric(q, base, ids, out)
}
