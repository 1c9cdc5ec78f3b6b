package vector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Scroll's page size: limit absent -> DefaultScrollLimit, 1..MaxScrollLimit.
const (
	DefaultScrollLimit = 100
	MaxScrollLimit     = 10_000
	maxIDBytes         = 1024 // hnsw's bound on an id
)

// scrollParams are the query parameters of GET .../{name}/items, in
// QueryParams' order.
var scrollParams = []string{"after", "limit", "with_vector", "filter"}

// query is req as GET .../items's query string ("" for all defaults).
func (req ScrollRequest) query() (string, error) {
	v := url.Values{}
	if req.After != "" {
		v.Set("after", req.After)
	}
	if req.Limit != 0 {
		v.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.WithVector {
		v.Set("with_vector", "true")
	}
	if len(req.Filter) > 0 {
		b, err := json.Marshal(req.Filter)
		if err != nil {
			return "", errs.E("vector.Scroll", errs.Invalid, "filter: "+err.Error())
		}
		v.Set("filter", string(b))
	}
	return v.Encode(), nil
}

// parseScrollQuery reads GET .../items's query string: after (an id; the
// first item when absent), limit (1..MaxScrollLimit, absent
// DefaultScrollLimit), with_vector (true or false) and filter (a search
// filter as JSON, %-escaped). A parameter given empty (?limit=) is absent,
// as on every other daemon (ADR-111): it was a 400 here. Anything else, a
// parameter given twice, a value that is not valid UTF-8 or a malformed
// one is a 400 invalid naming it. Errors say what a Qdrant user meant by
// offset and with_payload.
func parseScrollQuery(rawQuery string) (ScrollRequest, error) {
	const op = "vector.Scroll"
	vals, err := shared.QueryParams(op, rawQuery, func(unknown []string) string {
		parts := qdrantHints(unknown)
		for _, u := range unknown {
			switch u {
			case "offset":
				parts = append(parts, `the page after an id is ?after=<id> (the "next" of the page before; exclusive)`)
			case "with_payload":
				parts = append(parts, "every item comes with its metadata")
			case "order_by":
				parts = append(parts, "items come in id order")
			}
		}
		return strings.Join(parts, "; ")
	}, scrollParams...)
	if err != nil {
		return ScrollRequest{}, err
	}
	after, limit, withVector, filter := vals[0], vals[1], vals[2], vals[3]
	var req ScrollRequest
	if after != "" {
		switch {
		case !utf8.ValidString(after):
			return req, errs.Errorf(op, errs.Invalid, "after: not valid UTF-8 (ids are valid Unicode)")
		case len(after) > maxIDBytes:
			return req, errs.Errorf(op, errs.Invalid, "after: longer than %d bytes (ids are at most that)", maxIDBytes)
		}
		req.After = after
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxScrollLimit {
			return req, errs.Errorf(op, errs.Invalid, "limit %q: want an integer 1..%d (absent: %d)", cut(limit), MaxScrollLimit, DefaultScrollLimit)
		}
		req.Limit = n
	}
	switch withVector {
	case "", "false":
	case "true":
		req.WithVector = true
	default:
		return req, errs.Errorf(op, errs.Invalid, "with_vector %q: want true or false", cut(withVector))
	}
	if filter != "" {
		f, err := decodeFilter(filter)
		if err != nil {
			return req, err
		}
		if len(f) > 0 { // {} is no condition, as in a search
			req.Filter = f
		}
	}
	return req, nil
}

// decodeFilter reads a filter sent as JSON in a query parameter: one
// strict JSON object (as a body: valid UTF-8, no unpaired surrogate
// escape, no key twice), numbers kept exact (an integer beyond 2^53 is
// refused when the filter is compiled, as in a search body).
func decodeFilter(s string) (Filter, error) {
	const op = "vector.Scroll"
	dec := json.NewDecoder(shared.StrictJSON(strings.NewReader(s)))
	dec.UseNumber()
	var f Filter
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errs.Errorf(op, errs.Invalid, "filter: empty; want a JSON object (leave it out for every item)")
		}
		// The strict reader speaks of a body: here it is the parameter.
		return nil, errs.Errorf(op, errs.Invalid, "filter: %s", bodyAsFilter.Replace(shared.JSONDecodeMessage(err)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errs.Errorf(op, errs.Invalid, "filter: want one JSON object and nothing after it")
	}
	if f == nil {
		return nil, errs.Errorf(op, errs.Invalid, "filter: null; want a JSON object (leave it out for every item)")
	}
	return f, nil
}

// cut shortens a value named in a message to 64 bytes, quoted by the caller.
func cut(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}

// Scroll returns one page of an index's live items in id order (see
// ScrollRequest and hnsw.Index.Scroll: an item live for a whole walk is
// returned exactly once).
func (s *Store) Scroll(ctx context.Context, name string, req ScrollRequest) (ScrollResponse, error) {
	const op = "vector.Scroll"
	if req.Limit == 0 {
		req.Limit = DefaultScrollLimit
	}
	if req.Limit < 0 || req.Limit > MaxScrollLimit {
		return ScrollResponse{}, errs.Errorf(op, errs.Invalid, "limit = %d: want 1..%d (absent: %d)", req.Limit, MaxScrollLimit, DefaultScrollLimit)
	}
	ix, err := s.get(ctx, name)
	if err != nil {
		return ScrollResponse{}, err
	}
	items, more, err := ix.ix.Scroll(req.After, req.Limit, req.Filter, req.WithVector)
	if err != nil {
		return ScrollResponse{}, err
	}
	out := ScrollResponse{Items: make([]ScrollItem, len(items))}
	for i, it := range items {
		out.Items[i] = ScrollItem{ID: it.ID, Metadata: it.Metadata, Vector: it.Vector}
	}
	if more {
		next := items[len(items)-1].ID
		out.Next = &next
	}
	return out, nil
}

// bodyAsFilter rewrites the strict reader's words for a body ("the request
// body: want ...", "request body is not valid JSON") for the filter
// parameter, without doubling "the".
var bodyAsFilter = strings.NewReplacer("the request body", "the filter parameter", "request body", "the filter parameter")

// checkThreshold refuses a score threshold that is no finite number.
func checkThreshold(t *float64) error {
	if t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0)) {
		return errs.Errorf("vector.Search", errs.Invalid, "score_threshold = %v: want a finite number", *t)
	}
	return nil
}

// applyThreshold cuts res (best first) at the first hit worse than t:
// below it for cosine and dot, above it for l2 (a squared distance).
// Scores are float32, so t is compared as the nearest float32 (as Qdrant
// does): a score as the answer shows it (0.8930387), sent back, is equal to
// that hit's score and keeps it; read as a float64 it is not.
func applyThreshold(res []Result, t *float64, l2 bool) []Result {
	if t == nil {
		return res
	}
	th := float32(*t) // beyond float32's range: ±Inf, which keeps all or none
	for i, r := range res {
		sc := r.Score
		if l2 && sc > th || !l2 && sc < th {
			return res[:i]
		}
	}
	return res
}
