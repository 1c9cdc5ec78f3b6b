package ingestd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/convert"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/suite"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// streamer is an ingestd on st's storaged (through the short-circuit socket
// where storaged has one, as cmd/ingestd's client) and catalogd, with files
// of 20000 rows; noStream stores them only after the conversion.
func (st *stack) streamer(t *testing.T, noStream bool) (*ingestd.Server, *logBuf, storage.Store) {
	t.Helper()
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute), StreamHTTP: shared.NewHTTPClient(0)}
	store := storage.NewClient(env.StreamClient("storaged"), storage.WithConfig(st.cfg))
	logs := &logBuf{}
	s, err := ingestd.NewServer(ingestd.Options{
		Catalog: st.catalog(), Store: store, TempDir: t.TempDir(), StreamStore: !noStream,
		Convert: convert.Options{Threads: 1, MemoryLimit: "256MB", RowGroupSize: 5000, FileRows: 20000},
		Log:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs, store
}

// streamCSV is n rows of four columns; bad (> 0) makes that row ragged
// (five fields).
func streamCSV(n, bad int) string {
	var b strings.Builder
	b.WriteString("id,name,amount,note\n")
	for i := 1; i <= n; i++ {
		if i == bad {
			fmt.Fprintf(&b, "%d,name %d,%d.25,ragged,row\n", i, i, i)
			continue
		}
		fmt.Fprintf(&b, "%d,name %d,%d.25,note %x\n", i, i%977, i, i*7919)
	}
	return b.String()
}

var reStreamed = regexp.MustCompile(`files_stored_while_converting=(\d+)`)

// TestStreamStore: ingestd stored the Parquet files only after DuckDB had
// written all of them — storaged then copied each and waited for the whole
// of it to reach the disk. Now each part file is written into storaged
// while DuckDB writes it and published after the conversion succeeded
// (ADR-138). Checked: every file of the ingest went that way; the stored
// objects are byte for byte those of the store after the conversion (the
// fallback) and the dataset reads the same; a CSV refused on its last row,
// after several part files were written, leaves no object and nothing in
// storaged's temp directory.
func TestStreamStore(t *testing.T) { streamStore(t, startStack(t, config(t)), true) }

// TestStreamStoreMinIO is the same on the s3 backend: no socket, so the
// streamed Puts go over HTTP with unknown length (New streams only when
// it has the socket; the path holds anyway).
func TestStreamStoreMinIO(t *testing.T) { streamStore(t, startStack(t, minioConfig(t)), false) }

func streamStore(t *testing.T, st *stack, local bool) {
	ctx := context.Background()
	data := streamCSV(90_000, 0)
	fast, fastLogs, store := st.streamer(t, false)
	slow, _, _ := st.streamer(t, true)
	a, err := fast.Ingest(ctx, ingest.Params{Name: "streamed", Format: "csv"}, strings.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := slow.Ingest(ctx, ingest.Params{Name: "after", Format: "csv"}, strings.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) < 4 || len(a.Files) != len(b.Files) || a.Rows != b.Rows || a.Bytes != b.Bytes {
		t.Fatalf("streamed: %d files, %d rows, %d bytes; after: %d files, %d rows, %d bytes",
			len(a.Files), a.Rows, a.Bytes, len(b.Files), b.Rows, b.Bytes)
	}
	m := reStreamed.FindStringSubmatch(fastLogs.String())
	if m == nil || m[1] != fmt.Sprint(len(a.Files)) {
		t.Errorf("files stored while converting: %v of %d (log: %s)", m, len(a.Files), fastLogs.String())
	}
	if sc, ok := store.(*storage.Client); ok && local && sc.SocketOps() == 0 {
		t.Errorf("the local stack's store did not use the socket")
	}
	for i := range a.Files {
		x := storagetest.MustGet(t, store, a.Files[i].Key, storage.GetOptions{})
		y := storagetest.MustGet(t, store, b.Files[i].Key, storage.GetOptions{})
		if !bytes.Equal(x, y) || int64(len(x)) != a.Files[i].Bytes {
			t.Errorf("file %d: streamed %d bytes, after the conversion %d bytes (reported %d): not the same", i, len(x), len(y), a.Files[i].Bytes)
		}
	}
	if keys := storagetest.ListKeys(t, store, ingestd.DataPrefix+"streamed/", 1000); len(keys) != len(a.Files) {
		t.Errorf("objects of the streamed ingest: %v, want the %d files", keys, len(a.Files))
	}
	var x, y sqlResult
	st.sql(t, `{"sql":"SELECT count(*), sum(id), sum(amount), min(note), max(name) FROM streamed"}`).json(t, &x)
	st.sql(t, `{"sql":"SELECT count(*), sum(id), sum(amount), min(note), max(name) FROM after"}`).json(t, &y)
	if fmt.Sprint(x.Rows) != fmt.Sprint(y.Rows) || len(x.Rows) != 1 {
		t.Errorf("the datasets read differently: %v and %v", x.Rows, y.Rows)
	}

	// Refused on its last row: part files were written (and followed)
	// before DuckDB met the bad value.
	bad := streamCSV(90_000, 90_000)
	_, err = fast.Ingest(ctx, ingest.Params{Name: "refused", Format: "csv"}, strings.NewReader(bad), int64(len(bad)))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "line 90001") {
		t.Fatalf("refused CSV: %v, want Invalid naming line 90001", err)
	}
	// Appended to the streamed dataset, refused: the dataset stays.
	_, err = fast.Ingest(ctx, ingest.Params{Name: "streamed", Format: "csv"}, strings.NewReader(bad), int64(len(bad)))
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("refused append: %v, want Invalid", err)
	}
	if keys := storagetest.ListKeys(t, store, ingestd.DataPrefix+"refused/", 1000); len(keys) != 0 {
		t.Errorf("a refused CSV left objects: %v", keys)
	}
	if keys := storagetest.ListKeys(t, store, ingestd.DataPrefix+"streamed/", 1000); len(keys) != len(a.Files) {
		t.Errorf("a refused append changed the dataset's objects: %d, want %d", len(keys), len(a.Files))
	}
	if local {
		tmp := filepath.Join(st.cfg.DataPath(st.cfg.Storaged.Dir, "objects"), "tmp")
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := tempFiles(tmp)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("storaged's temp dir %s holds %v after the refused ingests", tmp, left)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// tempFiles lists dir's files, except the spare temp files storaged keeps
// ready for the socket's next write.
func tempFiles(dir string) []string {
	des, _ := os.ReadDir(dir)
	var out []string
	for _, de := range des {
		info, err := de.Info()
		if err == nil && info.Size() > 0 {
			out = append(out, de.Name())
		}
	}
	return out
}

// TestStreamStoreKill9: a real ingestd process, SIGKILLed while DuckDB
// writes the part files it is already writing into storaged's temp files
// (through the socket), leaves no object: a streamed file is published
// only after the conversion, and storaged drops the temp files of the
// connections the kill closed.
func TestStreamStoreKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/ingestd")
	}
	st := startStack(t, config(t))
	sock := st.cfg.StoragedSocket()
	if sock == "" {
		t.Fatal("no storaged socket on the local stack")
	}
	bin := filepath.Join(t.TempDir(), "ingestd")
	if out, err := exec.Command("go", "build", "-o", bin, "lakehouse-go/cmd/ingestd").CombinedOutput(); err != nil {
		t.Fatalf("go build ingestd: %v\n%s", err, out)
	}
	dir := t.TempDir()
	ports, err := suite.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	conf := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[ingestd]
bind = %q
threads = 1
row_group_size = 5000
file_rows = 20000
[storaged]
url = %q
socket = %q
[catalogd]
url = %q
[report]
enabled = false
[log]
access = false
`, filepath.Join(dir, "data"), addr, st.servers["storaged"].URL(), sock, st.servers["catalogd"].URL())), 0o600)
	cmd := startChild(t, bin, conf, addr)
	data := streamCSV(1_500_000, 0)
	go func() {
		resp, err := http.Post("http://"+addr+"/v1/ingest?name=killed&format=csv", "text/csv", strings.NewReader(data))
		if err == nil {
			resp.Body.Close()
		}
	}()
	// Kill once DuckDB has begun its fourth part file (three were written
	// whole and followed into storaged's temp files).
	tmp := filepath.Join(st.cfg.DataPath(st.cfg.Storaged.Dir, "objects"), "tmp")
	out := filepath.Join(dir, "data", "ingestd", "tmp", "ingest-*", "out", "part_*.parquet")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		parts, _ := filepath.Glob(out)
		if len(parts) >= 4 && len(tempFiles(tmp)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the conversion never reached its fourth part file with a streamed write under way (%d parts, temp files %v)", len(parts), tempFiles(tmp))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for len(tempFiles(tmp)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("storaged's temp dir keeps %v after the kill", tempFiles(tmp))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if keys := storagetest.ListKeys(t, st.store, ingestd.DataPrefix, 1000); len(keys) != 0 {
		t.Errorf("objects after a kill during the conversion: %v", keys)
	}
	if _, err := st.catalog().Get(context.Background(), "killed", 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("dataset after the kill: %v, want NotFound", err)
	}
}

// TestStreamStoreBounded: every part file of an ingest was followed at
// once, each holding a storaged connection, descriptors and a temp file
// until the conversion ended — hundreds for a large upload. At most
// maxFollowed (16) are now; the rest are stored after the conversion, and
// the dataset holds every row.
func TestStreamStoreBounded(t *testing.T) {
	st := startStack(t, config(t))
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute), StreamHTTP: shared.NewHTTPClient(0)}
	store := storage.NewClient(env.StreamClient("storaged"), storage.WithConfig(st.cfg))
	logs := &logBuf{}
	s, err := ingestd.NewServer(ingestd.Options{
		Catalog: st.catalog(), Store: store, TempDir: t.TempDir(), StreamStore: true,
		Convert: convert.Options{Threads: 1, MemoryLimit: "256MB", RowGroupSize: 1000, FileRows: 1000},
		Log:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := streamCSV(60_000, 0)
	res, err := s.Ingest(context.Background(), ingest.Params{Name: "many", Format: "csv"}, strings.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) <= 16 {
		t.Fatalf("%d files, want more than 16", len(res.Files))
	}
	if m := reStreamed.FindStringSubmatch(logs.String()); m == nil || m[1] != "16" {
		t.Errorf("files stored while converting: %v, want 16 of %d", m, len(res.Files))
	}
	var got sqlResult
	st.sql(t, `{"sql":"SELECT count(*)::VARCHAR, count(DISTINCT id)::VARCHAR, sum(id)::VARCHAR FROM many"}`).json(t, &got)
	if fmt.Sprint(got.Rows) != "[[60000 60000 1800030000]]" {
		t.Errorf("the dataset reads %v", got.Rows)
	}
}

// TestStreamStoreRemoteSocket: ingestd streamed its part files into
// storaged whenever [storaged].socket was configured, even when nothing
// listened there (storaged on another host): the storage client then falls
// back to HTTP, and each streamed Put held an HTTP PUT open for the whole
// conversion. Now an ingest streams only when the socket accepts a
// connection; otherwise it stores after the conversion. An ingestd of the
// same stack (New, as cmd/ingestd builds it) with the socket path of a
// storaged elsewhere stores none of its files while converting; one with
// storaged's real socket still streams all of them.
func TestStreamStoreRemoteSocket(t *testing.T) {
	st := startStack(t, config(t))
	sock := st.cfg.StoragedSocket()
	if sock == "" {
		t.Fatal("no storaged socket on the local stack")
	}
	data := streamCSV(90_000, 0)
	for _, tc := range []struct {
		name, socket string
		streamed     bool
	}{
		{"elsewhere", filepath.Join(t.TempDir(), "storaged.sock"), false},
		{"local", sock, true},
	} {
		cfg := *st.cfg
		cfg.Storaged.Socket = tc.socket
		cfg.Ingestd.Bind = "127.0.0.1:0"
		cfg.Ingestd.TempDir = t.TempDir()
		cfg.Ingestd.Threads, cfg.Ingestd.MemoryLimit = 1, "256MB"
		cfg.Ingestd.RowGroupSize, cfg.Ingestd.FileRows = 5000, 20000
		cfg.Ingestd.StreamStore = true
		cfg.Log.Level = "info"
		logs := &logBuf{}
		srv, err := shared.Start(context.Background(), "ingestd", &cfg, ingestd.New, logs)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL()+"/v1/ingest?name="+tc.name+"&format=csv", "text/csv", strings.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var got ingest.Result
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		srv.Shutdown(context.Background())
		if err != nil || resp.StatusCode != http.StatusOK || got.Rows != 90_000 || len(got.Files) < 4 {
			t.Fatalf("%s: %d, %d rows in %d files, %v", tc.name, resp.StatusCode, got.Rows, len(got.Files), err)
		}
		want := "0"
		if tc.streamed {
			want = fmt.Sprint(len(got.Files))
		}
		if m := reStreamed.FindStringSubmatch(logs.String()); m == nil || m[1] != want {
			t.Errorf("%s socket: files stored while converting %v, want %s of %d (log: %s)", tc.name, m, want, len(got.Files), logs.String())
		}
		if keys := storagetest.ListKeys(t, st.store, ingestd.DataPrefix+tc.name+"/", 1000); len(keys) != len(got.Files) {
			t.Errorf("%s socket: objects %v, want the %d files", tc.name, keys, len(got.Files))
		}
	}
}
