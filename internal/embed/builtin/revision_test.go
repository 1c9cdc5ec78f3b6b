package builtin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
)

// pinnedVectors is the hash of the vectors of pinTexts (rounded to 1e-3,
// so a fused multiply-add on another architecture does not move them)
// that algoVersion and the current revision stand for.
const (
	pinnedVectors  = "36ccc322061dc13ffd912290fe2db4d9581f0b8366839dd711cdef8636903af9"
	pinnedRevision = "925c8c5a87ca697c33e5edbf21329b048f5959bb8c5607a2c2a67c0e27a634da"
)

var pinTexts = []string{
	"the warehouse ships on monday", "getUserName", "anounced", "isn't john's", "!!!",
	"Ünïcödé ﬁle", "12345 zqxj", "a much longer sentence about lakes, houses and vectors",
}

// TestRevisionPinsVectors (ADR-115): builtin's Revision is what matrixd
// records to tell vectors of other weights; the weights are code, so a
// change of the code that changes vectors must change the revision
// (algoVersion). This fails when the vectors change and the pinned values
// below were not updated with a bump of algoVersion.
func TestRevisionPinsVectors(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := p.Embed(context.Background(), Model, pinTexts)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, v := range vecs {
		for _, x := range v {
			binary.Write(h, binary.LittleEndian, int32(math.Round(float64(x)*1e3)))
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	rev := p.Revision(context.Background(), Model)
	if got != pinnedVectors || rev != pinnedRevision {
		t.Fatalf("vectors %s, revision %s; pinned %s, %s: when vectors change, bump algoVersion and pin both again", got, rev, pinnedVectors, pinnedRevision)
	}
	if p.Revision(context.Background(), "other") != "" {
		t.Fatal("a revision for a model builtin does not serve")
	}
}
