package openai_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/openai"
)

// TestLogprobsFromUpstream: choices[].logprobs reach the chunks, from an
// event stream (also on the finish_reason chunk, whose text is delivered
// before the end) and from a whole chat.completion where a stream was
// asked for; a malformed logprobs object is the upstream's error, not a
// silent null (ADR-125).
func TestLogprobsFromUpstream(t *testing.T) {
	lp := func(tok string, l float64) chat.Logprob {
		return chat.Logprob{TokenLogprob: chat.TokenLogprob{Token: tok, Logprob: l, Bytes: []int{int(tok[0])}},
			TopLogprobs: []chat.TokenLogprob{{Token: tok, Logprob: l, Bytes: []int{int(tok[0])}}}}
	}
	entry := func(tok, l string) string {
		b := `[` + strconv.Itoa(int(tok[0])) + `]`
		return `{"token":"` + tok + `","logprob":` + l + `,"bytes":` + b + `,"top_logprobs":[{"token":"` + tok + `","logprob":` + l + `,"bytes":` + b + `}]}`
	}
	body := role +
		`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"A"},"logprobs":{"content":[` + entry("A", "-0.5") + `],"refusal":null},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"B"},"logprobs":{"content":[` + entry("B", "-1") + `],"refusal":null},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	cs, err := collect(t, body)
	if err != nil || len(cs) != 3 || !reflect.DeepEqual(cs[0].Logprobs, []chat.Logprob{lp("A", -0.5)}) ||
		!reflect.DeepEqual(cs[1].Logprobs, []chat.Logprob{lp("B", -1)}) || cs[1].Done || !cs[2].Done || cs[2].Logprobs != nil {
		t.Fatalf("%+v %v", cs, err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c9","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"AB"},"logprobs":{"content":[`+entry("A", "-0.5")+`,`+entry("B", "-1")+`],"refusal":null},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	st, err := openai.New(srv.URL, "k", &http.Client{Timeout: 5 * time.Second}).Chat(context.Background(), chat.ProviderRequest{Model: "m", Logprobs: true})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := st.Next()
	st.Close()
	if err != nil || c1.Content != "AB" || !reflect.DeepEqual(c1.Logprobs, []chat.Logprob{lp("A", -0.5), lp("B", -1)}) {
		t.Fatalf("%+v %v", c1, err)
	}

	_, err = collect(t, role+`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"A"},"logprobs":{"content":"x"},"finish_reason":null}]}`+"\n\n")
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("malformed logprobs: %v", err)
	}
}
