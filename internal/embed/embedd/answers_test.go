package embedd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/errs"
)

const ollamaModel = "nomic-embed-text-v2-moe"

// startOverOllama runs a real embedd whose provider is a fake Ollama
// speaking /api/embed's wire format, and returns embedd's base URL.
func startOverOllama(t *testing.T, dims int) (*ollamatest.Server, string) {
	t.Helper()
	fake := ollamatest.New(ollamatest.Model{Name: ollamaModel, Dims: dims})
	t.Cleanup(fake.Close)
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = fake.URL
	_, s := start(t, cfg)
	return fake, s.URL()
}

// post sends body to POST /v1/embed and returns the status, the decoded
// answer and the error body.
func post(t *testing.T, base, body string) (int, embed.EmbedResponse, errs.Body) {
	t.Helper()
	resp, err := http.Post(base+embed.RouteEmbed, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var ok embed.EmbedResponse
	var bad errs.Body
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &ok); err != nil {
			t.Fatalf("200 with %s: %v", raw, err)
		}
	} else if err := json.Unmarshal(raw, &bad); err != nil || bad.Error.Kind == "" {
		t.Fatalf("%d without the error body: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, ok, bad
}

func inputs(texts ...string) string {
	b, _ := json.Marshal(map[string]any{"input": texts})
	return string(b)
}

// consistent fails unless the answer is one vector per text, all of dims.
func consistent(t *testing.T, what string, code int, r embed.EmbedResponse, bad errs.Body, n, dims int) {
	t.Helper()
	if code != 200 {
		t.Fatalf("%s: %d %+v", what, code, bad.Error)
	}
	if r.Dims != dims || len(r.Embeddings) != n {
		t.Fatalf("%s: dims %d, %d vectors; want %d of %d", what, r.Dims, len(r.Embeddings), n, dims)
	}
	for i, v := range r.Embeddings {
		if len(v) != dims {
			t.Fatalf("%s: vector %d has %d floats, dims %d", what, i, len(v), r.Dims)
		}
	}
}

// TestMixedDimsNotCached: an Ollama answer whose vectors disagree in
// length (within one answer, or between the batches of one request) is a
// 502, and nothing of it is cached. Before, each batch was cached as it
// came, so after the 502 a request for one of those texts was a 200 with
// the odd vector (3 floats beside 768), and a request mixing texts of the
// two batches was a 502 until the cache forgot them.
func TestMixedDimsNotCached(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	// within one answer: the second vector has 3 floats
	fake.SetAnswer(func(model string, in []string) (int, []byte) {
		vs := make([][]float32, len(in))
		for i, s := range in {
			vs[i] = ollamatest.Vector(model, s, 768)
		}
		if len(vs) > 1 {
			vs[1] = []float32{0.6, 0.8, 0}
		}
		return 200, ollamatest.Answer(model, vs)
	})
	code, _, bad := post(t, base, inputs("alpha", "beta"))
	if code != 502 || bad.Error.Kind != errs.Unavailable || !strings.Contains(bad.Error.Message, "different lengths") {
		t.Fatalf("mixed answer: %d %+v", code, bad.Error)
	}
	fake.SetAnswer(nil)
	code, r, bad := post(t, base, inputs("beta"))
	consistent(t, "beta after the mixed answer", code, r, bad, 1, 768)

	// between batches: texts past the first batch of 256 come back with 1024 floats
	texts := make([]string, 300)
	for i := range texts {
		texts[i] = "row " + strings.Repeat("x", i%17) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	fake.SetAnswer(func(model string, in []string) (int, []byte) {
		dims := 768
		if in[0] != texts[0] {
			dims = 1024
		}
		vs := make([][]float32, len(in))
		for i, s := range in {
			vs[i] = ollamatest.Vector(model, s, dims)
		}
		return 200, ollamatest.Answer(model, vs)
	})
	code, _, bad = post(t, base, inputs(texts...))
	if code != 502 || !strings.Contains(bad.Error.Message, "different lengths") {
		t.Fatalf("batches of two lengths: %d %+v", code, bad.Error)
	}
	fake.SetAnswer(nil)
	code, r, bad = post(t, base, inputs(texts[0], texts[299]))
	consistent(t, "first and last text after the 502", code, r, bad, 2, 768)
	code, r, bad = post(t, base, inputs(texts[299]))
	consistent(t, "last text alone", code, r, bad, 1, 768)
}

// TestModelReplacedOnOllama: the model behind a name changes on the Ollama
// side (re-created with another base: 768 -> 1024 floats). A request that
// mixes a text embedded before (cached, 768) and a new one is answered
// with the new model's vectors for both. Before, it was a 502 "vectors of
// different lengths" for as long as the old vector stayed cached.
func TestModelReplacedOnOllama(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	code, r, bad := post(t, base, inputs("old text"))
	consistent(t, "before", code, r, bad, 1, 768)
	fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: 1024})
	code, r, bad = post(t, base, inputs("old text", "new text", "old text"))
	consistent(t, "after the change", code, r, bad, 3, 1024)
	want := ollamatest.Vector(ollamaModel+":latest", "old text", 1024)
	for d := range want {
		if r.Embeddings[0][d] != want[d] || r.Embeddings[2][d] != want[d] {
			t.Fatalf("old text, dim %d: %v %v, want %v", d, r.Embeddings[0][d], r.Embeddings[2][d], want[d])
		}
	}
	code, r, bad = post(t, base, inputs("old text"))
	consistent(t, "old text again", code, r, bad, 1, 1024)
}

// TestRepulledAllCachedRequest: after the model is pulled again with other
// dims, a request whose texts were all embedded before gets the new dims
// once any request has seen them. Before, within DigestTTL (30 s) such a
// request got the old weights' cached 768-float vectors while the request
// before, with a new text, got 1024: a client embedding in batches
// (matrixd's rebuild) saw two lengths, a search query the old weights.
func TestRepulledAllCachedRequest(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	code, r, bad := post(t, base, inputs("old text", "older text"))
	consistent(t, "A: before the re-pull", code, r, bad, 2, 768)
	fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: 1024})
	code, r, bad = post(t, base, inputs("new text"))
	consistent(t, "B: a new text after the re-pull", code, r, bad, 1, 1024)
	code, r, bad = post(t, base, inputs("old text"))
	consistent(t, "C: an old text only", code, r, bad, 1, 1024)
	want := ollamatest.Vector(ollamaModel+":latest", "old text", 1024)
	for d := range want {
		if r.Embeddings[0][d] != want[d] {
			t.Fatalf("C: dim %d is %v, want the new weights' %v", d, r.Embeddings[0][d], want[d])
		}
	}
	code, r, bad = post(t, base, inputs("older text", "old text"))
	consistent(t, "D: old texts again", code, r, bad, 2, 1024)
}

// TestRequestInFlightAcrossRepull: a request that Ollama answered with the
// old weights while another request already saw the new dims does not
// switch the cache back: its text asked again gets the new dims.
func TestRequestInFlightAcrossRepull(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	code, r, bad := post(t, base, inputs("old text"))
	consistent(t, "before the re-pull", code, r, bad, 1, 768)
	entered, release := make(chan struct{}), make(chan struct{})
	fake.SetAnswer(func(model string, in []string) (int, []byte) {
		if len(in) != 1 || in[0] != "slow text" {
			return 0, nil
		}
		close(entered)
		<-release
		return 200, ollamatest.Answer(model, [][]float32{ollamatest.Vector(model, "slow text", 768)})
	})
	done := make(chan int)
	go func() {
		resp, err := http.Post(base+embed.RouteEmbed, "application/json", strings.NewReader(inputs("slow text")))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: 1024})
	code, r, bad = post(t, base, inputs("new text"))
	consistent(t, "a new text after the re-pull", code, r, bad, 1, 1024)
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("the request in flight: %d", code)
	}
	fake.SetAnswer(nil)
	code, r, bad = post(t, base, inputs("slow text"))
	consistent(t, "the slow text again", code, r, bad, 1, 1024)
	code, r, bad = post(t, base, inputs("old text"))
	consistent(t, "an old text", code, r, bad, 1, 1024)
}

// TestWrongOllamaAnswers: an Ollama (or whatever answers at provider_url)
// whose 200 is not a usable embedding is a 502 naming Ollama and what was
// wrong, and the same text is embedded normally once it answers right.
// Before: a null in a vector became 0 and a vector of nulls or zeros a
// zero vector, all 200 (cosine search ranks a zero vector nowhere); a 200
// with {"error":...} was "returned 0 embeddings" without Ollama's message;
// a cut or non-JSON answer said "unreachable"; an answer of any size was
// read whole (a 2 MB vector for one text was a 200).
func TestWrongOllamaAnswers(t *testing.T) {
	fake, base := startOverOllama(t, 4)
	raw := func(body string) func(string, []string) (int, []byte) {
		return func(m string, in []string) (int, []byte) { return 200, []byte(body) }
	}
	huge := `{"model":"m","embeddings":[[` + strings.Repeat("0.123456789,", 200_000) + `1]]}`
	for i, tc := range []struct {
		name   string
		answer func(string, []string) (int, []byte)
		msg    string
	}{
		{"null in a vector", raw(`{"model":"m","embeddings":[[0.5,null,0.5,0.5]]}`), "holds null"},
		{"vector of nulls", raw(`{"model":"m","embeddings":[[null,null,null,null]]}`), "holds null"},
		{"zero vector", raw(`{"model":"m","embeddings":[[0,0,0,0]]}`), "zero vector"},
		{"string in a vector", raw(`{"model":"m","embeddings":[["1",0,0,0]]}`), "holds a string"},
		{"beyond float32", raw(`{"model":"m","embeddings":[[1e300,0,0,0]]}`), "beyond float32"},
		{"200 with an error", raw(`{"error":"llama runner process has terminated: signal: killed"}`), "answered an error: llama runner process has terminated"},
		{"cut JSON", raw(`{"model":"m","embeddings":[[0.5,0.5`), "not Ollama's JSON (unexpected end of JSON input)"},
		{"an HTML page", raw(`<html><body>502 Bad Gateway</body></html>`), "not Ollama's JSON"},
		{"huge answer", raw(huge), "answered more than 1572864 bytes for 1 inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "text " + strings.Repeat("y", i)
			fake.SetAnswer(tc.answer)
			code, r, bad := post(t, base, inputs(text))
			if code != 502 || bad.Error.Kind != errs.Unavailable || !strings.Contains(bad.Error.Message, "ollama") ||
				!strings.Contains(bad.Error.Message, tc.msg) || strings.Contains(bad.Error.Message, "unreachable") {
				t.Fatalf("%d %v %+v; want 502 containing %q", code, r.Embeddings, bad.Error, tc.msg)
			}
			fake.SetAnswer(nil)
			code, r, bad = post(t, base, inputs(text))
			consistent(t, "the same text, Ollama right again", code, r, bad, 1, 4)
		})
	}
}

// TestUnknownOllamaModel: a request naming a model Ollama does not have
// (Ollama: 404 {"error":"model \"x\" not found, try pulling it first"}) is
// a 404 not_found naming it and the `ollama pull` to run, as Ollama and
// OpenAI answer it and as embedd already answered for a builtin-only
// setup; it was a 502, an upstream failure, for the client's typo. The
// configured default missing when the request names no model stays a 502
// (the operator's to fix), and a 404 that is not Ollama's model answer
// ("404 page not found": provider_url is not an Ollama) too.
func TestUnknownOllamaModel(t *testing.T) {
	fake, base := startOverOllama(t, 8)
	code, _, bad := post(t, base, `{"input":"x","model":"all-minilm"}`)
	if code != 404 || bad.Error.Kind != errs.NotFound || !strings.Contains(bad.Error.Message, "all-minilm") ||
		!strings.Contains(bad.Error.Message, "ollama pull all-minilm") {
		t.Fatalf("unknown model: %d %+v", code, bad.Error)
	}
	fake.SetAnswer(func(string, []string) (int, []byte) { return 404, []byte("404 page not found") })
	code, _, bad = post(t, base, `{"input":"y","model":"`+ollamaModel+`"}`)
	if code != 502 || bad.Error.Kind != errs.Unavailable || !strings.Contains(bad.Error.Message, "404 page not found") {
		t.Fatalf("a 404 not from Ollama: %d %+v", code, bad.Error)
	}
	fake.SetAnswer(nil)

	other := ollamatest.New(ollamatest.Model{Name: "all-minilm", Dims: 8}) // the default is not pulled here
	defer other.Close()
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = other.URL
	c, s := start(t, cfg)
	code, _, bad = post(t, s.URL(), `{"input":"x"}`)
	if code != 502 || bad.Error.Kind != errs.Unavailable || !strings.Contains(bad.Error.Message, "default model") ||
		!strings.Contains(bad.Error.Message, "ollama pull "+ollamaModel) {
		t.Fatalf("default model missing: %d %+v", code, bad.Error)
	}
	// through the typed client the kind survives the hop
	if _, err := c.Embed(context.Background(), embed.EmbedRequest{Input: "x", Model: "nope"}); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("typed client: %v (%s)", err, errs.KindOf(err))
	}
	if r, err := c.Embed(context.Background(), embed.EmbedRequest{Input: "x", Model: "all-minilm"}); err != nil || r.Dims != 8 {
		t.Fatalf("a pulled model: %v", err)
	}
}

// TestTransientOllamaRetried: Ollama's 500 of a runner that crashed (it
// reloads on the next request) and its 503 "server busy, please try
// again" are tried again, twice, as OpenAI's SDKs retry a 5xx; the client
// gets the vectors. Before, the first 5xx was the client's 502 (one of the
// 40 batches of a 10,000-text request failing the whole request). A 4xx is
// not tried again; a 5xx three times in a row is the 502 naming Ollama.
func TestTransientOllamaRetried(t *testing.T) {
	fake, base := startOverOllama(t, 8)
	failures := func(status int, msg string, times int) func(string, []string) (int, []byte) {
		n := 0
		return func(string, []string) (int, []byte) {
			if n++; n <= times {
				return status, []byte(`{"error":"` + msg + `"}`)
			}
			return 0, nil
		}
	}
	for i, tc := range []struct {
		name         string
		status       int
		msg          string
		times, calls int
		code         int
	}{
		{"runner crashed once", 500, "llama runner process has terminated: exit status 2", 1, 2, 200},
		{"busy twice", 503, "server busy, please try again.  maximum pending requests exceeded", 2, 3, 200},
		{"500 every time", 500, "llama runner process has terminated: exit status 2", 99, 3, 502},
		{"400 not retried", 400, "invalid input type", 99, 1, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.SetAnswer(failures(tc.status, tc.msg, tc.times))
			defer fake.SetAnswer(nil)
			before := len(fake.Calls())
			code, r, bad := post(t, base, inputs("retry text "+strings.Repeat("z", i)))
			if calls := len(fake.Calls()) - before; code != tc.code || calls != tc.calls {
				t.Fatalf("%d after %d calls (want %d after %d): %+v", code, calls, tc.code, tc.calls, bad.Error)
			}
			if code == 200 {
				consistent(t, tc.name, code, r, bad, 1, 8)
			} else if !strings.Contains(bad.Error.Message, tc.msg) {
				t.Fatalf("message %q lacks Ollama's %q", bad.Error.Message, tc.msg)
			}
		})
	}
}

// TestHugeBatchRefusedEarly: a request of millions of tiny texts, within
// the body limit (30 MB of "a",), is a 413 naming the limit after reading
// max_batch of them. Before, the whole array was built (as []any, then
// []string) before the count was checked: ~900 MB allocated for this
// body (1.8 GB for 60 MB), seconds of a core, for a request refused anyway.
func TestHugeBatchRefusedEarly(t *testing.T) {
	_, s := start(t, config(t))
	var b bytes.Buffer
	b.WriteString(`{"input":[`)
	for b.Len() < 30<<20 {
		b.WriteString(`"a",`)
	}
	b.WriteString(`"a"]}`)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	code, _, bad := post(t, s.URL(), b.String())
	runtime.ReadMemStats(&m1)
	if code != 413 || bad.Error.Kind != errs.TooLarge || !strings.Contains(bad.Error.Message, "exceeds the limit of 10000") {
		t.Fatalf("%d %+v", code, bad.Error)
	}
	// the body itself is held about three times (the client's string, the
	// harness decoder's buffer, the raw input); the texts must not add more
	if mb := (m1.TotalAlloc - m0.TotalAlloc) >> 20; mb > 400 {
		t.Fatalf("%d MB allocated to refuse a 30 MB body", mb)
	}
	// exactly max_batch texts still pass, and element errors keep their index
	code, _, bad = post(t, s.URL(), `{"input":["ok",["nested"]]}`)
	if code != 400 || bad.Error.Message != "input[1] is an array, want a string" {
		t.Fatalf("nested: %d %+v", code, bad.Error)
	}
	ten := make([]string, 10_000)
	for i := range ten {
		ten[i] = "text"
	}
	code, r, bad := post(t, s.URL(), inputs(ten...))
	consistent(t, "10,000 texts", code, r, bad, 10_000, 100)
}

// TestConcurrentModelSwitch: requests mixing cached and new texts run
// while the model behind the name flips between 768 and 1024 floats (run
// with -race); every 200 is one length throughout, and once the model
// stays put every text comes back at its length.
func TestConcurrentModelSwitch(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: []int{768, 1024}[i%2]})
		}
	}()
	var bad502 atomic.Int32
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				code, r, b := post(t, base, inputs("shared", fmt.Sprintf("g%d-%d", g, i), "shared", fmt.Sprintf("g%d-%d", g, i/2)))
				if code != 200 {
					bad502.Add(1) // a flip between the batches of one request: a 502 is right
					if code != 502 {
						t.Errorf("%d %+v", code, b.Error)
					}
					continue
				}
				for _, v := range r.Embeddings {
					if len(v) != r.Dims {
						t.Errorf("dims %d, a vector of %d", r.Dims, len(v))
					}
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: 1024})
	code, r, b := post(t, base, inputs("shared", "g0-0", "g1-11", "fresh"))
	consistent(t, "after the flips", code, r, b, 4, 1024)
	t.Logf("%d requests met a flip mid-request", bad502.Load())
}
