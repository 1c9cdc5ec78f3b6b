package embed

import (
	"bytes"
	"encoding/json"

	"lakehouse-go/internal/errs"
)

// wireRequest is POST /v1/embed's body as the handler decodes it: "input"
// kept raw and read by decodeInput, so a huge array is refused after
// maxBatch texts instead of being built whole first (60 MB of "a",
// within the body limit, cost 1.8 GB of allocations and 5 s of a core
// before its 413).
type wireRequest struct {
	Input json.RawMessage `json:"input"`
	Model string          `json:"model,omitempty"`
}

// decodeInput turns the raw "input" into what EmbedRequest.Input holds: nil
// (absent or null), a string, or a []string. An array of more than
// maxBatch elements (maxBatch > 0) is too_large as soon as the first
// element past it is reached; an element that is not a string is invalid
// naming its index, as EmbedRequest.Texts says it.
func decodeInput(raw json.RawMessage, maxBatch int) (any, error) {
	const op = "embed.Embed"
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '[' {
		var v any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, errs.E(op, errs.Invalid, `"input": `+err.Error())
			}
		}
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '['
		return nil, errs.E(op, errs.Invalid, `"input": `+err.Error())
	}
	out := []string{}
	for i := 0; dec.More(); i++ {
		if maxBatch > 0 && i >= maxBatch {
			return nil, errs.Errorf(op, errs.TooLarge, "batch of more than %d texts exceeds the limit of %d", maxBatch, maxBatch)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, errs.E(op, errs.Invalid, `"input": `+err.Error())
		}
		s, ok := v.(string)
		if !ok {
			return nil, errs.Errorf(op, errs.Invalid, "input[%d] is %s, want a string", i, jsonType(v))
		}
		out = append(out, s)
	}
	return out, nil
}
