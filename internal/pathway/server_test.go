package pathway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
)

func config(t testing.TB) *shared.Config { return inproc.Config(t) }

func start(t testing.TB, cfg *shared.Config) (*shared.Server, *pathway.Client) {
	t.Helper()
	s, err := shared.Start(context.Background(), "pathwayd", cfg, pathway.New, io.Discard)
	if err != nil {
		t.Fatalf("start pathwayd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Pathwayd.URL = s.URL()
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(30 * time.Second)}
	return s, pathway.NewClient(env.Client("pathwayd"))
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPMemories(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg)
	u := pathway.Scope{UserID: "alice", AgentID: "travel"}

	res, err := c.Add(ctx, pathway.AddRequest{Messages: []pathway.Message{
		{Role: "user", Content: "Hi! I'm vegetarian and I live in Lisbon."},
		{Role: "assistant", Content: "Noted, I will suggest vegetarian places."},
	}, Scope: u, Metadata: map[string]any{"source": "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	// One entry per fact of the compound sentence, as Mem0 answers (ADR-134).
	if len(res.Results) != 2 || res.Results[0].Event != "ADD" || res.Results[0].Memory != "Is vegetarian" ||
		res.Results[1].Event != "ADD" || res.Results[1].Memory != "Lives in Lisbon" {
		t.Fatalf("add: %+v", res)
	}
	id := res.Results[0].ID
	// messages as a plain string, as Mem0 allows.
	code, body := do(t, "POST", s.URL()+pathway.MemoriesPath, `{"messages":"I play chess on Sundays.","user_id":"alice","agent_id":"travel"}`)
	if code != 200 || !strings.Contains(body, `"event":"ADD"`) || !strings.Contains(body, `"memory":"Plays chess on Sundays"`) {
		t.Fatalf("string messages: %d %s", code, body)
	}
	m, err := c.Get(ctx, id)
	if err != nil || m.UserID != "alice" || m.AgentID != "travel" || m.Metadata["source"] != "chat" || m.Hash == "" || m.CreatedAt.IsZero() {
		t.Fatalf("get: %+v %v", m, err)
	}
	if _, err := c.Update(ctx, id, pathway.UpdateRequest{Text: "Is vegan"}); err != nil {
		t.Fatal(err)
	}
	hr, err := c.History(ctx, id, pathway.HistoryOptions{})
	h := hr.Results
	if err != nil || len(h) != 2 || h[1].Event != "UPDATE" || *h[1].OldMemory != "Is vegetarian" || *h[1].NewMemory != "Is vegan" {
		t.Fatalf("history: %+v %v", h, err)
	}
	sr, err := c.Search(ctx, pathway.SearchRequest{Query: "vegan food", Scope: pathway.Scope{UserID: "alice"}, Limit: 1})
	rs := sr.Results
	if err != nil || len(rs) != 1 || rs[0].ID != id || rs[0].Score <= 0 {
		t.Fatalf("search: %+v %v", rs, err)
	}
	lr, err := c.List(ctx, pathway.Scope{UserID: "alice"}, pathway.ListOptions{})
	list := lr.Results
	if err != nil || len(list) != 3 || list[0].ID != id { // most recently updated first
		t.Fatalf("list: %+v %v", list, err)
	}
	if lr, _ := c.List(ctx, pathway.Scope{UserID: "alice", RunID: "other"}, pathway.ListOptions{}); len(lr.Results) != 0 {
		t.Fatalf("list other run: %+v", lr)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, id); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := c.Delete(ctx, id); !errs.Is(err, errs.NotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if hr, _ := c.History(ctx, id, pathway.HistoryOptions{}); len(hr.Results) != 3 || !hr.Results[2].IsDeleted {
		t.Fatalf("history after delete: %+v", h)
	}
	if n, err := c.DeleteAll(ctx, pathway.Scope{UserID: "alice"}); n != 2 || err != nil {
		t.Fatalf("delete all: %d %v", n, err)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"no id", "POST", pathway.MemoriesPath, `{"text":"I like tea"}`, 400, "at least one of user_id, agent_id, run_id"},
		{"no text", "POST", pathway.MemoriesPath, `{"user_id":"u"}`, 400, `"messages" (or "text") is required`},
		{"both", "POST", pathway.MemoriesPath, `{"user_id":"u","text":"a","messages":"b"}`, 400, "not both"},
		{"bad role", "POST", pathway.MemoriesPath, `{"user_id":"u","messages":[{"role":"robot","content":"x"}]}`, 400, "messages[0].role"},
		{"bad messages", "POST", pathway.MemoriesPath, `{"user_id":"u","messages":42}`, 400, "want a list"},
		{"unknown field", "POST", pathway.MemoriesPath, `{"user_id":"u","text":"x","userid":"v"}`, 400, "userid"},
		{"too long", "POST", pathway.MemoriesPath, `{"user_id":"u","text":"` + strings.Repeat("a", pathway.MaxTextBytes+1) + `"}`, 413, "at most"},
		{"list no id", "GET", pathway.MemoriesPath, "", 400, "at least one of"},
		{"list bad limit", "GET", pathway.MemoriesPath + "?user_id=u&limit=0", "", 400, "limit"},
		{"delete all no id", "DELETE", pathway.MemoriesPath, "", 400, "at least one of"},
		{"get missing", "GET", pathway.MemoriesPath + "/nope", "", 404, "no memory nope"},
		{"history missing", "GET", pathway.MemoriesPath + "/nope/history", "", 404, "no memory"},
		{"put empty", "PUT", pathway.MemoriesPath + "/x", `{"text":" "}`, 400, `"text": required`},
		{"search no query", "POST", pathway.SearchPath, `{"user_id":"u"}`, 400, `"query": required`},
		{"search no id", "POST", pathway.SearchPath, `{"query":"x"}`, 400, "at least one of"},
		{"trace no run", "POST", pathway.TracesPath, `{"steps":[{"type":"llm"}]}`, 400, `"run_id": required`},
		{"trace no steps", "POST", pathway.TracesPath, `{"run_id":"r"}`, 400, "at least one step"},
		{"trace step type", "POST", pathway.TracesPath, `{"run_id":"r","steps":[{"name":"x"}]}`, 400, "steps[0].type"},
		{"trace missing", "GET", pathway.TracesPath + "/nope", "", 404, "no trace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, s.URL()+tc.path, tc.body)
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != tc.status || !strings.Contains(b.Error.Message, tc.msg) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
}

func TestHTTPTracesAndRestart(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := c.AppendTrace(ctx, pathway.TraceRequest{RunID: fmt.Sprint("run-", w), Steps: []pathway.Step{
					{Type: "llm", Name: fmt.Sprint("call-", i), Input: json.RawMessage(`{"prompt":"hi"}`), DurationMS: 1.5},
					{Type: "tool", Name: fmt.Sprint("tool-", i), Metadata: map[string]any{"ok": true}},
				}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	res, _ := c.Add(ctx, pathway.AddRequest{Text: "My favorite color is green", Scope: pathway.Scope{UserID: "u"}})
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, c = start(t, cfg)
	for w := 0; w < 8; w++ {
		tr, err := c.Trace(ctx, fmt.Sprint("run-", w), pathway.TraceOptions{})
		if err != nil || len(tr.Steps) != 20 {
			t.Fatalf("run-%d after restart: %d steps, %v", w, len(tr.Steps), err)
		}
		for i, st := range tr.Steps {
			want := fmt.Sprint("call-", i/2)
			if i%2 == 1 {
				want = fmt.Sprint("tool-", i/2)
			}
			if st.Name != want || st.Index != i {
				t.Fatalf("run-%d step %d = %+v, want %s", w, i, st, want)
			}
		}
	}
	m, err := c.Get(ctx, res.Results[0].ID)
	if err != nil || m.Memory != "Favorite color is green" {
		t.Fatalf("memory after restart: %+v %v", m, err)
	}
	// After the restart the decision still sees the replayed memory.
	r2, _ := c.Add(ctx, pathway.AddRequest{Text: "My favorite color is blue", Scope: pathway.Scope{UserID: "u"}})
	if len(r2.Results) != 1 || r2.Results[0].Event != "UPDATE" || r2.Results[0].ID != m.ID {
		t.Fatalf("update after restart: %+v", r2)
	}
}

// BenchmarkHTTPTraceAppend measures acknowledged (fsynced) trace appends per
// second through pathwayd's HTTP API with 1 and 32 concurrent writers.
func BenchmarkHTTPTraceAppend(b *testing.B) {
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cfg := config(b)
			_, c := start(b, cfg)
			ctx := context.Background()
			per := b.N/writers + 1
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := c.AppendTrace(ctx, pathway.TraceRequest{RunID: fmt.Sprint("run-", w), Steps: []pathway.Step{{Type: "tool", Name: "x"}}}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/time.Since(t0).Seconds(), "acked_writes/s")
		})
	}
}

// TestHTTPPathEscapes: ids in the path are unescaped, whether the Client
// escaped them (url.PathEscape) or a caller escaped more than needed; an
// invalid escape is 400.
func TestHTTPPathEscapes(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t))
	for _, run := range []string{"a,b", "a b", "50%", "a%2Cb", "a+b", "café;x", "q?x#y", "plain"} {
		t.Run("client "+run, func(t *testing.T) {
			if _, err := c.AppendTrace(ctx, pathway.TraceRequest{RunID: run, Steps: []pathway.Step{{Type: "x"}}}); err != nil {
				t.Fatal(err)
			}
			tr, err := c.Trace(ctx, run, pathway.TraceOptions{})
			if err != nil || tr.RunID != run || len(tr.Steps) != 1 {
				t.Fatalf("trace %q: %+v %v", run, tr, err)
			}
		})
	}
	for _, tc := range []struct {
		path, run string
	}{
		{"/a%2Cb", "a,b"}, {"/%61%2cb", "a,b"}, {"/a%2C%62", "a,b"}, {"/a%252Cb", "a%2Cb"}, {"/50%25", "50%"},
	} {
		t.Run("raw "+tc.path, func(t *testing.T) {
			code, body := do(t, "GET", s.URL()+pathway.TracesPath+tc.path, "")
			var tr pathway.Trace
			json.Unmarshal([]byte(body), &tr)
			if code != 200 || tr.RunID != tc.run {
				t.Fatalf("%d %s", code, body)
			}
		})
	}

	no := false
	res, err := c.Add(ctx, pathway.AddRequest{Messages: "escaped ids", Infer: &no, Scope: pathway.Scope{UserID: "esc"}})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Results[0].ID
	var over strings.Builder // every byte escaped: a RawPath the server must decode
	for i := 0; i < len(id); i++ {
		fmt.Fprintf(&over, "%%%02X", id[i])
	}
	base := s.URL() + pathway.MemoriesPath + "/" + over.String()
	for _, tc := range []struct{ method, suffix, body, want string }{
		{"GET", "", "", `"memory":"escaped ids"`},
		{"GET", "/history", "", `"event":"ADD"`},
		{"PUT", "", `{"text":"escaped again"}`, `"memory":"escaped again"`},
		{"DELETE", "", "", `"deleted":1`},
	} {
		if code, body := do(t, tc.method, base+tc.suffix, tc.body); code != 200 || !strings.Contains(body, tc.want) {
			t.Fatalf("%s %s: %d %s", tc.method, tc.suffix, code, body)
		}
	}
	if _, err := c.Get(ctx, "a,b"); !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "no memory a,b") {
		t.Fatalf("client get a,b: %v", err)
	}
	// Go's server refuses an invalid escape before routing (400); a request
	// that reaches the router with one is refused by the handler.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s/a%%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", pathway.TracesPath)
	status, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(status, "HTTP/1.1 400") {
		t.Fatalf("invalid escape over the wire: %q", status)
	}
	r := chi.NewRouter()
	pathway.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, c)(r)
	for _, p := range []string{pathway.TracesPath + "/a%zz", pathway.MemoriesPath + "/a%zz", pathway.MemoriesPath + "/a%zz/history"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = &url.URL{Path: p, RawPath: p}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var b errs.Body
		json.Unmarshal(w.Body.Bytes(), &b)
		if w.Code != 400 || b.Error.Kind != errs.Invalid || !strings.Contains(b.Error.Message, "invalid %-escape") {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}

// TestHTTPMessageRoles: a role is one of Mem0's strings (plus tool) or
// absent (a user message); null, a number or another string is 400 naming
// the field.
func TestHTTPMessageRoles(t *testing.T) {
	s, _ := start(t, config(t))
	for _, tc := range []struct {
		name, msg string
		status    int
		want      string
	}{
		{"number", `{"role":5,"content":"I like coffee"}`, 400, "messages[0].role: want a string"},
		{"null", `{"role":null,"content":"I like coffee"}`, 400, "messages[0].role: want a string"},
		{"bool", `{"role":true,"content":"I like coffee"}`, 400, "messages[0].role: want a string"},
		{"object", `{"role":{"r":"user"},"content":"I like coffee"}`, 400, "messages[0].role: want a string"},
		{"unknown", `{"role":"robot","content":"I like coffee"}`, 400, `messages[0].role "robot"`},
		{"upper case", `{"role":"User","content":"I like coffee"}`, 400, `messages[0].role "User"`},
		{"user", `{"role":"user","content":"I like coffee"}`, 200, `"event":"ADD"`},
		{"missing", `{"content":"I like tea"}`, 200, `"event":"ADD"`},
		{"assistant", `{"role":"assistant","content":"I like jazz"}`, 200, `"results":[]`},
		{"system", `{"role":"system","content":"I like jazz"}`, 200, `"results":[]`},
		{"tool", `{"role":"tool","content":"I like jazz"}`, 200, `"results":[]`},
		{"name number", `{"role":"user","name":5,"content":"I like coffee"}`, 400, "messages[0].name: want a string"},
		{"name object", `{"role":"user","name":{"n":"x"},"content":"I like coffee"}`, 400, "messages[0].name: want a string"},
		{"name null", `{"role":"user","name":null,"content":"I like coffee"}`, 400, "messages[0].name: want a string"},
		{"name", `{"role":"user","name":"ana","content":"I like coffee"}`, 200, `"event":"ADD"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "POST", s.URL()+pathway.MemoriesPath, `{"user_id":"rr-`+tc.name+`","messages":[`+tc.msg+`]}`)
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != tc.status || !strings.Contains(body, tc.want) && !strings.Contains(b.Error.Message, tc.want) {
				t.Fatalf("%d %s", code, body)
			}
			if code == 400 && b.Error.Kind != errs.Invalid {
				t.Fatalf("kind: %s", body)
			}
		})
	}
}

// TestHTTPMetadataNumbersExact: metadata numbers come back with the text
// they were sent with (no float64 rounding), from add, update, list,
// search, traces and the Go client, before and after a restart.
func TestHTTPMetadataNumbersExact(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg)
	const meta = `{"big":9007199254740993,"neg":-123456789012345678901,"dec":0.1000000000000000055511151231257827,"exp":1e400,"nested":{"a":[18446744073709551615,1.5]}}`
	exact := []string{"9007199254740993", "-123456789012345678901", "0.1000000000000000055511151231257827", "1e400", "[18446744073709551615,1.5]"}
	check := func(what, body string) {
		t.Helper()
		for _, n := range exact {
			if !strings.Contains(body, n) {
				t.Errorf("%s: %s lost in %s", what, n, body)
			}
		}
	}
	code, body := do(t, "POST", s.URL()+pathway.MemoriesPath, `{"messages":"big numbers","user_id":"num","infer":false,"metadata":`+meta+`}`)
	if code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	var res pathway.AddResponse
	json.Unmarshal([]byte(body), &res)
	id := res.Results[0].ID
	code, body = do(t, "POST", s.URL()+pathway.MemoriesPath, `{"text":"I like numbers","user_id":"num2","metadata":`+meta+`}`)
	if code != 200 {
		t.Fatalf("add infer: %d %s", code, body)
	}
	code, body = do(t, "POST", s.URL()+pathway.TracesPath, `{"run_id":"num","steps":[{"type":"x","metadata":`+meta+`}]}`)
	if code != 200 {
		t.Fatalf("trace: %d %s", code, body)
	}
	reads := func() {
		t.Helper()
		_, body := do(t, "GET", s.URL()+pathway.MemoriesPath+"/"+id, "")
		check("get", body)
		_, body = do(t, "GET", s.URL()+pathway.MemoriesPath+"?user_id=num2", "")
		check("list", body)
		_, body = do(t, "POST", s.URL()+pathway.SearchPath, `{"query":"numbers","user_id":"num"}`)
		check("search", body)
		_, body = do(t, "GET", s.URL()+pathway.TracesPath+"/num", "")
		check("trace", body)
		m, err := c.Get(ctx, id)
		if err != nil || m.Metadata["big"] != json.Number("9007199254740993") {
			t.Errorf("client get: %#v %v", m.Metadata["big"], err)
		}
	}
	reads()
	code, body = do(t, "PUT", s.URL()+pathway.MemoriesPath+"/"+id, `{"text":"bigger numbers","metadata":`+meta+`}`)
	check("put", body)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s, c = start(t, cfg)
	reads()
	if _, err := c.Update(ctx, id, pathway.UpdateRequest{Text: "via client", Metadata: pathway.Metadata{"big": json.Number("9007199254740993")}}); err != nil {
		t.Fatal(err)
	}
	if _, body := do(t, "GET", s.URL()+pathway.MemoriesPath+"/"+id, ""); !strings.Contains(body, `"big":9007199254740993`) {
		t.Fatalf("client update: %s", body)
	}
}
