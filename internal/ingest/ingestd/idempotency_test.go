package ingestd_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/ingestd"
)

// post sends a raw-body ingest through the gateway with headers h.
func (st *stack) post(t *testing.T, query, body string, h map[string][]string) (answer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, st.gateway+"/v1/ingest?"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}, resp.Header
}

type errBody struct {
	Error struct {
		Kind, Message string
		RequestID     string `json:"request_id"`
	} `json:"error"`
}

// versionsOf lists the versions of name through catalogd (oldest first).
func versionsOf(t *testing.T, cat catalog.Service, name string) []catalog.VersionInfo {
	t.Helper()
	vs, err := cat.Versions(context.Background(), name)
	if err != nil && !errs.Is(err, errs.NotFound) {
		t.Fatal(err)
	}
	return vs
}

func key(k string) map[string][]string { return map[string][]string{ingest.IdempotencyKeyHeader: {k}} }

// TestIdempotencyKeyReplay (ADR-123): a request whose Idempotency-Key
// already committed to the dataset answers that commit's result (200,
// Idempotent-Replayed: true, same version, rows and files) and writes
// nothing, whether the body comes raw or in a multipart form; the key with
// another body or mode is a 409 that writes nothing; bad keys are 400s with
// DESIGN.md's error body that write nothing.
func TestIdempotencyKeyReplay(t *testing.T) {
	st := startStack(t, config(t))
	cat := st.catalog()
	if a := st.upload(t, "name=idem", "a.csv", []byte(rowsCSV(0, 3))); a.Status != 200 {
		t.Fatalf("seed: %d %s", a.Status, a.Body)
	}
	body := rowsCSV(100, 5)
	first, h := st.post(t, "name=idem&mode=append", body, key("order-42"))
	if first.Status != 200 || h.Get(ingest.ReplayedHeader) != "" {
		t.Fatalf("first: %d %s %v", first.Status, first.Body, h)
	}
	var r1 ingest.Result
	first.json(t, &r1)
	if r1.Version != 2 || r1.Rows != 5 || r1.IdempotencyKey != "order-42" || r1.IdempotentReplayed {
		t.Fatalf("first: %s", first.Body)
	}
	keys := st.dataKeys(t, "idem")

	check := func(what string, a answer, h http.Header) {
		t.Helper()
		if a.Status != 200 || h.Get(ingest.ReplayedHeader) != "true" {
			t.Fatalf("%s: %d %s %v", what, a.Status, a.Body, h)
		}
		var r ingest.Result
		a.json(t, &r)
		if !r.IdempotentReplayed || r.Version != r1.Version || r.Rows != r1.Rows || r.Bytes != r1.Bytes ||
			!reflect.DeepEqual(r.Files, r1.Files) || !reflect.DeepEqual(r.Schema, r1.Schema) || r.Mode != "append" || r.Format != "csv" || r.InBytes != r1.InBytes {
			t.Fatalf("%s: replay %+v, want the first answer %+v", what, r, r1)
		}
	}
	a, h := st.post(t, "name=idem", body, key("order-42")) // mode append by default: the same request
	check("raw retry", a, h)
	// The same file in a multipart form (another envelope, same bytes).
	mp := func() (answer, http.Header) {
		var buf strings.Builder
		bnd := "XbOuNdArY"
		buf.WriteString("--" + bnd + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.csv\"\r\nContent-Type: text/csv\r\n\r\n" + body + "\r\n--" + bnd + "--\r\n")
		req, _ := http.NewRequest(http.MethodPost, st.gateway+"/v1/ingest?name=idem", strings.NewReader(buf.String()))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+bnd)
		req.Header.Set(ingest.IdempotencyKeyHeader, "order-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, b}, resp.Header
	}
	a, h = mp()
	check("multipart retry", a, h)

	// The typed client sends the key and reads the replay.
	res, err := st.compactClient().Ingest(context.Background(), ingest.Params{Name: "idem", IdempotencyKey: "order-42", Format: "csv"}, strings.NewReader(body), int64(len(body)))
	if err != nil || !res.IdempotentReplayed || res.Version != 2 {
		t.Fatalf("client retry: %+v %v", res, err)
	}

	// The key with another request: 409, nothing written.
	for _, tc := range []struct{ what, query, body string }{
		{"another body", "name=idem", rowsCSV(100, 6)},
		{"another mode", "name=idem&mode=replace", body},
		{"another format", "name=idem&format=jsonl", `{"id":1,"name":"x"}` + "\n"},
	} {
		a, h := st.post(t, tc.query, tc.body, key("order-42"))
		var e errBody
		a.json(t, &e)
		if a.Status != 409 || e.Error.Kind != "conflict" || !strings.Contains(e.Error.Message, "already used on dataset \"idem\" for a different request (version 2") || h.Get(ingest.ReplayedHeader) != "" {
			t.Fatalf("%s: %d %s", tc.what, a.Status, a.Body)
		}
	}

	// Bad keys: 400 invalid with the error body, nothing written.
	for _, tc := range []struct {
		what string
		h    map[string][]string
		want string
	}{
		{"too long", key(strings.Repeat("k", 256)), "256 bytes, at most 255"},
		{"not ASCII", key("caf\u00e9"), "want printable ASCII"},
		{"tab", key("a\tb"), "byte 1 is 0x09"},
		{"empty", key(""), "Idempotency-Key: empty"},
		{"twice", map[string][]string{ingest.IdempotencyKeyHeader: {"a", "b"}}, "sent 2 times"},
	} {
		a, _ := st.post(t, "name=idem", rowsCSV(500, 2), tc.h)
		var e errBody
		a.json(t, &e)
		if a.Status != 400 || e.Error.Kind != "invalid" || !strings.Contains(e.Error.Message, tc.want) || e.Error.RequestID == "" {
			t.Fatalf("%s: %d %s, want 400 invalid saying %q", tc.what, a.Status, a.Body, tc.want)
		}
	}
	if vs := versionsOf(t, cat, "idem"); len(vs) != 2 {
		t.Fatalf("versions after replays and refusals: %+v", vs)
	}
	if now := st.dataKeys(t, "idem"); !slices.Equal(now, keys) {
		t.Fatalf("data files %v -> %v: a replay or refusal wrote or left files", keys, now)
	}
	if ids := st.pending(t, "idem"); len(ids) != 0 {
		t.Fatalf("pending markers left: %v", ids)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM idem"); got != float64(8) {
		t.Fatalf("rows = %v, want 8", got)
	}

	// A new key commits; keys are per dataset (another dataset's use of
	// order-42 is another request).
	if a, _ := st.post(t, "name=idem", body, key("order-43")); a.Status != 200 || !strings.Contains(string(a.Body), `"version":3`) {
		t.Fatalf("new key: %d %s", a.Status, a.Body)
	}
	if a, h := st.post(t, "name=idem_other", body, key("order-42")); a.Status != 200 || h.Get(ingest.ReplayedHeader) != "" {
		t.Fatalf("the key on another dataset: %d %s", a.Status, a.Body)
	}
	// The version records the key and the request's hash.
	d, err := cat.Get(context.Background(), "idem", 2)
	if err != nil || d.IdempotencyKey != "order-42" || len(d.RequestHash) != 64 {
		t.Fatalf("version 2: %+v %v", d, err)
	}
}

// TestIdempotencyKeyConcurrent (ADR-123): two ingestds on the same catalog
// get the same request with the same key at once. The one whose commit
// comes second loses the race for the version to the other's commit of the
// same key: it answers the replay instead of committing again, deletes its
// own files and marker, and the dataset has exactly one new version. The
// same key on one ingestd while the first request runs is a 409 "in
// progress".
func TestIdempotencyKeyConcurrent(t *testing.T) {
	st := startStack(t, config(t))
	cat := st.catalog()
	a := st.ingester(t, nil, nil, 0, nil)
	b := st.ingester(t, nil, nil, 0, nil)
	if _, err := ingestCSV(a, "race", "append", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	body := rowsCSV(1000, 2500) // three parts of 1000 rows
	p := ingest.Params{Name: "race", Mode: "append", Format: "csv", IdempotencyKey: "batch-7"}

	// a uploads its first part, then waits until b has committed.
	bDone, aHeld := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ingestd.SetAfterPut(a, func(i int) error {
		if i == 0 {
			once.Do(func() { close(aHeld) })
			<-bDone
		}
		return nil
	})
	var ra *ingest.Result
	var errA error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ra, errA = a.Ingest(context.Background(), p, strings.NewReader(body), int64(len(body)))
	}()
	select {
	case <-aHeld:
	case <-time.After(2 * time.Minute):
		t.Fatal("a never uploaded a part")
	}
	// The same key on a, while a's request runs: 409 in progress.
	if _, err := a.Ingest(context.Background(), p, strings.NewReader(body), int64(len(body))); !errs.Is(err, errs.Conflict) || !strings.Contains(errs.Message(err), "in progress") {
		t.Fatalf("same key on the same ingestd meanwhile: %v", err)
	}
	rb, errB := b.Ingest(context.Background(), p, strings.NewReader(body), int64(len(body)))
	close(bDone)
	wg.Wait()
	if errB != nil || rb.IdempotentReplayed || rb.Version != 2 {
		t.Fatalf("b: %+v %v", rb, errB)
	}
	if errA != nil || !ra.IdempotentReplayed || ra.Version != 2 || ra.Rows != 2500 || !reflect.DeepEqual(ra.Files, rb.Files) {
		t.Fatalf("a (lost the race to b's commit of the same key): %+v %v", ra, errA)
	}
	if vs := versionsOf(t, cat, "race"); len(vs) != 2 {
		t.Fatalf("versions: %+v", vs)
	}
	d, err := cat.Get(context.Background(), "race", 0)
	if err != nil || d.RowCount != 2510 {
		t.Fatalf("latest: %+v %v", d, err)
	}
	// a's files went with its marker: only the committed ones are left.
	var want []string
	for _, f := range d.Files {
		want = append(want, f.Key)
	}
	slices.Sort(want)
	if got := st.dataKeys(t, "race"); !slices.Equal(got, want) {
		t.Fatalf("data files %v, want the version's %v", got, want)
	}
	if ids := st.pending(t, "race"); len(ids) != 0 {
		t.Fatalf("pending markers left: %v", ids)
	}
}
