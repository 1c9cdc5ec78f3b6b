package ingestd_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// forwarder is a TCP port in front of a daemon that can go down (the port
// refuses connects, open ones are cut) and come back on the same port, as
// a restarted daemon does.
type forwarder struct {
	t      *testing.T
	addr   string // its own
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	f := &forwarder{t: t, target: target}
	f.up()
	t.Cleanup(f.down)
	return f
}

func (f *forwarder) up() {
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.l, f.addr = l, l.Addr().String()
	f.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, b)
			f.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

func (f *forwarder) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.l != nil {
		f.l.Close()
		f.l = nil
	}
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// downThenRefused takes storaged down, then commits to a catalogd that
// refuses the connect: the ingest's failure is definite, and its cleanup
// meets storaged down.
type downThenRefused struct {
	catalog.Service
	fwd  *forwarder
	down *catalog.Client
}

func (d *downThenRefused) Commit(ctx context.Context, name string, req catalog.CommitRequest) (catalog.Dataset, error) {
	d.fwd.down()
	return d.down.Commit(ctx, name, req)
}

// TestCleanupRetriedAfterStoragedReturns: an ingest that failed for good
// while storaged was down (restarting) deletes its parts and its marker
// once storaged is back, within seconds, instead of leaving them for the
// sweep a lease (an hour) later (ADR-117).
func TestCleanupRetriedAfterStoragedReturns(t *testing.T) {
	st := startStack(t, config(t))
	fwd := newForwarder(t, strings.TrimPrefix(st.servers["storaged"].URL(), "http://"))
	store := storage.NewClient(&shared.Client{Service: "storaged", Base: "http://" + fwd.addr, HTTP: shared.NewHTTPClient(time.Minute)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	cat := &downThenRefused{Service: st.catalog(), fwd: fwd,
		down: catalog.NewClient(&shared.Client{Service: "catalogd", Base: "http://" + refused, HTTP: shared.NewHTTPClient(time.Minute)})}
	s := st.ingester(t, cat, store, 0, nil)
	good := st.ingester(t, nil, nil, 0, nil)
	if _, err := ingestCSV(good, "ledger", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	before := st.dataKeys(t, "ledger")
	if _, err := ingestCSV(s, "ledger", "append", rowsCSV(10, 3000)); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("append: %v", err)
	}
	if got := st.dataKeys(t, "ledger"); len(got) <= len(before) {
		t.Fatalf("the failed ingest's parts are gone while storaged was down: %v", got)
	}
	fwd.up()
	deadline := time.Now().Add(15 * time.Second)
	for {
		after, ids := st.dataKeys(t, "ledger"), st.pending(t, "ledger")
		if strings.Join(after, " ") == strings.Join(before, " ") && len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after storaged came back: data files %v (want %v), markers %v", after, before, ids)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := st.scalar(t, "SELECT count(*) FROM ledger"); got != float64(10) {
		t.Fatalf("count = %v, want 10", got)
	}
}
