package ingestd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/testutil/suite"
)

// child is a daemon binary run as a child process on a fixed address.
type child struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func buildBin(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func (c *child) start() {
	c.t.Helper()
	cmd := exec.Command(c.bin, "--config", c.conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.cmd = cmd
	c.mu.Unlock()
	for i := 0; i < 800; i++ {
		if r, err := http.Get("http://" + c.addr + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.t.Fatalf("%s did not come up on %s", c.bin, c.addr)
}

// kill is kill -9 and wait.
func (c *child) kill() {
	c.mu.Lock()
	cmd := c.cmd
	c.cmd = nil
	c.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// TestIdempotencyKeyAfterLostCommit (ADR-123): real catalogd and ingestd
// processes; catalogd is killed with SIGKILL while it writes the manifest
// of a keyed append — after storaged stored it ("landed") or before
// ("lost") — so ingestd's commit gets no answer and the client a 503
// "outcome unknown". catalogd restarts; the client sends the same request
// with the same key again and gets the truth: the version that landed,
// replayed, or a fresh commit. Either way the dataset has exactly one
// version with those rows.
func TestIdempotencyKeyAfterLostCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/catalogd and cmd/ingestd")
	}
	st := startStack(t, config(t))
	catBin, ingBin := buildBin(t, "lakehouse-go/cmd/catalogd"), buildBin(t, "lakehouse-go/cmd/ingestd")
	for _, landed := range []bool{true, false} {
		sub := map[bool]string{true: "landed", false: "lost"}[landed]
		name := "lost_" + sub
		t.Run(sub, func(t *testing.T) {
			// catalogd reaches storaged through a proxy that, once armed,
			// kills catalogd at the PUT of manifest 2 (after passing it on
			// when landed).
			target, _ := url.Parse(st.servers["storaged"].URL())
			var cat *child
			var fired sync.Once
			var arm bool
			var armMu sync.Mutex
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				armMu.Lock()
				on := arm
				armMu.Unlock()
				if on && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/_catalog/"+name+"/0000000002.json") {
					stop := false
					fired.Do(func() { stop = true })
					if stop {
						if landed {
							out := r.Clone(r.Context())
							out.URL.Scheme, out.URL.Host, out.RequestURI, out.Host = target.Scheme, target.Host, "", target.Host
							resp, err := http.DefaultTransport.RoundTrip(out)
							if err != nil || resp.StatusCode/100 != 2 {
								t.Errorf("manifest PUT through the proxy: %v %v", resp, err)
							} else {
								resp.Body.Close()
							}
						}
						cat.kill() // before catalogd can answer ingestd
						http.Error(w, "killed", http.StatusBadGateway)
						return
					}
				}
				out := r.Clone(r.Context())
				out.URL.Scheme, out.URL.Host, out.RequestURI, out.Host = target.Scheme, target.Host, "", target.Host
				resp, err := http.DefaultTransport.RoundTrip(out)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				for k, vs := range resp.Header {
					w.Header()[k] = vs
				}
				w.WriteHeader(resp.StatusCode)
				io.Copy(w, resp.Body)
			}))
			defer proxy.Close()

			ports, err := suite.FreePorts(2)
			if err != nil {
				t.Fatal(err)
			}
			catAddr, ingAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
			dir := t.TempDir()
			write := func(name, body string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			common := `[report]
enabled = false
[log]
access = false
`
			cat = &child{t: t, bin: catBin, addr: catAddr, conf: write("catalogd.toml", fmt.Sprintf(`data_dir = %q
[catalogd]
bind = %q
[storaged]
url = %q
socket = "off"
`, filepath.Join(dir, "cdata"), catAddr, proxy.URL)+common)}
			ing := &child{t: t, bin: ingBin, addr: ingAddr, conf: write("ingestd.toml", fmt.Sprintf(`data_dir = %q
[ingestd]
bind = %q
[storaged]
url = %q
socket = "off"
[catalogd]
url = %q
`, filepath.Join(dir, "idata"), ingAddr, st.servers["storaged"].URL(), "http://"+catAddr)+common)}
			cat.start()
			t.Cleanup(cat.kill)
			ing.start()
			t.Cleanup(ing.kill)

			post := func(body string, k string) (int, []byte, http.Header) {
				req, _ := http.NewRequest(http.MethodPost, "http://"+ingAddr+"/v1/ingest?name="+name+"&format=csv", strings.NewReader(body))
				if k != "" {
					req.Header.Set(ingest.IdempotencyKeyHeader, k)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b, resp.Header
			}
			if code, b, _ := post(rowsCSV(0, 3), ""); code != 200 || !strings.Contains(string(b), `"version":1`) {
				t.Fatalf("seed: %d %s", code, b)
			}
			armMu.Lock()
			arm = true
			armMu.Unlock()
			body := rowsCSV(100, 7)
			code, b, _ := post(body, "append-7")
			var e errBody
			json.Unmarshal(b, &e)
			if code != 503 && code != 502 || e.Error.Kind != "unavailable" {
				t.Fatalf("the append whose commit answer was lost: %d %s, want 503/502 unavailable", code, b)
			}
			if !strings.Contains(e.Error.Message, "outcome is unknown") || !strings.Contains(e.Error.Message, "same Idempotency-Key") {
				t.Fatalf("the lost answer does not say what to do: %s", b)
			}
			t.Logf("lost answer: %d %s", code, b)

			cat.start() // catalogd is back
			code, b, h := post(body, "append-7")
			if code != 200 {
				t.Fatalf("retry: %d %s", code, b)
			}
			var r ingest.Result
			json.Unmarshal(b, &r)
			if replayed := h.Get(ingest.ReplayedHeader) == "true"; replayed != landed || r.IdempotentReplayed != landed {
				t.Fatalf("retry (landed %v): replayed header %q, body %s", landed, h.Get(ingest.ReplayedHeader), b)
			}
			if r.Rows != 7 || len(r.Files) == 0 {
				t.Fatalf("retry: %s", b)
			}
			// The answer's files exist (the lost answer's files were left
			// for the sweep, not deleted under the version that lists them).
			for _, f := range r.Files {
				if oi, err := st.store.Head(context.Background(), f.Key); err != nil || oi.Size != f.Bytes {
					t.Fatalf("file %s of the answer: %+v %v", f.Key, oi, err)
				}
			}
			// Exactly one version with those rows.
			resp, err := http.Get("http://" + catAddr + "/v1/catalog/datasets/" + name + "/versions")
			if err != nil {
				t.Fatal(err)
			}
			var vs struct {
				Versions []struct{ Version, RowCount int64 }
			}
			var raw []byte
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			json.Unmarshal(raw, &vs)
			if len(vs.Versions) != 2 || r.Version != 2 {
				t.Fatalf("versions after the retry: %s (answer version %d), want exactly 1 and 2", raw, r.Version)
			}
			resp, err = http.Get("http://" + catAddr + "/v1/catalog/datasets/" + name)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				RowCount int64 `json:"row_count"`
				Files    []struct{ Key string }
			}
			json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			if d.RowCount != 10 || d.Files[len(d.Files)-1].Key != r.Files[len(r.Files)-1].Key {
				t.Fatalf("latest: %+v, want 10 rows ending with the answer's files %+v", d, r.Files)
			}
			// A third send is a replay too.
			if code, b, h := post(body, "append-7"); code != 200 || h.Get(ingest.ReplayedHeader) != "true" || !strings.Contains(string(b), `"version":2`) {
				t.Fatalf("third send: %d %s", code, b)
			}
		})
	}
}
