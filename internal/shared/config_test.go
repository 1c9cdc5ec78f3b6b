package shared

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/BurntSushi/toml"
	"io"
	"lakehouse-go/internal/testutil/syncbuf"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestS3SilenceKeys: [s3] dial_timeout, header_timeout and stall_timeout
// (the bounds on a hung S3, ADR-011) default to 5s, 15s and 30s, are read
// as durations, and a zero, negative, too long or unparsable one fails the
// load — every problem reported at once, alongside the others.
func TestS3SilenceKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(s string) (*Config, error) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p, func(string) string { return "" })
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.DialTimeout.Duration != 5*time.Second || c.S3.HeaderTimeout.Duration != 15*time.Second || c.S3.StallTimeout.Duration != 30*time.Second {
		t.Fatalf("defaults: %+v", c.S3)
	}
	c, err = load("[s3]\ndial_timeout = \"250ms\"\nheader_timeout = \"2s\"\nstall_timeout = \"1m30s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.DialTimeout.Duration != 250*time.Millisecond || c.S3.HeaderTimeout.Duration != 2*time.Second || c.S3.StallTimeout.Duration != 90*time.Second {
		t.Fatalf("set: %+v", c.S3)
	}

	_, err = load("[s3]\ndial_timeout = \"0s\"\nheader_timeout = \"-1s\"\nstall_timeout = \"11m\"\n[log]\nlevel = \"loud\"\n")
	for _, want := range []string{`[s3].dial_timeout "0s"`, `[s3].header_timeout "-1s"`, `[s3].stall_timeout "11m0s"`, "[log].level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate should report %s among all problems; got %v", want, err)
		}
	}
	if _, err := load("[s3]\nstall_timeout = \"10m\"\n"); err != nil {
		t.Errorf("the upper bound itself: %v", err)
	}

	_, err = load("[s3]\nstall_timeout = \"thirty seconds\"\n")
	if err == nil || !strings.Contains(err.Error(), "stall_timeout") {
		t.Errorf("unparsable duration: %v, want an error naming the key", err)
	}
	_, err = load("[s3]\nstall_timeout = 30\n")
	if err == nil {
		t.Errorf("a bare number: no error, want one (durations are strings like \"30s\")")
	}
	_, err = load("[s3]\nstal_timeout = \"30s\"\nread_timeout = \"5s\"\n")
	if err == nil || !strings.Contains(err.Error(), "s3.stal_timeout") || !strings.Contains(err.Error(), "s3.read_timeout") {
		t.Errorf("unknown [s3] keys: %v, want both named", err)
	}
}

// TestLoadReportsEveryProblem: one start-up names every mistake in the
// file — unknown keys, an unreadable token file and each value out of
// range — each as section.key, the value, and what is allowed. Before,
// unknown keys stopped the load before any value was looked at, and a
// negative timeout, a bad url, a part_size S3 refuses or a zero flush
// interval were accepted and silently ignored or clamped.
func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	file := `
[gateway]
health_timeout = "0s"
max_idle_conns_per_upstream = -1
[storaged]
read_header_timeout = "-1s"
shutdown_timeout = "-5s"
[catalogd]
url = "catalogd:3212"
idle_timeout = "-1m"
[s3]
part_size = 1048576
[ingestd]
max_upload_bytes = -1
max_decompressed_bytes = -5
max_concurrent = -2
pending_lease = "10s"
sweep_delay = "-1s"
sweep_interval = "-1h"
[queryd]
max_queue = -1
timeout = "-1s"
[vectord]
snapshot_interval = "-1m"
[observerd]
ring_size = -1
[embedd]
max_batch = -1
[matrixd]
page_rows = -1
[report]
flush_interval = "0s"
[langfuse]
queue_size = 0
timeout = "0s"
[auth]
token_file = "` + filepath.Join(dir, "missing.token") + `"
[log]
acess = true
`
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, func(string) string { return "" })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"unknown keys: log.acess",
		`[gateway].health_timeout "0s": want a duration above 0`,
		"[gateway].max_idle_conns_per_upstream -1: want 0",
		`[storaged].read_header_timeout "-1s": want a duration of 0 (none) or more`,
		`[storaged].shutdown_timeout "-5s": want a duration of 0 (20s) or more`,
		`[catalogd].url "catalogd:3212": want http://host:port`,
		`[catalogd].idle_timeout "-1m0s"`,
		"[s3].part_size 1048576: want 0 (16 MiB) or between",
		"[ingestd].max_upload_bytes -1: want 0 (no cap) or more",
		"[ingestd].max_decompressed_bytes -5: want 0 (no cap) or more",
		"[ingestd].max_concurrent -2",
		`[ingestd].pending_lease "10s": want 0 (1h) or at least 1m0s`,
		`[ingestd].sweep_delay "-1s": want a duration of 0 (the first sweep at the start) or more`,
		`[ingestd].sweep_interval "-1h0m0s": want a duration of 0 (1h) or more`,
		"[queryd].max_queue -1",
		`[queryd].timeout "-1s"`,
		`[vectord].snapshot_interval "-1m0s"`,
		"[observerd].ring_size -1",
		"[embedd].max_batch -1",
		"[matrixd].page_rows -1",
		`[report].flush_interval "0s": want a duration above 0`,
		"[langfuse].queue_size 0: want 1 or more",
		`[langfuse].timeout "0s"`,
		"[auth].token_file: open " + filepath.Join(dir, "missing.token"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error should name %q; got:\n%v", want, err)
		}
	}

	if err := os.WriteFile(p, []byte("[observerd]\nring_size = 10000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "[observerd].ring_size 10000001: want at most 10000000") {
		t.Errorf("ring_size above observerd's maximum: %v", err)
	}

	if err := os.WriteFile(p, []byte("[queryd]\ntimeout = \"2m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), `[queryd].timeout "2m0s": above [queryd].request_timeout "1m0s"`) {
		t.Errorf("a query timeout the request deadline cuts first: %v", err)
	}
	if err := os.WriteFile(p, []byte("[queryd]\ntimeout = \"2m\"\nrequest_timeout = \"3m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, func(string) string { return "" }); err != nil {
		t.Errorf("timeout 2m under request_timeout 3m: %v", err)
	}

	// The values each of those keys does take load cleanly.
	ok := `
[catalogd]
url = "http://catalog.internal:3212/"
[storaged]
backend = "s3"
[s3]
endpoint = "127.0.0.1:9000"
secrets_path = "secrets-go.toml"
part_size = 5242880
[ingestd]
max_upload_bytes = 0
pending_lease = "0s"
sweep_delay = "0s"
sweep_interval = "0s"
[queryd]
max_queue = 0
[matrixd]
poll_interval = "-1s"
`
	if err := os.WriteFile(p, []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.URL("catalogd") != "http://catalog.internal:3212" {
		t.Fatalf("url: %s", c.URL("catalogd"))
	}
}

// TestEnvBeatsTheFile: LAKEHOUSE_DATA_DIR, LH_<NAME>_BIND and AUTH_TOKEN
// override data_dir, [<name>].bind and [auth].token_file, and take effect
// on a running daemon: it listens where the environment says, and with
// no AUTH_TOKEN the token in token_file guards its /v1 routes. An empty
// token file (auth silently off) is refused.
func TestEnvBeatsTheFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "auth.token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file's bind is a port this test holds: a daemon that took it
	// from the file would fail to listen.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	p := filepath.Join(dir, "c.toml")
	secondFile := filepath.Join(dir, "next.token")
	if err := os.WriteFile(secondFile, []byte("  next-token \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf("data_dir = %q\n[storaged]\nbind = %q\n[auth]\ntoken_file = %q\nsecondary_token_file = %q\n[report]\nenabled = false\n[log]\naccess = false\n",
		filepath.Join(dir, "from-file"), held.Addr().String(), tokenFile, secondFile)
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LAKEHOUSE_DATA_DIR": filepath.Join(dir, "from-env"), "LH_STORAGED_BIND": "127.0.0.1:0"}
	getenv := func(k string) string { return env[k] }

	c, err := Load(p, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "from-env") || c.Auth.Token != "file-token" {
		t.Fatalf("data_dir %q token %q", c.DataDir, c.Auth.Token)
	}
	s, err := Start(context.Background(), "storaged", c, testDaemon, io.Discard)
	if err != nil {
		t.Fatalf("LH_STORAGED_BIND did not beat [storaged].bind: %v", err)
	}
	defer s.Shutdown(context.Background())
	if s.Addr == held.Addr().String() {
		t.Fatal("listening on the file's bind")
	}
	if resp, _ := get(t, s.URL()+"/v1/echo", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token_file: no token answered %d, want 401", resp.StatusCode)
	}
	if resp, b := get(t, s.URL()+"/v1/echo", "file-token"); resp.StatusCode != http.StatusOK {
		t.Fatalf("token_file's token answered %d: %s", resp.StatusCode, b)
	}
	if resp, b := get(t, s.URL()+"/v1/echo", "next-token"); resp.StatusCode != http.StatusOK {
		t.Fatalf("secondary_token_file's token (trimmed) answered %d: %s", resp.StatusCode, b)
	}

	env["AUTH_TOKEN"] = "env-token"
	if c, err = Load(p, getenv); err != nil || c.Auth.Token != "env-token" {
		t.Fatalf("AUTH_TOKEN should beat [auth].token_file: %q %v", c.Auth.Token, err)
	}
	delete(env, "AUTH_TOKEN")
	env["LH_STORAGED_BIND"] = "3211"
	if _, err := Load(p, getenv); err == nil || !strings.Contains(err.Error(), `[storaged].bind (from LH_STORAGED_BIND) "3211": want host:port`) {
		t.Fatalf("a bad LH_STORAGED_BIND: %v, want it named", err)
	}
	env["LH_STORAGED_BIND"] = "127.0.0.1:0"
	if err := os.WriteFile(tokenFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, getenv); err == nil || !strings.Contains(err.Error(), "[auth].token_file "+tokenFile+": empty") {
		t.Fatalf("an empty token file: %v, want it refused", err)
	}
}

// TestConfigFilesDocumentEveryKey: lakehouse.toml and the installed
// deploy/etc-lakehouse/lakehouse.toml.example name every key the daemons
// accept (set, or commented out as "# key = value"), in the section that
// takes it, at its real default: with each "# key = value" line
// uncommented the file loads (no unknown key: nothing documented under the
// wrong section) and equals the embedded defaults (no wrong default). An
// operator reading either file sees every knob there is.
func TestConfigFilesDocumentEveryKey(t *testing.T) {
	example := Default("/var/lib/lakehouse")
	example.Chatd.KeysDir = "/etc/lakehouse/keys"
	for _, f := range []struct {
		path string
		want *Config
	}{
		{"../../lakehouse.toml", Default("lakehouse-data")},
		{"../../deploy/etc-lakehouse/lakehouse.toml.example", example},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		text := regexp.MustCompile(`(?m)^# ([a-z_0-9]+ = )`).ReplaceAllString(string(b), "$1")
		got := Default("")
		md, err := toml.Decode(text, got)
		if err != nil {
			t.Fatalf("%s with its commented keys set: %v", f.path, err)
		}
		for _, k := range md.Undecoded() {
			t.Errorf("%s documents %s, which no daemon takes", f.path, k)
		}
		have := map[string]bool{}
		for _, k := range md.Keys() {
			have[k.String()] = true
		}
		for _, k := range configKeys(reflect.TypeOf(Config{}), "") {
			if !have[k] {
				t.Errorf("%s does not document %s", f.path, k)
			}
		}
		if g, w := fmt.Sprintf("%+v", *got), fmt.Sprintf("%+v", *f.want); g != w {
			t.Errorf("%s with its commented keys set differs from the defaults:\n%s\n%s", f.path, g, w)
		}
	}
}

// configKeys lists every dotted key the config decodes, from the toml tags.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			keys = append(keys, configKeys(f.Type, prefix)...)
			continue
		}
		name := prefix + tag
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration{}) {
			keys = append(keys, configKeys(f.Type, name+".")...)
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

// TestEnvVarsDocumented: every environment variable a daemon or tool
// reads is named in lakehouse.toml's header, where an operator looks for
// what overrides the file.
func TestEnvVarsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../lakehouse.toml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:Getenv|getenv|LookupEnv)\("([A-Z_0-9]+)"\)|Env\s*=\s*"([A-Z_0-9]+)"|KeyEnv:\s*"([A-Z_0-9]+)"`)
	seen := 0
	for _, root := range []string{"../../internal", "../../cmd", "../../tools"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testutil" {
				return filepath.SkipDir // test harness knobs (MINIO_BIN, LH_BIN_DIR)
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				name := m[1] + m[2] + m[3]
				seen++
				if !strings.Contains(string(doc), name) {
					t.Errorf("%s reads %s; lakehouse.toml does not name it", p, name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d environment reads: the scan is broken", seen)
	}
	for _, pattern := range []string{"LH_<NAME>_BIND", "LH_<NAME>_ALLOW_NONLOOPBACK"} { // built from the daemon's name
		if !strings.Contains(string(doc), pattern) {
			t.Errorf("lakehouse.toml does not name %s", pattern)
		}
	}
}

// TestLogKeysTakeEffect: [log] format, level and access on a running
// daemon: json makes every line it prints one JSON object (access lines
// included); level warn drops the info lines and, as lakehouse.toml says,
// the access lines with them; access = false drops only those.
func TestLogKeysTakeEffect(t *testing.T) {
	run := func(level, format string, access bool) []string {
		cfg := testConfig(t)
		cfg.Log = LogConfig{Level: level, Format: format, Access: access}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		out := &syncbuf.Buffer{}
		s, err := Start(context.Background(), "storaged", cfg, testDaemon, out)
		if err != nil {
			t.Fatal(err)
		}
		if resp, b := get(t, s.URL()+"/v1/echo", ""); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		get(t, s.URL()+"/v1/fail", "")
		s.Shutdown(context.Background())
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	isAccess := func(l string) bool { return strings.Contains(l, "/v1/echo") }

	lines := run("info", "json", true)
	access := 0
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("format json: a line is not JSON: %q", l)
		} else if m["svc"] != "storaged" {
			t.Errorf("format json: no svc: %q", l)
		}
		if isAccess(l) {
			access++
		}
	}
	if access != 1 {
		t.Errorf("access = true: %d access lines for /v1/echo in %q", access, lines)
	}

	for _, l := range run("warn", "text", true) {
		if isAccess(l) || strings.Contains(l, "listening") {
			t.Errorf("level warn: printed %q", l)
		}
		if strings.HasPrefix(l, "{") {
			t.Errorf("format text: %q", l)
		}
	}
	lines = run("debug", "text", false)
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "listening") }) {
		t.Errorf("level debug: no start line in %q", lines)
	}
	if slices.ContainsFunc(lines, isAccess) {
		t.Errorf("access = false: an access line in %q", lines)
	}
}

// TestS3BackendKeys: [s3] and [queryd].secrets_path against the backend.
// With backend = "local", an [s3].endpoint (MinIO configured, backend
// forgotten: objects went to local disk without a word) or a queryd
// secrets_path is refused; with "s3", an endpoint whose scheme contradicts
// use_ssl (the scheme won silently), one with a path (dropped silently),
// a bucket S3 would refuse at the first request, or no secrets_path are
// refused at load, by every daemon, naming the key.
func TestS3BackendKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(s string) error {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) string { return "" })
		return err
	}
	for _, c := range []struct{ file, want string }{
		{"[s3]\nendpoint = \"127.0.0.1:9000\"\n", `[s3].endpoint "127.0.0.1:9000": only used with [storaged].backend = "s3"`},
		{"[queryd]\nsecrets_path = \"/etc/lakehouse/ro.toml\"\n", `[queryd].secrets_path "/etc/lakehouse/ro.toml": only used with`},
		{"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"http://minio:9000\"\nuse_ssl = true\nsecrets_path = \"s.toml\"\n", "the scheme says http but [s3].use_ssl = true"},
		{"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"https://minio:9000\"\nsecrets_path = \"s.toml\"\n", "the scheme says https but [s3].use_ssl = false"},
		{"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"http://minio:9000/lakehouse\"\nsecrets_path = \"s.toml\"\n", `[s3].endpoint "http://minio:9000/lakehouse": want no path`},
		{"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"minio:9000\"\nbucket = \"Lakehouse_Primary\"\nsecrets_path = \"s.toml\"\n", `[s3].bucket "Lakehouse_Primary": want an S3 bucket name`},
		{"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"minio:9000\"\n", "[s3].secrets_path: required"},
		{"[s3]\nproxy_gets = true\n", "[s3].proxy_gets = true: only used with [storaged].backend = \"s3\""},
		{"[s3]\npart_size = 8388608\n", "[s3].part_size 8388608: only used with [storaged].backend = \"s3\""},
		{"[storaged]\nbackend = \"s3\"\ndir = \"/srv/objects\"\n[s3]\nendpoint = \"minio:9000\"\nsecrets_path = \"s.toml\"\n", `[storaged].dir "/srv/objects": only used with backend = "local"`},
		{"[storaged]\nbackend = \"s3\"\nsocket = \"/run/lh.sock\"\n[s3]\nendpoint = \"minio:9000\"\nsecrets_path = \"s.toml\"\n", `[storaged].socket "/run/lh.sock": only used with backend = "local"`},
	} {
		if err := load(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
	for _, ok := range []string{
		"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"127.0.0.1:9000\"\nsecrets_path = \"s.toml\"\n[queryd]\nsecrets_path = \"ro.toml\"\n",
		"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"https://s3.example.com\"\nuse_ssl = true\nbucket = \"lakehouse.go-primary\"\nsecrets_path = \"s.toml\"\n",
		"[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"http://127.0.0.1:9000/\"\nsecrets_path = \"s.toml\"\n",
		"[storaged]\nbackend = \"s3\"\nsocket = \"off\"\n[s3]\nendpoint = \"127.0.0.1:9000\"\nsecrets_path = \"s.toml\"\nproxy_gets = true\npart_size = 8388608\n",
	} {
		if err := load(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestEmbeddKeysAgainstProvider: with provider = "builtin", embedd serves
// its one model and calls nothing, so an Ollama default_model or
// provider_url set there was ignored (a warning in embedd's log only: the
// operator believed the model in use was theirs). Now refused at load;
// with provider = "ollama" both take effect, and the shipped defaults and
// the builtin model's own name load with either.
func TestEmbeddKeysAgainstProvider(t *testing.T) {
	dir := t.TempDir()
	load := func(s string) error {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) string { return "" })
		return err
	}
	err := load("[embedd]\ndefault_model = \"mxbai-embed-large\"\nprovider_url = \"http://gpu:11434\"\n")
	for _, want := range []string{`[embedd].default_model "mxbai-embed-large": provider = "builtin" serves only builtin-glove-100d`, `[embedd].provider_url "http://gpu:11434": only used with provider = "ollama"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		}
	}
	for _, bad := range []string{"ftp://nowhere", "gpu:11434", ""} {
		err := load(fmt.Sprintf("[embedd]\nprovider = \"ollama\"\nprovider_url = %q\n", bad))
		if want := fmt.Sprintf("[embedd].provider_url %q: want the Ollama server's http(s)://host:port", bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		}
	}
	for _, ok := range []string{
		"[embedd]\ndefault_model = \"builtin-glove-100d\"\n",
		// any case, as embedd compares the builtin name (ADR-149)
		"[embedd]\ndefault_model = \"BUILTIN-GloVe-100D\"\n",
		"[embedd]\nprovider = \"builtin\"\ndefault_model = \"nomic-embed-text-v2-moe\"\nprovider_url = \"http://127.0.0.1:11434\"\n",
		"[embedd]\nprovider = \"ollama\"\ndefault_model = \"mxbai-embed-large\"\nprovider_url = \"http://gpu:11434\"\n",
	} {
		if err := load(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestMemoryLimitKeys: [queryd] and [ingestd] memory_limit are checked at
// load against what DuckDB takes (each form below was tried on a real
// queryd: the refused ones failed its start with "SET memory_limit = ...:
// Parser Error", exit 1, naming no key).
func TestMemoryLimitKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(v string) error {
		p := filepath.Join(dir, "c.toml")
		s := fmt.Sprintf("[queryd]\nmemory_limit = %q\n[ingestd]\nmemory_limit = %q\n", v, v)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) string { return "" })
		return err
	}
	for _, ok := range []string{"", "1GB", "1GB ", "1.5GiB", "512 mb", "2g", "1 gigabyte", "none", "-1"} {
		if err := load(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"80%", "0", "lots", "1 GB extra"} {
		err := load(bad)
		for _, key := range []string{"[queryd].memory_limit", "[ingestd].memory_limit"} {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s %q: want a DuckDB size", key, bad)) {
				t.Errorf("%q: %v, want %s refused", bad, err, key)
			}
		}
	}
}

// TestPlaceholderTokenRefused: lakehouse.env.example's AUTH_TOKEN line,
// copied without an edit, is refused (as AUTH_TOKEN or as the secondary)
// instead of guarding every daemon with a token published in the repo.
func TestPlaceholderTokenRefused(t *testing.T) {
	b, err := os.ReadFile("../../deploy/etc-lakehouse/lakehouse.env.example")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^AUTH_TOKEN=(.*)$`).FindStringSubmatch(string(b))
	if m == nil || m[1] != PlaceholderToken {
		t.Fatalf("lakehouse.env.example's AUTH_TOKEN line: %q, want %q", m, PlaceholderToken)
	}
	for _, name := range []string{"AUTH_TOKEN", "AUTH_SECONDARY_TOKEN"} {
		env := map[string]string{name: m[1]}
		_, err := Load("", func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), name+` "change-me-long-random" is the example's placeholder`) {
			t.Errorf("%s from the example: %v, want it refused", name, err)
		}
	}
	if _, err := Load("", func(k string) string { return map[string]string{"AUTH_TOKEN": "3f9c0d6e"}[k] }); err != nil {
		t.Fatal(err)
	}
}
