package hnsw

import "lakehouse-go/internal/errs"

// ValidateItems checks a batch against an index's params exactly as Upsert
// does (ids, duplicates, dims, NaN/Inf, zero vectors under cosine,
// metadata), without changing anything. vectord calls it before logging a
// batch, so an invalid batch is neither applied nor written to the log.
func ValidateItems(p Params, items []Item) error {
	const op = "hnsw.Upsert"
	p = p.WithDefaults()
	seen := make(map[string]struct{}, len(items))
	for i, it := range items {
		what := "item " + itoa(i)
		if it.ID == "" {
			return errs.Errorf(op, errs.Invalid, "%s has an empty id", what)
		}
		if len(it.ID) > maxID {
			return errs.Errorf(op, errs.Invalid, "%s id is longer than %d bytes", what, maxID)
		}
		if _, dup := seen[it.ID]; dup {
			return errs.Errorf(op, errs.Invalid, "id %q appears more than once in the batch", it.ID)
		}
		seen[it.ID] = struct{}{}
		if err := checkVector(op, it.Vector, p.Dims, p.Metric, what+" vector"); err != nil {
			return err
		}
		if _, err := cleanMetadata(op, it.Metadata, what); err != nil {
			return err
		}
	}
	return nil
}
