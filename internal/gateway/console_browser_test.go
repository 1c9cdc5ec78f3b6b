package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// The console page's audit (ADR-120): the real suite with auth on, real
// data holding markup in every place the page shows, and the page loaded
// in a real headless Chromium. The browser talks to the gateway through a
// recording pass-through proxy on loopback, which also serves a probe page
// (same origin) that frames the console and reads back what its script
// did: the DOM it built, its URL after load, its sessionStorage, whether a
// payload's script ran, whether its Content-Security-Policy holds.

// consoleToken holds the characters of a base64 token (openssl rand
// -base64): '+', '/', '='.
const consoleToken = "lh+console/tok=="

// payloadJS runs when a payload is parsed as HTML: the probe reads
// window.__pwned and the title of the console's document.
const payloadJS = `__pwned=1;document.title='PWNED'`

var consolePayloads = []string{
	`<img src=x onerror="` + payloadJS + `">`,
	`"'><svg onload="` + payloadJS + `">`,
	`</script><script>` + payloadJS + `</script>`,
	`javascript:` + payloadJS,
}

func consoleBrowser(t *testing.T) string {
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

type probeReq struct{ Method, URI, Auth, Referer string }

// consoleProbe is the recording proxy in front of the suite's gateway.
type consoleProbe struct {
	t        *testing.T
	chromium string
	s        *suite.Suite
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []probeReq
}

func newConsoleProbe(t *testing.T, chromium string, s *suite.Suite) *consoleProbe {
	p := &consoleProbe{t: t, chromium: chromium, s: s}
	gw, _ := url.Parse(s.Gateway())
	rp := httputil.NewSingleHostReverseProxy(gw)
	// The gateway gone, the browser sees what it would without the proxy:
	// a connection closed with no answer (a network error to fetch).
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if c, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			c.Close()
		}
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/__probe") {
			if r.URL.Path == "/__probe" {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				io.WriteString(w, probePage)
				return
			}
			if r.URL.Path == "/__probe/kill" {
				s.Kill("gateway")
				return
			}
			http.NotFound(w, r) // the probe's own CSP check image
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, probeReq{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Referer")})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// probePage frames the console with its own fragment (so the fragment is
// never in a URL a server sees, nor in a Referer), waits (virtual time,
// which stops while fetches are pending) and writes what it finds as JSON
// into #result.
//
// With ?enter=T it then types T into the console's token box and presses
// Enter, and looks 5 s later; with ?act=kill it has the test kill the
// gateway, and looks 12 s later (the health and operations polls ran).
const probePage = `<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head><body>
<pre id="result"></pre><iframe id="f" width="1200" height="900"></iframe>
<script>
const f = document.getElementById('f');
f.src = '/' + location.hash;
const enter = new URLSearchParams(location.search).get('enter');
const act = new URLSearchParams(location.search).get('act');
setTimeout(() => {
  if (act === 'kill') return fetch('/__probe/kill').then(() => setTimeout(collect, 12000));
  if (enter === null) return collect();
  const d = f.contentDocument, box = d.getElementById('token');
  box.value = enter;
  box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
  setTimeout(collect, 5000);
}, 10000);
function collect() {
  const w = f.contentWindow, d = f.contentDocument, r = {};
  r.href = w.location.href;
  r.title = d.title;
  r.pwned = !!w.__pwned;
  r.stored = w.sessionStorage.getItem('lh-token');
  r.tokenbox = !d.getElementById('tokenbox').hidden;
  r.text = {};
  for (const id of ['overall','rows','datasets-msg','datasets','sql-msg','sql-out','search-msg','search-out','stats-msg','stats','events'])
    r.text[id] = d.getElementById(id).textContent;
  r.datasetRows = [...d.querySelectorAll('#datasets tbody tr')].map(tr => [...tr.cells].map(c => ({text: c.textContent, title: c.title})));
  r.html = d.documentElement.outerHTML;
  r.htmlLen = r.html.length;
  try { w.eval('1'); r.evalBlocked = false } catch (e) { r.evalBlocked = true }
  d.body.insertAdjacentHTML('beforeend', '<img src="/__probe/inline.png" onerror="window.__inline=1">');
  setTimeout(() => {
    r.inlineRan = !!w.__inline;
    document.getElementById('result').textContent = JSON.stringify(r);
  }, 1000);
}
</script></body></html>`

type probeResult struct {
	Href, Title, Stored string
	Pwned, Tokenbox     bool
	Text                map[string]string
	HTML                string
	HTMLLen             int
	// DatasetRows is the datasets table's rows, each cell's text and
	// title (what shows on hover).
	DatasetRows [][]probeCell
	EvalBlocked bool
	InlineRan   bool
}

type probeCell struct{ Text, Title string }

// load opens the console with this fragment and returns what the probe saw
// and the requests the page made.
func (p *consoleProbe) load(frag string) (probeResult, []probeReq) {
	p.t.Helper()
	return p.loadEnter(frag, "")
}

// loadEnter is load, then enter typed into the token box (when not "").
func (p *consoleProbe) loadEnter(frag, enter string) (probeResult, []probeReq) {
	p.t.Helper()
	q := ""
	if enter != "" {
		q = "?enter=" + url.QueryEscape(enter)
	}
	return p.loadQuery(frag, q)
}

// loadQuery is load with the probe's query (?enter=, ?act=).
func (p *consoleProbe) loadQuery(frag, query string) (probeResult, []probeReq) {
	t := p.t
	t.Helper()
	p.mu.Lock()
	p.reqs = nil
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=30000", "--dump-dom", p.srv.URL+"/__probe"+query+"#"+frag)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`).FindStringSubmatch(string(out))
	var r probeResult
	if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &r) != nil || r.Text == nil {
		t.Fatalf("the probe wrote no result (the console never finished?):\n%.4000s\n%s", out, stderr.String())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return r, append([]probeReq(nil), p.reqs...)
}

// noScriptRan fails when a payload's script ran or one of its elements was
// made (an <img src=x> fetches /x through the proxy).
func noScriptRan(t *testing.T, r probeResult, reqs []probeReq) {
	t.Helper()
	if r.Pwned || r.Title == "PWNED" {
		t.Errorf("a payload's script ran in the console (title %q)", r.Title)
	}
	for _, q := range reqs {
		if q.URI != "/" && !strings.HasPrefix(q.URI, "/v1/") && q.URI != "/favicon.ico" {
			t.Errorf("the console fetched %s %s (a payload parsed as an element?)", q.Method, q.URI)
		}
	}
	for _, tag := range []string{"<svg", "<script>__pwned", `<img src="x"`, "<img src=x"} {
		if strings.Contains(r.HTML, tag) {
			t.Errorf("a payload became an element (%s) in the console's DOM", tag)
		}
	}
	for _, bad := range []string{"[object Object]", "undefined", "NaN"} {
		for id, s := range r.Text {
			if strings.Contains(s, bad) {
				t.Errorf("#%s shows %q: %q", id, bad, s)
			}
		}
	}
}

func mustDo(t *testing.T, s *suite.Suite, method, path, ctype, body string, want int) []byte {
	t.Helper()
	resp, b, err := s.Do(context.Background(), method, path, ctype, strings.NewReader(body))
	if err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s: %v %s", method, path, err, b)
	}
	return b
}

func waitIndexReady(t *testing.T, s *suite.Suite, ds string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; {
		_, body, err := s.Do(context.Background(), "GET", "/v1/matrix/indexes/"+ds, "", nil)
		var st struct{ State string }
		if err == nil && json.Unmarshal(body, &st) == nil && st.State == "ready" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %s not ready: %v %s", ds, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// repeat calls f every 100 ms until the returned stop is called.
func repeat(f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			f()
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func csvField(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TestConsoleHostileData loads the console over data holding markup,
// script-ending tags, javascript: URLs and bidi controls in column names,
// cells, search results, observer events (op, service, attrs, a client's
// X-Request-Id) and error messages that echo input: none runs, each shows
// as text; the token leaves the URL and goes only to /v1; the page's CSP
// blocks inline script; a wrong token, a huge result and a daemon down
// each show a message.
func TestConsoleHostileData(t *testing.T) {
	chromium := consoleBrowser(t)
	s := suite.Start(t, suite.Options{Env: []string{"AUTH_TOKEN=" + consoleToken}})
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := newConsoleProbe(t, chromium, s)

	// Column names: each payload as a CSV header, where ingestd allows it.
	var csv strings.Builder
	csv.WriteString("id,note")
	var cols []string
	for i, pl := range consolePayloads {
		name := pl
		if i == 0 {
			name = "c" + pl
		}
		cols = append(cols, name)
		csv.WriteString("," + csvField(name))
	}
	csv.WriteString("\n")
	for i, pl := range append(consolePayloads, "bidi \u202Egnp.exe\u202C tail") {
		fmt.Fprintf(&csv, "%d,%s", i+1, csvField("zebra "+pl))
		for range cols {
			csv.WriteString("," + csvField(pl))
		}
		csv.WriteString("\n")
	}
	mustDo(t, s, "POST", "/v1/ingest?name=hostile", "text/csv", csv.String(), 200)
	mustDo(t, s, "POST", "/v1/matrix/indexes", "application/json",
		`{"dataset":"hostile","id_column":"id","text_columns":["note"]}`, 202)
	waitIndexReady(t, s, "hostile")

	// Observer events with a payload in every field the page shows, kept
	// among the newest while the page loads: 5 every 100 ms outnumber the
	// page's own operations among the 15 newest events it shows.
	stop := repeat(func() {
		var evs []map[string]any
		for range 5 {
			evs = append(evs, map[string]any{
				"ts": time.Now().UTC().Format(time.RFC3339Nano), "service": consolePayloads[0], "op": consolePayloads[1],
				"status": 200, "duration_ms": 1.5, "request_id": "r1", "attrs": map[string]any{"a": consolePayloads[2]},
			})
		}
		b, _ := json.Marshal(map[string]any{"events": evs})
		s.Do(context.Background(), "POST", "/v1/observer/events", "application/json", strings.NewReader(string(b)))
	})
	frag := url.Values{"token": {consoleToken}, "sql": {`SELECT * FROM hostile ORDER BY id`}, "q": {"zebra"}}.Encode()
	// A '+' in the token as a browser's address bar keeps it (not %2B).
	frag = strings.Replace(frag, "token="+url.QueryEscape(consoleToken), "token="+strings.ReplaceAll(url.QueryEscape(consoleToken), "%2B", "+"), 1)
	r, reqs := p.load(frag)
	// On a loaded host the page's own operations can still fill the 15
	// newest events between two of ours: load again (at most twice) until
	// the events it shows hold one of ours. A page that drops them fails.
	for range 2 {
		if strings.Contains(r.Text["events"], consolePayloads[0]) && strings.Contains(r.Text["events"], consolePayloads[1]) {
			break
		}
		r, reqs = p.load(frag)
	}
	stop()
	t.Run("xss", func(t *testing.T) {
		noScriptRan(t, r, reqs)
		if r.Text["overall"] != "ok" || r.Tokenbox {
			t.Errorf("the token from the fragment was not used: overall %q, token box shown %v, %s", r.Text["overall"], r.Tokenbox, r.Text["datasets-msg"])
		}
		if !strings.Contains(r.Text["sql-msg"], "5 rows") {
			t.Errorf("SQL: %q", r.Text["sql-msg"])
		}
		for _, pl := range consolePayloads {
			if !strings.Contains(r.Text["sql-out"], pl) {
				t.Errorf("the cell %q is not shown as text in the SQL result: %.2000q", pl, r.Text["sql-out"])
			}
			// A search result's row is shown as its JSON.
			if !strings.Contains(r.Text["search-out"], strings.ReplaceAll(pl, `"`, `\"`)) {
				t.Errorf("the search result row %q is not shown as text: %.2000q", pl, r.Text["search-out"])
			}
		}
		if !strings.Contains(r.Text["datasets"], cols[0]) || !strings.Contains(r.Text["sql-out"], cols[0]) {
			t.Errorf("the column name %q is not shown as text", cols[0])
		}
		if !strings.Contains(r.Text["events"], consolePayloads[0]) || !strings.Contains(r.Text["events"], consolePayloads[1]) {
			t.Errorf("the observer event's service and op are not shown as text: %.3000q", r.Text["events"])
		}
	})
	t.Run("bidi", func(t *testing.T) {
		// A bidi override reverses what follows it on screen ("gnp.exe"
		// reads "exe.png"): the page shows the control, never obeys it.
		for id, s := range r.Text {
			if strings.ContainsAny(s, "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069") {
				t.Errorf("#%s holds a raw bidi control: %q", id, s)
			}
		}
		if !strings.Contains(r.Text["sql-out"], "bidi [U+202E]gnp.exe[U+202C] tail") {
			t.Errorf("the bidi controls are not shown: %q", r.Text["sql-out"])
		}
	})
	t.Run("token", func(t *testing.T) {
		u, _ := url.Parse(r.Href)
		if strings.Contains(u.Fragment, "token") || strings.Contains(r.Href, "console") {
			t.Errorf("the token stays in the page's URL (history, address bar, a copied link): %s", r.Href)
		}
		if q, _ := url.ParseQuery(u.Fragment); q.Get("sql") == "" || q.Get("q") != "zebra" {
			t.Errorf("the fragment's query was dropped with the token: %s", r.Href)
		}
		if r.Stored != consoleToken {
			t.Errorf("sessionStorage holds %q, not the token (a reload would ask for it)", r.Stored)
		}
		n := 0
		for _, q := range reqs {
			if strings.Contains(q.URI, "tok") || strings.Contains(q.Referer, "tok") {
				t.Errorf("the token is in a request's URL or Referer: %+v", q)
			}
			if strings.HasPrefix(q.URI, "/v1/") {
				n++
				if q.Auth != "Bearer "+consoleToken {
					t.Errorf("%s %s carries Authorization %q", q.Method, q.URI, q.Auth)
				}
			} else if q.Auth != "" {
				t.Errorf("the token went to %s %s", q.Method, q.URI)
			}
		}
		if n == 0 {
			t.Errorf("the page made no /v1 call: %+v", reqs)
		}
		if strings.Contains(s.Logs(), consoleToken) {
			t.Errorf("a daemon logged the token")
		}
	})
	t.Run("csp", func(t *testing.T) {
		// Defence in depth: markup that did reach the DOM runs nothing.
		if !r.EvalBlocked || r.InlineRan {
			t.Errorf("the console's Content-Security-Policy does not block eval (%v) or an inline handler (ran %v)", r.EvalBlocked, r.InlineRan)
		}
	})

	t.Run("client request id and path", func(t *testing.T) {
		// Requests whose X-Request-Id (the observer event's request_id)
		// and path (its op; a 404 names it) are payloads, 3 every 100 ms.
		stop := repeat(func() {
			for range 3 {
				req, _ := http.NewRequest("GET", s.Gateway()+"/v1/catalog/datasets/x%3Csvg%20onload=__pwned=1%3E", nil)
				req.Header.Set("Authorization", "Bearer "+consoleToken)
				req.Header.Set("X-Request-Id", `<img/src=x/onerror=__pwned=1>`)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
		r, reqs := p.load(url.Values{"token": {consoleToken}}.Encode())
		stop()
		noScriptRan(t, r, reqs)
		if !strings.Contains(r.Text["events"], `<img/src=x/onerror=__pwned=1>`) {
			t.Errorf("the client's X-Request-Id is not shown as text: %.3000q", r.Text["events"])
		}
	})

	t.Run("sql error echoing the query", func(t *testing.T) {
		r, reqs := p.load(url.Values{"token": {consoleToken}, "sql": {`SELECT '<img src=x onerror=__pwned=1>' AS "<svg onload=__pwned=1>" FROM no_such_table`}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("SQL error: %q", r.Text["sql-msg"])
		if m := r.Text["sql-msg"]; !strings.Contains(m, "no_such_table") {
			t.Errorf("the SQL error is not shown: %q", m)
		}
		// The error body's request id is shown: the one the logs name.
		if m := regexp.MustCompile(`\(request id ([0-9a-f]{32})\)$`).FindStringSubmatch(r.Text["sql-msg"]); m == nil {
			t.Errorf("the SQL error does not name its request id: %q", r.Text["sql-msg"])
		} else if !strings.Contains(s.Logs(), "req_id="+m[1]+` op="POST /v1/sql" status=404`) {
			t.Errorf("request id %s is not the logged one", m[1])
		}
	})

	t.Run("huge result", func(t *testing.T) {
		var big strings.Builder
		big.WriteString("id,v\n")
		for i := 0; i < 10000; i++ {
			fmt.Fprintf(&big, "%d,row%d\n", i, i)
		}
		mustDo(t, s, "POST", "/v1/ingest?name=bigrows", "text/csv", big.String(), 200)
		mustDo(t, s, "POST", "/v1/ingest?name=bigcell", "text/csv", "id,v\n1,"+strings.Repeat("x", 1<<20)+"\n", 200)
		r, reqs := p.load(url.Values{"token": {consoleToken}, "sql": {"SELECT * FROM bigrows"}}.Encode())
		noScriptRan(t, r, reqs)
		if m := r.Text["sql-msg"]; !strings.Contains(m, "200 rows") || !strings.Contains(m, "truncated") {
			t.Errorf("10k rows: %q", m)
		}
		if n := strings.Count(r.HTML, "<tr>") + strings.Count(r.HTML, "<tr "); n > 400 {
			t.Errorf("10k rows: %d table rows rendered", n)
		}
		r, reqs = p.load(url.Values{"token": {consoleToken}, "sql": {"SELECT * FROM bigcell"}}.Encode())
		noScriptRan(t, r, reqs)
		if r.HTMLLen > 200_000 || !strings.Contains(r.Text["sql-out"], "characters not shown") {
			t.Errorf("a 1 MB cell: the page holds %d characters; %q", r.HTMLLen, r.Text["sql-msg"])
		}
	})

	t.Run("many columns", func(t *testing.T) {
		// SELECT * of a table of 300 columns: at most MAXCOLS drawn, and
		// the message says how many of all (every one was drawn, times
		// every row).
		var csv strings.Builder
		for i := range 300 {
			if i > 0 {
				csv.WriteString(",")
			}
			fmt.Fprintf(&csv, "c%03d", i)
		}
		csv.WriteString("\n")
		for r := range 3 {
			for i := range 300 {
				if i > 0 {
					csv.WriteString(",")
				}
				fmt.Fprintf(&csv, "v%d_%03d", r, i)
			}
			csv.WriteString("\n")
		}
		mustDo(t, s, "POST", "/v1/ingest?name=wide", "text/csv", csv.String(), 200)
		r, reqs := p.load(url.Values{"token": {consoleToken}, "sql": {"SELECT * FROM wide"}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("300 columns: %q", r.Text["sql-msg"])
		if n := strings.Count(r.Text["sql-out"], " (VARCHAR)"); n != 100 {
			t.Errorf("300 columns: %d column headers drawn, want 100", n)
		}
		if out := r.Text["sql-out"]; !strings.Contains(out, "c099 (VARCHAR)") || !strings.Contains(out, "v2_099") || strings.Contains(out, "c100 (") || strings.Contains(out, "v0_100") {
			t.Errorf("300 columns: the columns drawn are not the first 100: %.300q", r.Text["sql-out"])
		}
		if m := r.Text["sql-msg"]; !strings.HasPrefix(m, "3 rows") || !strings.Contains(m, "showing 100 of 300 columns") {
			t.Errorf("300 columns: the message does not say how many are shown: %q", m)
		}
	})

	t.Run("many datasets", func(t *testing.T) {
		// A catalog of more datasets than the page draws: at most
		// MAXDATASETS rows, fetched as one page of the list, and the count
		// says more follow (every one was drawn, with its schema:
		// thousands of rows, and the whole list fetched).
		const extra = 110
		var wg sync.WaitGroup
		errc := make(chan error, extra)
		next := make(chan int)
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					resp, b, err := s.Do(context.Background(), "POST", fmt.Sprintf("/v1/ingest?name=many_%03d", i), "text/csv", strings.NewReader("id,v\n1,a\n"))
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("ingest many_%03d: %d %s", i, resp.StatusCode, b)
					}
					if err != nil {
						errc <- err
					}
				}
			}()
		}
		for i := range extra {
			next <- i
		}
		close(next)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		_, b, err := s.Do(context.Background(), "GET", "/v1/catalog/datasets", "", nil)
		var list struct{ Datasets []struct{ Name string } }
		if err != nil || json.Unmarshal(b, &list) != nil {
			t.Fatalf("catalog: %v %.200s", err, b)
		}
		total := len(list.Datasets)
		r, reqs := p.load(url.Values{"token": {consoleToken}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("%d datasets: %q", total, r.Text["datasets-msg"])
		if rows := strings.Count(r.Text["datasets"], "query"); rows != 100 {
			t.Errorf("%d datasets: %d rows drawn, want 100", total, rows)
		}
		if m := r.Text["datasets-msg"]; !strings.HasPrefix(m, "100 datasets · the first 100 by name; more follow") {
			t.Errorf("%d datasets: the count does not say more follow: %q", total, m)
		}
		// One page, not the whole list (ADR-128).
		for _, q := range reqs {
			if strings.HasPrefix(q.URI, "/v1/catalog/datasets") && q.URI != "/v1/catalog/datasets?limit=100" {
				t.Errorf("the console fetched %s, not one page of 100", q.URI)
			}
		}
		if first := list.Datasets[0].Name; !strings.Contains(r.Text["datasets"], first) || strings.Contains(r.Text["datasets"], list.Datasets[total-1].Name) {
			t.Errorf("the rows drawn are not the first ones by name (%s first, %s last): %.500q", first, list.Datasets[total-1].Name, r.Text["datasets"])
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		r, reqs := p.load(url.Values{"token": {"wrong-token"}, "sql": {"SELECT 1"}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("with a wrong token: overall %q; datasets %q; sql %q; operations %q", r.Text["overall"], r.Text["datasets-msg"], r.Text["sql-msg"], r.Text["stats-msg"])
		if !r.Tokenbox {
			t.Errorf("no token box after a 401")
		}
		for _, id := range []string{"overall", "datasets-msg", "sql-msg", "stats-msg"} {
			if !strings.Contains(r.Text[id], "unauthorized") && !strings.Contains(r.Text[id], "token") {
				t.Errorf("#%s does not say the token is wrong: %q", id, r.Text[id])
			}
		}
	})

	t.Run("token box", func(t *testing.T) {
		// After a 401 the right token typed in the box (Enter) loads the
		// page and runs the fragment's query that failed without it.
		r, reqs := p.loadEnter(url.Values{"token": {"wrong-token"}, "sql": {"SELECT 42 AS answer"}}.Encode(), consoleToken)
		noScriptRan(t, r, reqs)
		if r.Tokenbox || r.Text["overall"] != "ok" || r.Stored != consoleToken {
			t.Errorf("the token box's token was not used: box shown %v, overall %q, stored %q", r.Tokenbox, r.Text["overall"], r.Stored)
		}
		if !strings.Contains(r.Text["sql-msg"], "1 row") || !strings.Contains(r.Text["sql-out"], "42") {
			t.Errorf("the fragment's query was not run again with the token: %q %q", r.Text["sql-msg"], r.Text["sql-out"])
		}
	})

	t.Run("daemon down", func(t *testing.T) {
		s.Kill("catalogd")
		s.Kill("observerd")
		r, reqs := p.load(url.Values{"token": {consoleToken}}.Encode())
		noScriptRan(t, r, reqs)
		t.Logf("catalogd and observerd down: overall %q; datasets %q; operations %q", r.Text["overall"], r.Text["datasets-msg"], r.Text["stats-msg"])
		if r.Text["overall"] == "ok" || !strings.Contains(r.Text["rows"], "catalogd") {
			t.Errorf("health with catalogd down: %q %q", r.Text["overall"], r.Text["rows"])
		}
		if m := r.Text["datasets-msg"]; !strings.HasPrefix(m, "catalog: ") || len(m) < len("catalog: ")+5 {
			t.Errorf("datasets with catalogd down: %q", m)
		}
		if m := r.Text["stats-msg"]; !strings.HasPrefix(m, "observer: ") {
			t.Errorf("operations with observerd down: %q", m)
		}
		if r.Text["events"] != "" || r.Text["stats"] != "" {
			t.Errorf("operations shown under an observer error: %q %q", r.Text["stats"], r.Text["events"])
		}
	})

	t.Run("gateway gone", func(t *testing.T) {
		// The page loaded, then the gateway stops: the next polls say so
		// and show no daemon as "ok" any more.
		r, reqs := p.loadQuery(url.Values{"token": {consoleToken}}.Encode(), "?act=kill")
		noScriptRan(t, r, reqs)
		t.Logf("gateway gone: overall %q; daemons %q; operations %q", r.Text["overall"], r.Text["rows"], r.Text["stats-msg"])
		if r.Text["overall"] != "gateway unreachable" || r.Text["rows"] != "" {
			t.Errorf("with the gateway gone: overall %q, daemons still shown %q", r.Text["overall"], r.Text["rows"])
		}
		if m := r.Text["stats-msg"]; !strings.HasPrefix(m, "observer: gateway unreachable") || r.Text["events"] != "" {
			t.Errorf("operations with the gateway gone: %q %q", m, r.Text["events"])
		}
	})
}
