package shared

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestEchoedNumberBounded: a field's JSON number that does not fit its
// type is named in the 400 with its first 64 bytes and its length. A
// million-digit number was echoed whole: a 1 MB error body.
func TestEchoedNumberBounded(t *testing.T) {
	s, stored := startStore(t)
	num := "1" + strings.Repeat("0", 1_000_000)
	for _, c := range []struct {
		body, want string
		n          int // the number's length
	}{
		{`{"k":` + num + `}`, `field "k": want an integer, got a JSON number 1000000000`, len(num)},
		{`{"opts":{"limit":-` + num + `}}`, `field "opts.limit": want an integer, got a JSON number -100000000`, len(num) + 1},
		{`{"k":0.` + num + `}`, `field "k": want an integer, got a JSON number 0.1000000`, len(num) + 2},
	} {
		resp, err := http.Post(s.URL()+"/v1/store", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(b) > 1024 {
			t.Fatalf("%.20s...: %d, a body of %d bytes: %.300s; want a 400 under 1 KiB", c.body, resp.StatusCode, len(b), b)
		}
		msg := errBody(t, b).Message
		mark := "...(" + strconv.Itoa(c.n) + " bytes)"
		if !strings.HasPrefix(msg, c.want) || !strings.HasSuffix(msg, mark) {
			t.Errorf("message %q: want it to start %q and end %q", msg, c.want, mark)
		}
	}
	if len(stored()) != 0 {
		t.Fatal("a refused body was stored")
	}
	// A short number is named whole, as before.
	resp, err := http.Post(s.URL()+"/v1/store", "application/json", strings.NewReader(`{"k":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if msg := errBody(t, b).Message; msg != `field "k": want an integer, got a JSON number 1.5` {
		t.Errorf("short number: %q", msg)
	}
}
