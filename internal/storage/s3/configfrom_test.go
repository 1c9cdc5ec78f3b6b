package s3_test

import (
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/s3"
)

// TestConfigFromCarriesTheSection: every [s3] key a reader of S3 needs
// reaches the store's Config. queryd, which reads S3 itself with its own
// keys, built its Config by hand and left out dial_timeout, header_timeout
// and stall_timeout, so a hung S3 held its reads for the built-in bounds
// whatever the operator set (ADR-118).
func TestConfigFromCarriesTheSection(t *testing.T) {
	c := shared.S3Config{Endpoint: "127.0.0.1:9", Bucket: "b-x", Region: "eu-west-3", UseSSL: true,
		DialTimeout:   shared.Duration{Duration: 1 * time.Second},
		HeaderTimeout: shared.Duration{Duration: 2 * time.Second},
		StallTimeout:  shared.Duration{Duration: 3 * time.Second}}
	got := s3.ConfigFrom(c, "AK", "SK")
	want := s3.Config{Endpoint: "127.0.0.1:9", Bucket: "b-x", Region: "eu-west-3", UseSSL: true,
		AccessKey: "AK", SecretKey: "SK", DialTimeout: time.Second, HeaderTimeout: 2 * time.Second, StallTimeout: 3 * time.Second}
	if got != want {
		t.Fatalf("ConfigFrom = %+v\nwant %+v", got, want)
	}
}
