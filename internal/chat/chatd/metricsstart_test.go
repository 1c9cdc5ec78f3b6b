package chatd_test

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/testutil/metricstest"
)

// seriesOf is every sample of the family name on a scrape: its labels as
// "k=v,k=v" (sorted) to its value (a histogram's sample count, with its
// sum and buckets required to be 0 when the count is).
func seriesOf(t *testing.T, m metricstest.Families, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	fam := m[name]
	if fam == nil {
		return out
	}
	for _, s := range fam.GetMetric() {
		var ls []string
		for _, l := range s.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		key := strings.Join(ls, ",")
		switch {
		case s.Counter != nil:
			out[key] = s.Counter.GetValue()
		case s.Gauge != nil:
			out[key] = s.Gauge.GetValue()
		case s.Histogram != nil:
			out[key] = float64(s.Histogram.GetSampleCount())
			if s.Histogram.GetSampleCount() == 0 {
				for _, b := range s.Histogram.GetBucket() {
					if b.GetCumulativeCount() != 0 {
						t.Errorf("%s{%s}: bucket %v holds %d of no sample", name, key, b.GetUpperBound(), b.GetCumulativeCount())
					}
				}
				if s.Histogram.GetSampleSum() != 0 {
					t.Errorf("%s{%s}: sum %v of no sample", name, key, s.Histogram.GetSampleSum())
				}
			}
		default:
			t.Fatalf("%s: unexpected type %v", name, fam.GetType())
		}
	}
	return out
}

// labelSets is the cross product of label values, as seriesOf keys.
func labelSets(dims ...[]string) []string {
	// dims: name, values..., name, values... as []string{name, v1, v2}.
	sets := []string{""}
	for _, d := range dims {
		var next []string
		for _, s := range sets {
			for _, v := range d[1:] {
				kv := d[0] + "=" + v
				if s != "" {
					kv = s + "," + kv
				}
				next = append(next, kv)
			}
		}
		sets = next
	}
	for i, s := range sets { // sorted within, as seriesOf
		parts := strings.Split(s, ",")
		sort.Strings(parts)
		sets[i] = strings.Join(parts, ",")
	}
	return sets
}

// exactZero fails t unless family name has exactly the series want, each 0.
func exactZero(t *testing.T, m metricstest.Families, name string, want []string, typ dto.MetricType) {
	t.Helper()
	if fam := m[name]; fam == nil || fam.GetType() != typ {
		t.Errorf("%s: missing on a fresh chatd's /metrics, or not a %v", name, typ)
		return
	}
	got := seriesOf(t, m, name)
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[w] = true
		v, ok := got[w]
		switch {
		case !ok:
			t.Errorf("%s{%s}: missing", name, w)
		case v != 0:
			t.Errorf("%s{%s} = %v before any request, want 0", name, w, v)
		}
	}
	for k := range got {
		if !wantSet[k] {
			t.Errorf("%s{%s}: a series not wanted", name, k)
		}
	}
}

// TestChatMetricsAtStart: a fresh chatd's /metrics, scraped before any
// request, lists every series a request can produce at 0 — for each
// registered provider (ollama and openrouter here; the three unregistered
// ones never appear), and for none — so rate() and absent() in alert rules
// see them from the start. Before, a series appeared only with its first
// use, and a family with none not at all. The deprecated chatd_* aliases
// likewise. Linted with promlint.
func TestChatMetricsAtStart(t *testing.T) {
	cfg := config(t)
	ollama := fakeUpstream(t, cfg, chat.Ollama, chattest.Script{})
	openrouter := fakeUpstream(t, cfg, chat.OpenRouter, chattest.Script{})
	e := start(t, cfg)
	m := metricstest.Scrape(t, e.srv.URL())

	reg := []string{"provider", chat.Ollama, chat.OpenRouter}
	outcomes := []string{"outcome", "ok", "invalid", "upstream_error", "timeout", "client_gone"}
	requests := append(labelSets(reg, []string{"stream", "true", "false"}, outcomes),
		labelSets([]string{"provider", "none"}, []string{"stream", "true", "false", "unknown"}, []string{"outcome", "invalid", "upstream_error", "timeout", "client_gone"})...)
	if len(requests) != 2*2*5+3*4 {
		t.Fatalf("labelSets: %d", len(requests))
	}
	counter, histogram := dto.MetricType_COUNTER, dto.MetricType_HISTOGRAM
	exactZero(t, m, "lakehouse_chatd_requests_total", requests, counter)
	exactZero(t, m, "lakehouse_chatd_upstream_requests_total", labelSets(reg, outcomes), counter)
	for _, name := range []string{"lakehouse_chatd_upstream_retries_total", "lakehouse_chatd_fallbacks_total",
		"lakehouse_chatd_prompt_tokens_total", "lakehouse_chatd_completion_tokens_total"} {
		exactZero(t, m, name, labelSets(reg), counter)
	}
	for _, name := range []string{"lakehouse_chatd_upstream_first_token_seconds", "lakehouse_chatd_upstream_duration_seconds",
		"chatd_time_to_first_token_seconds"} {
		exactZero(t, m, name, labelSets(reg), histogram)
	}
	exactZero(t, m, "chatd_upstream_attempts_total", labelSets(reg, []string{"outcome", "ok", "retry", "fallback", "failed"}), counter)
	for _, name := range []string{"lakehouse_chatd_requests_total", "chatd_upstream_attempts_total"} {
		if h := m[name].GetHelp(); (strings.HasPrefix(name, "chatd_") != strings.HasPrefix(h, "Deprecated: use lakehouse_chatd_")) || h == "" {
			t.Errorf("%s: HELP %q", name, h)
		}
	}
	m.Lint(t, "lakehouse_chatd_")
	m.Lint(t, "chatd_")
	if n := len(ollama.Calls()) + len(openrouter.Calls()); n != 0 {
		t.Fatalf("%d upstream calls", n)
	}
}

// TestChatMetricsRefused (ADR-170's left-alone, now counted): a chat
// request a route refuses before the dispatcher — a body that is not
// JSON, a query on the native route, an unknown provider, an option chatd
// does not take, a bad Ollama format — counts in
// lakehouse_chatd_requests_total under provider none with outcome invalid,
// stream as the body asked (unknown when it did not decode). Before, only
// lakehouse_http_requests_total saw them. Requests refused by the harness
// before chatd's routes (auth, allowed_ips, 405, an unknown route) are not
// chat requests and stay in the HTTP metrics only.
func TestChatMetricsRefused(t *testing.T) {
	cfg := config(t)
	up := fakeUpstream(t, cfg, chat.Ollama, chattest.Script{})
	e := start(t, cfg)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, rq := range []struct {
		path, body string
		status     int
		stream     string
	}{
		{chat.RouteChat, `{"messages":[`, 400, "unknown"},
		{chat.RouteChat + "?stream=true", `{` + msgs + `}`, 400, "unknown"},
		{chat.RouteChat, `{"provider":"nope",` + msgs + `,"stream":true}`, 400, "true"},
		{chat.RouteChat, `{"provider":"nope",` + msgs + `}`, 400, "false"},
		{chat.RouteChat, `{"messages":[]}`, 400, "false"},
		{chat.RouteCompletions, `{"messages":"hi"}`, 400, "unknown"},
		{chat.RouteCompletions, `{` + msgs + `,"n":2,"stream":true}`, 400, "true"},
		{chat.RouteBaseCompletions, `{` + msgs + `,"n":2}`, 400, "false"},
		{chat.RouteOllamaChat, `not json`, 400, "unknown"},
		{chat.RouteOllamaChat, `{"model":"ollama/m",` + msgs + `,"format":"yaml"}`, 400, "true"},
		{chat.RouteOllamaChat, `{"model":"ollama/m",` + msgs + `,"format":"yaml","stream":false}`, 400, "false"},
	} {
		resp := e.post(t, rq.path, rq.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != rq.status {
			t.Fatalf("%s %s: %d %s, want %d", rq.path, rq.body, resp.StatusCode, b, rq.status)
		}
	}
	// Not a chat request: the harness's 405 before the routes.
	resp, err := http.Get(e.srv.URL() + chat.RouteChat)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET %s: %s", chat.RouteChat, resp.Status)
	}

	m := metricstest.Scrape(t, e.srv.URL())
	want := map[string]float64{"unknown": 4, "true": 3, "false": 4}
	for s, n := range want {
		if got, _ := m.Value("lakehouse_chatd_requests_total", "provider", "none", "stream", s, "outcome", "invalid"); got != n {
			t.Errorf("requests_total{none,%s,invalid} = %v, want %v", s, got, n)
		}
	}
	if got := m.Sum("lakehouse_chatd_requests_total"); got != 11 {
		t.Errorf("requests_total sums to %v, want 11 (the refused requests only)", got)
	}
	if got := m.Sum("lakehouse_chatd_upstream_requests_total"); got != 0 || len(up.Calls()) != 0 {
		t.Errorf("upstream requests %v, calls %d; want none", got, len(up.Calls()))
	}
	var http400 float64
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteBaseCompletions, chat.RouteOllamaChat} {
		http400 += m.Get("lakehouse_http_requests_total", "route", route, "method", "POST", "status", "400")
	}
	if http400 != 11 {
		t.Errorf("lakehouse_http_requests_total of the chat routes' 400s: %v, want 11", http400)
	}
	m.Lint(t, "lakehouse_chatd_")
}
