package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleCSP: the console page carries a Content-Security-Policy whose
// script and style hashes are those of its one inline script and style
// (ADR-120), so markup that ever reached its DOM runs nothing. An edit of
// the script or style must update the hash: this test names the new one.
func TestConsoleCSP(t *testing.T) {
	page := string(consoleHTML)
	metas := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindAllStringSubmatch(page, -1)
	if len(metas) != 1 {
		t.Fatalf("the console page has %d Content-Security-Policy metas, want 1", len(metas))
	}
	csp := metas[0][1]
	if strings.Index(page, metas[0][0]) > strings.Index(page, "<style>") {
		t.Errorf("the CSP meta must come before the style and the script")
	}
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	for _, el := range []struct{ tag, directive string }{{"script", "script-src"}, {"style", "style-src"}} {
		all := regexp.MustCompile(`(?s)<`+el.tag+`[^>]*>(.*?)</`+el.tag+`>`).FindAllStringSubmatch(page, -1)
		if len(all) != 1 {
			t.Fatalf("the console page has %d <%s> elements, want 1 (the CSP names one hash)", len(all), el.tag)
		}
		want := el.directive + " " + hash(all[0][1]) + ";"
		if !strings.Contains(csp, want) {
			t.Errorf("the CSP does not hold the page's %s: want %q in %q", el.tag, want, csp)
		}
	}
	for _, d := range []string{"default-src 'none'", "connect-src 'self'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("the CSP lacks %q: %q", d, csp)
		}
	}
	// The policy blocks inline handlers and style attributes: the markup
	// must not rely on them.
	if m := regexp.MustCompile(`<[^>]*\s(on[a-z]+|style)=`).FindString(page); m != "" {
		t.Errorf("the console's markup holds an inline handler or style attribute the CSP blocks: %s", m)
	}
}
