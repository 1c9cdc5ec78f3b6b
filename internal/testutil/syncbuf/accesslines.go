package syncbuf

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// AccessLines waits (an access line follows the answer, and the client
// may see the answer first) until the JSON log in b holds n access lines
// ("msg":"request") of op, and returns them decoded, numbers as
// json.Number. More than n, or fewer after 10 s, fails t.
func (b *Buffer) AccessLines(t testing.TB, op string, n int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log := b.String()
		var out []map[string]any
		for _, line := range strings.Split(log, "\n") {
			if !strings.Contains(line, `"msg":"request"`) {
				continue
			}
			var m map[string]any
			d := json.NewDecoder(strings.NewReader(line))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Fatalf("access line %q: %v", line, err)
			}
			if m["op"] == op {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) != n {
				t.Fatalf("%d access lines of %s, want %d:\n%s", len(out), op, n, log)
			}
			return out
		}
	}
}
