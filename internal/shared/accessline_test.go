package shared

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// The hand-formatted access line must be byte-identical to what slog's
// own handlers write for the same record.
func TestAccessLineMatchesSlog(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
	nanos := []int{0, 100, 120_000_000, 123_456_789, 999_999_999, 1_000}
	type vals struct{ svc, reqID, method, path, peer string }
	cases := []vals{
		{"gateway", "0123456789abcdef0123456789abcdef", "GET", "/v1/storage/objects/a.csv", "127.0.0.1:5555"},
		{"gateway", "id with space", "POST", "/v1/sql", "[::1]:80"},
		{"gateway", `q"uote=`, "GET", "/v1/a\"b\\c\x01é", "127.0.0.1:1"},
		{"gateway", "", "OPTIONS", "", ""},
		{"gateway", "x\u00e9y", "GET", "/ü/\u2028", "p"},
	}
	for zi, loc := range zones {
		for ni, ns := range nanos {
			now := time.Date(2026, 11, 28, 18, 30, 5+zi*10+ni, ns, loc)
			for _, c := range cases {
				for _, json := range []bool{false, true} {
					var want bytes.Buffer
					var h slog.Handler = slog.NewTextHandler(&want, nil)
					if json {
						h = slog.NewJSONHandler(&want, nil)
					}
					r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
					r.AddAttrs(slog.String("svc", c.svc), slog.String("req_id", c.reqID), slog.String("op", c.method+" "+c.path),
						slog.Int("status", 404), slog.Int64("bytes", 17), slog.Int64("dur_ms", 3), slog.String("peer", c.peer))
					if err := h.Handle(context.Background(), r); err != nil {
						t.Fatal(err)
					}
					got := appendAccessLine(nil, now, json, c.svc, c.reqID, c.method, c.path, 404, 17, 3, c.peer)
					if string(got) != want.String() {
						t.Errorf("json=%v time=%v\n got %q\nwant %q", json, now, got, want.String())
					}
				}
			}
		}
	}
}

func BenchmarkAccessLine(b *testing.B) {
	buf := make([]byte, 0, 256)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccessLine(buf[:0], now, false, "gateway", "0123456789abcdef0123456789abcdef", "GET", "/v1/storage/objects/x", 200, 16, 0, "127.0.0.1:45678")
	}
}

// plainValue's word-at-a-time test must agree with the byte table.
func TestPlainValueMatchesTable(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if !plainByte[s[i]] {
				return false
			}
		}
		return true
	}
	base := []byte("0123456789abcdef/v1/storage/x-y_z.csv")
	for n := 0; n <= len(base); n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), base[:n]...)
				b[pos] = byte(c)
				if got, want := plainValue(string(b)), slow(string(b)); got != want {
					t.Fatalf("plainValue(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

func FuzzPlainValue(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("/v1/a\"b\\c=d e\x7f\x80")
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i := 0; i < len(s); i++ {
			want = want && plainByte[s[i]]
		}
		if plainValue(s) != want {
			t.Fatalf("plainValue(%q) = %v, want %v", s, !want, want)
		}
	})
}
