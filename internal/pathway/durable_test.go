package pathway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

// disk wraps state.jsonl's writer: fail makes every write fail the way a
// full disk or `ulimit -f` does; holding stall keeps writes waiting.
type disk struct {
	inner   journal.WriteSyncer
	fail    atomic.Bool
	stall   sync.RWMutex
	entered chan struct{} // a write started (non-blocking send)
}

func (d *disk) Write(p []byte) (int, error) {
	select {
	case d.entered <- struct{}{}:
	default:
	}
	d.stall.RLock()
	d.stall.RUnlock()
	if d.fail.Load() {
		return 0, &os.PathError{Op: "write", Path: "/secret/data/pathwayd/state.jsonl", Err: syscall.EFBIG}
	}
	return d.inner.Write(p)
}

func (d *disk) Sync() error { return d.inner.Sync() }

func openDisk(t *testing.T, path string) (*Store, *disk) {
	t.Helper()
	d := &disk{entered: make(chan struct{}, 1)}
	n := 0
	s, _, err := Open(context.Background(), Options{Path: path, Embedder: embedder(t),
		NewID: func() string { n++; return fmt.Sprintf("m%03d", n) },
		wrapJournal: func(w journal.WriteSyncer) journal.WriteSyncer {
			d.inner = w
			return d
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

// snapshot is everything a reader can see of alice's memories and run r.
func snapshot(t *testing.T, s *Store) string {
	var b strings.Builder
	b.WriteString(dump(t, s))
	tr, err := s.Trace(context.Background(), "r", TraceOptions{})
	fmt.Fprintf(&b, "trace r: %d steps %v\n", len(tr.Steps), err)
	return b.String()
}

// TestRefusedWriteIsNeverVisible: a write the journal refuses answers
// Unavailable and changes nothing a reader can see, before or after a
// restart (the committed state is the replay of state.jsonl).
func TestRefusedWriteIsNeverVisible(t *testing.T) {
	ctx := context.Background()
	no := false
	u := Scope{UserID: "alice"}
	for _, tc := range []struct {
		name string
		do   func(s *Store) error
	}{
		{"add infer", func(s *Store) error {
			_, err := s.Add(ctx, AddRequest{Text: "I like coffee. My name is Bob", Scope: u})
			return err
		}},
		{"add verbatim", func(s *Store) error {
			_, err := s.Add(ctx, AddRequest{Messages: "phantom two", Infer: &no, Scope: u})
			return err
		}},
		{"add update", func(s *Store) error {
			_, err := s.Add(ctx, AddRequest{Text: "My name is Bob", Scope: u})
			return err
		}},
		{"add retract", func(s *Store) error {
			_, err := s.Add(ctx, AddRequest{Text: "I no longer like tea", Scope: u})
			return err
		}},
		{"update", func(s *Store) error {
			_, err := s.Update(ctx, "m001", UpdateRequest{Text: "Likes green tea", Metadata: map[string]any{"k": "v"}})
			return err
		}},
		{"delete", func(s *Store) error { return s.Delete(ctx, "m001") }},
		{"delete all", func(s *Store) error {
			_, err := s.DeleteAll(ctx, u)
			return err
		}},
		{"trace", func(s *Store) error {
			_, err := s.AppendTrace(ctx, TraceRequest{RunID: "r", Steps: []Step{{Type: "llm"}, {Type: "tool"}}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.jsonl")
			s, d := openDisk(t, path)
			if _, err := s.Add(ctx, AddRequest{Text: "I like tea. My name is John", Scope: u}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AppendTrace(ctx, TraceRequest{RunID: "r", Steps: []Step{{Type: "llm"}}}); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, s)
			d.fail.Store(true)
			if err := tc.do(s); !errs.Is(err, errs.Unavailable) {
				t.Fatalf("refused write: err = %v, want unavailable", err)
			}
			if got := snapshot(t, s); got != before {
				t.Fatalf("a refused write is visible:\nbefore\n%s\nafter\n%s", before, got)
			}
			s.Close(ctx)
			s2 := open(t, path)
			defer s2.Close(ctx)
			if got := snapshot(t, s2); got != before {
				t.Fatalf("after restart:\nbefore\n%s\nafter\n%s", before, got)
			}
		})
	}
}

// TestPendingWriteInvisibleUntilDurable: while a write waits for its fsync,
// readers do not see it; concurrent writers decide against it (a second
// identical fact is NONE, an update of the pending memory finds it) and
// answer only once it is durable; if it is then refused, so are they.
func TestPendingWriteInvisibleUntilDurable(t *testing.T) {
	ctx := context.Background()
	u := Scope{UserID: "alice"}
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprint("refuse=", refuse), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.jsonl")
			s, d := openDisk(t, path)
			defer s.Close(ctx)
			d.stall.Lock()
			release := sync.OnceFunc(d.stall.Unlock)
			defer release() // before Close, also when the test fails early
			type result struct {
				res AddResponse
				err error
			}
			first := make(chan result, 1)
			go func() {
				r, err := s.Add(ctx, AddRequest{Text: "I like coffee", Scope: u})
				first <- result{r, err}
			}()
			<-d.entered // the committer is writing the first add
			if lr, _ := s.List(ctx, u, ListOptions{}); len(lr.Results) != 0 {
				t.Fatalf("pending add visible to List: %+v", lr.Results)
			}
			if rs, _ := s.Search(ctx, SearchRequest{Query: "coffee", Scope: u}); len(rs.Results) != 0 {
				t.Fatalf("pending add visible to Search: %+v", rs)
			}
			if _, err := s.Get(ctx, "m001"); !errs.Is(err, errs.NotFound) {
				t.Fatalf("pending add visible to Get: %v", err)
			}
			second := make(chan result, 1)
			go func() {
				r, err := s.Add(ctx, AddRequest{Text: "I like coffee!", Scope: u})
				second <- result{r, err}
			}()
			third := make(chan error, 1)
			go func() {
				_, err := s.Update(ctx, "m001", UpdateRequest{Text: "Likes coffee", Metadata: map[string]any{"src": "put"}})
				third <- err
			}()
			time.Sleep(50 * time.Millisecond)
			select {
			case r := <-second:
				t.Fatalf("a NONE naming a pending memory answered before it was durable: %+v", r)
			default:
			}
			d.fail.Store(refuse)
			release()
			r1, r2, err3 := <-first, <-second, <-third
			lr, _ := s.List(ctx, u, ListOptions{})
			ms := lr.Results
			if refuse {
				if !errs.Is(r1.err, errs.Unavailable) || !errs.Is(r2.err, errs.Unavailable) || !errs.Is(err3, errs.Unavailable) {
					t.Fatalf("errs: %v / %v / %v", r1.err, r2.err, err3)
				}
				if len(ms) != 0 {
					t.Fatalf("refused writes visible: %+v", ms)
				}
				return
			}
			if r1.err != nil || r2.err != nil || err3 != nil {
				t.Fatalf("errs: %v / %v / %v", r1.err, r2.err, err3)
			}
			if events(r1.res) != "ADD m001 Likes coffee" || events(r2.res) != "NONE m001 Likes coffee" {
				t.Fatalf("events: %s / %s", events(r1.res), events(r2.res))
			}
			if len(ms) != 1 || ms[0].Metadata["src"] != "put" {
				t.Fatalf("list: %+v", ms)
			}
			before := dump(t, s)
			s.Close(ctx)
			s2 := open(t, path)
			defer s2.Close(ctx)
			if after := dump(t, s2); after != before {
				t.Fatalf("memory differs from replay:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// TestRefusedWriteAnswer: the 503 of a refused write says what to do and
// the OS's reason, not where the file is; the whole error goes to the log.
func TestRefusedWriteAnswer(t *testing.T) {
	s, d := openDisk(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(context.Background())
	logs := &syncbuf.Buffer{}
	env := &shared.Env{Log: slog.New(slog.NewTextHandler(logs, nil))}
	r := chi.NewRouter()
	Routes(env, s)(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	d.fail.Store(true)
	resp, err := http.Post(srv.URL+MemoriesPath, "application/json",
		strings.NewReader(`{"messages":"phantom two","user_id":"fs","infer":false}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b errs.Body
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	msg := b.Error.Message
	if resp.StatusCode != http.StatusServiceUnavailable || b.Error.Kind != errs.Unavailable || !strings.Contains(msg, "(file too large)") || !strings.Contains(msg, "retry it once the disk") {
		t.Fatalf("%d %+v", resp.StatusCode, b)
	}
	for _, leak := range []string{"/secret", "state.jsonl:", "write "} {
		if strings.Contains(msg, leak) {
			t.Errorf("message %q exposes %q", msg, leak)
		}
	}
	if l := logs.String(); !strings.Contains(l, "/secret/data/pathwayd/state.jsonl") || !strings.Contains(l, "file too large") {
		t.Errorf("the log lacks the detail: %s", l)
	}
}

// TestOneSettlePerGroup: when a group of writes is durable, one settle
// applies it and releases its writers; the writers do not each take the
// store's write lock to settle (32 writers contended with every decision).
// Every writer still reads its own write once it is answered.
func TestOneSettlePerGroup(t *testing.T) {
	ctx := context.Background()
	s, d := openDisk(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(ctx)
	d.stall.Lock()
	release := sync.OnceFunc(d.stall.Unlock)
	defer release()
	const writers = 32
	no := false
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Add(ctx, AddRequest{Text: fmt.Sprint("note ", w), Infer: &no, Scope: Scope{UserID: fmt.Sprint("u", w)}})
			if err == nil {
				_, err = s.Get(ctx, res.Results[0].ID) // read-your-writes
			}
			errc <- err
		}()
	}
	<-d.entered // the first write is in the committer, the others queue
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.RLock()
		n := len(s.pending)
		s.mu.RUnlock()
		if n == writers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes pending", n, writers)
		}
	}
	s.mu.RLock()
	settles0, groups0 := s.settles, s.JournalStats().Groups
	s.mu.RUnlock()
	release()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.mu.RLock()
	settles, groups := s.settles-settles0, s.JournalStats().Groups-groups0
	s.mu.RUnlock()
	if groups >= writers/2 {
		t.Skipf("%d writes took %d groups: no grouping to check", writers, groups)
	}
	if settles > 2*int(groups)+2 {
		t.Fatalf("%d writes in %d groups took %d settles (the write lock each time), want <= %d", writers, groups, settles, 2*groups+2)
	}
}
