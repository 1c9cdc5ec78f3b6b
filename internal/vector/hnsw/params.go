package hnsw

import (
	"math"

	"lakehouse-go/internal/errs"
)

// Metric names a distance function.
type Metric string

// The supported metrics.
const (
	Cosine Metric = "cosine" // 1 - cosine similarity; Score is the similarity
	L2     Metric = "l2"     // squared Euclidean distance; Score is that distance (lower is better)
	Dot    Metric = "dot"    // negative inner product; Score is the inner product
)

type metricCode uint8

const (
	metricCosine metricCode = 1
	metricL2     metricCode = 2
	metricDot    metricCode = 3
)

// Code is the metric's stable one-byte code (used by LHV1): cosine 1, l2 2, dot 3.
func (m Metric) Code() uint8 {
	switch m {
	case Cosine:
		return uint8(metricCosine)
	case L2:
		return uint8(metricL2)
	case Dot:
		return uint8(metricDot)
	}
	return 0
}

// MetricFromCode is the inverse of Metric.Code; ok is false for unknown codes.
func MetricFromCode(c uint8) (Metric, bool) {
	switch metricCode(c) {
	case metricCosine:
		return Cosine, true
	case metricL2:
		return L2, true
	case metricDot:
		return Dot, true
	}
	return "", false
}

// Limits on parameters.
const (
	MaxDims = 65536
	MaxM    = 512
	MaxEf   = 1 << 16
	maxID   = 1024 // bytes
	maxLvl  = 31
)

// Params are an index's construction parameters.
type Params struct {
	Dims           int    `json:"dims"`
	Metric         Metric `json:"metric"`          // default cosine
	M              int    `json:"m"`               // max links per node on upper layers (2M on layer 0); default 16
	EfConstruction int    `json:"ef_construction"` // candidate list size while inserting; default 200
	Seed           uint64 `json:"seed,omitempty"`  // level generator seed; 0 picks a fixed default
	Capacity       int    `json:"-"`               // optional size hint: storage is reserved for this many items
}

// WithDefaults fills zero fields with the defaults.
func (p Params) WithDefaults() Params {
	if p.Metric == "" {
		p.Metric = Cosine
	}
	if p.M == 0 {
		p.M = 16
	}
	if p.EfConstruction == 0 {
		p.EfConstruction = 200
	}
	if p.Seed == 0 {
		p.Seed = 0x5eed
	}
	return p
}

// Validate reports every problem with p at once (after defaults).
func (p Params) Validate() error {
	var msgs []string
	if p.Dims < 1 || p.Dims > MaxDims {
		msgs = append(msgs, "dims must be between 1 and 65536")
	}
	if p.Metric.Code() == 0 {
		msgs = append(msgs, `metric must be "cosine", "l2" or "dot"`)
	}
	if p.M < 2 || p.M > MaxM {
		msgs = append(msgs, "m must be between 2 and 512")
	}
	if p.EfConstruction < 1 || p.EfConstruction > MaxEf {
		msgs = append(msgs, "ef_construction must be between 1 and 65536")
	}
	if p.Capacity < 0 {
		msgs = append(msgs, "capacity must not be negative")
	}
	if len(msgs) == 0 {
		return nil
	}
	s := msgs[0]
	for _, m := range msgs[1:] {
		s += "; " + m
	}
	return errs.E("hnsw.New", errs.Invalid, s)
}

func checkVector(op string, v []float32, dims int, metric Metric, what string) error {
	if len(v) != dims {
		return errs.Errorf(op, errs.Invalid, "%s has %d dimensions, index has %d", what, len(v), dims)
	}
	var norm float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return errs.Errorf(op, errs.Invalid, "%s has a non-finite value at position %d", what, i)
		}
		norm += float64(x) * float64(x)
	}
	if metric == Cosine && norm == 0 {
		return errs.Errorf(op, errs.Invalid, "%s is all zeros; cosine needs a non-zero vector", what)
	}
	if metric != Cosine && norm > MaxNorm*MaxNorm {
		return errs.Errorf(op, errs.Invalid, "%s has length %.3g; %s vectors must be at most %g long", what, math.Sqrt(norm), metric, MaxNorm)
	}
	return nil
}

// MaxNorm bounds the length of l2 and dot vectors: distances and scores
// are float32, and with |a|, |b| <= 1e15 neither |a-b|^2 (<= 4e30) nor
// a.b (<= 1e30) can overflow to +Inf (3.4e38), which JSON cannot carry —
// one vector of 3e38s made every search of its index answer 500. Cosine
// vectors are normalised first and need no bound. It applies to vectors
// coming in (upserts, queries), not to LHV1 files already written, so an
// index saved before the bound still loads (its long vector can be
// deleted).
const MaxNorm = 1e15

// normalizeInto writes v/|v| into dst (len(dst) == len(v)).
func normalizeInto(dst, v []float32) {
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	inv := 1 / math.Sqrt(norm)
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
}
