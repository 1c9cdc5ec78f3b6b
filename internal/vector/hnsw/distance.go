package hnsw

// Distance kernels. The index only ever compares with "lower is closer"
// distances:
//
//	cosine: 1 - dot(a, b) on vectors normalised at insert (and the query)
//	dot:    -dot(a, b)
//	l2:     squared Euclidean distance
//
// dot and l2sq dispatch to AVX2+FMA assembly on amd64 when the CPU has it and
// to the unrolled pure-Go loops below otherwise.

// dotGeneric is the portable inner product, 8-way unrolled with four
// accumulators so the adds can overlap.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0]*bb[0] + aa[4]*bb[4]
		s1 += aa[1]*bb[1] + aa[5]*bb[5]
		s2 += aa[2]*bb[2] + aa[6]*bb[6]
		s3 += aa[3]*bb[3] + aa[7]*bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2sqGeneric is the portable squared Euclidean distance, 8-way unrolled.
func l2sqGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		d0, d1, d2, d3 := aa[0]-bb[0], aa[1]-bb[1], aa[2]-bb[2], aa[3]-bb[3]
		d4, d5, d6, d7 := aa[4]-bb[4], aa[5]-bb[5], aa[6]-bb[6], aa[7]-bb[7]
		s0 += d0*d0 + d4*d4
		s1 += d1*d1 + d5*d5
		s2 += d2*d2 + d6*d6
		s3 += d3*d3 + d7*d7
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBatchGeneric(q, base []float32, ids []uint32, out []float32) {
	d := len(q)
	for i, id := range ids {
		o := int(id) * d
		out[i] = dotGeneric(q, base[o:o+d])
	}
}

func l2BatchGeneric(q, base []float32, ids []uint32, out []float32) {
	d := len(q)
	for i, id := range ids {
		o := int(id) * d
		out[i] = l2sqGeneric(q, base[o:o+d])
	}
}

// distances sets out[i] to the distance from q to slot ids[i]. The slots
// must be valid: the assembly does not bounds-check them.
func (ix *Index) distances(q []float32, ids []uint32, out []float32) {
	switch ix.metric {
	case metricL2:
		l2Batch(q, ix.vecs, ids, out)
	case metricDot:
		dotBatch(q, ix.vecs, ids, out)
		for i := range out[:len(ids)] {
			out[i] = -out[i]
		}
	default:
		dotBatch(q, ix.vecs, ids, out)
		for i := range out[:len(ids)] {
			out[i] = 1 - out[i]
		}
	}
}

// distance is the metric's "lower is closer" distance between a and b (a
// stored or prepared vector and a query of the same length).
func (ix *Index) distance(a, b []float32) float32 {
	switch ix.metric {
	case metricL2:
		return l2sq(a, b)
	case metricDot:
		return -dot(a, b)
	default: // cosine, vectors normalised
		return 1 - dot(a, b)
	}
}

// score turns an internal distance into the Result.Score the caller sees.
func (ix *Index) score(d float32) float32 {
	switch ix.metric {
	case metricL2:
		return d
	case metricDot:
		return -d
	default:
		return 1 - d
	}
}
