package hnsw

import "lakehouse-go/internal/errs"

// ValidateItems checks a batch against an index's params exactly as Upsert
// does (ids, duplicates, dims, NaN/Inf, zero vectors under cosine,
// metadata), without changing anything. vectord calls it before logging a
// batch, so an invalid batch is neither applied nor written to the log.
func ValidateItems(p Params, items []Item) error {
	p = p.WithDefaults()
	seen := make(map[string]struct{}, len(items))
	for i := range items {
		if _, err := checkItem("hnsw.Upsert", i, &items[i], p.Dims, p.Metric, seen); err != nil {
			return err
		}
	}
	return nil
}

// checkItem validates item i of a batch (seen holds the batch's ids so far)
// and returns its cleaned metadata. Errors are errs.Invalid.
func checkItem(op string, i int, it *Item, dims int, metric Metric, seen map[string]struct{}) (Metadata, error) {
	what := "item " + itoa(i)
	if it.ID == "" {
		return nil, errs.Errorf(op, errs.Invalid, "%s has an empty id", what)
	}
	if len(it.ID) > maxID {
		return nil, errs.Errorf(op, errs.Invalid, "%s id is longer than %d bytes", what, maxID)
	}
	if _, dup := seen[it.ID]; dup {
		return nil, errs.Errorf(op, errs.Invalid, "id %q appears more than once in the batch", it.ID)
	}
	seen[it.ID] = struct{}{}
	if err := checkVector(op, it.Vector, dims, metric, what+" vector"); err != nil {
		return nil, err
	}
	return cleanMetadata(op, it.Metadata, what)
}
