package errs

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestFromResponseKinds: an answer without the JSON error body is read by
// its status (a 408 is the client's stalled body, ADR-110: timeout, not
// internal); a JSON body's kind wins over the status, and a status other
// than the kind's own is kept.
func TestFromResponseKinds(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   Kind
		keep   int
	}{
		{408, "", Timeout, 408},
		{408, "408 Request Timeout", Timeout, 408},
		{504, "", Timeout, 0},
		{502, "", Unavailable, 502},
		{418, "", Internal, 418},
		{408, `{"error":{"kind":"timeout","message":"the request body stalled"}}`, Timeout, 408},
		{400, `{"error":{"kind":"invalid","message":"bad"}}`, Invalid, 0},
		// Every status a kind is answered with reads back as that kind
		// without a body (a HEAD): a 416 was internal.
		{416, "", Invalid, 416},
		{415, "", Invalid, 415},
		{405, "", Invalid, 405},
		{417, "", Invalid, 417},
		{505, "", Invalid, 505},
		{StatusClientClosed, "", Invalid, StatusClientClosed},
		{431, "", TooLarge, 431},
		{412, "", Conflict, 412},
		{501, "", NotImpl, 0},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body))}
		err := FromResponse("op", resp)
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("%d %q: %T", tc.status, tc.body, err)
		}
		if e.Kind != tc.kind || e.Status != tc.keep {
			t.Errorf("%d %q: kind %s status %d, want %s %d", tc.status, tc.body, e.Kind, e.Status, tc.kind, tc.keep)
		}
	}
}
