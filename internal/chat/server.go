package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// ProviderHeader names the provider that answered (set before the first
// byte of a streamed answer, so OpenAI clients can read it too).
const ProviderHeader = "X-Chat-Provider"

// Routes registers chatd's routes over svc: all of them, in one place.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc, log: env.Log}
	return func(r chi.Router) {
		r.Get(RouteProviders, env.Handle(h.providers))
		// The OpenAI-compatible routes answer errors with OpenAI's type,
		// code and param added to DESIGN.md's body (ADR-119).
		r.Get(RouteModels, h.openAIRoute(h.models))
		r.Get(RouteModel, h.openAIRoute(h.model))
		r.Post(RouteChat, env.Handle(withRetryAfter(h.chat)))
		r.Post(RouteCompletions, h.openAIRoute(h.completions))
		r.Post(RouteBaseCompletions, h.openAIRoute(h.completions))
		r.Post(RouteOllamaChat, env.Handle(h.ollamaChat)) // writeOllamaError sets it
		r.Get(RouteOllamaTags, env.Handle(h.ollamaTags))
		r.HandleFunc(RouteOllamaAPI, h.ollamaOther)
	}
}

// withRetryAfter sets the error answer's Retry-After (SetRetryAfter)
// before the error is written.
func withRetryAfter(f shared.HandlerFunc) shared.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := f(w, r)
		if err != nil {
			SetRetryAfter(w.Header(), err)
		}
		return err
	}
}

type handlers struct {
	svc Service
	log *slog.Logger
}

// RefusalCounter is implemented by a Service that counts the chat
// requests a route refuses before calling Chat or ChatStream: a bad
// query, body or field, an unknown provider, too many tools (chatd's
// Dispatcher, in lakehouse_chatd_requests_total, ADR-170). stream says
// whether the request asked for a stream when its body was read that far,
// nil when it was not (it did not decode).
type RefusalCounter interface {
	Refused(ctx context.Context, stream *bool, err error)
}

// refused tells the service of a chat request the route refuses with err,
// and returns err.
func (h *handlers) refused(r *http.Request, stream *bool, err error) error {
	if rc, ok := h.svc.(RefusalCounter); ok {
		rc.Refused(r.Context(), stream, err)
	}
	return err
}

// Query parameters (ADR-100). chatd's own routes, GET /v1/chat/providers
// and POST /v1/chat, take none and refuse any (shared.QueryParams, as every
// daemon since ADR-099): POST /v1/chat?provider=kimi was answered by the
// provider the body chose and ?stream=true with one JSON object. The routes that
// imitate OpenAI (GET /v1/chat/models, POST /v1/chat/completions) and
// Ollama (POST /v1/chat/api/chat) ignore them, as the services they stand
// in for do: Azure OpenAI clients send ?api-version= on every request, the
// OpenAI SDKs add their default_query/defaultQuery/WithQuery parameters to
// every request, Ollama's server reads no query parameter and LiteLLM's
// proxy ignores them; a refusal would break a client library that works
// against the real service. What such a route does never depends on its
// query.

// nativeBodyHint: the native chat's options are fields of its JSON body.
func nativeBodyHint([]string) string {
	return `provider, model, messages, stream and the sampling options are fields of the JSON body ({"model":"...","messages":[...],"stream":true})`
}

func (h *handlers) providers(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("chat.providers", r.URL.RawQuery, nil); err != nil {
		return err
	}
	ps, err := h.svc.Providers(r.Context())
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, ProvidersResponse{Providers: ps})
}

// models is OpenAI's GET /v1/models; its query is ignored (ADR-100).
func (h *handlers) models(w http.ResponseWriter, r *http.Request) error {
	ml, err := h.svc.Models(r.Context())
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, ml)
}

// model is OpenAI's GET /v1/models/{model} (models.retrieve): the entry
// of models whose id is the rest of the path, unescaped once (openai-node
// escapes the slash of "ollama/llama3.2", openai-python does not); an id
// it does not list is a 404 as OpenAI's ("The model `x` does not exist",
// code model_not_found). Its query is ignored (ADR-100).
func (h *handlers) model(w http.ResponseWriter, r *http.Request) error {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), RouteModels+"/")
	id, err := url.PathUnescape(raw)
	if err != nil {
		return errs.Errorf("chat.model", errs.Invalid, "model %q: not a valid URL path segment", raw)
	}
	ml, err := h.svc.Models(r.Context())
	if err != nil {
		return err
	}
	for _, m := range ml.Data {
		if m.ID == id {
			return shared.WriteJSON(w, http.StatusOK, m)
		}
	}
	return errs.Errorf("chat.model", errs.NotFound, "The model `%s` does not exist: chatd lists %s", id, modelIDs(ml))
}

func modelIDs(ml ModelList) string {
	if len(ml.Data) == 0 {
		return "no model (no provider is registered)"
	}
	ids := make([]string, len(ml.Data))
	for i, m := range ml.Data {
		ids[i] = strconv.Quote(m.ID)
	}
	return strings.Join(ids, ", ")
}

// chat is the native POST /v1/chat: one JSON answer, or NDJSON lines.
func (h *handlers) chat(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("chat", r.URL.RawQuery, nativeBodyHint); err != nil {
		return h.refused(r, nil, err)
	}
	var req Request
	if err := decodeBody(r, &req, true); err != nil {
		return h.refused(r, nil, err)
	}
	if err := req.Validate(); err != nil {
		return h.refused(r, &req.Stream, err)
	}
	if !req.Stream {
		resp, err := h.svc.Chat(r.Context(), req)
		if err != nil {
			return err
		}
		w.Header().Set(ProviderHeader, resp.Provider)
		return shared.WriteJSON(w, http.StatusOK, resp)
	}
	return h.stream(w, r, req, &ndjsonEncoder{})
}

// completions is OpenAI's POST /v1/chat/completions; its query is ignored
// (ADR-100).
func (h *handlers) completions(w http.ResponseWriter, r *http.Request) error {
	var creq CompletionRequest
	if err := decodeLenient(r, &creq); err != nil {
		return h.refused(r, nil, err)
	}
	if err := tooManyTools(creq.Tools); err != nil {
		return h.refused(r, &creq.Stream, err)
	}
	req, err := creq.ToRequest()
	if err != nil {
		return h.refused(r, &creq.Stream, err)
	}
	if !req.Stream {
		resp, err := h.svc.Chat(r.Context(), req)
		if err != nil {
			return err
		}
		w.Header().Set(ProviderHeader, resp.Provider)
		return shared.WriteJSON(w, http.StatusOK, toCompletion(resp))
	}
	return h.stream(w, r, req, &sseEncoder{includeUsage: creq.StreamOptions != nil && creq.StreamOptions.IncludeUsage})
}

// ollamaChat is Ollama's POST /api/chat under /v1/chat (ADR-062); its
// query is ignored (ADR-100). An error before the answer started is
// Ollama's error body (OllamaErrorBody), as its failure mid-stream is
// Ollama's {"error":"..."} line (ADR-064).
func (h *handlers) ollamaChat(w http.ResponseWriter, r *http.Request) error {
	sw := &startWriter{ResponseWriter: w}
	err := h.ollamaAnswer(sw, r)
	if err == nil || sw.started {
		return err
	}
	writeOllamaError(w, r, h.log, err)
	return nil
}

// OllamaErrorBody is an error answered on the Ollama route (ADR-114):
// Ollama's own {"error":"<message>"}, which every Ollama client reads as
// the error's text — ollama-js makes errorData.error its ResponseError's
// message (DESIGN.md's object there became "[object Object]"), the Go
// client's StatusError.ErrorMessage and ollama-python's ResponseError.error
// take the string — plus DESIGN.md's kind and request_id beside it, which
// those clients ignore.
type OllamaErrorBody struct {
	Error     string    `json:"error"`
	Kind      errs.Kind `json:"kind"`
	RequestID string    `json:"request_id"`
}

// writeOllamaError answers err as errs.WriteHTTP does (status, logging,
// X-Lakehouse-Error), in Ollama's body, with Content-Type as Ollama (gin)
// sends it.
func writeOllamaError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	reqID := w.Header().Get(errs.RequestIDHeader)
	if reqID == "" {
		reqID = r.Header.Get(errs.RequestIDHeader)
	}
	err = errs.LogFailure(log, r, reqID, err)
	status := errs.StatusOf(err)
	kind, msg := errs.KindOf(err), errs.Message(err)
	b, _ := json.Marshal(OllamaErrorBody{Error: msg, Kind: kind, RequestID: reqID})
	h := w.Header()
	SetRetryAfter(h, err)
	errs.SetAcceptEncoding(h, status, err)
	// The error in the header too, as on every other route: the answer
	// to a HEAD has no body (ADR-132).
	errs.SetErrorHeader(h, kind, msg)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// startWriter notes whether the answer has started (headers or bytes
// out): an error after that cannot be an error answer.
type startWriter struct {
	http.ResponseWriter
	started bool
}

func (s *startWriter) WriteHeader(code int) {
	s.started = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *startWriter) Write(b []byte) (int, error) {
	s.started = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the Flusher underneath.
func (s *startWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ollamaTags is Ollama's GET /api/tags: each registered provider's
// default model, named as chatd takes it ("ollama/llama3.2"); size and
// digest are unknown to a gateway (0 and ""). Its query is ignored.
func (h *handlers) ollamaTags(w http.ResponseWriter, r *http.Request) error {
	ml, err := h.svc.Models(r.Context())
	if err != nil {
		writeOllamaError(w, r, h.log, err)
		return nil
	}
	out := api.ListResponse{Models: make([]api.ListModelResponse, 0, len(ml.Data))}
	for _, m := range ml.Data {
		out.Models = append(out.Models, api.ListModelResponse{Name: m.ID, Model: m.ID, ModifiedAt: time.Unix(m.Created, 0).UTC()})
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// ollamaOther answers the parts of Ollama's API chatd does not serve
// (/api/generate, /api/show, /api/pull, ...) with a 404 an Ollama client
// can show: DESIGN.md's body there was "ResponseError: [object Object]".
func (h *handlers) ollamaOther(w http.ResponseWriter, r *http.Request) {
	writeOllamaError(w, r, h.log, errs.Errorf("chat.ollama", errs.NotFound,
		"%s %s: chatd serves Ollama's POST /api/chat and GET /api/tags only", r.Method, r.URL.Path))
}

func (h *handlers) ollamaAnswer(w http.ResponseWriter, r *http.Request) error {
	var oreq OllamaChatRequest
	if err := decodeLenient(r, &oreq); err != nil {
		return h.refused(r, nil, err)
	}
	stream := oreq.Stream == nil || *oreq.Stream // Ollama streams unless told not to
	if err := tooManyTools(oreq.Tools); err != nil {
		return h.refused(r, &stream, err)
	}
	req, err := oreq.ToRequest()
	if err != nil {
		return h.refused(r, &stream, err)
	}
	start := time.Now()
	if !req.Stream {
		resp, err := h.svc.Chat(r.Context(), req)
		if err != nil {
			return err
		}
		w.Header().Set(ProviderHeader, resp.Provider)
		b, _ := json.Marshal(toOllama(resp, time.Since(start)))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(b)
		return err
	}
	return h.stream(w, r, req, &ollamaEncoder{start: start})
}

// decodeLenient decodes a body from a foreign client library: unknown
// fields are ignored (as OpenAI-compatible and Ollama servers do), but the
// body must be one JSON value, nothing after it but white space (as
// decodeStrict wants on the native route): a body with anything
// after its object is malformed, never half-read.
func decodeLenient(r *http.Request, v any) error { return decodeBody(r, v, false) }

// decodeStrict is shared.DecodeJSON for the native route (unknown fields
// are an error, then v.Validate), with chat's limit: a list over
// MaxMessages is 413 too_large, as a body over max_body_bytes is.
func decodeStrict(r *http.Request, v any) error {
	if err := decodeBody(r, v, true); err != nil {
		return err
	}
	if val, ok := v.(shared.Validator); ok {
		return val.Validate()
	}
	return nil
}

func decodeBody(r *http.Request, v any, strict bool) error {
	// Strict JSON (shared.StrictJSONFor): invalid UTF-8 in a message was
	// sent on as U+FFFD, {"model":"a","model":"b"} took the last and
	// {"model":"a","Model":"b"} set model to b.
	if err := shared.PlainBody(r); err != nil {
		return err // a gzip body was "not valid JSON: invalid character '\x1f'"
	}
	dec := json.NewDecoder(shared.StrictJSONFor(r.Body, v))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var be *ShapeError
		var fe *FieldError
		switch {
		case errors.As(err, &be):
			return errs.E("decode", errs.Invalid, be.Msg)
		case errors.As(err, &fe):
			return errs.E("decode", errs.Invalid, fe.Error())
		case errors.As(err, &mbe):
			return errs.E("decode", errs.TooLarge, fmt.Sprintf("request body over %d bytes", mbe.Limit))
		case errors.Is(err, ErrTooManyMessages):
			return errs.E("decode", errs.TooLarge, ErrTooManyMessages.Error())
		case errors.Is(err, ErrTooManyToolCalls), errors.Is(err, ErrTooManyTools):
			return errs.E("decode", errs.TooLarge, err.Error())
		case errors.Is(err, io.EOF):
			return errs.E("decode", errs.Invalid, "empty request body: want a JSON object")
		}
		return errs.E("decode", errs.Invalid, shared.JSONDecodeMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		var se *shared.StrictJSONError
		switch {
		case errors.As(err, &mbe):
			return errs.E("decode", errs.TooLarge, fmt.Sprintf("request body over %d bytes", mbe.Limit))
		case errors.As(err, &se):
			return errs.E("decode", errs.Invalid, se.Message())
		}
		return errs.E("decode", errs.Invalid, "request body has data after the JSON value")
	}
	return nil
}

// encoder frames a native stream for one wire format.
type encoder interface {
	contentType() string
	chunk(dst []byte, r Response) []byte
	fail(dst []byte, e errs.BodyError) []byte
	end(dst []byte) []byte
}

// stream starts the answer (fallback happens inside ChatStream, before any
// byte is written), then copies chunk by chunk, flushing each. A failure
// after the first chunk ends the stream with the format's error frame.
func (h *handlers) stream(w http.ResponseWriter, r *http.Request, req Request, enc encoder) error {
	st, err := h.svc.ChatStream(r.Context(), req)
	if err != nil {
		return err
	}
	defer st.Close()
	first, err := st.Next()
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", enc.contentType())
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set(ProviderHeader, first.Provider)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 0, 1024)
	send := func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(enc.chunk(buf[:0], first)); err != nil {
		return err // the client went away; Close cancels the upstream
	}
	for {
		resp, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(r.Context().Err(), context.Canceled) {
				// The client hung up: nobody to tell, and no upstream
				// failure to report (Close cancels the upstream).
				h.log.Info("client closed the connection mid-stream", "req_id", shared.RequestID(r.Context()),
					"op", "chat.stream", "provider", first.Provider)
				return nil
			}
			h.log.Warn("stream broke after the first token", "req_id", shared.RequestID(r.Context()),
				"op", "chat.stream", "provider", first.Provider, "err", err.Error())
			body := errs.BodyError{Kind: errs.KindOf(err), Message: errs.Message(err), RequestID: shared.RequestID(r.Context())}
			if err := send(enc.fail(buf[:0], body)); err != nil {
				return err
			}
			break
		}
		if err := send(enc.chunk(buf[:0], resp)); err != nil {
			return err
		}
	}
	if b := enc.end(buf[:0]); len(b) > 0 {
		return send(b)
	}
	return nil
}

// ndjsonEncoder is the native stream: one Response per line, tool calls
// whole on the line where they are complete (wholeCalls).
type ndjsonEncoder struct {
	calls wholeCalls
	head  Response // id, provider, model and created_at of the lines sent
}

func (*ndjsonEncoder) contentType() string { return "application/x-ndjson" }

func (e *ndjsonEncoder) chunk(dst []byte, r Response) []byte {
	e.head = Response{ID: r.ID, Provider: r.Provider, Model: r.Model, CreatedAt: r.CreatedAt}
	for _, l := range e.calls.lines(r) {
		b, _ := json.Marshal(l)
		dst = append(append(dst, b...), '\n')
	}
	return dst
}

// fail is the error line of a stream that broke: the answer's id,
// provider, model and created_at like every line before it (they were
// empty strings and the time of the break), role assistant, done, error.
func (e *ndjsonEncoder) fail(dst []byte, be errs.BodyError) []byte {
	r := e.head
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	r.Message = Message{Role: RoleAssistant}
	r.Done, r.Error = true, &be
	b, _ := json.Marshal(r)
	return append(append(dst, b...), '\n')
}

func (*ndjsonEncoder) end(dst []byte) []byte { return dst }

// wholeCalls turns the streamed chunks of a native answer into the lines
// of an NDJSON route (native, Ollama's): text as it comes, a tool call on
// the line where it is complete — once the next call started, or before
// the final line (as Ollama streams whole calls). A chunk with nothing to
// say (a piece of a call's arguments) is no line.
type wholeCalls struct{ asm ToolCallAssembler }

func (w *wholeCalls) lines(r Response) []Response {
	w.asm.Add(r.ToolCallDeltas)
	r.ToolCallDeltas = nil
	calls := w.asm.Complete(r.Done)
	if !r.Done {
		if r.Message.Content == "" && r.Message.Thinking == "" && len(calls) == 0 && len(r.Logprobs) == 0 {
			return nil
		}
		r.Message.ToolCalls = calls
		return []Response{r}
	}
	if len(calls) == 0 {
		return []Response{r}
	}
	line := r
	line.Done, line.DoneReason, line.Usage = false, "", nil
	line.Message.ToolCalls = calls
	r.Message.Content, r.Message.Thinking, r.Logprobs = "", "", nil
	return []Response{line, r}
}

// sseEncoder is OpenAI's stream: chat.completion.chunk events, the role in
// the first delta, finish_reason in the last, an optional usage chunk
// (stream_options.include_usage), then [DONE].
type sseEncoder struct {
	includeUsage bool
	started      bool
	sentRole     bool
	id           string
	created      int64
	model        string
}

func (e *sseEncoder) contentType() string { return "text/event-stream; charset=utf-8" }

func (e *sseEncoder) chunk(dst []byte, r Response) []byte {
	if !e.started {
		e.started = true
		e.id, e.created, e.model = completionID(r), r.CreatedAt.Unix(), QualifiedModel(r)
	}
	c := CompletionChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model}
	if !e.sentRole && len(r.Logprobs) > 0 {
		// With logprobs the role comes alone, as OpenAI streams it, with
		// an empty logprobs list: openai-node's stream helper counts a
		// first chunk's logprobs twice (ADR-125).
		e.sentRole = true
		c.Choices = []ChunkChoice{{Delta: Delta{Role: RoleAssistant, Content: new(string)}, Logprobs: emptyLogprobs}}
		dst = e.emit(dst, c)
	}
	if !e.sentRole || r.Message.Content != "" || r.Message.Thinking != "" || len(r.ToolCallDeltas) > 0 || len(r.Logprobs) > 0 {
		d := Delta{}
		switch {
		case r.Message.Content != "":
			content := r.Message.Content
			d.Content = &content
		case !e.sentRole && (len(r.ToolCallDeltas) > 0 || r.Message.Thinking != ""):
			// OpenAI: an answer that starts with a call has content null;
			// so has a reasoning delta (DeepSeek's and LiteLLM's form).
			d.NullContent = true
		case !e.sentRole:
			d.Content = new(string)
		}
		if r.Message.Thinking != "" {
			// Both names (ADR-086): reasoning_content is LiteLLM's,
			// DeepSeek's and vLLM's; reasoning is OpenRouter's and Ollama's
			// OpenAI API's. A client reads the one it knows; one that
			// knows both (PickReasoning) takes it once.
			thinking := r.Message.Thinking
			d.ReasoningContent, d.Reasoning = &thinking, &thinking
		}
		if !e.sentRole {
			d.Role, e.sentRole = RoleAssistant, true
		}
		// Tool-call pieces as they came: index always, id, type and name
		// on a call's first piece, then argument fragments (OpenAI's form,
		// which openai-go and openai-python accumulate by index).
		for _, td := range r.ToolCallDeltas {
			tc := CompletionToolCall{Index: &td.Index, ID: td.ID, Function: CompletionFunctionCall{Name: td.Name, Arguments: td.Arguments}}
			if td.ID != "" {
				tc.Type = "function"
			}
			d.ToolCalls = append(d.ToolCalls, tc)
		}
		c.Choices = []ChunkChoice{{Delta: d, Logprobs: OpenAILogprobs(r.Logprobs)}}
		dst = e.emit(dst, c)
	}
	if r.Done {
		reason := r.DoneReason
		if reason == "" {
			reason = "stop"
		}
		c.Choices = []ChunkChoice{{Delta: Delta{}, Logprobs: jsonNull, FinishReason: &reason}}
		dst = e.emit(dst, c)
		if e.includeUsage {
			u := r.Usage
			if u == nil {
				u = &Usage{}
			}
			dst = e.emit(dst, CompletionChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created,
				Model: e.model, Choices: []ChunkChoice{}, Usage: u})
		}
	}
	return dst
}

func (e *sseEncoder) emit(dst []byte, c CompletionChunk) []byte {
	b, _ := json.Marshal(c)
	return AppendSSE(dst, b)
}

func (e *sseEncoder) fail(dst []byte, be errs.BodyError) []byte {
	// The error body of the OpenAI routes (ADR-119): OpenAI's type, code
	// and param beside DESIGN.md's kind, message and request_id (type was
	// the kind, "unavailable", which is no OpenAI type).
	typ, code, param := OpenAIErrorFields(errs.StatusOf(&errs.Error{Kind: be.Kind}), be.Message)
	b, _ := json.Marshal(OpenAIErrorBody{Error: OpenAIError{Kind: be.Kind, Message: be.Message, RequestID: be.RequestID,
		Type: typ, Code: code, Param: param}})
	return AppendSSE(dst, b)
}

func (e *sseEncoder) end(dst []byte) []byte { return AppendSSE(dst, SSEDone) }

var (
	jsonNull      = json.RawMessage("null")
	emptyLogprobs = json.RawMessage(`{"content":[],"refusal":null}`)
)

func completionID(r Response) string {
	if r.ID != "" {
		return r.ID
	}
	return "chatcmpl-" + shared.NewRequestID()
}

// QualifiedModel is the model the OpenAI and Ollama routes' answers name:
// "<provider>/<model>", the form of /v1/chat/models and /api/tags ids and
// of the model a client sends ("ollama/llama3.2"), with the model as the
// upstream answered it (ADR-119). It was the upstream's bare name
// ("llama3.2"), which is no model chatd lists and, sent back, may reach
// another provider. LiteLLM does the same (its Ollama answers say
// "ollama/<model>", its proxy answers the name the client asked for), as
// does Ollama, which answers the name it was asked for. The native route
// keeps the bare name beside its provider field. An answer that names no
// provider (or no model) keeps the model as is.
func QualifiedModel(r Response) string {
	if r.Provider == "" || r.Model == "" {
		return r.Model
	}
	return r.Provider + "/" + r.Model
}

// toCompletion is the OpenAI answer of a native one.
func toCompletion(r Response) Completion {
	u := r.Usage
	if u == nil {
		u = &Usage{}
	}
	reason := r.DoneReason
	if reason == "" {
		reason = "stop"
	}
	msg := CompletionMessage{Role: RoleAssistant, Content: Content(r.Message.Content), ToolCalls: MarshalToolCalls(r.Message.ToolCalls)}
	// OpenAI: content is null in an answer of tool calls only.
	msg.NullContent = msg.Content == "" && len(msg.ToolCalls) > 0
	msg.ReasoningContent, msg.Reasoning = r.Message.Thinking, r.Message.Thinking // both names, as in a stream
	return Completion{ID: completionID(r), Object: "chat.completion", Created: r.CreatedAt.Unix(), Model: QualifiedModel(r),
		Choices: []CompletionChoice{{Message: msg, Logprobs: OpenAILogprobs(r.Logprobs), FinishReason: reason}}, Usage: u}
}
