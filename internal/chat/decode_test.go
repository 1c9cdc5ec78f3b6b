package chat

import (
	"net/http/httptest"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestLenientDecodeTrailingData: the OpenAI and Ollama routes ignore
// unknown fields but not what follows the JSON object — `{...} x` was
// answered 200 from the first object (the native route already said 400).
func TestLenientDecodeTrailingData(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"model":"m"}`, true},
		{"{\"model\":\"m\"}\n \r\n\t", true},
		{`{"model":"m","user":"u"}`, true},
		{`{"model":"m"} x`, false},
		{`{"model":"m"}{"model":"n"}`, false},
		{`{"model":"m"} }`, false},
		{`{"model":"m"} ]`, false},
		{`{"model":"m"} null`, false},
	} {
		var c CompletionRequest
		err := decodeLenient(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &c)
		if tc.ok != (err == nil) || (err != nil && !errs.Is(err, errs.Invalid)) {
			t.Errorf("%q: %v", tc.body, err)
		}
	}
}
