package hnsw

import (
	"strings"
	"testing"
)

// TestSetMetadataNamesFirstBadField: a snapshot slot whose metadata has
// several bad fields is refused naming the first in name order (the
// empty name first), the same on every load, as an upsert's is (a
// map-order pick named a different field from load to load).
func TestSetMetadataNamesFirstBadField(t *testing.T) {
	for _, c := range []struct {
		md   func() Metadata
		want string
	}{
		{func() Metadata {
			return Metadata{"ok": 1.0, "zeta": []any{1.0}, "kappa": map[string]any{}, "beta": []any{2.0}, "omega": []any{}, "delta": []any{3.0}, "gone": nil}
		}, `field "beta"`},
		{func() Metadata { return Metadata{"zeta": []any{1.0}, "": nil, "beta": map[string]any{}} }, "empty metadata field name"},
	} {
		seen := map[string]bool{}
		for range 40 {
			b, err := NewBuilder(Params{Dims: 2, Metric: L2, M: 16, EfConstruction: 200}, 1, 0, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AddNode("a", 0, false); err != nil {
				t.Fatal(err)
			}
			err = b.SetMetadata(0, c.md())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %s, got %v", c.want, err)
			}
			seen[err.Error()] = true
		}
		if len(seen) != 1 {
			t.Errorf("%d different errors for one slot: %v", len(seen), seen)
		}
	}
}
