package storage_test

import (
	"testing"

	"lakehouse-go/internal/storage/storagetest"
)

// TestUnknownQueryParamsLocal: storaged refuses query parameters its
// routes do not take, on the local backend (TestS3UnknownQueryParams on
// the s3 one); ADR-099.
func TestUnknownQueryParamsLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	storagetest.QueryParamAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}
