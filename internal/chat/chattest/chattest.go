// Package chattest holds fake LLM upstreams for chatd's tests and
// benchmarks, speaking the real wire protocols over loopback:
//
//   - NewOllama: Ollama's POST /api/chat. Lines are json.Marshal of the
//     official github.com/ollama/ollama/api.ChatResponse plus "\n",
//     Content-Type application/x-ndjson, one flush per line; the last line
//     has done=true, done_reason and the metrics; errors before the stream
//     are gin's {"error":"..."} with "application/json; charset=utf-8",
//     errors inside it a {"error":"..."} line (as Ollama's streamResponse).
//     options.stop ends the answer where a stop sequence appears, as
//     Ollama's runner does (an empty sequence matches at once).
//   - NewOpenAI: OpenAI's POST {base}/chat/completions with base = URL+"/v1".
//     Streams are text/event-stream "data: {chat.completion.chunk}\n\n"
//     events: the role in the first delta, content deltas, an empty delta
//     with finish_reason, a choice-less usage chunk when
//     stream_options.include_usage (and "usage":null on the others, as
//     OpenAI does), then "data: [DONE]\n\n"; errors are OpenAI's
//     {"error":{"message","type","param","code"}} bodies, or a
//     data: {"error":{...}} event inside the stream (as OpenRouter does),
//     or OpenRouter's HTTP 200 {"error":{"message","code","metadata"}}
//     body (Script.FailInBody). With Script.UsageInChoice the usage is
//     inside the finish_reason chunk's choice, as Moonshot (Kimi) streams it.
//
// With Script.ToolCalls the answer ends with those calls: OpenAI streams
// each as delta.tool_calls pieces (index, id, type and name first, then
// the arguments string in fragments) and finish_reason "tool_calls";
// Ollama sends one line with message.tool_calls (arguments an object, no
// id, as Ollama does) before its done line (done_reason "stop").
//
// With Script.Thinking the answer starts with reasoning: Ollama streams
// lines whose message has "content":"" and "thinking" (none when the
// request said think:false, as Ollama does) and sets message.thinking in a
// whole answer; NewOpenAI sends OpenRouter's delta
// {"role","content":"","reasoning","reasoning_details":[{"type":"reasoning.text",...}]}
// or, with ReasoningField "reasoning_content", DeepSeek's and Kimi's
// {"content":null,"reasoning_content"} (message fields alike in a whole
// answer), and counts the pieces in usage.completion_tokens_details.
//
// A Script decides what the fake answers: tokens, pacing, failures.
package chattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/api"
)

// Script is what a fake answers. The zero value answers "Hello world!" in
// three chunks at once.
type Script struct {
	Tokens      []string      // content pieces; nil = "Hello", " world", "!"
	Delay       time.Duration // before each chunk after the first
	HeaderDelay time.Duration // before the answer's headers
	// FailFirst requests answer FailStatus with the protocol's error body
	// (and Retry-After when set); later ones answer normally.
	FailFirst  int
	FailStatus int
	RetryAfter string
	// FailDate, when set, is those failures' Date field (net/http's own,
	// the fake's clock, when empty): an upstream whose clock is off.
	FailDate string
	// FailInBody (NewOpenAI only) makes those failures HTTP 200 with the
	// error as the JSON body, OpenRouter's form once it picked a model:
	// {"error":{"message","code":FailStatus,"metadata"},"user_id"}.
	FailInBody bool
	// BreakAfter > 0 fails the stream after that many content chunks: an
	// in-stream error event, or with Abort a cut connection.
	BreakAfter int
	Abort      bool
	// Hold, when set, is waited for before the last content chunk.
	Hold chan struct{}
	// Models that exist (nil = any): others get the protocol's 404, or
	// with OpenRouterModelIDs OpenRouter's 400
	// {"error":{"message":"X is not a valid model ID","code":400},"user_id"}.
	Models             []string
	OpenRouterModelIDs bool
	// Key, when set, must be the Bearer token (else 401).
	Key              string
	PromptTokens     int // reported usage; 0 = 7
	CompletionTokens int // 0 = number of tokens
	// ToolCalls end the answer (after Tokens, which may be empty: set
	// Tokens to []string{} for a call-only answer).
	ToolCalls []ToolCall
	// Thinking is reasoning streamed before Tokens (Delay before each
	// piece after the first, like tokens).
	Thinking []string
	// ReasoningField is how NewOpenAI sends Thinking: "reasoning"
	// (OpenRouter's, the default) or "reasoning_content".
	ReasoningField string
	// BreakAfterThinking > 0 fails the stream after that many reasoning
	// pieces, as BreakAfter does.
	BreakAfterThinking int
	// UsageInChoice (NewOpenAI only) streams usage as Moonshot (Kimi)
	// does: inside the finish_reason chunk's choice,
	// {"index":0,"delta":{},"finish_reason":"stop","usage":{...}}, with no
	// top-level usage and no usage chunk, whatever include_usage says.
	UsageInChoice bool
}

// FakeLogprob is the log probability both fakes report for the i-th
// content token tok when a request asks for logprobs (top alternatives
// when top > 0: tok itself, then "alt1", "alt2", ...), in Ollama's shape
// (api.Logprob, bytes the token's UTF-8 bytes, as Ollama fills them).
// NewOpenAI sends the same values in OpenAI's shape.
func FakeLogprob(i int, tok string, top int) api.Logprob {
	lp := api.Logprob{TokenLogprob: api.TokenLogprob{Token: tok, Logprob: -0.25 * float64(i+1), Bytes: utf8Ints(tok)}}
	for k := 0; k < top; k++ {
		alt := api.TokenLogprob{Token: tok, Logprob: lp.Logprob, Bytes: utf8Ints(tok)}
		if k > 0 {
			alt.Token = fmt.Sprintf("alt%d", k)
			alt.Logprob = lp.Logprob - float64(k)
			alt.Bytes = utf8Ints(alt.Token)
		}
		lp.TopLogprobs = append(lp.TopLogprobs, alt)
	}
	return lp
}

func utf8Ints(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// oaiLogprobs is FakeLogprob for tokens toks (from index first) as
// OpenAI's choices[].logprobs: bytes and top_logprobs always present.
func oaiLogprobs(first int, toks []string, top int) map[string]any {
	content := []any{}
	for j, t := range toks {
		lp := FakeLogprob(first+j, t, top)
		tops := []any{}
		for _, a := range lp.TopLogprobs {
			tops = append(tops, map[string]any{"token": a.Token, "logprob": a.Logprob, "bytes": a.Bytes})
		}
		content = append(content, map[string]any{"token": lp.Token, "logprob": lp.Logprob, "bytes": lp.Bytes, "top_logprobs": tops})
	}
	return map[string]any{"content": content, "refusal": nil}
}

// ToolCall is one call a fake answers: Arguments is JSON text (an object).
type ToolCall struct {
	Name      string
	Arguments string
}

// fragments splits s into n pieces or fewer (the way a model streams the
// arguments of a call).
func fragments(s string, n int) []string {
	var out []string
	size := (len(s) + n - 1) / n
	for size > 0 && len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

func (s Script) tokens() []string {
	if s.Tokens == nil {
		return []string{"Hello", " world", "!"}
	}
	return s.Tokens
}

// Tokens returns n tokens "t0 ", "t1 ", ... (for long answers).
func Tokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%d ", i)
	}
	return out
}

// Call is one request a fake received.
type Call struct {
	Path   string
	Auth   string
	Body   []byte
	Model  string
	Stream bool
}

// Server is a fake upstream.
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	script Script
	calls  []Call
	served int // requests answered (FailFirst counts these)
	gone   int // answers cut short because the client went away
}

// Gone counts answers the fake stopped because the client (chatd) went
// away mid-answer: how a test sees that a cancel reached the upstream.
func (s *Server) Gone() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

func (s *Server) clientGone() {
	s.mu.Lock()
	s.gone++
	s.mu.Unlock()
}

// SetScript replaces the script (and resets the failure count).
func (s *Server) SetScript(sc Script) {
	s.mu.Lock()
	s.script, s.served = sc, 0
	s.mu.Unlock()
}

// Calls returns the requests so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// begin records a call and returns the script and whether it must fail.
func (s *Server) begin(r *http.Request, body []byte, model string, stream bool) (Script, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body, Model: model, Stream: stream})
	s.served++
	return s.script, s.served <= s.script.FailFirst
}

func (sc Script) modelOK(m string) bool {
	if sc.Models == nil {
		return true
	}
	for _, x := range sc.Models {
		if x == m || x+":latest" == m || x == m+":latest" {
			return true
		}
	}
	return false
}

// wait sleeps d or until the client went away.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func hold(r *http.Request, ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-r.Context().Done():
		return false
	}
}

// ---- Ollama ----

// NewOllama starts a fake Ollama on a loopback port; Close it when done.
func NewOllama(sc Script) *Server {
	s := &Server{script: sc}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", s.ollamaChat)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Ollama is running")
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// ollamaStop is what Ollama's runner makes of the tokens with
// options.stop (runner/common FindStop, TruncateStop): the answer ends
// where the first stop sequence appears (strings.Contains, so "" matches
// at once), the sequence itself cut off.
func ollamaStop(toks []string, opt any) []string {
	list, _ := opt.([]any)
	var stops []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			stops = append(stops, s)
		}
	}
	if len(stops) == 0 {
		return toks
	}
	out := []string{}
	var text string
	for _, t := range toks {
		cand := text + t
		cut := -1
		for _, st := range stops {
			if i := strings.Index(cand, st); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
		if cut >= 0 {
			if piece := cand[len(text):max(cut, len(text))]; piece != "" {
				out = append(out, piece)
			}
			return out
		}
		out, text = append(out, t), cand
	}
	return out
}

// ginJSON is gin's c.JSON: json.Marshal, no newline.
func ginJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req api.ChatRequest
	if len(body) == 0 {
		ginJSON(w, 400, map[string]string{"error": "missing request body"})
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		ginJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	stream := req.Stream == nil || *req.Stream
	sc, fail := s.begin(r, body, req.Model, stream)
	if !wait(r, sc.HeaderDelay) {
		return
	}
	if sc.Key != "" && r.Header.Get("Authorization") != "Bearer "+sc.Key {
		ginJSON(w, 401, map[string]string{"error": "unauthorized"})
		return
	}
	if fail {
		if sc.RetryAfter != "" {
			w.Header().Set("Retry-After", sc.RetryAfter)
		}
		if sc.FailDate != "" {
			w.Header().Set("Date", sc.FailDate)
		}
		ginJSON(w, sc.FailStatus, map[string]string{"error": fmt.Sprintf("scripted failure %d", sc.FailStatus)})
		return
	}
	if req.Model == "" {
		ginJSON(w, 400, map[string]string{"error": "model is required"})
		return
	}
	if !sc.modelOK(req.Model) {
		ginJSON(w, 404, map[string]string{"error": fmt.Sprintf("model '%s' not found", req.Model)})
		return
	}
	toks := ollamaStop(sc.tokens(), req.Options["stop"])
	thinking := sc.Thinking
	if req.Think != nil && !req.Think.Bool() {
		thinking = nil // think:false: Ollama does not think
	}
	start := time.Now()
	final := func(content string) api.ChatResponse {
		m := api.Metrics{TotalDuration: time.Since(start), LoadDuration: 1_234_567, PromptEvalCount: sc.promptTokens(),
			PromptEvalDuration: 2_345_678, EvalCount: sc.completionTokens(), EvalDuration: 3_456_789}
		return api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", Content: content},
			Done: true, DoneReason: "stop", Metrics: m}
	}
	var lps func(i int, t string) []api.Logprob // Ollama 0.12.11 on: logprobs asked
	if req.Logprobs {
		lps = func(i int, t string) []api.Logprob { return []api.Logprob{FakeLogprob(i, t, req.TopLogprobs)} }
	}
	if !stream {
		f := final(strings.Join(toks, ""))
		for i, t := range toks {
			if lps != nil {
				f.Logprobs = append(f.Logprobs, lps(i, t)...)
			}
		}
		f.Message.Thinking = strings.Join(thinking, "")
		f.Message.ToolCalls = sc.ollamaCalls()
		ginJSON(w, 200, f)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	line := func(v any) {
		b, _ := json.Marshal(v)
		w.Write(append(b, '\n'))
		fl.Flush()
	}
	ollamaBreak := func() {
		if sc.Abort {
			panic(http.ErrAbortHandler)
		}
		json.NewEncoder(w).Encode(map[string]string{"error": "llama runner process has terminated: exit status 2"})
		fl.Flush()
	}
	for i, t := range thinking {
		if i > 0 && !wait(r, sc.Delay) {
			s.clientGone()
			return
		}
		if sc.BreakAfterThinking > 0 && i == sc.BreakAfterThinking {
			ollamaBreak()
			return
		}
		line(api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", Thinking: t}})
	}
	for i, t := range toks {
		if (i > 0 || len(thinking) > 0) && !wait(r, sc.Delay) || i == len(toks)-1 && !hold(r, sc.Hold) {
			s.clientGone()
			return
		}
		if sc.BreakAfter > 0 && i == sc.BreakAfter {
			if sc.Abort {
				panic(http.ErrAbortHandler)
			}
			// Ollama's streamResponse: json.NewEncoder(w).Encode(gin.H{"error": e})
			json.NewEncoder(w).Encode(map[string]string{"error": "llama runner process has terminated: exit status 2"})
			fl.Flush()
			return
		}
		l := api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", Content: t}}
		if lps != nil {
			l.Logprobs = lps(i, t)
		}
		line(l)
	}
	if calls := sc.ollamaCalls(); len(calls) > 0 {
		line(api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", ToolCalls: calls}})
	}
	line(final(""))
}

// ollamaCalls are the script's calls as Ollama sends them.
func (sc Script) ollamaCalls() []api.ToolCall {
	var out []api.ToolCall
	for i, c := range sc.ToolCalls {
		tc := api.ToolCall{Function: api.ToolCallFunction{Index: i, Name: c.Name}}
		if err := json.Unmarshal([]byte(c.Arguments), &tc.Function.Arguments); err != nil {
			panic("chattest: tool call arguments: " + err.Error())
		}
		out = append(out, tc)
	}
	return out
}

func (sc Script) promptTokens() int {
	if sc.PromptTokens == 0 {
		return 7
	}
	return sc.PromptTokens
}

func (sc Script) completionTokens() int {
	if sc.CompletionTokens == 0 {
		return len(sc.tokens()) + len(sc.Thinking)
	}
	return sc.CompletionTokens
}

// ---- OpenAI-compatible ----

// NewOpenAI starts a fake OpenAI-compatible API; its base URL is Base().
func NewOpenAI(sc Script) *Server {
	s := &Server{script: sc}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.openaiChat)
	s.Server = httptest.NewServer(mux)
	return s
}

// Base is the OpenAI base URL (…/v1) to configure as a provider URL.
func (s *Server) Base() string { return s.URL + "/v1" }

type oaiError struct {
	Error oaiErrorBody `json:"error"`
}

type oaiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    any     `json:"code"`
}

// orError is OpenRouter's error body: error.code is an HTTP status.
type orError struct {
	Error  orErrorBody `json:"error"`
	UserID string      `json:"user_id,omitempty"`
}

type orErrorBody struct {
	Message  string         `json:"message"`
	Code     int            `json:"code"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

type oaiDelta struct {
	Role             string               `json:"role,omitempty"`
	Content          *string              `json:"content,omitempty"`
	Refusal          *string              `json:"refusal,omitempty"`
	Reasoning        *string              `json:"reasoning,omitempty"`
	ReasoningDetails []oaiReasoningDetail `json:"reasoning_details,omitempty"`
	ToolCalls        []oaiToolCall        `json:"tool_calls,omitempty"`
}

// oaiReasoningDetail is one of OpenRouter's reasoning_details.
type oaiReasoningDetail struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Format string `json:"format"`
	Index  int    `json:"index"`
}

// dsDelta is a DeepSeek-style reasoning delta (Kimi, vLLM): content null.
type dsDelta struct {
	Content          *string `json:"content"`
	ReasoningContent string  `json:"reasoning_content"`
}

type oaiToolCall struct {
	Index    *int        `json:"index,omitempty"`
	ID       string      `json:"id,omitempty"`
	Type     string      `json:"type,omitempty"`
	Function oaiFunction `json:"function"`
}

type oaiFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type oaiChunkChoice struct {
	Index        int     `json:"index"`
	Delta        any     `json:"delta"`    // oaiDelta or dsDelta
	Logprobs     any     `json:"logprobs"` // nil: null
	FinishReason *string `json:"finish_reason"`
}

// kimiFinish is Moonshot's last streamed choice: usage inside it.
type kimiFinish struct {
	Index        int       `json:"index"`
	Delta        struct{}  `json:"delta"`
	FinishReason string    `json:"finish_reason"`
	Usage        *oaiUsage `json:"usage"`
}

type oaiUsage struct {
	PromptTokens            int              `json:"prompt_tokens"`
	CompletionTokens        int              `json:"completion_tokens"`
	TotalTokens             int              `json:"total_tokens"`
	CompletionTokensDetails *oaiTokenDetails `json:"completion_tokens_details,omitempty"`
}

type oaiTokenDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

type oaiChunk struct {
	ID                string           `json:"id"`
	Object            string           `json:"object"`
	Created           int64            `json:"created"`
	Model             string           `json:"model"`
	ServiceTier       string           `json:"service_tier"`
	SystemFingerprint string           `json:"system_fingerprint"`
	Choices           []oaiChunkChoice `json:"choices"`
	Usage             *oaiUsage        `json:"usage,omitempty"`
	usageNull         bool
}

// MarshalJSON writes "usage":null when include_usage asked for it.
func (c oaiChunk) MarshalJSON() ([]byte, error) {
	type plain oaiChunk
	b, err := json.Marshal(plain(c))
	if err != nil || !c.usageNull || c.Usage != nil {
		return b, err
	}
	return append(b[:len(b)-1], []byte(`,"usage":null}`)...), nil
}

func oaiFail(w http.ResponseWriter, status int, typ, code, msg string) {
	b, _ := json.Marshal(oaiError{Error: oaiErrorBody{Message: msg, Type: typ, Code: code}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model         string            `json:"model"`
		Messages      []json.RawMessage `json:"messages"`
		Stream        bool              `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Logprobs    bool `json:"logprobs"`
		TopLogprobs int  `json:"top_logprobs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		oaiFail(w, 400, "invalid_request_error", "", "We could not parse the JSON body of your request.")
		return
	}
	sc, fail := s.begin(r, body, req.Model, req.Stream)
	if !wait(r, sc.HeaderDelay) {
		return
	}
	if sc.Key != "" && r.Header.Get("Authorization") != "Bearer "+sc.Key {
		oaiFail(w, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if fail {
		if sc.RetryAfter != "" {
			w.Header().Set("Retry-After", sc.RetryAfter)
		}
		if sc.FailDate != "" {
			w.Header().Set("Date", sc.FailDate)
		}
		if sc.FailInBody {
			b, _ := json.Marshal(orError{Error: orErrorBody{Message: fmt.Sprintf("scripted failure %d", sc.FailStatus), Code: sc.FailStatus,
				Metadata: map[string]any{"provider_name": "Fake"}}, UserID: "user_fake"})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.Write(b)
			return
		}
		typ := "server_error"
		if sc.FailStatus == 429 {
			typ = "rate_limit_exceeded"
		}
		oaiFail(w, sc.FailStatus, typ, typ, fmt.Sprintf("scripted failure %d", sc.FailStatus))
		return
	}
	if len(req.Messages) == 0 {
		oaiFail(w, 400, "invalid_request_error", "", "[] is too short - 'messages'")
		return
	}
	if !sc.modelOK(req.Model) && sc.OpenRouterModelIDs {
		b, _ := json.Marshal(orError{Error: orErrorBody{Message: req.Model + " is not a valid model ID", Code: 400}, UserID: "user_fake"})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write(b)
		return
	}
	if !sc.modelOK(req.Model) {
		oaiFail(w, 404, "invalid_request_error", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	}
	toks := sc.tokens()
	id := "chatcmpl-fake" + fmt.Sprint(time.Now().UnixNano())
	created := time.Now().Unix()
	usage := &oaiUsage{PromptTokens: sc.promptTokens(), CompletionTokens: sc.completionTokens()}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if len(sc.Thinking) > 0 {
		usage.CompletionTokensDetails = &oaiTokenDetails{ReasoningTokens: len(sc.Thinking)}
	}
	deepseek := sc.ReasoningField == "reasoning_content"
	stop := "stop"
	if len(sc.ToolCalls) > 0 {
		stop = "tool_calls"
	}
	callID := func(i int) string { return fmt.Sprintf("call_fake%d", i) }
	if !req.Stream {
		var content any = strings.Join(toks, "")
		msg := map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}}
		if len(sc.ToolCalls) > 0 {
			var calls []oaiToolCall
			for i, c := range sc.ToolCalls {
				calls = append(calls, oaiToolCall{ID: callID(i), Type: "function", Function: oaiFunction{Name: c.Name, Arguments: c.Arguments}})
			}
			msg["tool_calls"] = calls
			if content == "" {
				msg["content"] = nil
			}
		}
		if th := strings.Join(sc.Thinking, ""); th != "" && deepseek {
			msg["reasoning_content"] = th
		} else if th != "" {
			msg["reasoning"] = th
			msg["reasoning_details"] = []oaiReasoningDetail{{Type: "reasoning.text", Text: th, Format: "unknown"}}
		}
		var lp any
		if req.Logprobs {
			lp = oaiLogprobs(0, toks, req.TopLogprobs)
		}
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg,
				"logprobs": lp, "finish_reason": stop}},
			"usage": usage, "service_tier": "default", "system_fingerprint": "fp_fake",
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write(b)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	event := func(v any) {
		b, _ := json.Marshal(v)
		w.Write([]byte("data: "))
		w.Write(b)
		w.Write([]byte("\n\n"))
		fl.Flush()
	}
	chunk := func(d any, finish *string) oaiChunk {
		return oaiChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, ServiceTier: "default",
			SystemFingerprint: "fp_fake", Choices: []oaiChunkChoice{{Delta: d, FinishReason: finish}}, usageNull: includeUsage}
	}
	empty, refusal := "", (*string)(nil)
	event(chunk(oaiDelta{Role: "assistant", Content: &empty, Refusal: refusal}, nil))
	for i, th := range sc.Thinking {
		if i > 0 && !wait(r, sc.Delay) {
			s.clientGone()
			return
		}
		if sc.BreakAfterThinking > 0 && i == sc.BreakAfterThinking {
			if sc.Abort {
				panic(http.ErrAbortHandler)
			}
			event(oaiError{Error: oaiErrorBody{Message: "Provider returned error", Type: "server_error", Code: 502}})
			return
		}
		if deepseek {
			event(chunk(dsDelta{ReasoningContent: th}, nil))
			continue
		}
		event(chunk(oaiDelta{Role: "assistant", Content: &empty, Reasoning: &th,
			ReasoningDetails: []oaiReasoningDetail{{Type: "reasoning.text", Text: th, Format: "unknown"}}}, nil))
	}
	for i, t := range toks {
		if (i > 0 || len(sc.Thinking) > 0) && !wait(r, sc.Delay) || i == len(toks)-1 && !hold(r, sc.Hold) {
			s.clientGone()
			return
		}
		if sc.BreakAfter > 0 && i == sc.BreakAfter {
			if sc.Abort {
				panic(http.ErrAbortHandler)
			}
			event(oaiError{Error: oaiErrorBody{Message: "Provider returned error", Type: "server_error", Code: 502}})
			return
		}
		t := t
		c := chunk(oaiDelta{Content: &t}, nil)
		if req.Logprobs {
			c.Choices[0].Logprobs = oaiLogprobs(i, []string{t}, req.TopLogprobs)
		}
		event(c)
	}
	for i, c := range sc.ToolCalls {
		i := i
		event(chunk(oaiDelta{ToolCalls: []oaiToolCall{{Index: &i, ID: callID(i), Type: "function", Function: oaiFunction{Name: c.Name}}}}, nil))
		for _, frag := range fragments(c.Arguments, 3) {
			if !wait(r, sc.Delay) {
				s.clientGone()
				return
			}
			event(chunk(oaiDelta{ToolCalls: []oaiToolCall{{Index: &i, Function: oaiFunction{Arguments: frag}}}}, nil))
		}
	}
	if sc.UsageInChoice {
		event(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{kimiFinish{Delta: struct{}{}, FinishReason: stop, Usage: usage}}})
		w.Write([]byte("data: [DONE]\n\n"))
		fl.Flush()
		return
	}
	event(chunk(oaiDelta{}, &stop))
	if includeUsage {
		event(oaiChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, ServiceTier: "default",
			SystemFingerprint: "fp_fake", Choices: []oaiChunkChoice{}, Usage: usage})
	}
	w.Write([]byte("data: [DONE]\n\n"))
	fl.Flush()
}
