package observer

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoadTail: any bytes as ops.jsonl reload without a panic; the file is
// left ending in a newline (a torn tail cut), and a second load agrees.
func FuzzLoadTail(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-28T10:00:00Z","service":"queryd","op":"POST /v1/sql","status":200,"duration_ms":1.5}` + "\n"))
	f.Add([]byte(`{"ts":"2026-11-28T10:00:00Z","service":"a","op":"b","status":200}` + "\n{\"ts\":"))
	f.Add([]byte("garbage\n\n\n{}\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "ops.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Skip()
		}
		now := time.Now()
		first, err := loadTail(p, 16, now)
		if err != nil {
			return
		}
		b, _ := os.ReadFile(p)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("torn tail left in place: %q", b)
		}
		second, err := loadTail(p, 16, now)
		if err != nil || len(second.events) != len(first.events) || second.torn {
			t.Fatalf("reload disagrees: %d vs %d events, torn=%v, err=%v", len(first.events), len(second.events), second.torn, err)
		}
	})
}
