package embed_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/errs"
)

func newBuiltin(t testing.TB, cfg embed.Config) *embed.Embedder {
	t.Helper()
	p, err := builtin.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultModel = builtin.Model
	e, err := embed.New(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestInputs(t *testing.T) {
	e := newBuiltin(t, embed.Config{})
	many := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "sentence number " + strconv.Itoa(i)
		}
		return s
	}
	tests := []struct {
		name  string
		input any
		n     int
		kind  errs.Kind
		msg   string
	}{
		{"string", "hello world", 1, "", ""},
		{"strings", []string{"a b", "c d"}, 2, "", ""},
		{"json array", []any{"a b", "c d", "e"}, 3, "", ""},
		{"100k characters", strings.Repeat("lorem ipsum ", 8334), 1, "", ""},
		{"10k batch", many(10_000), 10_000, "", ""},
		{"missing", nil, 0, errs.Invalid, `"input" is required`},
		{"number", 3.0, 0, errs.Invalid, "a number"},
		{"array of numbers", []any{"a", 1.0}, 0, errs.Invalid, "input[1] is a number"},
		{"empty array", []any{}, 0, errs.Invalid, "empty array"},
		{"empty string", "", 0, errs.Invalid, "input is empty"},
		{"blank string", "   ", 0, errs.Invalid, "input is empty"},
		{"blank in array of one", []string{"   "}, 0, errs.Invalid, "input[0] is empty"},
		{"blank in batch", []string{"a", " \n\t"}, 0, errs.Invalid, "input[1] is empty"},
		{"10001 batch", many(10_001), 0, errs.TooLarge, "batch of 10001 texts exceeds the limit of 10000"},
		{"text too long", strings.Repeat("a", embed.DefaultMaxTextBytes+1), 0, errs.TooLarge, "input is 524289 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.Embed(context.Background(), embed.EmbedRequest{Input: tt.input})
			if tt.kind != "" {
				if errs.KindOf(err) != tt.kind || !strings.Contains(errs.Message(err), tt.msg) {
					t.Fatalf("err = %v, want %s containing %q", err, tt.kind, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Model != builtin.Model || r.Dims != 100 || len(r.Embeddings) != tt.n {
				t.Fatalf("model %s dims %d n %d", r.Model, r.Dims, len(r.Embeddings))
			}
			for _, v := range r.Embeddings {
				if len(v) != 100 {
					t.Fatal("wrong length")
				}
			}
		})
	}
}

func TestJSONShape(t *testing.T) {
	var req embed.EmbedRequest
	if err := json.Unmarshal([]byte(`{"input":["t1","t2"],"model":"builtin-glove-100d"}`), &req); err != nil {
		t.Fatal(err)
	}
	e := newBuiltin(t, embed.Config{})
	r, err := e.Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	// DESIGN.md's three fields, plus the weights' revision (ADR-115)
	rev := `"` + builtin.Revision() + `"`
	if len(m) != 4 || string(m["model"]) != `"builtin-glove-100d"` || string(m["dims"]) != "100" || string(m["embeddings"][0:2]) != "[[" ||
		string(m["revision"]) != rev {
		t.Errorf("shape: %.120s", b)
	}
	mr, _ := e.Models(context.Background())
	b, _ = json.Marshal(mr)
	if string(b) != `{"models":[{"name":"builtin-glove-100d","provider":"builtin","dims":100,"default":true,"revision":`+rev+`}]}` {
		t.Errorf("models: %s", b)
	}
}

// counting is a fake provider that records calls and in-flight peaks.
type counting struct {
	mu       sync.Mutex
	calls    [][]string
	inflight atomic.Int32
	peak     atomic.Int32
	delay    time.Duration
	short    bool // answer one vector too few
}

func (c *counting) Name() string { return "counting" }
func (c *counting) Models(context.Context) ([]embed.ModelInfo, error) {
	return []embed.ModelInfo{{Name: "m", Provider: "counting", Dims: 2}}, nil
}
func (c *counting) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	c.mu.Lock()
	c.calls = append(c.calls, texts)
	c.mu.Unlock()
	time.Sleep(c.delay)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t)), 1}
	}
	if c.short {
		out = out[1:]
	}
	return out, nil
}

func TestBatchingCacheConcurrency(t *testing.T) {
	c := &counting{delay: 5 * time.Millisecond}
	e, _ := embed.New(embed.Config{DefaultModel: "m", ChunkSize: 10, MaxConcurrent: 3}, c)
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = strings.Repeat("x", i%50+1) // 50 distinct texts, each twice
	}
	r, err := e.Embed(context.Background(), embed.EmbedRequest{Input: texts})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range r.Embeddings {
		if v[0] != float32(len(texts[i])) {
			t.Fatalf("embedding %d out of order", i)
		}
	}
	r.Embeddings[50][0] = -1 // duplicates are separate copies
	if r.Embeddings[0][0] == -1 {
		t.Error("duplicate texts share a slice")
	}
	if len(c.calls) != 5 || c.peak.Load() > 3 || c.peak.Load() < 2 {
		t.Errorf("calls %d (want 5 chunks of 10 unique texts), peak in flight %d (limit 3)", len(c.calls), c.peak.Load())
	}
	if _, err := e.Embed(context.Background(), embed.EmbedRequest{Input: texts}); err != nil || len(c.calls) != 5 {
		t.Errorf("cache: %v, %d calls", err, len(c.calls))
	}
	st := e.Cache().Stats()
	if st.Entries != 50 || st.Hits != 100 {
		t.Errorf("stats %+v", st)
	}
	// a modified answer does not change the cache
	r.Embeddings[0][0] = -7
	r2, _ := e.Embed(context.Background(), embed.EmbedRequest{Input: texts[0]})
	if r2.Embeddings[0][0] != 1 {
		t.Error("cache shares memory with callers")
	}
}

func TestProviderAnswerChecked(t *testing.T) {
	e, _ := embed.New(embed.Config{DefaultModel: "m"}, &counting{short: true})
	_, err := e.Embed(context.Background(), embed.EmbedRequest{Input: []string{"a", "b"}})
	if errs.StatusOf(err) != 502 || !strings.Contains(errs.Message(err), "returned 1 embeddings for 2 inputs") {
		t.Errorf("err = %v", err)
	}
}

func TestUnknownBuiltinModel(t *testing.T) {
	e := newBuiltin(t, embed.Config{})
	_, err := e.Embed(context.Background(), embed.EmbedRequest{Input: "x", Model: "other"})
	if !errs.Is(err, errs.NotFound) {
		t.Errorf("err = %v", err)
	}
}

func TestCacheBound(t *testing.T) {
	c := embed.NewCache(64 << 10)
	vec := make([]float32, 100)
	for i := range 10_000 {
		c.Put("m", "text "+strconv.Itoa(i), vec)
	}
	st := c.Stats()
	if st.Bytes > 64<<10 || st.Entries == 0 || st.Entries > 200 {
		t.Errorf("stats %+v", st)
	}
	if c.Get("m", "text 9999") == nil || c.Get("m", "text 0") != nil || c.Get("other", "text 9999") != nil {
		t.Error("LRU order or model key wrong")
	}
}

func TestDeadline(t *testing.T) {
	c := &counting{delay: 50 * time.Millisecond}
	e, _ := embed.New(embed.Config{DefaultModel: "m", ChunkSize: 1, MaxConcurrent: 1}, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := e.Embed(ctx, embed.EmbedRequest{Input: []string{"a", "b", "c"}})
	if !errs.Is(err, errs.Timeout) {
		t.Errorf("err = %v", err)
	}
}
