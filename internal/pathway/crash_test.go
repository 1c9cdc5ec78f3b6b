package pathway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/pathway"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestKill9KeepsAcknowledgedWrites builds the real pathwayd, and in each
// round starts it, checks that every write acknowledged so far is there,
// runs 32 concurrent writers (trace steps and memory adds), and kills the
// process with SIGKILL mid-flight.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real pathwayd")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pathwayd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/pathwayd")
	build.Dir = suite.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ports, err := suite.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n[pathwayd]\nbind = \"127.0.0.1:%d\"\n[report]\nenabled = false\n[log]\naccess = false\n",
		filepath.Join(dir, "data"), ports[0])), 0o600)
	cfg := shared.Default(dir)
	cfg.Pathwayd.URL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(10 * time.Second)}
	c := pathway.NewClient(env.Client("pathwayd"))
	logs := &syncbuf.Buffer{}

	var mu sync.Mutex
	ackedSteps := map[string][]string{} // run -> acknowledged step names in ack order
	type ackedMem struct{ id, text string }
	var ackedMems []ackedMem
	totalSteps, totalMems := 0, 0

	startD := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", conf)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(cfg.Pathwayd.URL + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("pathwayd not healthy: %v\n%s", err, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	verify := func(round int) {
		ctx := context.Background()
		mu.Lock()
		defer mu.Unlock()
		for run, names := range ackedSteps {
			var tr pathway.Trace
			for opts := (pathway.TraceOptions{Limit: pathway.MaxTraceLimit}); ; {
				page, err := c.Trace(ctx, run, opts)
				if err != nil {
					t.Fatalf("round %d: trace %s: %v", round, run, err)
				}
				tr.Steps = append(tr.Steps, page.Steps...)
				if opts.After = page.Next; opts.After == "" {
					break
				}
			}
			// The acknowledged steps appear in ack order (unacknowledged but
			// durable ones may sit between them).
			k := 0
			for _, st := range tr.Steps {
				if k < len(names) && st.Name == names[k] {
					k++
				}
			}
			if k != len(names) {
				t.Fatalf("round %d: run %s lost acknowledged step %q (%d of %d found in order)", round, run, names[k], k, len(names))
			}
		}
		for _, m := range ackedMems {
			hr, err := c.History(ctx, m.id, pathway.HistoryOptions{})
			h := hr.Results
			if err != nil {
				t.Fatalf("round %d: history %s: %v", round, m.id, err)
			}
			found := false
			for _, e := range h {
				found = found || (e.NewMemory != nil && *e.NewMemory == m.text)
			}
			if !found {
				t.Fatalf("round %d: acknowledged memory %s %q missing from history %+v", round, m.id, m.text, h)
			}
		}
	}

	const rounds, writers = 5, 32
	for round := 0; round < rounds; round++ {
		cmd := startD()
		verify(round)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := fmt.Sprint("w", w)
				for i := 0; ctx.Err() == nil; i++ {
					if i%4 == 3 {
						text := fmt.Sprintf("I collect item %d of writer %d in round %d", i, w, round)
						res, err := c.Add(ctx, pathway.AddRequest{Text: text, Scope: pathway.Scope{UserID: run}})
						if err != nil {
							continue
						}
						mu.Lock()
						for _, r := range res.Results {
							if r.Event == pathway.EventAdd || r.Event == pathway.EventUpdate {
								ackedMems = append(ackedMems, ackedMem{r.ID, r.Memory})
							}
						}
						totalMems++
						mu.Unlock()
						continue
					}
					name := fmt.Sprintf("r%d-i%d", round, i)
					_, err := c.AppendTrace(ctx, pathway.TraceRequest{RunID: run, Steps: []pathway.Step{
						{Type: "tool", Name: name, Input: json.RawMessage(`{"pad":"` + strings.Repeat("x", rand.IntN(2000)) + `"}`)}}})
					if err != nil {
						continue
					}
					mu.Lock()
					ackedSteps[run] = append(ackedSteps[run], name)
					totalSteps++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
		cancel()
		wg.Wait()
	}
	cmd := startD()
	verify(rounds)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	torn := strings.Count(logs.String(), "torn line")
	t.Logf("%d rounds: %d acknowledged steps, %d acknowledged adds survived SIGKILL; torn tails cut on %d restarts", rounds, totalSteps, totalMems, torn)
	if totalSteps == 0 || totalMems == 0 {
		t.Fatal("no writes were acknowledged: the test proved nothing")
	}
}
