package shared_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/s3"
)

// TestS3EndpointStoragedRefuses: an [s3].endpoint without a scheme that
// storaged's S3 client refuses (minio-go parses it as http://<endpoint>)
// passed Load and `-check` (exit 0 when the host resolved), and storaged
// failed at its start with exit 1, which systemd restarts until the start
// limit: an IPv6 address without brackets, a path after the port, a port
// that is not a number, "//host:port", an IPv6 zone not escaped. Every
// form s3.Open refuses is refused at load, naming the key; the forms it
// takes still load.
func TestS3EndpointStoragedRefuses(t *testing.T) {
	dir := t.TempDir()
	load := func(endpoint string) error {
		p := filepath.Join(dir, "c.toml")
		file := "data_dir = \"" + dir + "\"\n[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"" + endpoint + "\"\nsecrets_path = \"s.toml\"\n"
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := shared.Load(p, func(string) string { return "" })
		return err
	}
	for _, e := range []string{
		"minio.invalid:9000", "[::1]:9000", "[::1]", "minio.invalid", "127.0.0.1:9000/", "http://minio.invalid:9000",
		"http://[::1]:9000/", "[fe80::1%25eth0]:9000",
		"::1", "2001:db8::1", "minio.invalid:9000/lakehouse", "//minio.invalid:9000", "minio.invalid:notaport",
		" minio.invalid:9000", "[minio.invalid]:9000", "[fe80::1%eth0]:9000", "minio.invalid:9000/a/b", "http://[fe80::1%25eth0]:9000",
	} {
		_, openErr := s3.Open(s3.Config{Endpoint: e, Bucket: "lakehouse-go-primary"}, nil)
		err := load(e)
		switch {
		case openErr != nil && (err == nil || !strings.Contains(err.Error(), `[s3].endpoint "`+e+`"`)):
			t.Errorf("endpoint %q: storaged refuses it (%v), Load: %v", e, openErr, err)
		case openErr == nil && err != nil:
			t.Errorf("endpoint %q: storaged takes it, Load: %v", e, err)
		}
	}
}
