package chat

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// OpenAIErrorBody is an error answered on the OpenAI-compatible routes
// (/v1/chat/completions, /v1/chat/chat/completions, /v1/chat/models...;
// ADR-119): DESIGN.md's {"error":{"kind","message","request_id"}} with
// OpenAI's own fields added inside the same object — type, code and param
// — which the OpenAI SDKs expose as err.type, err.code and err.param
// (openai-node, openai-python) and LiteLLM and langchain branch on. The
// three are always present, code and param as null when there is none, as
// OpenAI sends them.
type OpenAIErrorBody struct {
	Error OpenAIError `json:"error"`
}

// OpenAIError is OpenAIErrorBody's object.
type OpenAIError struct {
	Kind      errs.Kind `json:"kind"`
	Message   string    `json:"message"`
	RequestID string    `json:"request_id"`
	Type      string    `json:"type"`
	Code      *string   `json:"code"`
	Param     *string   `json:"param"`
}

// Error codes chatd sends in OpenAIError.Code (OpenAI's names).
const (
	CodeModelNotFound     = "model_not_found"
	CodeRateLimitExceeded = "rate_limit_exceeded"
	CodeInvalidAPIKey     = "invalid_api_key"
)

// OpenAIErrorFields are OpenAI's type, code and param for an error chatd
// answers with status (errs.StatusOf) and message (errs.Message). Type
// follows what api.openai.com sends for the same status: a bad request,
// a 413 and a 404 are "invalid_request_error" (a 404 for a model also has
// code "model_not_found", as OpenAI's "The model `x` does not exist"), a
// 401 "invalid_request_error" with code "invalid_api_key", a 429
// "rate_limit_error" with "rate_limit_exceeded", a 5xx from chatd or its
// upstream "server_error", a 504 "timeout". param is the request field a
// 400 or 413 names first (messages[1].content, tools, n, ...), else nil.
func OpenAIErrorFields(status int, msg string) (typ string, code, param *string) {
	str := func(s string) *string { return &s }
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity, status == http.StatusRequestEntityTooLarge:
		return "invalid_request_error", nil, paramOf(msg)
	case status == http.StatusUnauthorized:
		return "invalid_request_error", str(CodeInvalidAPIKey), nil
	case status == http.StatusForbidden:
		return "permission_error", nil, nil
	case status == http.StatusNotFound:
		return "invalid_request_error", str(CodeModelNotFound), nil
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return "timeout", nil, nil
	case status == http.StatusTooManyRequests:
		return "rate_limit_error", str(CodeRateLimitExceeded), nil
	case status >= 500:
		return "server_error", nil, nil
	}
	return "invalid_request_error", nil, nil
}

// requestFields are the top-level JSON names of CompletionRequest: a
// message's leading word is a param only when it is one of them.
var requestFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[CompletionRequest]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	m["logprobs"], m["top_logprobs"] = true, true
	return m
}()

// leadingPath is a field path at the start of a message: "n 2: ...",
// "messages[1].tool_calls[0].function.arguments: ...", "tools: ...".
var leadingPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\]|\.[A-Za-z_][A-Za-z0-9_]*)*`)

// paramOf is the request field the first problem of a 400 message names:
// chatd's field messages start with the field ("max_completion_tokens 0:
// want at least 1", "messages[0].role ...") or quote it
// (`field "messages[1].content[0]": ...`, the decoder's form). nil when
// the message names no field of the request (a bad JSON body, "all
// providers failed: ...").
func paramOf(msg string) *string {
	first, _, _ := strings.Cut(msg, "; ")
	var path string
	if rest, ok := strings.CutPrefix(first, `field "`); ok {
		p, _, ok := strings.Cut(rest, `"`)
		if !ok {
			return nil
		}
		path = p
	} else {
		path = leadingPath.FindString(first)
		if path == "" {
			return nil
		}
		if next, _ := utf8.DecodeRuneInString(first[len(path):]); len(first) > len(path) && next != ' ' && next != ':' && next != '(' {
			return nil
		}
	}
	top := path
	if i := strings.IndexAny(top, ".["); i >= 0 {
		top = top[:i]
	}
	if !requestFields[top] {
		return nil
	}
	return &path
}

// writeOpenAIError answers err as errs.WriteHTTP does (status, logging,
// X-Lakehouse-Error, Retry-After), in OpenAIErrorBody.
func writeOpenAIError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeOpenAIBody(w, r, log, err, false)
}

// writeOpenAIBody is writeOpenAIError; noRoute says a 404 is for the
// path, not a model (code null, as api.openai.com's "Invalid URL").
func writeOpenAIBody(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, noRoute bool) {
	reqID := w.Header().Get(errs.RequestIDHeader)
	if reqID == "" {
		reqID = r.Header.Get(errs.RequestIDHeader)
	}
	if reqID == "" {
		reqID = shared.RequestID(r.Context())
	}
	err = errs.LogFailure(log, r, reqID, err)
	status := errs.StatusOf(err)
	kind, msg := errs.KindOf(err), errs.Message(err)
	typ, code, param := OpenAIErrorFields(status, msg)
	if noRoute && status == http.StatusNotFound {
		code = nil
	}
	b, _ := json.Marshal(OpenAIErrorBody{Error: OpenAIError{Kind: kind, Message: msg, RequestID: reqID, Type: typ, Code: code, Param: param}})
	h := w.Header()
	SetRetryAfter(h, err)
	errs.SetAcceptEncoding(h, status, err)
	errs.SetErrorHeader(h, kind, msg)
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// openAIRoute runs f and answers an error it returns before the answer
// started in OpenAIErrorBody (an error after that is the stream's error
// event, or only logged).
func (h *handlers) openAIRoute(f shared.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &startWriter{ResponseWriter: w}
		err := f(sw, r)
		if err == nil {
			return
		}
		if sw.started {
			h.log.Warn("request failed after response started", "req_id", shared.RequestID(r.Context()), "err", err.Error())
			return
		}
		writeOpenAIError(w, r, h.log, err)
	}
}

// ErrorWriter is chatd's shared.Daemon.ErrorWriter (ADR-125): the errors
// the harness answers itself (401, 403, 413 by Content-Length, a stalled
// body's 408, 404 and 405 with no route, a panic's 500) in the shape of
// the route's clients, as chatd's own errors are. Under /v1/chat/api
// (Ollama's API) Ollama's {"error":"<message>",...} (ollama-js showed
// DESIGN.md's object as "[object Object]"); under the rest of /v1/chat/
// — the OpenAI base URL, whose SDKs send any path below it — OpenAI's
// type, code and param added (openai-node's AuthenticationError on a 401,
// err.type set). The native /v1/chat and /v1/chat/providers keep
// DESIGN.md's body, as does every other path.
func ErrorWriter(w http.ResponseWriter, r *http.Request, err error) bool {
	switch p := r.URL.Path; {
	case p == RouteOllamaPrefix || strings.HasPrefix(p, RouteOllamaPrefix+"/"):
		writeOllamaError(w, r, nil, err)
	case p == RouteProviders || strings.HasPrefix(p, RouteProviders+"/"):
		return false
	case strings.HasPrefix(p, RouteChat+"/"):
		writeOpenAIBody(w, r, nil, err, true)
	default:
		return false
	}
	return true
}
