package chatd_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/shared"
)

// The overhead of chatd on a streamed answer of 200 chunks: time to first
// token and total, calling the fake upstream directly versus through chatd
// (in-process, loopback HTTP both ways). Run the table with
//
//	LH_CHAT_BENCH=1 go test -run TestOverheadTable -v ./internal/chat/chatd
//
// or the testing.B form with -bench Stream200.

type benchCase struct {
	name  string
	url   string
	body  string
	token string // the marker of the first content chunk
	sse   bool
}

// benchSetup starts both fakes (200 tokens, no pacing) and chatd over them.
func benchSetup(t testing.TB) []benchCase {
	ol := chattest.NewOllama(chattest.Script{Tokens: chattest.Tokens(200)})
	oa := chattest.NewOpenAI(chattest.Script{Tokens: chattest.Tokens(200)})
	t.Cleanup(func() { ol.Close(); oa.Close() })
	cfg := config(t)
	configure(t, cfg, "ollama", ol.URL)
	configure(t, cfg, "openrouter", oa.Base())
	e := start(t, cfg)
	msgs := `[{"role":"user","content":"count to 200"}]`
	return []benchCase{
		{"ollama direct (NDJSON)", ol.URL + "/api/chat", `{"model":"llama3.2","messages":` + msgs + `}`, `"t0 "`, false},
		{"ollama via chatd /v1/chat (NDJSON)", e.srv.URL() + chat.RouteChat, `{"provider":"ollama","stream":true,"messages":` + msgs + `}`, `"t0 "`, false},
		{"ollama via chatd /v1/chat/completions (SSE)", e.srv.URL() + chat.RouteCompletions, `{"model":"ollama/llama3.2","stream":true,"messages":` + msgs + `}`, `"t0 "`, true},
		{"openai direct (SSE)", oa.Base() + "/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":` + msgs + `}`, `"t0 "`, true},
		{"openai via chatd /v1/chat/completions (SSE)", e.srv.URL() + chat.RouteCompletions, `{"model":"openrouter/m","stream":true,"messages":` + msgs + `}`, `"t0 "`, true},
	}
}

// once streams one answer and returns time to first token and total.
func (c benchCase) once(hc *http.Client) (ttft, total time.Duration, err error) {
	t0 := time.Now()
	resp, err := hc.Post(c.url, "application/json", strings.NewReader(c.body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("%s: %d %s", c.name, resp.StatusCode, b)
	}
	lr := chat.NewLineReader(resp.Body, chat.MaxLine)
	n := 0
	for {
		line, err := lr.Line()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
		if ttft == 0 && bytes.Contains(line, []byte(c.token)) {
			ttft = time.Since(t0)
		}
		if bytes.Contains(line, []byte(`"t`)) {
			n++
		}
		if c.sse && string(line) == "data: [DONE]" {
			break
		}
	}
	total = time.Since(t0)
	if n < 200 {
		return 0, 0, fmt.Errorf("%s: %d content chunks, want 200", c.name, n)
	}
	return ttft, total, nil
}

func BenchmarkStream200(b *testing.B) {
	cases := benchSetup(b)
	hc := shared.NewHTTPClient(0)
	for _, c := range cases {
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			var sumTTFT, sumTotal time.Duration
			for b.Loop() {
				ttft, total, err := c.once(hc)
				if err != nil {
					b.Fatal(err)
				}
				sumTTFT += ttft
				sumTotal += total
			}
			b.ReportMetric(float64(sumTTFT.Microseconds())/float64(b.N), "ttft-µs")
			b.ReportMetric(float64(sumTotal.Microseconds())/float64(b.N), "total-µs")
		})
	}
}

func TestOverheadTable(t *testing.T) {
	if os.Getenv("LH_CHAT_BENCH") == "" {
		t.Skip("set LH_CHAT_BENCH=1 to print chatd's overhead table")
	}
	cases := benchSetup(t)
	hc := shared.NewHTTPClient(0)
	const warm, runs = 50, 500
	type stats struct{ ttft50, ttft95, tot50, tot95 time.Duration }
	// Round robin: run r of every case back to back, so machine noise
	// (other processes on 2 cores) hits every path alike.
	tt := make([][]time.Duration, len(cases))
	to := make([][]time.Duration, len(cases))
	for r := 0; r < warm+runs; r++ {
		for i, c := range cases {
			ttft, total, err := c.once(hc)
			if err != nil {
				t.Fatal(err)
			}
			if r >= warm {
				tt[i], to[i] = append(tt[i], ttft), append(to[i], total)
			}
		}
	}
	res := make([]stats, len(cases))
	for i := range cases {
		slices.Sort(tt[i])
		slices.Sort(to[i])
		res[i] = stats{tt[i][runs/2], tt[i][runs*95/100], to[i][runs/2], to[i][runs*95/100]}
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%8.0f", float64(d.Nanoseconds())/1e3) }
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nstreamed answer of 200 chunks, %d runs each (after %d warm-up), µs, GOMAXPROCS=%d\n", runs, warm, runtimeProcs())
	fmt.Fprintf(&sb, "%-46s %8s %8s %8s %8s %10s %10s\n", "path", "ttft p50", "ttft p95", "tot p50", "tot p95", "Δttft p50", "Δtot p50")
	base := map[int]int{1: 0, 2: 0, 4: 3}
	for i, c := range cases {
		dt, dT := "", ""
		if b, ok := base[i]; ok {
			dt = fmt.Sprintf("%+10.0f", float64((res[i].ttft50-res[b].ttft50).Nanoseconds())/1e3)
			dT = fmt.Sprintf("%+10.0f", float64((res[i].tot50-res[b].tot50).Nanoseconds())/1e3)
		}
		fmt.Fprintf(&sb, "%-46s %s %s %s %s %10s %10s\n", c.name, us(res[i].ttft50), us(res[i].ttft95), us(res[i].tot50), us(res[i].tot95), dt, dT)
	}
	t.Log(sb.String())
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
