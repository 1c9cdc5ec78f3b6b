package ingest

import (
	"encoding/json"
	"io"

	"lakehouse-go/internal/errs"
)

func decode(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return errs.E("ingestd client", errs.Unavailable, errs.StatusBadGateway, "undecodable answer from ingestd", err)
	}
	return nil
}
