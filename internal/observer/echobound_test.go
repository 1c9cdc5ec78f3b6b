package observer_test

import (
	"fmt"
	"strings"
	"testing"

	"lakehouse-go/internal/observer"
)

// TestEchoedValuesBounded: an event's number that is no number of its
// field, or a ts that is no time, is named with its first 64 bytes and
// its length. Both were echoed whole: a million-digit duration_ms or a
// 1 MB ts made a 1 MB error body.
func TestEchoedValuesBounded(t *testing.T) {
	s, _ := start(t, config(t), 0)
	url := s.URL() + observer.EventsPath
	num := "1" + strings.Repeat("0", 1_000_000)
	long := strings.Repeat("t", 1_000_000)
	ts := base.Format("2006-01-02T15:04:05Z07:00")
	for _, c := range []struct{ body, want, mark string }{
		{fmt.Sprintf(`{"events":[{"ts":%q,"service":"s","op":"o","duration_ms":%s}]}`, ts, num),
			`events[0].duration_ms: want a number, got a JSON number 10000`, fmt.Sprintf("...(%d bytes)", len(num))},
		{fmt.Sprintf(`{"events":[{"ts":%q,"service":"s","op":"o"}]}`, long),
			`events[0].ts: not an RFC 3339 time like "2006-01-02T15:04:05Z": "tttt`, fmt.Sprintf("...(%d bytes)\"", len(long))},
	} {
		code, b := post(t, url, c.body)
		msg := b.Error.Message
		if code != 400 || len(msg) > 512 || !strings.HasPrefix(msg, c.want) || !strings.HasSuffix(msg, c.mark) {
			t.Errorf("%.60s...: %d, a message of %d bytes %.200q; want 400 starting %q, ending %q", c.body, code, len(msg), msg, c.want, c.mark)
		}
	}
}
