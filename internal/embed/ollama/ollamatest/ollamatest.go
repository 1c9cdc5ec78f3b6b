// Package ollamatest is a fake Ollama server for tests: it speaks Ollama's
// real wire format for POST /api/embed, GET /api/tags, POST /api/show and
// GET / (the
// responses are byte-identical to what Ollama's gin handlers write for the
// same values: encoding/json of the same field order, Content-Type
// "application/json; charset=utf-8", `{"error":"model \"x\" not found, try pulling it first"}`
// with 404 for a model not pulled), so the official github.com/ollama/ollama/api
// client and embedd's ollama provider can be driven against it over
// loopback. Embeddings are deterministic (derived from SHA-256 of model and
// text) and L2-normalised as Ollama does.
package ollamatest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	names "github.com/ollama/ollama/types/model"
)

// Model is a model the fake has "pulled".
type Model struct {
	Name   string // as pulled, e.g. "nomic-embed-text-v2-moe" (listed with ":latest")
	Dims   int
	Family string // details.family, default "nomic-bert-moe" ("llama" for a Chat model)
	// Revision names the weights: a model pulled again with new weights
	// has another Revision, hence another digest in /api/tags and other
	// vectors ("" is the first weights; Vector's vectors).
	Revision string
	// Chat makes it a generative model: /api/show answers the
	// capabilities ["completion","tools"] and no pooling_type (Ollama
	// still embeds with it, as it does with llama models).
	Chat bool
	// ModifiedAt is its modified_at in /api/tags and /api/show (when the
	// manifest was written). Zero: ModifiedAt, or for a model pulled again
	// with another Revision an hour after the one it replaces, as a real
	// pull writes a new manifest.
	ModifiedAt time.Time
	// NoLength leaves "<arch>.embedding_length" out of /api/show's
	// model_info (as for a GGUF without that key).
	NoLength bool
}

// Call records one /api/embed request.
type Call struct {
	Model  string
	Inputs []string
}

// Server is the fake. Fields are safe to set before the first request;
// use the methods afterwards.
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	models map[string]Model
	calls  []Call
	delay  time.Duration
	fail   int // status to answer every /api/embed with, 0 = normal
	answer func(model string, inputs []string) (int, []byte)
	// legacy: /api/show without "capabilities" (Ollama before the field)
	legacy bool
	tagsN  int // GET /api/tags requests so far
	shows  []string
	// showDelay: every /api/show waits this long (or for the client to
	// leave) before answering.
	showDelay time.Duration
}

// New starts a fake Ollama serving models on a loopback port. Close it
// when done.
func New(models ...Model) *Server {
	s := &Server{models: map[string]Model{}}
	for _, m := range models {
		s.AddModel(m)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/embed", s.embed)
	mux.HandleFunc("GET /api/tags", s.tags)
	mux.HandleFunc("POST /api/show", s.show)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Ollama is running")
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// AddModel "pulls" a model.
func (s *Server) AddModel(m Model) {
	if m.Family == "" {
		m.Family = "nomic-bert-moe"
		if m.Chat {
			m.Family = "llama"
		}
	}
	s.mu.Lock()
	if m.ModifiedAt.IsZero() {
		m.ModifiedAt = ModifiedAt
		if old, ok := s.models[key(m.Name)]; ok && old.Revision != m.Revision {
			m.ModifiedAt = old.ModifiedAt.Add(time.Hour)
		}
	}
	s.models[key(m.Name)] = m
	s.mu.Unlock()
}

// SetDelay makes every /api/embed answer wait d (for timeout tests).
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetShowDelay makes every /api/show answer wait d (an Ollama that does
// not answer it in time); 0 restores prompt answers.
func (s *Server) SetShowDelay(d time.Duration) { s.mu.Lock(); s.showDelay = d; s.mu.Unlock() }

// SetFail makes every /api/embed answer status with Ollama's error body
// (e.g. 500); 0 restores normal answers.
func (s *Server) SetFail(status int) { s.mu.Lock(); s.fail = status; s.mu.Unlock() }

// SetAnswer makes /api/embed answer what f returns for a model the fake
// has (status and body, Content-Type as Ollama's), for tests of a wrong
// Ollama: f returning status 0 lets the fake answer normally; nil
// restores normal answers.
func (s *Server) SetAnswer(f func(model string, inputs []string) (status int, body []byte)) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

// Answer is the body the fake writes for model's vectors (its wire format),
// for SetAnswer functions that change part of a normal answer.
func Answer(model string, embeddings [][]float32) []byte {
	b, _ := json.Marshal(embedResponse{Model: model, Embeddings: embeddings, TotalDuration: TotalDuration, LoadDuration: LoadDuration})
	return b
}

// SetLegacy makes /api/show answer as an Ollama from before its
// "capabilities" field: the rest of the answer (model_info with the
// GGUF keys) is the same.
func (s *Server) SetLegacy(on bool) { s.mu.Lock(); s.legacy = on; s.mu.Unlock() }

// TagsCalls is the number of GET /api/tags requests so far.
func (s *Server) TagsCalls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tagsN }

// Shows returns the models named by the POST /api/show requests so far.
func (s *Server) Shows() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.shows...)
}

// Digest is the digest /api/tags lists for m (sha256 of its name and
// revision).
func Digest(m Model) string {
	sum := sha256.Sum256([]byte(canonical(m.Name) + "\x00" + m.Revision))
	if m.Revision == "" {
		sum = sha256.Sum256([]byte(canonical(m.Name)))
	}
	return fmt.Sprintf("%x", sum)
}

// seed is what m's vectors derive from: its canonical name, and its
// revision when it has one.
func seed(m Model) string {
	if m.Revision == "" {
		return canonical(m.Name)
	}
	return canonical(m.Name) + "@" + m.Revision
}

// VectorOf is the fake's embedding of text under m (its name, revision
// and dims).
func VectorOf(m Model, text string) []float32 { return Vector(seed(m), text, m.Dims) }

// Calls returns the /api/embed requests so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// canonical is the name Ollama lists a model pulled as name under
// (types/model.ParseName's defaults registry.ollama.ai, library and
// latest filled in, DisplayShortest leaving the first two out again):
// "library/m" and "m" are "m:latest".
func canonical(name string) string {
	if n := names.ParseName(name); n.IsValid() {
		return n.DisplayShortest()
	}
	if !strings.Contains(name, ":") {
		return name + ":latest"
	}
	return name
}

// key finds a model as Ollama does: by its canonical name, every part
// compared case-insensitively (server/routes.go getExistingName).
func key(name string) string { return strings.ToLower(canonical(name)) }

// Vector is the fake's embedding of text under model with dims floats,
// normalised (exported so tests can compare).
func Vector(model, text string, dims int) []float32 {
	v := make([]float32, dims)
	var sum float64
	for i := 0; i < dims; i += 8 {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s", model, i, text)))
		for j := 0; j < 8 && i+j < dims; j++ {
			u := binary.LittleEndian.Uint32(h[4*j:])
			x := float32(u)/float32(math.MaxUint32)*2 - 1
			v[i+j] = x
			sum += float64(x * x)
		}
	}
	norm := float32(1 / max(math.Sqrt(sum), 1e-12))
	for i := range v {
		v[i] *= norm
	}
	return v
}

// wire types: the field order of ollama's api.EmbedResponse and api.ListResponse.
type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	LoadDuration    int64       `json:"load_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count,omitempty"`
}

type listResponse struct {
	Models []listModel `json:"models"`
}

type listModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    modelDetails `json:"details,omitempty"`
}

type modelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// Fixed durations and time so answers are reproducible.
const (
	TotalDuration = 12_345_678
	LoadDuration  = 1_234_567
)

// ModifiedAt is the modified_at of a model added without one.
var ModifiedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// writeJSON is gin's c.JSON: json.Marshal, no trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"`+err.Error()+`"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}

func (s *Server) embed(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if len(body) == 0 {
		writeErr(w, 400, "missing request body")
		return
	}
	var req struct {
		Model string `json:"model"`
		Input any    `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 400, err.Error())
		return
	}
	var input []string
	switch v := req.Input.(type) {
	case string:
		if v != "" {
			input = append(input, v)
		}
	case []any:
		for _, x := range v {
			t, ok := x.(string)
			if !ok {
				writeErr(w, 400, "invalid input type")
				return
			}
			input = append(input, t)
		}
	default:
		if req.Input != nil {
			writeErr(w, 400, "invalid input type")
			return
		}
	}
	s.mu.Lock()
	m, ok := s.models[key(req.Model)]
	delay, fail, answer := s.delay, s.fail, s.answer
	s.calls = append(s.calls, Call{Model: req.Model, Inputs: input})
	s.mu.Unlock()
	if !ok {
		// server/routes.go handleScheduleError, Ollama 0.17
		writeErr(w, 404, fmt.Sprintf("model %q not found, try pulling it first", req.Model))
		return
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		writeErr(w, fail, "llama runner process has terminated: exit status 2")
		return
	}
	if answer != nil {
		if status, b := answer(req.Model, input); status != 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			w.Write(b)
			return
		}
	}
	if len(input) == 0 {
		writeJSON(w, 200, embedResponse{Model: req.Model, Embeddings: [][]float32{}})
		return
	}
	resp := embedResponse{Model: req.Model, Embeddings: make([][]float32, len(input)),
		TotalDuration: TotalDuration, LoadDuration: LoadDuration}
	for i, t := range input {
		resp.Embeddings[i] = Vector(seed(m), t, m.Dims)
		resp.PromptEvalCount += len(strings.Fields(t)) + 2
	}
	writeJSON(w, 200, resp)
}

func (s *Server) tags(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tagsN++
	resp := listResponse{Models: []listModel{}}
	for _, m := range s.models {
		name := canonical(m.Name)
		resp.Models = append(resp.Models, listModel{
			Name: name, Model: name, ModifiedAt: m.ModifiedAt, Size: int64(m.Dims) * 1 << 20,
			Digest: Digest(m),
			Details: modelDetails{Format: "gguf", Family: m.Family, Families: []string{m.Family},
				ParameterSize: "475M", QuantizationLevel: "F16"},
		})
	}
	s.mu.Unlock()
	// Ollama sorts most recently modified first; equal times keep map order,
	// so sort by name for reproducible answers.
	sortByName(resp.Models)
	writeJSON(w, 200, resp)
}

func sortByName(ms []listModel) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Name < ms[j-1].Name; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// showResponse has the field order of ollama's api.ShowResponse (v0.17).
type showResponse struct {
	License      string         `json:"license,omitempty"`
	Modelfile    string         `json:"modelfile,omitempty"`
	Parameters   string         `json:"parameters,omitempty"`
	Template     string         `json:"template,omitempty"`
	System       string         `json:"system,omitempty"`
	Renderer     string         `json:"renderer,omitempty"`
	Parser       string         `json:"parser,omitempty"`
	Details      modelDetails   `json:"details,omitempty"`
	Messages     []any          `json:"messages,omitempty"`
	RemoteModel  string         `json:"remote_model,omitempty"`
	RemoteHost   string         `json:"remote_host,omitempty"`
	ModelInfo    map[string]any `json:"model_info"`
	ProjectorInf map[string]any `json:"projector_info,omitempty"`
	Tensors      []tensor       `json:"tensors,omitempty"`
	Capabilities []string       `json:"capabilities,omitempty"`
	ModifiedAt   time.Time      `json:"modified_at,omitempty"`
	Requires     string         `json:"requires,omitempty"`
}

type tensor struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []uint64 `json:"shape"`
}

// show is Ollama's ShowHandler (server/routes.go, v0.17): model_info holds
// the GGUF keys (general.name and the chat template removed, arrays cut to
// null without "verbose"), an embedding model has "<arch>.pooling_type"
// (what Ollama's Capabilities() reads), capabilities are "embedding" or
// "completion" (+ "tools" when the template takes tools).
func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) == 0 {
		writeErr(w, 400, "missing request body")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 400, err.Error())
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	if req.Model == "" {
		writeErr(w, 400, "model is required")
		return
	}
	s.mu.Lock()
	m, ok := s.models[key(req.Model)]
	legacy, delay := s.legacy, s.showDelay
	s.shows = append(s.shows, req.Model)
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		writeErr(w, 404, fmt.Sprintf("model '%s' not found", req.Model))
		return
	}
	arch := m.Family
	info := map[string]any{
		"general.architecture":         arch,
		"general.file_type":            1,
		"general.parameter_count":      475_288_320,
		"general.quantization_version": 2,
		arch + ".block_count":          12,
		arch + ".context_length":       2048,
		arch + ".embedding_length":     m.Dims,
		"tokenizer.ggml.model":         "t5",
		"tokenizer.ggml.tokens":        nil,
	}
	if m.NoLength {
		delete(info, arch+".embedding_length")
	}
	resp := showResponse{
		Modelfile: "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM " +
			canonical(m.Name) + "\n\nFROM /root/.ollama/models/blobs/sha256-" + Digest(m) + "\nTEMPLATE {{ .Prompt }}\n",
		Template:   "{{ .Prompt }}",
		Details:    modelDetails{Format: "gguf", Family: m.Family, Families: []string{m.Family}, ParameterSize: "475M", QuantizationLevel: "F16"},
		ModelInfo:  info,
		Tensors:    []tensor{{Name: "token_embd.weight", Type: "F16", Shape: []uint64{uint64(m.Dims), 250048}}},
		ModifiedAt: m.ModifiedAt,
	}
	if m.Chat {
		info["general.parameter_count"] = 8_030_261_248
		info[arch+".attention.head_count"] = 32
		resp.Parameters = "stop                           \"<|eot_id|>\""
		resp.Template = "{{- if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}"
		resp.Details.ParameterSize, resp.Details.QuantizationLevel = "8.0B", "Q4_K_M"
		resp.Capabilities = []string{"completion", "tools"}
	} else {
		info[arch+".pooling_type"] = 1
		resp.Capabilities = []string{"embedding"}
	}
	if legacy {
		resp.Capabilities = nil
	}
	writeJSON(w, 200, resp)
}
