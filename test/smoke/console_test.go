package smoke

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// browser finds a headless-capable Chromium; a test needing one skips
// without it unless LH_REQUIRE_CHROMIUM=1 (.ci/run installs Debian's
// chromium and sets it).
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LH_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("LH_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium; LH_REQUIRE_CHROMIUM=1 makes this a failure)")
	return ""
}

// TestConsoleInBrowser loads the gateway's console page in a real headless
// Chromium against the whole suite with auth on, and reads the DOM its
// script built: every daemon's health, the datasets with their search index
// state, a SQL query and a search given in the URL's fragment, the observer's
// recent operations. A cell holding markup shows it as text (the page never
// parses data as HTML).
func TestConsoleInBrowser(t *testing.T) {
	chromium := browser(t)
	const token = "console-smoke-token"
	s := suite.Start(t, suite.Options{Env: []string{"AUTH_TOKEN=" + token}})
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	csv := "id,name,role\n1,Alice,forklift driver\n2,<i>Bob</i>,accountant\n"
	if resp, body, err := s.Do(ctx, "POST", "/v1/ingest?name=people", "text/csv", strings.NewReader(csv)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest: %v %s", err, body)
	}
	if resp, body, err := s.Do(ctx, "POST", "/v1/matrix/indexes", "application/json",
		strings.NewReader(`{"dataset":"people","id_column":"id","text_columns":["name","role"]}`)); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("index: %v %s", err, body)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, body, err := s.Do(ctx, "GET", "/v1/matrix/indexes/people", "", nil)
		var st struct{ State string }
		if err == nil && json.Unmarshal(body, &st) == nil && st.State == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A dataset whose latest manifest is damaged in storage (a cut copy):
	// listed as unreadable with catalogd's error, the rest of the page works.
	if resp, body, err := s.Do(ctx, "POST", "/v1/ingest?name=broken", "text/csv", strings.NewReader("id\n1\n")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest broken: %v %s", err, body)
	}
	if resp, body, err := s.Do(ctx, "PUT", "/v1/storage/objects/_catalog/broken/0000000002.json", "application/json", strings.NewReader(`{"name":"broken","vers`)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("damaging broken: %v %s", err, body)
	}

	frag := url.Values{"token": {token}, "sql": {"SELECT name, role FROM people ORDER BY id"}, "q": {"forklift"}}
	dom := dumpDOM(t, chromium, s.Gateway()+"/#"+frag.Encode())

	text := func(id string) string { // the text of the element with this id
		m := regexp.MustCompile(`(?s)id="` + id + `"[^>]*>(.*?)</(table|div|b)>`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no #%s in the page:\n%s", id, dom)
		}
		return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], " ")
	}
	if got := text("overall"); got != "ok" {
		t.Errorf("overall %q", got)
	}
	for _, d := range []string{"storaged", "catalogd", "queryd", "matrixd", "chatd"} {
		if !strings.Contains(text("rows"), d) {
			t.Errorf("daemon %s missing from the health table", d)
		}
	}
	if ds := text("datasets"); !strings.Contains(ds, "people") || !strings.Contains(ds, "ready") ||
		!strings.Contains(ds, "broken") || !strings.Contains(ds, "unreadable: ") || !strings.Contains(ds, "_catalog/broken/0000000002.json") {
		t.Errorf("datasets table: %q", ds)
	}
	if out, m := text("sql-out"), text("sql-msg"); !strings.Contains(out, "Alice") || !strings.Contains(out, "forklift driver") || !strings.Contains(m, "2 rows") {
		t.Errorf("SQL from the fragment: %q / %q", m, out)
	}
	if out := text("search-out"); !strings.Contains(out, "Alice") || !strings.Contains(out, "people") {
		t.Errorf("search from the fragment: %q / %q", text("search-msg"), out)
	}
	// The stats cover the whole ring (the ingest is in it); the events are
	// the newest 15, by now the page's own requests.
	if st := text("stats"); !strings.Contains(st, "ingestd") || !strings.Contains(st, "gateway") {
		t.Errorf("operation stats: %q", st)
	}
	// Which of the gateway's operations are newest depends on when the
	// harness's batched reports arrived (on a loaded machine the page's own
	// requests may not be in yet): any gateway row will do.
	if ev := text("events"); !regexp.MustCompile(`gateway +(GET|POST|PUT|DELETE) /v1/`).MatchString(ev) {
		t.Errorf("recent operations: %q", ev)
	}
	// The markup in the data is text: escaped in the DOM, never an element.
	if !strings.Contains(dom, "&lt;i&gt;Bob&lt;/i&gt;") || strings.Contains(dom, "<i>") {
		t.Errorf("a data cell was parsed as HTML")
	}
	if strings.Contains(dom, "unauthorized") || strings.Contains(dom, `class="err"`) {
		t.Errorf("the page shows an error:\n%s", dom)
	}
}

// dumpDOM loads url in headless Chromium and returns the DOM once the page's
// fetches have settled (virtual time stops while network fetches are pending).
func dumpDOM(t *testing.T, chromium, url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=20000", "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}
