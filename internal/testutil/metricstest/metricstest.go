// Package metricstest reads a daemon's GET /metrics in tests: the text
// parsed with expfmt, values looked up by name and labels, and the
// metrics of one prefix linted with promlint (the linter of client_golang's
// testutil.CollectAndLint, here over what the daemon really serves).
package metricstest

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one scrape.
type Families map[string]*dto.MetricFamily

// Scrape GETs base+"/metrics" and parses it.
func Scrape(t testing.TB, base string) Families {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mf
}

// Value is the value of the sample of name whose labels include labels
// (pairs: "format", "csv", ...): a counter's or gauge's value, a
// histogram's sample count. found is false when there is none.
func (f Families) Value(name string, labels ...string) (v float64, found bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !match(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// Get is Value, 0 when absent.
func (f Families) Get(name string, labels ...string) float64 {
	v, _ := f.Value(name, labels...)
	return v
}

// Sum adds the values of every sample of name matching labels.
func (f Families) Sum(name string, labels ...string) float64 {
	fam := f[name]
	if fam == nil {
		return 0
	}
	s := 0.0
	for _, m := range fam.GetMetric() {
		if !match(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			s += m.Counter.GetValue()
		case m.Gauge != nil:
			s += m.Gauge.GetValue()
		case m.Histogram != nil:
			s += float64(m.Histogram.GetSampleCount())
		}
	}
	return s
}

func match(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Lint runs promlint over the families whose names start with prefix and
// fails t on any problem; it fails too when none has that prefix.
func (f Families) Lint(t testing.TB, prefix string) {
	t.Helper()
	var fams []*dto.MetricFamily
	for name, fam := range f {
		if strings.HasPrefix(name, prefix) {
			fams = append(fams, fam)
		}
	}
	if len(fams) == 0 {
		t.Fatalf("no metric named %s* on /metrics", prefix)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].GetName() < fams[j].GetName() })
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}
