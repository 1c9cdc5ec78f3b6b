package storage

import (
	"encoding/json"
	"io"

	"lakehouse-go/internal/errs"
)

func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return errs.E("storage client", errs.Unavailable, errs.StatusBadGateway, "undecodable answer from storaged", err)
	}
	return nil
}
