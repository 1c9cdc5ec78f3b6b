package embed

import (
	"context"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"

	"lakehouse-go/internal/errs"
)

// Config holds Embedder's limits. Zero fields take the defaults below.
type Config struct {
	DefaultModel  string // model when a request names none ([embedd].default_model)
	MaxBatch      int    // texts per request; above: 413 (default 10,000)
	MaxTextBytes  int    // bytes per text; above: 413 (default 512 KiB)
	ChunkSize     int    // texts per provider call (default 256)
	MaxConcurrent int    // provider calls in flight across all requests (default max(2, GOMAXPROCS))
	CacheBytes    int64  // cache budget; default 64 MiB, negative disables the cache
	// ModelsTimeout bounds each provider's part of a models listing
	// (default 5 s): an Ollama that accepts and never answers held
	// GET /v1/embed/models for the provider client's 2 minutes.
	ModelsTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultMaxBatch      = 10_000
	DefaultMaxTextBytes  = 512 << 10
	DefaultChunkSize     = 256
	DefaultCacheBytes    = 64 << 20
	DefaultModelsTimeout = 5 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = DefaultMaxTextBytes
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = max(2, runtime.GOMAXPROCS(0))
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.ModelsTimeout <= 0 {
		c.ModelsTimeout = DefaultModelsTimeout
	}
	return c
}

// Embedder is the Service over one or more providers. The first provider is
// the primary: it serves every model no other provider owns (ModelOwner).
// Safe for concurrent use.
type Embedder struct {
	cfg       Config
	providers []Provider
	sem       chan struct{}
	cache     *Cache

	// seen: per provider and model, the dims of its last answer, the last
	// revision a request began with, and the generation in the cache key,
	// bumped when the dims change (ADR-086) or the revision does (ADR-115).
	seenMu sync.Mutex
	seen   map[string]modelDims
}

type modelDims struct {
	dims int
	rev  string
	gen  uint64
}

// modelID names a model of provider p for seen: Ollama answers "m" and
// "m:latest" with the same weights.
func modelID(p Provider, model string) string {
	return p.Name() + "\x00" + strings.TrimSuffix(strings.ToLower(model), ":latest")
}

// generation is the cache generation of model for a request that begins
// with the model at revision rev. A revision other than the last one seen
// starts a new generation (ADR-115): vectors cached under the old one,
// including those Ollama computed with new weights while embedd still
// believed the old digest (up to DigestTTL after a pull), are never
// served again, even if the old digest comes back (the old weights pulled
// again), when the key alone would find them.
func (e *Embedder) generation(p Provider, model, rev string) uint64 {
	id := modelID(p, model)
	e.seenMu.Lock()
	defer e.seenMu.Unlock()
	m := e.seen[id]
	if rev != "" && rev != m.rev {
		if m.rev != "" {
			m.gen++
		}
		m.rev = rev
		if e.seen == nil {
			e.seen = make(map[string]modelDims)
		}
		e.seen[id] = m
	}
	return m.gen
}

// observe records that model answered vectors of dims to a request that
// began at generation from, and returns the cache generation to store
// them under: a new one when the dims differ from the model's last answer
// (the model was pulled again with other weights), so every vector cached
// before is forgotten at once, not when the provider's revision is next
// refreshed. ok is false for an answer of other dims to a request begun
// before the last change (in flight across it): not cached, and it does
// not switch the model back.
//
// An answer to a request begun at revision rev while another request has
// since seen another revision is not cached either: which weights made
// it is not known (ADR-115).
func (e *Embedder) observe(p Provider, model, rev string, from uint64, dims int) (gen uint64, ok bool) {
	id := modelID(p, model)
	e.seenMu.Lock()
	defer e.seenMu.Unlock()
	m := e.seen[id]
	if rev != "" && m.rev != "" && m.rev != rev {
		return m.gen, false
	}
	if m.dims != dims && m.gen != from {
		return m.gen, false
	}
	if m.dims != dims {
		if m.dims != 0 {
			m.gen++
		}
		m.dims = dims
		if e.seen == nil {
			e.seen = make(map[string]modelDims)
		}
		e.seen[id] = m
	}
	return m.gen, true
}

// cacheKeyOf is the cache's model key: the model, its revision when the
// provider names one, and its generation when not the first.
func cacheKeyOf(model, rev string, gen uint64) string {
	key := model
	if rev != "" {
		key += "@" + rev
	}
	if gen > 0 {
		key += "\x00" + itoa(int(gen))
	}
	return key
}

var _ Service = (*Embedder)(nil)

// New returns an Embedder over providers (at least one). DefaultModel is
// required.
func New(cfg Config, providers ...Provider) (*Embedder, error) {
	const op = "embed.New"
	if len(providers) == 0 {
		return nil, errs.Errorf(op, errs.Invalid, "no embedding provider")
	}
	if cfg.DefaultModel == "" {
		return nil, errs.Errorf(op, errs.Invalid, "[embedd].default_model is empty")
	}
	cfg = cfg.withDefaults()
	e := &Embedder{cfg: cfg, providers: providers, sem: make(chan struct{}, cfg.MaxConcurrent)}
	if cfg.CacheBytes > 0 {
		e.cache = NewCache(cfg.CacheBytes)
	}
	return e, nil
}

// MaxBatch is the most texts a request may hold (Config.MaxBatch); the
// HTTP handler stops reading an "input" array past it.
func (e *Embedder) MaxBatch() int { return e.cfg.MaxBatch }

// Cache returns the Embedder's cache (nil when disabled), for stats.
func (e *Embedder) Cache() *Cache { return e.cache }

func (e *Embedder) route(model string) Provider { return e.providers[e.routeIndex(model)] }

// routeIndex is the index in providers of route(model).
func (e *Embedder) routeIndex(model string) int {
	for i, p := range e.providers {
		if o, ok := p.(ModelOwner); ok && o.Owns(model) {
			return i
		}
	}
	return 0
}

// Validate checks texts against the limits; see the package comment.
// single is true when "input" was one string, not an array: its errors
// name "input", not "input[0]", an element the request did not have.
func (e *Embedder) validate(texts []string, single bool) error {
	const op = "embed.Embed"
	if len(texts) == 0 {
		return errs.Errorf(op, errs.Invalid, `"input" is an empty array; give at least one text`)
	}
	if len(texts) > e.cfg.MaxBatch {
		return errs.Errorf(op, errs.TooLarge, "batch of %d texts exceeds the limit of %d", len(texts), e.cfg.MaxBatch)
	}
	for i, t := range texts {
		name := "input[" + itoa(i) + "]"
		if single {
			name = "input"
		}
		if len(t) > e.cfg.MaxTextBytes {
			return errs.Errorf(op, errs.TooLarge, "%s is %d bytes, over the limit of %d", name, len(t), e.cfg.MaxTextBytes)
		}
		if isBlank(t) {
			return errs.Errorf(op, errs.Invalid, "%s is empty", name)
		}
	}
	return nil
}

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// Embed implements Service.
func (e *Embedder) Embed(ctx context.Context, req EmbedRequest) (EmbedResponse, error) {
	texts, err := req.Texts()
	if err != nil {
		return EmbedResponse{}, err
	}
	_, single := req.Input.(string)
	if err := e.validate(texts, single); err != nil {
		return EmbedResponse{}, err
	}
	model := req.Model
	if model == "" {
		model = e.cfg.DefaultModel
	}
	p := e.route(model)
	if c, ok := p.(ModelCanonicalizer); ok {
		model = c.Canonical(model)
	}
	// The cache key names the model's weights when the provider can say
	// (Ollama's digest): a model pulled again with new weights of the same
	// length gets new vectors, not the old weights' cached ones (ADR-086).
	// The generation changes when the model answers other dims than
	// before: cached vectors of the old weights are forgotten as soon as
	// any request sees the new ones, not after DigestTTL.
	// The revision is also the answer's, so clients (matrixd) can tell
	// new weights of the same dims from the old (ADR-115).
	var rev string
	if rv, ok := p.(Revisioner); ok {
		rev = rv.Revision(ctx, model)
	}
	var gen uint64
	if e.cache != nil {
		gen = e.generation(p, model, rev)
	}
	key := cacheKeyOf(model, rev, gen)
	out := make([][]float32, len(texts))

	// cache hits; unique misses keep the first index of each text
	var missIdx []int
	var seen map[string]int
	for i, t := range texts {
		if v := e.cache.Get(key, t); v != nil {
			out[i] = v
			continue
		}
		if seen == nil {
			seen = make(map[string]int)
		}
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = i
		missIdx = append(missIdx, i)
	}
	if len(missIdx) > 0 {
		if err := e.compute(ctx, p, model, texts, missIdx, out); err != nil {
			if req.Model == "" && errs.KindOf(err) == errs.NotFound {
				// the client asked for no model: the configured default
				// missing is the server's fault, not a 404 for the client
				return EmbedResponse{}, errs.E("embed.Embed", errs.Unavailable, errs.StatusBadGateway,
					"the default model ([embedd].default_model) is not available", err)
			}
			return EmbedResponse{}, err
		}
		// Cached vectors of another length than the provider's answer
		// now (the model was replaced on the Ollama side) are stale:
		// embed those texts again rather than fail every request that
		// mixes old and new texts until the cache forgets them.
		if dims := len(out[missIdx[0]]); len(missIdx) < len(texts) {
			var stale []int
			for i, t := range texts {
				if out[i] != nil && len(out[i]) != dims {
					if _, dup := seen[t]; !dup {
						seen[t] = i
						stale = append(stale, i)
					}
					out[i] = nil
				}
			}
			if len(stale) > 0 {
				if err := e.compute(ctx, p, model, texts, stale, out); err != nil {
					return EmbedResponse{}, err
				}
				missIdx = append(missIdx, stale...)
			}
		}
		// duplicates of a computed text get their own copy
		for i, t := range texts {
			if out[i] == nil {
				out[i] = clone(out[seen[t]])
			}
		}
	}
	dims := len(out[0])
	for i, v := range out {
		if len(v) != dims || dims == 0 {
			return EmbedResponse{}, errs.E("embed.Embed", errs.Unavailable, errs.StatusBadGateway,
				"model "+model+": vectors of different lengths in one answer (input[0] has "+itoa(dims)+
					" floats, input["+itoa(i)+"] "+itoa(len(v))+")")
		}
	}
	// Only a whole, consistent answer is cached: a batch whose vectors
	// disagree with another batch's is not kept to poison later requests.
	if len(missIdx) > 0 && e.cache != nil {
		g, ok := e.observe(p, model, rev, gen, dims)
		if !ok {
			missIdx = nil
		} else if g != gen {
			key = cacheKeyOf(model, rev, g)
		}
	}
	for _, i := range missIdx {
		e.cache.Put(key, texts[i], out[i])
	}
	return EmbedResponse{Model: model, Dims: dims, Embeddings: out, Revision: rev}, nil
}

// compute embeds texts[idx...] in chunks, at most MaxConcurrent provider
// calls in flight across the Embedder, and fills out and the cache.
func (e *Embedder) compute(ctx context.Context, p Provider, model string, texts []string, idx []int, out [][]float32) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	for start := 0; start < len(idx); start += e.cfg.ChunkSize {
		chunk := idx[start:min(start+e.cfg.ChunkSize, len(idx))]
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			fail(ctxErr(ctx, p, model))
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-e.sem }()
			batch := make([]string, len(chunk))
			for j, i := range chunk {
				batch[j] = texts[i]
			}
			vecs, err := p.Embed(ctx, model, batch)
			if err == nil {
				err = checkVectors(p, model, batch, vecs)
			}
			if err != nil {
				fail(err)
				return
			}
			for j, i := range chunk {
				out[i] = vecs[j]
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func ctxErr(ctx context.Context, p Provider, model string) error {
	if ctx.Err() == context.DeadlineExceeded {
		return errs.E("embed.Embed", errs.Timeout, p.Name()+" model "+model+": deadline exceeded waiting for a free slot", ctx.Err())
	}
	return errs.E("embed.Embed", errs.Invalid, errs.StatusClientClosed, "the client closed the connection before the answer", ctx.Err())
}

// checkVectors rejects a provider answer of the wrong count, with vectors of
// different lengths, or with NaN/Inf or all zeros.
func checkVectors(p Provider, model string, batch []string, vecs [][]float32) error {
	bad := func(msg string) error {
		return errs.E("embed.Embed", errs.Unavailable, errs.StatusBadGateway, p.Name()+" model "+model+": "+msg)
	}
	if len(vecs) != len(batch) {
		return bad("returned " + itoa(len(vecs)) + " embeddings for " + itoa(len(batch)) + " inputs")
	}
	for i, v := range vecs {
		if len(v) == 0 {
			return bad("returned an empty embedding")
		}
		if len(v) != len(vecs[0]) {
			return bad("returned embeddings of different lengths in one answer (" + itoa(len(vecs[0])) +
				" and " + itoa(len(v)) + " floats, inputs 0 and " + itoa(i) + " of the batch)")
		}
		zero := true
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return bad("returned NaN or Inf")
			}
			zero = zero && x == 0
		}
		if zero {
			// cosine search cannot rank a zero vector: it would match nothing, silently
			return bad("returned a zero vector (all " + itoa(len(v)) + " floats 0)")
		}
	}
	return nil
}

// Models implements Service: every provider's models, the default marked.
// A provider failing is named in Unavailable (its error names the provider
// and URL); the call fails only when every provider failed, or with the
// request's own end.
func (e *Embedder) Models(ctx context.Context) (ModelsResponse, error) {
	resp := ModelsResponse{Models: []ModelInfo{}}
	found := false
	var firstErr error
	def := e.routeIndex(e.cfg.DefaultModel)
	for i, p := range e.providers {
		pctx, cancel := context.WithTimeout(ctx, e.cfg.ModelsTimeout)
		ms, err := p.Models(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ModelsResponse{}, err
			}
			if pctx.Err() == context.DeadlineExceeded { // its own deadline, not cancel's
				err = errs.Errorf("embed.models", errs.Unavailable, "%s did not list its models within %v (%s)", p.Name(), e.cfg.ModelsTimeout, errs.Message(err))
			}
			if firstErr == nil {
				firstErr = err
			}
			resp.Unavailable = append(resp.Unavailable, UnavailableProvider{Provider: p.Name(), Error: errs.Message(err)})
			continue
		}
		for _, m := range ms {
			if !found && i == def && sameModel(p, m.Name, e.cfg.DefaultModel) {
				m.Default, found = true, true
			}
			resp.Models = append(resp.Models, m)
		}
	}
	if !found {
		// the default is served by the primary provider even if not listed
		// (an Ollama model not pulled yet): show it, dims unknown
		resp.Models = append(resp.Models, ModelInfo{Name: e.cfg.DefaultModel, Provider: e.route(e.cfg.DefaultModel).Name(), Default: true})
	}
	if len(resp.Unavailable) == len(e.providers) {
		return ModelsResponse{}, firstErr
	}
	return resp, nil
}

// sameModel reports whether provider p's model listed as listed is the
// model named configured: by the provider's own names when it has several
// for one model (ModelNamer: Ollama's "library/m" and "M" are "m:latest"),
// else the same name or the name without ":latest".
func sameModel(p Provider, listed, configured string) bool {
	if n, ok := p.(ModelNamer); ok {
		return n.SameModel(listed, configured)
	}
	return listed == configured || strings.TrimSuffix(listed, ":latest") == configured
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
