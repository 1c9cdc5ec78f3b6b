package shared

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestJSONBodyContentEncoding: a JSON body sent with a Content-Encoding
// other than identity is a 415 with DESIGN.md's body (kind invalid)
// naming the coding, and nothing is stored: a gzip body was answered
// "invalid character '\x1f'", and a plain body labelled gzip or br was
// read and stored as if it had no label. identity (any case, alone or
// listed) is the body as sent. The 415 carries Accept-Encoding: identity
// (RFC 9110 15.5.16; it had none).
func TestJSONBodyContentEncoding(t *testing.T) {
	s, stored := startStore(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"text":"zipped"}`))
	zw.Close()
	post := func(body []byte, codings ...string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL()+"/v1/store", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, c := range codings {
			req.Header.Add("Content-Encoding", c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	for _, tc := range []struct {
		name    string
		body    []byte
		codings []string
		want    string
	}{
		{"gzip body", gz.Bytes(), []string{"gzip"}, `Content-Encoding \"gzip\" is not accepted here`},
		{"plain body labelled gzip", []byte(`{"text":"labelled"}`), []string{"gzip"}, `Content-Encoding \"gzip\"`},
		{"br", []byte(`{"text":"labelled"}`), []string{"br"}, `Content-Encoding \"br\"`},
		{"identity then gzip", []byte(`{"text":"labelled"}`), []string{"identity, gzip"}, `Content-Encoding \"identity, gzip\"`},
		{"second header line", []byte(`{"text":"labelled"}`), []string{"identity", "deflate"}, `Content-Encoding \"deflate\"`},
	} {
		code, h, b := post(tc.body, tc.codings...)
		var e struct {
			Error struct{ Kind, Message, RequestID string } `json:"error"`
		}
		if code != http.StatusUnsupportedMediaType || json.Unmarshal(b, &e) != nil || e.Error.Kind != "invalid" ||
			!strings.Contains(string(b), tc.want) || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s, want 415 invalid naming %s", tc.name, code, b, tc.want)
		}
		// RFC 9110 15.5.16: a 415 for a content coding names the ones taken.
		if ae := h.Values("Accept-Encoding"); len(ae) != 1 || ae[0] != "identity" {
			t.Errorf("%s: Accept-Encoding %q, want identity", tc.name, ae)
		}
	}
	if got := stored(); len(got) != 0 {
		t.Fatalf("refused bodies were stored: %+v", got)
	}
	for _, codings := range [][]string{nil, {"identity"}, {"IDENTITY"}, {""}} {
		if code, _, b := post([]byte(`{"text":"plain"}`), codings...); code != 200 {
			t.Errorf("Content-Encoding %q: %d %s, want 200", codings, code, b)
		}
	}
	if got := stored(); len(got) != 4 {
		t.Fatalf("stored %d plain bodies, want 4: %+v", len(got), got)
	}
}
