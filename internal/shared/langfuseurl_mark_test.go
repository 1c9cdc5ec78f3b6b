package shared

import (
	"strings"
	"testing"
)

// TestLangfuseURLEmptyQueryOrFragment: a LANGFUSE_URL ending in a bare "?"
// or "#" has no query or fragment to read (url.Parse leaves both empty),
// yet the client's endpoint, the URL + "/api/public/ingestion", then posts
// to "/?/api/public/ingestion" or "/": refused at load like a query or a
// fragment with text.
func TestLangfuseURLEmptyQueryOrFragment(t *testing.T) {
	for _, bad := range []string{"https://lf.example.com?", "https://lf.example.com#", "https://lf.example.com/langfuse?",
		"https://lf.example.com/#", "http://127.0.0.1:3000/?#"} {
		env := map[string]string{"LANGFUSE_URL": bad, "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
		_, err := Load("", envOf(env))
		want := `LANGFUSE_URL "` + bad + `": want the Langfuse server's http(s)://host[:port][/path]`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LANGFUSE_URL=%q: %v, want %q", bad, err, want)
		}
	}
	// A percent-encoded '?' or '#' is a path byte: the endpoint is the path.
	env := map[string]string{"LANGFUSE_URL": "https://lf.example.com/a%3Fb%23c", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
	if _, err := Load("", envOf(env)); err != nil {
		t.Errorf("an encoded ? and # in the path: %v", err)
	}
}
