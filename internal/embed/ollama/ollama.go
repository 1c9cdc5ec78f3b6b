// Package ollama is embedd's Ollama provider: POST /api/embed with a batched
// "input" (the official client's request type, the answer read and checked
// here: bounded, no null taken for 0) and GET /api/tags through the official
// client github.com/ollama/ollama/api. embedd constructs it when [embedd].provider
// is "ollama" (URL from [embedd].provider_url, model from
// [embedd].default_model, e.g. nomic-embed-text-v2-moe).
//
// A transient failure of /api/embed (Ollama's 500/502/503/504, a
// connection refused or reset, an answer cut off) is tried again
// Config.Retries times (default 2, after 250 ms then 500 ms); the error of
// the last try is the answer, unless the request's deadline passes while
// waiting to try again: then it is a timeout (504), as during a call.
//
// Errors: a model Ollama does not have (its 404 `model "x" not found`) ->
// errs.NotFound naming it and `ollama pull`; Ollama unreachable, answering
// 5xx or another 404, a
// 200 that is not a whole embedding answer (cut or not JSON, {"error"},
// a null or a string in a vector, a number beyond float32, more than
// maxAnswerBytes) -> errs.Unavailable with status 502 and a message
// naming the provider, URL, model and what was wrong; the HTTP client's timeout or the context deadline
// -> errs.Timeout; Ollama rejecting an input (400) -> errs.Invalid.
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/api"
	names "github.com/ollama/ollama/types/model"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
)

// DefaultTimeout bounds one call to Ollama.
const DefaultTimeout = 2 * time.Minute

// Config configures the provider.
type Config struct {
	URL     string        // base URL, e.g. http://127.0.0.1:11434
	Timeout time.Duration // per HTTP call; default DefaultTimeout
	// Retries is how many times a transient failure of /api/embed (5xx
	// but 501, connection refused or reset, an answer cut off) is tried
	// again, after RetryWait, then twice that...; default DefaultRetries,
	// negative for none.
	Retries   int
	RetryWait time.Duration // default DefaultRetryWait
	// DigestTTL is how long the digests of /api/tags are trusted before
	// Revision asks again (default DefaultDigestTTL): a model pulled
	// again with new weights serves vectors of its old weights from
	// Embedder's cache at most this long.
	DigestTTL time.Duration
}

// DefaultDigestTTL bounds how long a re-pulled model's old vectors may
// still come from the cache (ADR-086) and its answers carry the old digest
// (ADR-115): one GET /api/tags per this period at most, on the first embed
// request after it, never one per request. 5 s (30 s before ADR-124: a
// listing of local manifests costs Ollama little next to an embed call).
const DefaultDigestTTL = 5 * time.Second

// tagsTimeout bounds the GET /api/tags that Revision makes on an embed
// request's path.
const tagsTimeout = 2 * time.Second

// Defaults of Config's retries: 3 tries over about 0.75 s, as OpenAI's
// SDKs retry a 5xx twice.
const (
	DefaultRetries   = 2
	DefaultRetryWait = 250 * time.Millisecond
)

// Provider is the Ollama embedding provider. Safe for concurrent use.
type Provider struct {
	url    string
	client *api.Client
	hc     *http.Client
	// retries and retryWait: see Config
	retries   int
	retryWait time.Duration
	mu        sync.Mutex
	// seen: canonical model name -> the dims of its last answer and the
	// digest believed then; the listing uses them only for that digest
	// (a model pulled again with other dims is not listed with the old).
	seen map[string]seenDims
	// digests: canonical model name -> digest from the last /api/tags
	// (at tagsAt); refresh serialises the refreshes Revision makes.
	digestTTL time.Duration
	digests   map[string]string
	tagsAt    time.Time
	refresh   sync.Mutex
	// kinds: digest -> what /api/show said of that model (a digest names
	// fixed content, so its answer never goes stale; pruned to the
	// digests of the last listing). A failed /api/show is kept too, with
	// retryAt: asked again only after showRetry.
	kinds map[string]modelKind
}

// seenDims is what an /api/embed answer showed of a model.
type seenDims struct {
	digest string
	dims   int
}

var _ embed.Provider = (*Provider)(nil)

// New returns a Provider for the Ollama at cfg.URL. It does not contact
// Ollama. Errors: invalid URL.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.Errorf("embed.ollama", errs.Invalid, "[embedd].provider_url %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	if cfg.DigestTTL <= 0 {
		cfg.DigestTTL = DefaultDigestTTL
	}
	hc := &http.Client{Timeout: cfg.Timeout, CheckRedirect: keepMethod}
	return &Provider{
		url:       strings.TrimRight(u.String(), "/"),
		client:    api.NewClient(u, hc),
		hc:        hc,
		retries:   cfg.Retries,
		retryWait: cfg.RetryWait,
		seen:      map[string]seenDims{},
		digestTTL: cfg.DigestTTL,
		digests:   map[string]string{},
		kinds:     map[string]modelKind{},
	}, nil
}

// keepMethod follows only redirects that keep the POST and its body (307,
// 308). A 301/302/303 would turn POST /api/embed into a GET without the
// texts (an http:// URL of an https:// Ollama answers so): it is a
// *redirectError instead, a 502 naming where it pointed.
func keepMethod(req *http.Request, via []*http.Request) error {
	if req.Method != via[0].Method {
		return &redirectError{to: req.URL.String()}
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// redirectError is a 301/302/303 answer, not followed.
type redirectError struct{ to string }

func (e *redirectError) Error() string { return "redirected to " + e.to }

// Name implements embed.Provider.
func (p *Provider) Name() string { return "ollama" }

// Embed implements embed.Provider with one /api/embed call (truncate=true:
// Ollama cuts a text to the model's context). The request is the official
// client's (api.EmbedRequest); the answer is read here, at most
// maxAnswerBytes, and checked (decodeAnswer): the official client reads
// an answer of any size and turns null into 0.
func (p *Provider) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	truncate := true
	body, err := json.Marshal(&api.EmbedRequest{Model: model, Input: texts, Truncate: &truncate})
	if err != nil {
		return nil, errs.E("embed.ollama", errs.Internal, err)
	}
	wait := p.retryWait
	for n := 0; ; n++ {
		out, again, err := p.embedOnce(ctx, model, body, len(texts))
		if err == nil || !again || n >= p.retries {
			return out, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			// the request's deadline (504) or its end, not the last
			// try's 502: the caller cannot tell its own deadline from
			// Ollama down otherwise (ADR-086)
			return nil, p.wrap(ctx, model, fmt.Errorf("%w while waiting to try again after: %s", ctx.Err(), errs.Message(err)))
		}
		wait *= 2
	}
}

// embedOnce is one POST /api/embed of body (n texts). again reports a
// failure worth another try: Ollama's 500/502/503/504 (a runner that
// crashed and reloads, "server busy, please try again"), a connection
// refused or reset, an answer cut off; not a timeout, a 4xx or a wrong
// answer.
func (p *Provider) embedOnce(ctx context.Context, model string, body []byte, n int) (out [][]float32, again bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/api/embed", bytes.NewReader(body))
	if err != nil {
		return nil, false, errs.E("embed.ollama", errs.Internal, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	transient := func(err error) bool {
		var ne net.Error
		var re *redirectError
		return ctx.Err() == nil && !(errors.As(err, &ne) && ne.Timeout()) && !errors.As(err, &re)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, transient(err), p.wrap(ctx, model, err)
	}
	defer resp.Body.Close()
	bad := func(msg string) error {
		return errs.E("embed.ollama", errs.Unavailable, errs.StatusBadGateway,
			fmt.Sprintf("ollama at %s: model %s: %s", p.url, model, msg))
	}
	limit := maxAnswerBytes(n)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if transient(err) {
			return nil, true, bad("the answer broke off: " + err.Error())
		}
		return nil, false, p.wrap(ctx, model, err)
	}
	if resp.StatusCode >= http.StatusBadRequest {
		se := api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
		if json.Unmarshal(raw, &se) != nil || se.ErrorMessage == "" {
			se.ErrorMessage = strings.TrimSpace(fmt.Sprintf("%.200s", raw))
		}
		switch resp.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			again = true
		}
		return nil, again, p.wrap(ctx, model, se)
	}
	if int64(len(raw)) > limit {
		return nil, false, bad(fmt.Sprintf("answered more than %d bytes for %d inputs", limit, n))
	}
	if resp.StatusCode/100 != 2 {
		return nil, false, bad(fmt.Sprintf("HTTP %d (want 200)", resp.StatusCode))
	}
	a, err := decodeAnswer(raw)
	if err != nil {
		return nil, false, bad(err.Error())
	}
	if len(a.Embeddings) != n {
		return nil, false, bad(fmt.Sprintf("returned %d embeddings for %d inputs", len(a.Embeddings), n))
	}
	out = make([][]float32, len(a.Embeddings))
	for i, v := range a.Embeddings {
		out[i] = v
	}
	if len(out) > 0 {
		key := canonical(model)
		p.mu.Lock()
		p.seen[key] = seenDims{digest: p.digests[key], dims: len(out[0])}
		p.mu.Unlock()
	}
	return out, false, nil
}

// maxAnswerBytes bounds the answer to n texts: 512 KiB a vector (over
// 20,000 floats as Ollama writes them) and 1 MiB besides.
func maxAnswerBytes(n int) int64 { return 1<<20 + int64(n)<<19 }

// Models implements embed.Provider: the embedding models of /api/tags
// (ADR-086). Ollama's listing does not say which models embed, so each
// model is asked about once per digest with POST /api/show (at most
// showParallel at a time; the answer is kept by digest, which names fixed
// content): its "capabilities" hold "embedding" (current Ollama); without
// that field (older Ollama) a model whose model_info has
// "<arch>.pooling_type" embeds — the test Ollama itself makes. Chat models
// are left out; a model /api/show cannot tell about (an error, no
// model_info, no answer within showTimeout) is listed rather than hidden,
// and asked again only after showRetry. Dims is the model's
// "<arch>.embedding_length" in model_info, known before any embedding
// (ADR-141); else the length of the last vector it answered under the
// digest listed now; else 0 (unknown).
func (p *Provider) Models(ctx context.Context) ([]embed.ModelInfo, error) {
	resp, err := p.client.List(ctx)
	if err != nil {
		return nil, p.wrap(ctx, "", err)
	}
	p.setDigests(resp.Models)
	kinds := make([]modelKind, len(resp.Models))
	var wg sync.WaitGroup
	sem := make(chan struct{}, showParallel)
	for i, m := range resp.Models {
		p.mu.Lock()
		k, ok := p.kinds[m.Digest]
		p.mu.Unlock()
		if ok && (k.retryAt.IsZero() || time.Now().Before(k.retryAt)) {
			kinds[i] = k
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, showTimeout)
			k, err := p.show(sctx, m.Name)
			cancel()
			if err != nil {
				k = modelKind{embeds: unknown, retryAt: time.Now().Add(showRetry)}
				if ctx.Err() != nil {
					// the listing itself ended: not the model's fault
					k.retryAt = time.Time{}
					kinds[i] = k
					return
				}
			}
			kinds[i] = k
			if m.Digest != "" {
				p.mu.Lock()
				p.kinds[m.Digest] = k
				p.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]embed.ModelInfo, 0, len(resp.Models))
	for i, m := range resp.Models {
		if kinds[i].embeds == no {
			continue
		}
		d := kinds[i].dims
		if s, ok := p.seen[canonical(m.Name)]; d == 0 && ok && s.digest == m.Digest {
			d = s.dims
		}
		out = append(out, embed.ModelInfo{Name: m.Name, Provider: p.Name(), Dims: d, Revision: m.Digest})
	}
	return out, nil
}

// showParallel bounds the /api/show requests of one listing.
const showParallel = 4

// showTimeout bounds one /api/show of a listing: an Ollama slow to answer
// it (or not at all) lists the model with dims unknown instead of holding
// the listing for embed.Config.ModelsTimeout. A model whose /api/show
// failed is asked again at the first listing after showRetry, not at
// every listing. Variables for tests.
var (
	showTimeout = 2 * time.Second
	showRetry   = 30 * time.Second
)

// maxShowBytes bounds an /api/show answer (its tensor list grows with the
// model: a few hundred KiB for the largest).
const maxShowBytes = 16 << 20

type tri int8

const (
	unknown tri = iota
	yes
	no
)

// modelKind is what /api/show says of a model: whether it embeds, and its
// embedding length (0 unknown). retryAt is set when /api/show failed:
// when to ask again.
type modelKind struct {
	embeds  tri
	dims    int
	retryAt time.Time
}

// show asks Ollama's POST /api/show about model.
func (p *Provider) show(ctx context.Context, model string) (modelKind, error) {
	body, _ := json.Marshal(map[string]string{"model": model})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/api/show", bytes.NewReader(body))
	if err != nil {
		return modelKind{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return modelKind{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return modelKind{}, fmt.Errorf("/api/show %s: HTTP %d", model, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxShowBytes+1))
	if err != nil {
		return modelKind{}, err
	}
	if len(raw) > maxShowBytes {
		return modelKind{}, fmt.Errorf("/api/show %s: answer over %d bytes", model, maxShowBytes)
	}
	return classify(raw)
}

// classify reads an /api/show answer: capabilities when present (current
// Ollama), else model_info's pooling_type (Ollama's own test: a GGUF with
// pooling_type is an embedding model), else unknown.
func classify(raw []byte) (modelKind, error) {
	var a struct {
		Capabilities []string                   `json:"capabilities"`
		ModelInfo    map[string]json.RawMessage `json:"model_info"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return modelKind{}, err
	}
	var k modelKind
	var arch string
	_ = json.Unmarshal(a.ModelInfo["general.architecture"], &arch)
	if arch != "" {
		var d float64
		if json.Unmarshal(a.ModelInfo[arch+".embedding_length"], &d) == nil && d > 0 && d < 1<<20 && d == float64(int(d)) {
			k.dims = int(d)
		}
	}
	switch {
	case len(a.Capabilities) > 0:
		k.embeds = no
		for _, c := range a.Capabilities {
			if c == "embedding" {
				k.embeds = yes
			}
		}
	case arch != "":
		k.embeds = no
		if _, ok := a.ModelInfo[arch+".pooling_type"]; ok {
			k.embeds = yes
		}
	}
	return k, nil
}

// Revision implements embed.Revisioner: the digest /api/tags gives model
// (Ollama's /api/embed answer names no digest), "" when it does not list
// it. The listing is trusted for DigestTTL; the
// first call after that asks again (one GET /api/tags, bounded by
// tagsTimeout, shared by the calls that arrive meanwhile). When the
// listing fails, the digests known are kept for another DigestTTL.
func (p *Provider) Revision(ctx context.Context, model string) string {
	key := canonical(model)
	p.mu.Lock()
	d, fresh := p.digests[key], !p.tagsAt.IsZero() && time.Since(p.tagsAt) < p.digestTTL
	p.mu.Unlock()
	if fresh {
		return d
	}
	p.refresh.Lock()
	defer p.refresh.Unlock()
	p.mu.Lock()
	d, fresh = p.digests[key], !p.tagsAt.IsZero() && time.Since(p.tagsAt) < p.digestTTL
	p.mu.Unlock()
	if fresh {
		return d
	}
	tctx, cancel := context.WithTimeout(ctx, tagsTimeout)
	resp, err := p.client.List(tctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.mu.Lock()
			p.tagsAt = time.Now()
			p.mu.Unlock()
		}
		return d
	}
	p.setDigests(resp.Models)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.digests[key]
}

// setDigests records a listing's digests (and forgets /api/show answers of
// digests no longer listed).
func (p *Provider) setDigests(ms []api.ListModelResponse) {
	digests := make(map[string]string, len(ms))
	live := make(map[string]bool, len(ms))
	for _, m := range ms {
		digests[canonical(m.Name)] = m.Digest
		live[m.Digest] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.digests, p.tagsAt = digests, time.Now()
	for d := range p.kinds {
		if !live[d] {
			delete(p.kinds, d)
		}
	}
}

// canonical is the name /api/tags lists a model under, in lower case:
// Ollama's own parse (types/model.ParseName fills in the registry
// registry.ollama.ai, the namespace library and the tag latest;
// DisplayShortest leaves the defaults out again). Ollama finds a model
// case-insensitively (every part compared with strings.EqualFold, its
// server's getExistingName), so case does not name another model.
func canonical(name string) string {
	if n := names.ParseName(name); n.IsValid() {
		return strings.ToLower(n.DisplayShortest())
	}
	return strings.ToLower(name)
}

// SameModel implements embed.ModelNamer: a and b name one model to Ollama
// ("nomic-embed-text", "Nomic-Embed-Text:latest",
// "registry.ollama.ai/library/nomic-embed-text:latest"), as canonical
// reads them (ADR-147). A name Ollama would refuse is only itself.
func (p *Provider) SameModel(a, b string) bool {
	na, nb := names.ParseName(a), names.ParseName(b)
	if !na.IsValid() || !nb.IsValid() {
		return a == b
	}
	return na.EqualFold(nb)
}

// wrap maps a client error to an *errs.Error naming provider, URL and model.
func (p *Provider) wrap(ctx context.Context, model string, err error) error {
	const op = "embed.ollama"
	where := "ollama at " + p.url
	if model != "" {
		where += ": model " + model
	}
	var se api.StatusError
	var ue *url.Error
	var re *redirectError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return errs.E(op, errs.Unavailable, errs.StatusBadGateway, where+": "+re.Error()+" (not followed: set [embedd].provider_url to where it points)")
	case errors.As(err, &se):
		msg := se.ErrorMessage
		if msg == "" {
			msg = se.Error()
		}
		switch {
		case se.StatusCode == http.StatusNotFound && model != "" && strings.Contains(msg, "not found") && strings.Contains(msg, "model"):
			// Ollama's own answer for a model it does not have
			// (`model "x" not found, try pulling it first`): the model
			// asked for does not exist there, a 404 as Ollama and
			// OpenAI answer it; Embedder makes it a 502 when the model
			// is the configured default.
			return errs.E(op, errs.NotFound, where+": not found ("+msg+"); run `ollama pull "+model+"`")
		case se.StatusCode == http.StatusNotFound:
			return errs.E(op, errs.Unavailable, errs.StatusBadGateway, where+": HTTP 404: "+msg+" (is "+p.url+" an Ollama of 0.3.4 or later?)")
		case se.StatusCode == http.StatusBadRequest:
			return errs.E(op, errs.Invalid, where+": input rejected: "+msg)
		default:
			return errs.E(op, errs.Unavailable, errs.StatusBadGateway, fmt.Sprintf("%s: HTTP %d: %s", where, se.StatusCode, msg))
		}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded ||
		(errors.As(err, &ue) && ue.Timeout()) || (errors.As(err, &ne) && ne.Timeout()):
		return errs.E(op, errs.Timeout, where+": timed out", err)
	case errors.Is(err, context.Canceled):
		return errs.E(op, errs.Invalid, errs.StatusClientClosed, "the client closed the connection before the answer ("+where+")", err)
	default:
		return errs.E(op, errs.Unavailable, errs.StatusBadGateway, where+": unreachable: "+describe(err))
	}
}

// describe shortens a transport error to its cause ("connection refused").
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial") {
		s = s[i+2:]
	}
	return s
}
