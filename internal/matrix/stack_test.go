package matrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/vector"
)

// stack is every daemon matrixd needs, plus the gateway, in-process through
// the real harness on free loopback ports.
type stack struct {
	cfg     *shared.Config
	gateway string
	servers map[string]*shared.Server
	mx      *matrix.Client // through the gateway
}

var stackDaemons = []struct {
	name string
	b    shared.Builder
}{
	{"storaged", storaged.New}, {"catalogd", catalog.New}, {"queryd", queryd.New},
	{"ingestd", ingestd.New}, {"vectord", vector.New}, {"embedd", embedd.New},
	{"matrixd", matrix.New}, {"gateway", gateway.New},
}

func stackConfig(t testing.TB) *shared.Config {
	t.Helper()
	cfg := inproc.Config(t)
	names := make([]string, len(stackDaemons))
	for i, d := range stackDaemons {
		names[i] = d.name
	}
	inproc.Bind(t, cfg, names...)
	cfg.Matrixd.PollInterval = shared.Duration{Duration: 200 * time.Millisecond}
	return cfg
}

func logs() io.Writer {
	if testing.Verbose() && os.Getenv("LH_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

func startStack(t testing.TB, cfg *shared.Config) *stack {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := &stack{cfg: cfg, servers: map[string]*shared.Server{}}
	for _, d := range stackDaemons {
		s, err := shared.Start(context.Background(), d.name, cfg, d.b, logs())
		if err != nil {
			t.Fatalf("start %s: %v", d.name, err)
		}
		st.servers[d.name] = s
	}
	t.Cleanup(func() {
		for i := len(stackDaemons) - 1; i >= 0; i-- {
			if s := st.servers[stackDaemons[i].name]; s != nil {
				s.Shutdown(context.Background())
			}
		}
	})
	st.gateway = st.servers["gateway"].URL()
	st.mx = matrix.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	return st
}

// restartMatrixd stops matrixd and starts a new one on the same port and dir.
func (st *stack) restartMatrixd(t testing.TB) {
	t.Helper()
	st.restart(t, "matrixd", matrix.New)
}

// restart stops daemon name and starts b on the same port. The port may
// be busy for a moment: the connections the daemon closed wait for their
// peers' FIN (FIN_WAIT2, which SO_REUSEADDR does not pass), which a busy
// machine delays.
func (st *stack) restart(t testing.TB, name string, b shared.Builder) {
	t.Helper()
	if err := st.servers[name].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s, err := shared.Start(context.Background(), name, st.cfg, b, logs())
		if err == nil {
			st.servers[name] = s
			return
		}
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			t.Fatalf("restart %s: %v", name, err)
		}
	}
}

// ingest posts CSV bytes to /v1/ingest through the gateway.
func (st *stack) ingest(t testing.TB, name, mode, csv string) {
	t.Helper()
	resp, err := http.Post(st.gateway+"/v1/ingest?format=csv&name="+name+"&mode="+mode, "text/csv", bytes.NewReader([]byte(csv)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("ingest %s: %d %s", name, resp.StatusCode, b)
	}
}

// waitReady polls the index status until it is ready at version (0 = any).
func (st *stack) waitReady(t testing.TB, dataset string, version int64) matrix.IndexStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := st.mx.Status(context.Background(), dataset)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == matrix.StateFailed {
			t.Fatalf("index %s failed: %s", dataset, s.Error)
		}
		if s.State == matrix.StateReady && (version == 0 || s.Version == version) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %s not ready at version %d: %+v", dataset, version, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ids(rs []matrix.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// indexDocs replaces dataset "docs" with csv, indexes its txt column by id
// and waits for the index: the spec and its ready status.
func (st *stack) indexDocs(t testing.TB, csv string) (matrix.IndexRequest, matrix.IndexStatus) {
	t.Helper()
	return st.indexDataset(t, "docs", csv)
}

// indexDataset is indexDocs for dataset ds.
func (st *stack) indexDataset(t testing.TB, ds, csv string) (matrix.IndexRequest, matrix.IndexStatus) {
	t.Helper()
	st.ingest(t, ds, "replace", csv)
	spec := matrix.IndexRequest{Dataset: ds, IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := st.mx.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return spec, st.waitReady(t, ds, 0)
}

// ollamaStack is the stack of the model-change tests: embedd's provider
// ollama over a fake Ollama (ollamatest, speaking Ollama's wire protocol)
// serving models, the first one [embedd].default_model; conf (nil: none)
// adjusts the config before the start; with ttl > 0 embedd trusts
// Ollama's digests for ttl only (embeddWithTTL), else it is embedd.New.
// The fake is closed after the stack.
func ollamaStack(t *testing.T, ttl time.Duration, conf func(*shared.Config), models ...ollamatest.Model) (*stack, *ollamatest.Server) {
	t.Helper()
	ol := ollamatest.New(models...)
	t.Cleanup(ol.Close)
	cfg := stackConfig(t)
	cfg.Embedd.Provider, cfg.Embedd.ProviderURL, cfg.Embedd.DefaultModel = "ollama", ol.URL, models[0].Name
	if conf != nil {
		conf(cfg)
	}
	st := startStack(t, cfg)
	if ttl > 0 {
		st.restartEmbedd(t, embeddWithTTL(ttl))
	}
	return st, ol
}
