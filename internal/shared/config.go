package shared

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/net/http/httpproxy"
)

// Daemons lists the eleven daemons in start order (dependencies first).
var Daemons = []string{
	"observerd", "storaged", "catalogd", "embedd", "vectord", "queryd",
	"ingestd", "matrixd", "pathwayd", "chatd", "gateway",
}

// DefaultPorts are DESIGN.md's ports.
var DefaultPorts = map[string]int{
	"gateway": 3110, "storaged": 3211, "catalogd": 3212, "ingestd": 3213,
	"queryd": 3214, "vectord": 3215, "embedd": 3216, "pathwayd": 3217,
	"matrixd": 3218, "observerd": 3219, "chatd": 3220,
}

// Duration is a time.Duration that reads TOML strings like "30s".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ServerConfig holds the keys every daemon section has.
type ServerConfig struct {
	// Bind is host:port to listen on. Default 127.0.0.1:<DESIGN.md port>.
	Bind string `toml:"bind"`
	// URL is how other daemons reach this one. Default http://<bind>.
	URL string `toml:"url"`
	// ReadHeaderTimeout bounds reading request headers.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// MaxHeaderBytes bounds a request's head (request line, header fields
	// and the blank line after them) in bytes: 431 above. 0 = the default,
	// DefaultHeaderBytes (ADR-198); see HeaderBytes.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// ReadTimeout and WriteTimeout bound a whole request/response; 0 = none
	// (streaming daemons leave them 0 and rely on RequestTimeout / idle).
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	// RequestTimeout is the context deadline given to each /v1 request; 0 = none.
	RequestTimeout Duration `toml:"request_timeout"`
	// MaxBodyBytes caps request bodies (413 above); 0 = no cap at the harness.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// ShutdownTimeout bounds draining in-flight requests on SIGTERM.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// max_header_bytes (ADR-198): its default, and the least and most it may
// be. The most is MaxHeadBytes, net/http's own bound (1 MiB plus its
// slack), what every daemon took before the key; the least still holds a
// request line and the fields of DESIGN.md's requests with room to spare
// (nginx's large_client_header_buffers is 8 KiB a line, 32 KiB in all).
const (
	DefaultHeaderBytes = 64 << 10
	MinHeaderBytes     = 8 << 10
)

// HeaderBytes is the largest request head, in bytes, a client may send the
// daemon: max_header_bytes, or DefaultHeaderBytes for 0. The gateway
// refuses a head above it (431); a daemon's net/http server reads up to
// HeaderSlack more (net/http's own slack, http.Server.MaxHeaderBytes plus
// 4 KiB), room for the fields the gateway adds to a head it forwards
// (Host, X-Request-Id, X-Forwarded-For), so that the gateway, not the
// daemon, refuses a head over their common limit.
func (s *ServerConfig) HeaderBytes() int {
	if s.MaxHeaderBytes == 0 {
		return DefaultHeaderBytes
	}
	return s.MaxHeaderBytes
}

// HeaderSlack is what net/http's server reads of a request head beyond
// its MaxHeaderBytes (its "bufio slop"). On a kept-alive connection its
// count starts after what it had buffered while waiting for the request
// (up to its 4 KiB buffer), so a head there may be that much larger still.
const HeaderSlack = 4096

// GatewayConfig is [gateway].
type GatewayConfig struct {
	ServerConfig
	// HealthTimeout bounds each daemon's /health probe in /v1/health.
	HealthTimeout Duration `toml:"health_timeout"`
	// MaxIdleConnsPerUpstream sizes the keep-alive pool to each daemon.
	MaxIdleConnsPerUpstream int `toml:"max_idle_conns_per_upstream"`
	// Procs is how many CPUs run the gateway's Go code at once (GOMAXPROCS,
	// nginx's worker_processes). 0 = one per four CPUs, at least one
	// (ADR-072); a GOMAXPROCS environment variable wins over both.
	Procs int `toml:"procs"`
}

// StoragedConfig is [storaged].
type StoragedConfig struct {
	ServerConfig
	Backend string `toml:"backend"` // local | s3
	Dir     string `toml:"dir"`     // local backend root; default <data_dir>/objects
	// Socket is the Unix socket of the short-circuit path (ADR-015): with
	// backend = "local", storaged hands clients on the same host open file
	// descriptors there instead of streaming bytes over HTTP. Default
	// <data_dir>/storaged.sock (relative paths are under data_dir); "off"
	// or "-" disables it. Ignored by the s3 backend.
	Socket string `toml:"socket"`
}

// StoragedSocket is the short-circuit socket path storaged listens on and
// its clients dial: "" when it is disabled or the backend is not local.
func (c *Config) StoragedSocket() string {
	if c.Storaged.Backend != "" && c.Storaged.Backend != "local" {
		return ""
	}
	switch c.Storaged.Socket {
	case "off", "-":
		return ""
	}
	return c.DataPath(c.Storaged.Socket, "storaged.sock")
}

// S3Config is [s3]. Keys come from the secrets file, never from here.
type S3Config struct {
	Endpoint    string `toml:"endpoint"`
	Bucket      string `toml:"bucket"`
	Region      string `toml:"region"`
	UseSSL      bool   `toml:"use_ssl"`
	SecretsPath string `toml:"secrets_path"` // secrets-go.toml with [s3.primary]
	// PartSize is the multipart part size in bytes (memory per upload is two
	// parts); 0 = 16 MiB, minimum 5 MiB.
	PartSize int64 `toml:"part_size"`
	// ProxyGets makes storaged stream every GET itself. By default a GET
	// from a client on storaged's own host (one that asks, with
	// X-Lakehouse-Redirect) is answered with a redirect to a presigned URL of
	// the object, and the client reads it from S3 directly (ADR-015).
	ProxyGets bool `toml:"proxy_gets"`
	// DialTimeout, HeaderTimeout and StallTimeout bound the silences of an
	// S3 server that stops answering (a hung MinIO accepts connections and
	// sends nothing; ADR-011): a TCP connect, the wait for an answer's
	// headers, and one read of an object's body or one 1 MiB write of an
	// upload that moves no byte. None bounds a transfer that keeps moving.
	// storaged's s3 backend uses all three; the typed storage client's
	// redirected reads (presigned URLs) use the header and stall bounds.
	// Defaults 5s, 15s, 30s; each must be > 0 and at most MaxS3Silence.
	DialTimeout   Duration `toml:"dial_timeout"`
	HeaderTimeout Duration `toml:"header_timeout"`
	StallTimeout  Duration `toml:"stall_timeout"`
}

// MaxObserverRing is the largest [observerd].ring_size
// (internal/observer.MaxRingSize, which imports this package): above it
// observerd used to fail only at its start, with exit 1.
const MaxObserverRing = 10_000_000

// PlaceholderToken is AUTH_TOKEN in deploy/etc-lakehouse/lakehouse.env.example;
// Validate refuses it.
const PlaceholderToken = "change-me-long-random"

// BuiltinEmbedModel is the one model embedd's built-in provider serves
// (internal/embed/builtin.Model, which imports this package).
const BuiltinEmbedModel = "builtin-glove-100d"

// MaxS3Silence is the largest [s3] dial_timeout, header_timeout or
// stall_timeout Validate accepts: longer, a hung S3 would hold a request
// past any caller's patience (the gateway gives up after 60s).
const MaxS3Silence = 10 * time.Minute

// MinS3PartSize and MaxS3PartSize bound a non-zero [s3].part_size: S3's
// own limits on a multipart part (every part but the last).
const (
	MinS3PartSize = 5 << 20
	MaxS3PartSize = 5 << 30
)

// CatalogdConfig is [catalogd].
type CatalogdConfig struct {
	ServerConfig
}

// IngestdConfig is [ingestd].
type IngestdConfig struct {
	ServerConfig
	MaxUploadBytes int64  `toml:"max_upload_bytes"` // 413 above
	TempDir        string `toml:"temp_dir"`
	RowGroupSize   int    `toml:"row_group_size"`
	FileRows       int64  `toml:"file_rows"` // split output into files of about this many rows
	Threads        int    `toml:"threads"`
	MemoryLimit    string `toml:"memory_limit"`
	// MaxLineBytes is the longest CSV line accepted (0 = 64 MiB).
	MaxLineBytes int `toml:"max_line_bytes"`
	// MaxConcurrent bounds conversions running at once; others wait (0 = 2).
	MaxConcurrent int `toml:"max_concurrent"`
	// CommitRetries bounds commit retries on a catalog conflict (0 = 20).
	CommitRetries int `toml:"commit_retries"`
	// PendingLease is how long a pending ingest's marker may go unrenewed
	// before a sweep cleans up after the ingest (0 = 1h; at least
	// MinPendingLease). SweepDelay is the wait from the start to the first
	// sweep (0 = at once; at most SweepInterval), SweepInterval the time
	// between two sweeps (0 = 1h).
	PendingLease  Duration `toml:"pending_lease"`
	SweepDelay    Duration `toml:"sweep_delay"`
	SweepInterval Duration `toml:"sweep_interval"`
	// StreamStore writes each Parquet part file into storaged while DuckDB
	// writes it, published only after the conversion (ADR-138), when
	// storaged is reached through its socket (same host); false stores the
	// files after the conversion. Default true.
	StreamStore bool `toml:"stream_store"`
	// MaxDecompressedBytes bounds the decoded size of a gzip or zstd
	// upload, which is spooled decoded to temp_dir (413 above; 0 = no cap).
	MaxDecompressedBytes int64 `toml:"max_decompressed_bytes"`
}

// MinPendingLease is the shortest non-zero [ingestd].pending_lease: an
// ingest renews its marker every lease/12 through storaged and refuses to
// commit once half a lease passed without a renewal, so a lease of
// seconds would fail ingests on any slow storaged write.
const MinPendingLease = time.Minute

// QuerydConfig is [queryd].
type QuerydConfig struct {
	ServerConfig
	SecretsPath   string   `toml:"secrets_path"`
	CacheDir      string   `toml:"cache_dir"`
	CacheMaxBytes int64    `toml:"cache_max_bytes"`
	MaxConcurrent int      `toml:"max_concurrent"`
	MaxQueue      int      `toml:"max_queue"`
	MaxRows       int      `toml:"max_rows"`
	Timeout       Duration `toml:"timeout"`
	Threads       int      `toml:"threads"`
	MemoryLimit   string   `toml:"memory_limit"`
}

// VectordConfig is [vectord].
type VectordConfig struct {
	ServerConfig
	Dir              string   `toml:"dir"` // WAL directory; default <data_dir>/vectord
	SnapshotInterval Duration `toml:"snapshot_interval"`
	SnapshotOps      int      `toml:"snapshot_ops"`
}

// EmbeddConfig is [embedd].
type EmbeddConfig struct {
	ServerConfig
	Provider     string `toml:"provider"` // builtin | ollama
	ProviderURL  string `toml:"provider_url"`
	DefaultModel string `toml:"default_model"`
	CacheEntries int    `toml:"cache_entries"`
	MaxBatch     int    `toml:"max_batch"`
	Concurrency  int    `toml:"concurrency"`
}

// PathwaydConfig is [pathwayd].
type PathwaydConfig struct {
	ServerConfig
	StatePath string `toml:"state_path"`
}

// MatrixdConfig is [matrixd].
type MatrixdConfig struct {
	ServerConfig
	Dir       string `toml:"dir"`        // state + keyword indexes; default <data_dir>/matrixd
	BatchRows int    `toml:"batch_rows"` // rows per embed + vector upsert call
	// PageRows is the rows per queryd page while indexing (0 = 20,000).
	PageRows int `toml:"page_rows"`
	// PollInterval is how often the catalog is polled for new versions of
	// indexed datasets (0 = 10s; a negative value disables polling).
	PollInterval Duration `toml:"poll_interval"`
	// Model is the embedding model ("" = embedd's default_model).
	Model string `toml:"model"`
	// RowStoreBytes bounds the rows kept in memory per index, so that a
	// search without a where reads no Parquet (0 = 256 MiB; a negative
	// value keeps none: every search hydrates through queryd; ADR-133).
	RowStoreBytes int64 `toml:"row_store_bytes"`
}

// ObserverdConfig is [observerd].
type ObserverdConfig struct {
	ServerConfig
	StatePath string `toml:"state_path"`
	RingSize  int    `toml:"ring_size"`
}

// ChatdConfig is [chatd]. Provider URLs and models left empty take chatd's
// defaults (internal/chat/chatd); a URL of "off" unregisters the provider.
// Keys never live here: <keys_dir>/<provider>.key or the provider's env var.
type ChatdConfig struct {
	ServerConfig
	KeysDir  string   `toml:"keys_dir"`
	Fallback []string `toml:"fallback"`
	Retries  int      `toml:"retries"`

	OllamaURL        string `toml:"ollama_url"`
	OllamaModel      string `toml:"ollama_model"`
	OllamaCloudURL   string `toml:"ollama_cloud_url"`
	OllamaCloudModel string `toml:"ollama_cloud_model"`
	OpenRouterURL    string `toml:"openrouter_url"`
	OpenRouterModel  string `toml:"openrouter_model"`
	OpenCodeURL      string `toml:"opencode_url"`
	OpenCodeModel    string `toml:"opencode_model"`
	KimiURL          string `toml:"kimi_url"`
	KimiModel        string `toml:"kimi_model"`
	// Timeout bounds each upstream attempt until its first token (connect,
	// response headers, first content chunk; default 2m); StreamIdleTimeout
	// bounds each later gap between chunks (default 2m). ADR-063.
	Timeout           Duration `toml:"timeout"`
	StreamIdleTimeout Duration `toml:"stream_idle_timeout"`
	// RetryBackoff is the first retry's wait (default 250ms, doubled each
	// retry, jittered); an upstream's Retry-After is used instead when at
	// most MaxRetryWait (default 10s), else that provider is given up. ADR-064.
	RetryBackoff Duration `toml:"retry_backoff"`
	MaxRetryWait Duration `toml:"max_retry_wait"`
}

// ChatProviders are the providers chatd knows (internal/chat.ProviderNames,
// which imports this package).
var ChatProviders = []string{"ollama", "ollama_cloud", "openrouter", "opencode", "kimi"}

// MaxChatdRetries is the largest [chatd].retries.
const MaxChatdRetries = 10

// ChatdProblems checks [chatd]'s retries, fallback chain and provider URLs:
// Validate reports them for every daemon's `-check`, and chatd refuses to
// start on them (ADR-193).
func ChatdProblems(c ChatdConfig) []string {
	var problems []string
	if c.Retries < 0 {
		problems = append(problems, fmt.Sprintf("[chatd].retries %d: want >= 0", c.Retries))
	}
	if c.Retries > MaxChatdRetries {
		problems = append(problems, fmt.Sprintf("[chatd].retries %d: want at most %d", c.Retries, MaxChatdRetries))
	}
	seen := map[string]bool{}
	for _, n := range c.Fallback {
		switch {
		case !slices.Contains(ChatProviders, n):
			problems = append(problems, fmt.Sprintf("[chatd].fallback %q: want one of %s", n, strings.Join(ChatProviders, ", ")))
		case seen[n]:
			problems = append(problems, fmt.Sprintf("[chatd].fallback %q: listed twice", n))
		}
		seen[n] = true
	}
	for _, p := range []struct{ name, url string }{
		{"ollama", c.OllamaURL}, {"ollama_cloud", c.OllamaCloudURL}, {"openrouter", c.OpenRouterURL},
		{"opencode", c.OpenCodeURL}, {"kimi", c.KimiURL},
	} {
		raw := strings.TrimRight(p.url, "/")
		if raw == "" || strings.EqualFold(raw, "off") {
			continue // the provider's default, or unregistered
		}
		if badBaseURL(raw) {
			problems = append(problems, fmt.Sprintf("[chatd].%s_url %q: want an http(s) URL or \"off\"", p.name, raw))
		}
	}
	return problems
}

// badBaseURL reports that raw is not an http(s) URL with a host that a path
// can be appended to: every base URL in the config is used as base + "/api/…"
// (a daemon's url, chatd's providers, embedd's Ollama, Langfuse), so a
// query or fragment — even a bare "?" or "#", which url.Parse leaves empty
// in RawQuery and Fragment — would swallow that path and send every request
// to the wrong place (ADR-207).
func badBaseURL(raw string) bool {
	u, err := url.Parse(raw)
	return err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, "?#")
}

// ChatProvider is where chatd reaches a provider when [chatd].<name>_url is
// left out, and the env var its API key comes from (KeyRequired: it is not
// registered without one). chatd's Defaults take these, and -check looks
// up the same hosts chatd would call (ChatdRegisteredURLs).
type ChatProvider struct {
	URL, KeyEnv string
	KeyRequired bool
}

// ChatProviderDefaults are the providers' (ADR-060), by name.
var ChatProviderDefaults = map[string]ChatProvider{
	"ollama":       {URL: "http://127.0.0.1:11434"},
	"ollama_cloud": {URL: "https://ollama.com", KeyEnv: "OLLAMA_CLOUD_API_KEY", KeyRequired: true},
	"openrouter":   {URL: "https://openrouter.ai/api/v1", KeyEnv: "OPENROUTER_API_KEY", KeyRequired: true},
	"opencode":     {URL: "https://opencode.ai/zen/v1", KeyEnv: "OPENCODE_API_KEY", KeyRequired: true},
	"kimi":         {URL: "https://api.moonshot.ai/v1", KeyEnv: "KIMI_API_KEY", KeyRequired: true},
}

// ChatdKey is provider name's API key as chatd takes it: its env var
// (trimmed) when not empty, else <keys_dir>/<name>.key (trimmed). src is
// where it was found or last looked for; a key file that exists but cannot
// be read is no key, and src says "(unreadable: ...)".
func ChatdKey(c ChatdConfig, name string, getenv func(string) string) (key, src string) {
	if env := ChatProviderDefaults[name].KeyEnv; env != "" {
		key, src = strings.TrimSpace(getenv(env)), env
	}
	if key == "" && c.KeysDir != "" {
		path := filepath.Join(c.KeysDir, name+".key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key, src = strings.TrimSpace(string(b)), path
		case errors.Is(err, os.ErrNotExist):
		default:
			src = path + " (unreadable: " + err.Error() + ")"
		}
	}
	return key, src
}

// ChatdRegisteredURLs is provider name -> URL (slashes trimmed) of each
// provider chatd registers with c and getenv, as chatd's Resolve decides
// it: a URL of "off" unregisters it; one that needs a key has it
// (ChatdKey). `-check` looks up only these hosts: a provider chatd does not
// register is never reached.
func ChatdRegisteredURLs(c ChatdConfig, getenv func(string) string) map[string]string {
	urls := ChatdURLs(c)
	out := map[string]string{}
	for _, name := range ChatProviders {
		d := ChatProviderDefaults[name]
		u := strings.TrimRight(urls[name], "/")
		if u == "" {
			u = d.URL
		}
		if strings.EqualFold(u, "off") {
			continue
		}
		if key, _ := ChatdKey(c, name, getenv); d.KeyRequired && key == "" {
			continue
		}
		out[name] = u
	}
	return out
}

// ChatdURLs is provider name -> [chatd].<name>_url as set ("" = the default).
func ChatdURLs(c ChatdConfig) map[string]string {
	return map[string]string{"ollama": c.OllamaURL, "ollama_cloud": c.OllamaCloudURL, "openrouter": c.OpenRouterURL,
		"opencode": c.OpenCodeURL, "kimi": c.KimiURL}
}

// AuthConfig is [auth]. Tokens come from AUTH_TOKEN / AUTH_SECONDARY_TOKEN
// (or the files named here), never from the TOML itself.
type AuthConfig struct {
	AllowedIPs         []string `toml:"allowed_ips"`
	TokenFile          string   `toml:"token_file"`
	SecondaryTokenFile string   `toml:"secondary_token_file"`
	Token              string   `toml:"-"`
	SecondaryToken     string   `toml:"-"`
	allowedNets        []*net.IPNet
}

// LangfuseConfig is [langfuse]. URL and keys come from LANGFUSE_URL,
// LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY.
type LangfuseConfig struct {
	BatchSize     int      `toml:"batch_size"`
	FlushInterval Duration `toml:"flush_interval"`
	QueueSize     int      `toml:"queue_size"`
	Timeout       Duration `toml:"timeout"`
	URL           string   `toml:"-"`
	PublicKey     string   `toml:"-"`
	SecretKey     string   `toml:"-"`
}

// ObserverReportConfig is [report]: how the harness reports every request to observerd.
type ObserverReportConfig struct {
	Enabled       bool     `toml:"enabled"`
	BatchSize     int      `toml:"batch_size"`
	FlushInterval Duration `toml:"flush_interval"`
	QueueSize     int      `toml:"queue_size"`
}

// LogConfig is [log].
type LogConfig struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // text | json
	Access bool   `toml:"access"` // one line per request
}

// Config is lakehouse.toml: one file for all daemons.
type Config struct {
	DataDir   string               `toml:"data_dir"`
	Gateway   GatewayConfig        `toml:"gateway"`
	Storaged  StoragedConfig       `toml:"storaged"`
	Catalogd  CatalogdConfig       `toml:"catalogd"`
	Ingestd   IngestdConfig        `toml:"ingestd"`
	Queryd    QuerydConfig         `toml:"queryd"`
	Vectord   VectordConfig        `toml:"vectord"`
	Embedd    EmbeddConfig         `toml:"embedd"`
	Pathwayd  PathwaydConfig       `toml:"pathwayd"`
	Matrixd   MatrixdConfig        `toml:"matrixd"`
	Observerd ObserverdConfig      `toml:"observerd"`
	Chatd     ChatdConfig          `toml:"chatd"`
	S3        S3Config             `toml:"s3"`
	Auth      AuthConfig           `toml:"auth"`
	Langfuse  LangfuseConfig       `toml:"langfuse"`
	Report    ObserverReportConfig `toml:"report"`
	Log       LogConfig            `toml:"log"`

	ownsProcess bool // set by Run: see Env.OwnsProcess
	// bindFrom names the LH_<NAME>_BIND variable a daemon's bind came
	// from, so that a bad one is reported as what the operator set.
	bindFrom map[string]string
	// hostEnv is the environment -check's lookups depend on, as Load read
	// it: each of hostEnvVars that is set (none, for a Config made in code).
	hostEnv map[string]string
	// wrongTyped holds the keys Load reported as of the wrong type and
	// left at their defaults ("data_dir", "[report]", "[queryd].timeout"):
	// Validate's checks between two keys skip them (typed), or they would
	// compare a default the file does not hold (ADR-199).
	wrongTyped map[string]bool

	// Path is the file the config was read from ("" = embedded defaults).
	Path string `toml:"-"`
}

// Default returns the embedded defaults: every daemon on 127.0.0.1 at its
// DESIGN.md port, local storage and built-in embedder under dataDir.
func Default(dataDir string) *Config {
	if dataDir == "" {
		dataDir = "lakehouse-data"
	}
	c := &Config{DataDir: dataDir}
	for _, name := range Daemons {
		s := c.Section(name)
		s.Bind = fmt.Sprintf("127.0.0.1:%d", DefaultPorts[name])
		s.ReadHeaderTimeout = Duration{10 * time.Second}
		s.MaxHeaderBytes = DefaultHeaderBytes
		s.IdleTimeout = Duration{120 * time.Second}
		s.RequestTimeout = Duration{60 * time.Second}
		s.MaxBodyBytes = 64 << 20
		s.ShutdownTimeout = Duration{20 * time.Second}
	}
	// Streaming daemons: no harness body cap or deadline; they enforce their own.
	for _, s := range []*ServerConfig{&c.Gateway.ServerConfig, &c.Storaged.ServerConfig, &c.Ingestd.ServerConfig} {
		s.MaxBodyBytes = 0
		s.RequestTimeout = Duration{}
	}
	c.Chatd.RequestTimeout = Duration{10 * time.Minute}
	c.Observerd.RequestTimeout = Duration{} // SSE stream
	c.Matrixd.RequestTimeout = Duration{5 * time.Minute}
	c.Gateway.HealthTimeout = Duration{2 * time.Second}
	c.Gateway.MaxIdleConnsPerUpstream = 512
	c.Storaged.Backend = "local"
	// Paths relative to data_dir, spelled out so that lakehouse.toml can
	// show them (DataPath gives the same path for "" and for these).
	c.Storaged.Dir = "objects"
	c.Storaged.Socket = "storaged.sock"
	c.Ingestd.TempDir = "ingestd/tmp"
	c.Queryd.CacheDir = "queryd/cache"
	c.Vectord.Dir = "vectord"
	c.Matrixd.Dir = "matrixd"
	c.Pathwayd.StatePath = "pathwayd/state.jsonl"
	c.Observerd.StatePath = "observerd/ops.jsonl"
	c.S3 = S3Config{Bucket: "lakehouse-go-primary", Region: "us-east-1",
		DialTimeout: Duration{5 * time.Second}, HeaderTimeout: Duration{15 * time.Second}, StallTimeout: Duration{30 * time.Second}}
	c.Ingestd.MaxUploadBytes = 16 << 30
	c.Ingestd.MaxDecompressedBytes = 64 << 30
	c.Ingestd.RowGroupSize = 122880
	c.Ingestd.FileRows = 10_000_000
	c.Ingestd.PendingLease = Duration{time.Hour}
	c.Ingestd.SweepDelay = Duration{30 * time.Second}
	c.Ingestd.SweepInterval = Duration{time.Hour}
	c.Ingestd.StreamStore = true
	c.Queryd.CacheMaxBytes = 10 << 30
	c.Queryd.MaxConcurrent = 4
	c.Queryd.MaxQueue = 64
	c.Queryd.MaxRows = 100_000
	c.Queryd.Timeout = Duration{30 * time.Second}
	c.Vectord.SnapshotInterval = Duration{time.Minute}
	c.Vectord.SnapshotOps = 2_000 // a restart after a kill -9 replays at most about this many items (ADR-130)
	c.Vectord.MaxBodyBytes = 256 << 20
	c.Embedd.Provider = "builtin"
	c.Embedd.ProviderURL = "http://127.0.0.1:11434"
	c.Embedd.DefaultModel = "nomic-embed-text-v2-moe"
	c.Embedd.CacheEntries = 100_000
	c.Embedd.MaxBatch = 10_000
	c.Embedd.Concurrency = 8
	c.Matrixd.BatchRows = 2048
	c.Observerd.RingSize = 10_000
	c.Chatd.Fallback = []string{"ollama", "ollama_cloud", "openrouter", "opencode", "kimi"}
	c.Chatd.Retries = 1
	c.Langfuse = LangfuseConfig{BatchSize: 100, FlushInterval: Duration{time.Second}, QueueSize: 10_000, Timeout: Duration{5 * time.Second}}
	c.Report = ObserverReportConfig{Enabled: true, BatchSize: 256, FlushInterval: Duration{500 * time.Millisecond}, QueueSize: 8192}
	c.Log = LogConfig{Level: "info", Format: "text", Access: true}
	return c
}

// Section returns the common server keys of daemon name, or nil.
func (c *Config) Section(name string) *ServerConfig {
	switch name {
	case "gateway":
		return &c.Gateway.ServerConfig
	case "storaged":
		return &c.Storaged.ServerConfig
	case "catalogd":
		return &c.Catalogd.ServerConfig
	case "ingestd":
		return &c.Ingestd.ServerConfig
	case "queryd":
		return &c.Queryd.ServerConfig
	case "vectord":
		return &c.Vectord.ServerConfig
	case "embedd":
		return &c.Embedd.ServerConfig
	case "pathwayd":
		return &c.Pathwayd.ServerConfig
	case "matrixd":
		return &c.Matrixd.ServerConfig
	case "observerd":
		return &c.Observerd.ServerConfig
	case "chatd":
		return &c.Chatd.ServerConfig
	}
	return nil
}

// URL is the base URL other daemons use to reach daemon name.
func (c *Config) URL(name string) string {
	s := c.Section(name)
	if s == nil {
		return ""
	}
	if s.URL != "" {
		return strings.TrimRight(s.URL, "/")
	}
	host, port, err := net.SplitHostPort(s.Bind)
	if err != nil {
		return "http://" + s.Bind
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Path joins p under the data dir unless p is absolute; "" gives def under it.
func (c *Config) DataPath(p, def string) string {
	if p == "" {
		p = def
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// Load reads the config: path (from --config or LAKEHOUSE_CONFIG) or, when
// empty, the embedded defaults; then environment overrides and secrets.
// Unknown keys are errors. getenv is os.Getenv outside tests.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path == "" {
		path = getenv("LAKEHOUSE_CONFIG")
	}
	c := Default(getenv("LAKEHOUSE_DATA_DIR"))
	// Every problem at once: unknown keys, an unreadable token file and
	// each bad value are reported together, so an operator fixes the file
	// in one pass rather than one start-up per mistake. Only a file that
	// does not parse stops here (nothing after its error can be trusted).
	var problems []error
	if path != "" {
		md, err := toml.DecodeFile(path, c)
		if err != nil {
			// A value of the wrong type stops the decode at that key: find
			// every such value, then decode the rest so that it is checked
			// too (ADR-193). A file that does not parse stops here.
			tbl, wrong, keys, perr := wrongTypes(path)
			if perr != nil || len(wrong) == 0 {
				return nil, fmt.Errorf("config %s: %w", path, err)
			}
			for _, w := range wrong {
				problems = append(problems, fmt.Errorf("config %s: %w", path, w))
			}
			c = Default(getenv("LAKEHOUSE_DATA_DIR"))
			if md, err = decodeTable(tbl, c); err != nil {
				return nil, errors.Join(errors.Join(problems...), fmt.Errorf("config %s: %w", path, err))
			}
			c.wrongTyped = map[string]bool{}
			for _, k := range keys {
				c.wrongTyped[k] = true
			}
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			problems = append(problems, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", ")))
		}
		c.Path = path
		if d := getenv("LAKEHOUSE_DATA_DIR"); d != "" {
			c.DataDir = d
		}
	}
	for _, name := range Daemons {
		env := "LH_" + strings.ToUpper(name) + "_BIND"
		if b := getenv(env); b != "" {
			c.Section(name).Bind = b
			if c.bindFrom == nil {
				c.bindFrom = map[string]string{}
			}
			c.bindFrom[name] = env
		}
	}
	for _, k := range hostEnvVars() {
		if v := getenv(k); v != "" {
			if c.hostEnv == nil {
				c.hostEnv = map[string]string{}
			}
			c.hostEnv[k] = v
		}
	}
	if err := c.loadSecrets(getenv); err != nil {
		problems = append(problems, err)
	}
	if err := c.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return c, errors.Join(problems...)
	}
	return c, nil
}

func (c *Config) loadSecrets(getenv func(string) string) error {
	c.Auth.Token = getenv("AUTH_TOKEN")
	c.Auth.SecondaryToken = getenv("AUTH_SECONDARY_TOKEN")
	// The environment beats the file: AUTH_TOKEN set, token_file is not read.
	read := func(dst *string, key, file string) error {
		if *dst != "" || file == "" {
			return nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("[auth].%s: %w", key, err)
		}
		*dst = strings.TrimSpace(string(b))
		if *dst == "" {
			// An empty token would leave auth off without a word.
			return fmt.Errorf("[auth].%s %s: empty; want the token on one line", key, file)
		}
		return nil
	}
	c.Langfuse.URL = strings.TrimRight(getenv("LANGFUSE_URL"), "/")
	c.Langfuse.PublicKey = getenv("LANGFUSE_PUBLIC_KEY")
	c.Langfuse.SecretKey = getenv("LANGFUSE_SECRET_KEY")
	return errors.Join(read(&c.Auth.Token, "token_file", c.Auth.TokenFile),
		read(&c.Auth.SecondaryToken, "secondary_token_file", c.Auth.SecondaryTokenFile))
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// count: an integer key where 0 means what zero says; negative is refused.
	count := func(key string, v int64, zero string) {
		if v < 0 {
			bad("%s %d: want 0 (%s) or more", key, v, zero)
		}
	}
	// span: a duration key where 0 means what zero says; negative is refused
	// (net/http and the daemons read a negative one as "none" or as their
	// default: accepted, it would be silently ignored).
	span := func(key string, v Duration, zero string) {
		if v.Duration < 0 {
			bad("%s %q: want a duration of 0 (%s) or more, like \"30s\"", key, v.Duration, zero)
		}
	}
	positive := func(key string, v Duration) {
		if v.Duration <= 0 {
			bad("%s %q: want a duration above 0, like \"1s\"", key, v.Duration)
		}
	}
	// typed: none of keys ("[section].key") was reported by Load as of the
	// wrong type. A check between two keys runs only then: with one left
	// at its default it would compare a value the file does not hold, and
	// its message would send the operator after the wrong key (ADR-199).
	typed := c.typed
	if c.DataDir == "" {
		bad("data_dir \"\": want a directory path (every daemon's state is under it)")
	} else if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
		// Each daemon failed at its start with exit 1 ("mkdir ...: not a
		// directory"), which systemd restarts until its start limit.
		bad("data_dir %q: is a file, want a directory (every daemon's state is under it)", c.DataDir)
	}
	binds := map[string]string{}
	for _, name := range Daemons {
		s := c.Section(name)
		k := func(key string) string { return "[" + name + "]." + key }
		bindKey := c.bindKey(name)
		if _, port, err := net.SplitHostPort(s.Bind); err != nil {
			bad("%s %q: want host:port: %v", bindKey, s.Bind, err)
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			// A service name ("http") listens, but the other daemons'
			// URLs built from it do not parse; "notaport" failed only at
			// start-up, one daemon at a time.
			bad("%s %q: want a port number 0-65535, got %q", bindKey, s.Bind, port)
		} else if c.bindFrom[name] == "" && !typed(k("bind")) {
			// Its default is no bind of the file's: no clash to report.
		} else if other := bindClash(binds, s.Bind); other != "" {
			bad("%s %q: also used by [%s] (%s)", bindKey, s.Bind, other, c.Section(other).Bind)
		} else {
			binds[name] = s.Bind
		}
		if s.URL != "" {
			if badBaseURL(s.URL) {
				bad("%s %q: want http://host:port (how the other daemons reach [%s]), or leave it out for http://<bind>", k("url"), s.URL, name)
			}
		}
		count(k("max_body_bytes"), s.MaxBodyBytes, "no cap")
		span(k("read_header_timeout"), s.ReadHeaderTimeout, "none")
		if v := s.MaxHeaderBytes; v != 0 && (v < MinHeaderBytes || v > MaxHeadBytes) {
			bad("%s %d: want 0 (%d, 64 KiB) or between %d (8 KiB) and %d (1 MiB plus net/http's 4 KiB of slack)", k("max_header_bytes"), v, DefaultHeaderBytes, MinHeaderBytes, MaxHeadBytes)
		}
		span(k("read_timeout"), s.ReadTimeout, "none")
		span(k("write_timeout"), s.WriteTimeout, "none")
		span(k("idle_timeout"), s.IdleTimeout, "none")
		span(k("request_timeout"), s.RequestTimeout, "none")
		span(k("shutdown_timeout"), s.ShutdownTimeout, "20s")
	}
	for _, p := range ChatdProblems(c.Chatd) {
		bad("%s", p)
	}
	span("[chatd].timeout", c.Chatd.Timeout, "2m")
	span("[chatd].stream_idle_timeout", c.Chatd.StreamIdleTimeout, "2m")
	span("[chatd].retry_backoff", c.Chatd.RetryBackoff, "250ms")
	span("[chatd].max_retry_wait", c.Chatd.MaxRetryWait, "10s")
	count("[gateway].procs", int64(c.Gateway.Procs), "one per four CPUs")
	positive("[gateway].health_timeout", c.Gateway.HealthTimeout)
	count("[gateway].max_idle_conns_per_upstream", int64(c.Gateway.MaxIdleConnsPerUpstream), "16, the least it keeps")
	if p := c.S3.PartSize; p != 0 && (p < MinS3PartSize || p > MaxS3PartSize) {
		bad("[s3].part_size %d: want 0 (16 MiB) or between %d (5 MiB, the S3 minimum) and %d (5 GiB, the S3 maximum)", p, MinS3PartSize, MaxS3PartSize)
	}
	count("[ingestd].max_upload_bytes", c.Ingestd.MaxUploadBytes, "no cap")
	count("[ingestd].max_decompressed_bytes", c.Ingestd.MaxDecompressedBytes, "no cap")
	count("[ingestd].row_group_size", int64(c.Ingestd.RowGroupSize), "122880")
	count("[ingestd].file_rows", c.Ingestd.FileRows, "10000000")
	count("[ingestd].threads", int64(c.Ingestd.Threads), "DuckDB's default, one per CPU")
	count("[ingestd].max_line_bytes", int64(c.Ingestd.MaxLineBytes), "64 MiB")
	count("[ingestd].max_concurrent", int64(c.Ingestd.MaxConcurrent), "2")
	count("[ingestd].commit_retries", int64(c.Ingestd.CommitRetries), "20")
	if l := c.Ingestd.PendingLease.Duration; l != 0 && l < MinPendingLease {
		bad("[ingestd].pending_lease %q: want 0 (1h) or at least %s (an ingest renews its marker every lease/12 and stops committing once half a lease passes without a renewal)", l, MinPendingLease)
	}
	span("[ingestd].sweep_delay", c.Ingestd.SweepDelay, "the first sweep at the start")
	span("[ingestd].sweep_interval", c.Ingestd.SweepInterval, "1h")
	for _, m := range []struct{ key, v string }{{"[ingestd].memory_limit", c.Ingestd.MemoryLimit}, {"[queryd].memory_limit", c.Queryd.MemoryLimit}} {
		// Checked here, not by DuckDB when the daemon opens its engine: that
		// failed the start as "SET memory_limit = ...: Parser Error" with
		// exit 1, which systemd restarts, without naming the key.
		if m.v != "" && !memoryLimitRE.MatchString(m.v) {
			bad("%s %q: want a DuckDB size like \"1GB\", \"512MiB\" or \"1.5 GiB\" (KB, MB, GB, TB, KiB, MiB, GiB, TiB), \"none\", or \"\" for the default", m.key, m.v)
		}
	}
	count("[queryd].max_queue", int64(c.Queryd.MaxQueue), "no queue: busy at once")
	count("[queryd].max_rows", int64(c.Queryd.MaxRows), "100000")
	count("[queryd].cache_max_bytes", c.Queryd.CacheMaxBytes, "unbounded")
	count("[queryd].threads", int64(c.Queryd.Threads), "DuckDB's default, one per CPU")
	span("[queryd].timeout", c.Queryd.Timeout, "30s")
	if rt, qt := c.Queryd.RequestTimeout.Duration, c.Queryd.Timeout.Duration; rt > 0 && qt > rt && typed("[queryd].timeout", "[queryd].request_timeout") {
		// The harness's deadline would end every longer query first, with
		// request_timeout's message: timeout would be ignored above it.
		bad("[queryd].timeout %q: above [queryd].request_timeout %q, which ends the request first; raise request_timeout with it", qt, rt)
	}
	span("[vectord].snapshot_interval", c.Vectord.SnapshotInterval, "1m")
	count("[vectord].snapshot_ops", int64(c.Vectord.SnapshotOps), "by time only")
	count("[embedd].cache_entries", int64(c.Embedd.CacheEntries), "no cache")
	count("[embedd].max_batch", int64(c.Embedd.MaxBatch), "10000")
	count("[embedd].concurrency", int64(c.Embedd.Concurrency), "one per CPU, at least 2")
	count("[matrixd].batch_rows", int64(c.Matrixd.BatchRows), "2048")
	count("[matrixd].page_rows", int64(c.Matrixd.PageRows), "20000")
	count("[observerd].ring_size", int64(c.Observerd.RingSize), "10000")
	if c.Observerd.RingSize > MaxObserverRing {
		bad("[observerd].ring_size %d: want at most %d", c.Observerd.RingSize, MaxObserverRing)
	}
	switch backend := c.Storaged.Backend; {
	case !typed("[storaged].backend"):
		// Every check below relates a key to the backend.
	case backend == "local":
		// Set for S3 but left on local disk: the objects would go to
		// data_dir without a word (an operator who forgot backend = "s3").
		if c.S3.Endpoint != "" {
			bad("[s3].endpoint %q: only used with [storaged].backend = \"s3\" (it is \"local\"): set backend = \"s3\", or endpoint = \"\"", c.S3.Endpoint)
		}
		if c.Queryd.SecretsPath != "" {
			bad("[queryd].secrets_path %q: only used with [storaged].backend = \"s3\" (it is \"local\"); leave it empty", c.Queryd.SecretsPath)
		}
		if c.S3.ProxyGets {
			bad("[s3].proxy_gets = true: only used with [storaged].backend = \"s3\" (it is \"local\"); leave it out")
		}
		if c.S3.PartSize != 0 {
			bad("[s3].part_size %d: only used with [storaged].backend = \"s3\" (it is \"local\"); leave it out", c.S3.PartSize)
		}
	case backend == "s3":
		useSSL := c.S3.UseSSL
		if !typed("[s3].use_ssl") {
			// Left at false: the endpoint's scheme is not compared with it.
			useSSL = strings.HasPrefix(strings.ToLower(c.S3.Endpoint), "https://")
		}
		switch {
		case !typed("[s3].endpoint"):
			// Set, to a value of the wrong type: not missing.
		case c.S3.Endpoint == "":
			bad("[s3].endpoint: required when [storaged].backend = \"s3\"")
		default:
			if msg := checkS3Endpoint(c.S3.Endpoint, useSSL); msg != "" {
				bad("[s3].endpoint %q: %s", c.S3.Endpoint, msg)
			}
		}
		if c.S3.Bucket == "" {
			bad("[s3].bucket: required when [storaged].backend = \"s3\"")
		} else if !validBucket(c.S3.Bucket) {
			bad("[s3].bucket %q: want an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", c.S3.Bucket)
		}
		if d := c.Storaged.Dir; d != "" && d != "objects" {
			bad("[storaged].dir %q: only used with backend = \"local\" (it is \"s3\"); leave it out", d)
		}
		switch so := c.Storaged.Socket; so {
		case "", "storaged.sock", "off", "-":
		default:
			bad("[storaged].socket %q: only used with backend = \"local\" (it is \"s3\"); leave it out", so)
		}
		if c.S3.SecretsPath == "" && typed("[s3].secrets_path") {
			bad("[s3].secrets_path: required when [storaged].backend = \"s3\" (secrets-go.toml with [s3.primary] access_key_id and secret_access_key)")
		}
	default:
		bad("[storaged].backend %q: want local or s3", backend)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"dial_timeout", c.S3.DialTimeout.Duration}, {"header_timeout", c.S3.HeaderTimeout.Duration}, {"stall_timeout", c.S3.StallTimeout.Duration}} {
		if d.v <= 0 || d.v > MaxS3Silence {
			bad("[s3].%s %q: want a duration above 0 and at most %s", d.key, d.v, MaxS3Silence)
		}
	}
	switch provider := c.Embedd.Provider; {
	case !typed("[embedd].provider"):
		// Every check below relates a key to the provider.
	case provider == "builtin":
		// The built-in provider serves one model and calls nothing: an
		// Ollama model or URL set here would be ignored (it was, with a
		// warning in embedd's log only).
		def := Default("").Embedd
		if m := c.Embedd.DefaultModel; m != "" && m != def.DefaultModel && !strings.EqualFold(m, BuiltinEmbedModel) {
			bad("[embedd].default_model %q: provider = \"builtin\" serves only %s; set provider = \"ollama\" to use %q", m, BuiltinEmbedModel, m)
		}
		if u := c.Embedd.ProviderURL; u != "" && u != def.ProviderURL {
			bad("[embedd].provider_url %q: only used with provider = \"ollama\" (it is \"builtin\")", u)
		}
	case provider == "ollama":
		// Here rather than at embedd's start, where it was exit 1 (restarted).
		if badBaseURL(c.Embedd.ProviderURL) {
			bad("[embedd].provider_url %q: want the Ollama server's http(s)://host:port", c.Embedd.ProviderURL)
		}
	default:
		bad("[embedd].provider %q: want builtin or ollama", provider)
	}
	for _, t := range []struct{ name, v string }{{"AUTH_TOKEN", c.Auth.Token}, {"AUTH_SECONDARY_TOKEN", c.Auth.SecondaryToken}} {
		// deploy/etc-lakehouse/lakehouse.env.example ships this line
		// uncommented: copied as is, every daemon took a token anyone
		// can read in the repository.
		if t.v == PlaceholderToken {
			bad("%s %q is the example's placeholder: set a long random token (e.g. openssl rand -hex 32)", t.name, t.v)
		}
	}
	c.Auth.allowedNets = nil
	for _, s := range c.Auth.AllowedIPs {
		n, err := parseCIDR(s)
		if err != nil {
			bad("[auth].allowed_ips %q: %v", s, err)
			continue
		}
		c.Auth.allowedNets = append(c.Auth.allowedNets, n)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("[log].level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("[log].format %q: want text or json", c.Log.Format)
	}
	if c.Queryd.MaxConcurrent < 1 {
		bad("[queryd].max_concurrent %d: want 1 or more", c.Queryd.MaxConcurrent)
	}
	for _, b := range []struct {
		sec          string
		queue, batch int
		flush        Duration
	}{{"langfuse", c.Langfuse.QueueSize, c.Langfuse.BatchSize, c.Langfuse.FlushInterval}, {"report", c.Report.QueueSize, c.Report.BatchSize, c.Report.FlushInterval}} {
		if b.queue < 1 {
			bad("[%s].queue_size %d: want 1 or more", b.sec, b.queue)
		}
		if b.batch < 1 {
			bad("[%s].batch_size %d: want 1 or more", b.sec, b.batch)
		}
		positive("["+b.sec+"].flush_interval", b.flush)
	}
	positive("[langfuse].timeout", c.Langfuse.Timeout)
	// With its two keys set the Langfuse client exists (NewLangfuse) and
	// posts to LANGFUSE_URL + "/api/public/ingestion": a URL without a
	// scheme or host failed every flush, named only in the log (ADR-207).
	// Without them tracing is off and the URL is not used.
	if l := c.Langfuse; l.URL != "" && l.PublicKey != "" && l.SecretKey != "" {
		// A bare "?" or "#" leaves RawQuery and Fragment empty, yet the
		// endpoint after it is then a query ("/?/api/public/ingestion") or
		// cut off ("/"): any raw '?' or '#' is refused.
		if badBaseURL(l.URL) {
			bad("LANGFUSE_URL %q: want the Langfuse server's http(s)://host[:port][/path]", l.URL)
		}
	}
	return errors.Join(errs...)
}

// typed reports that none of keys ("[section].key") was reported by Load as
// of the wrong type, nor its section.
func (c *Config) typed(keys ...string) bool {
	for _, k := range keys {
		sec, _, _ := strings.Cut(k, ".")
		if c.wrongTyped[k] || c.wrongTyped[sec] {
			return false
		}
	}
	return true
}

// bindKey names daemon name's bind as the operator set it: the key, or the
// LH_<NAME>_BIND variable it came from.
func (c *Config) bindKey(name string) string {
	if env := c.bindFrom[name]; env != "" {
		return "[" + name + "].bind (from " + env + ")"
	}
	return "[" + name + "].bind"
}

// HostLookupTimeout bounds the lookup of one host by `-check`.
const HostLookupTimeout = 2 * time.Second

// hostResolver answers `-check`'s lookups (tests point it at a DNS server
// of their own on loopback).
var hostResolver = net.DefaultResolver

// nonlocalBindFiles are the kernel's net.ipv4 and net.ipv6
// ip_nonlocal_bind: "1" lets a listen take an address the host does not
// have (yet: a floating address that keepalived moves), so a bind's
// address is then not compared with the host's for that family.
var nonlocalBindFiles = [2]string{"/proc/sys/net/ipv4/ip_nonlocal_bind", "/proc/sys/net/ipv6/ip_nonlocal_bind"}

// hostRef is one key of the file that names a host: how it is reported
// (key and value as set), the host, and whether a listen takes it (a bind)
// or a dial reaches it (a url, the S3 endpoint).
type hostRef struct {
	key, value, host string
	bind             bool
}

// hostRefs lists the keys HostProblems looks at, in the order it reports
// them: each section's bind and url in Daemons' order, [s3].endpoint, then
// the outside services a daemon would call: [embedd].provider_url, the URL
// of each provider chatd registers, LANGFUSE_URL. A key whose host cannot
// be read (Validate names it) or is empty (a bind on all interfaces) is
// left out.
func (c *Config) hostRefs() []hostRef {
	var refs []hostRef
	for _, name := range Daemons {
		s := c.Section(name)
		if host, _, err := net.SplitHostPort(s.Bind); err == nil && host != "" {
			refs = append(refs, hostRef{key: c.bindKey(name), value: s.Bind, host: host, bind: true})
		}
		if s.URL != "" {
			// A url left out is http://<bind>: that host is the bind's.
			if u, err := url.Parse(s.URL); err == nil && u.Hostname() != "" {
				refs = append(refs, hostRef{key: "[" + name + "].url", value: s.URL, host: u.Hostname()})
			}
		}
	}
	// The endpoint is used only with the s3 backend (by storaged, and by a
	// queryd given secrets_path); with local Validate refuses it set.
	if e := c.S3.Endpoint; e != "" && c.Storaged.Backend == "s3" && c.typed("[storaged].backend") {
		host := ""
		if strings.Contains(e, "://") {
			if u, err := url.Parse(e); err == nil {
				host = u.Hostname()
			}
		} else if h, _, err := net.SplitHostPort(e); err == nil {
			host = h
		} else if !strings.ContainsAny(e, "/?#") {
			host = strings.TrimSuffix(strings.TrimPrefix(e, "["), "]") // no port: the scheme's
		}
		if host != "" {
			refs = append(refs, hostRef{key: "[s3].endpoint", value: e, host: host})
		}
	}
	// An outside service is looked up only when its client exists, so a
	// provider not in use is never asked about (ADR-207); and not when the
	// environment's HTTP(S) proxy carries the requests to it (the proxy
	// resolves it: chatd, embedd's Ollama client and Langfuse's all use
	// http.ProxyFromEnvironment).
	getenv := func(k string) string { return c.hostEnv[k] }
	outside := func(key, value string) {
		u, err := url.Parse(value)
		if err != nil || u.Hostname() == "" || proxied(getenv, u) {
			return // no host: Validate names [embedd]'s and [chatd]'s
		}
		refs = append(refs, hostRef{key: key, value: value, host: u.Hostname()})
	}
	if c.Embedd.Provider == "ollama" && c.typed("[embedd].provider", "[embedd].provider_url") {
		outside("[embedd].provider_url", c.Embedd.ProviderURL)
	}
	set := ChatdURLs(c.Chatd)
	registered := ChatdRegisteredURLs(c.Chatd, getenv)
	for _, name := range ChatProviders {
		key := "[chatd]." + name + "_url"
		u, ok := registered[name]
		if !ok || !c.typed(key, "[chatd].keys_dir") {
			continue
		}
		if strings.TrimRight(set[name], "/") == "" {
			key += " (default)"
		} else {
			u = set[name]
		}
		outside(key, u)
	}
	if l := c.Langfuse; l.URL != "" && l.PublicKey != "" && l.SecretKey != "" { // NewLangfuse's condition
		outside("LANGFUSE_URL", l.URL)
	}
	return refs
}

// hostEnvVars are the variables -check's lookups read: chatd's API keys,
// and those of http.ProxyFromEnvironment.
func hostEnvVars() []string {
	vars := []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}
	for _, name := range ChatProviders {
		if env := ChatProviderDefaults[name].KeyEnv; env != "" {
			vars = append(vars, env)
		}
	}
	return vars
}

// proxied reports whether the HTTP(S) proxy of getenv's environment
// carries a request to u, as http.ProxyFromEnvironment decides (never for
// localhost or a loopback address; NO_PROXY; HTTP_PROXY ignored under CGI).
// A proxy setting that does not parse fails every request: nothing to
// look up either.
func proxied(getenv func(string) string, u *url.URL) bool {
	env := func(upper, lower string) string {
		if v := getenv(upper); v != "" {
			return v
		}
		return getenv(lower)
	}
	cfg := httpproxy.Config{
		HTTPProxy:  env("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: env("HTTPS_PROXY", "https_proxy"),
		NoProxy:    env("NO_PROXY", "no_proxy"),
		CGI:        getenv("REQUEST_METHOD") != "",
	}
	p, err := cfg.ProxyFunc()(u)
	return err != nil || p != nil
}

// HostProblems is `-check`'s look at the hosts the file names (ADR-199 and
// its amendment):
//   - each section's bind: a name that does not resolve, and an address a
//     listen could not take because this host does not have it (compared
//     with net.InterfaceAddrs; 0.0.0.0, :: and loopback always can; for a
//     name, the address net.Listen would take: the first IPv4 address it
//     resolves to, else the first);
//   - each section's url that is set (how this host's daemons reach that
//     daemon): a name that does not resolve;
//   - [s3].endpoint with [storaged].backend = "s3": a name that does not
//     resolve;
//   - the outside services a daemon here would call, each only when its
//     client exists and no HTTP(S) proxy carries the requests to it:
//     [embedd].provider_url with provider = "ollama", the URL of each
//     provider chatd registers (ChatdRegisteredURLs), and LANGFUSE_URL
//     when it and both Langfuse keys are set: a name that does not resolve.
//
// Each problem is named by its key, as `[gateway].bind "nohost.invalid:3111":
// host does not resolve`, binds and urls in Daemons' order, then the
// endpoint, then the outside services. An IP literal is not looked up, a
// name under .invalid is answered at once, and nothing is sent to a host
// named. The lookups run together, one per distinct host, each bounded by
// HostLookupTimeout. Not part of Validate, which runs at every start: there
// a DNS hiccup would stop a daemon over another section's host; a start
// looks up its own bind only, when it listens.
func (c *Config) HostProblems(ctx context.Context) error {
	refs := c.hostRefs()
	type answer struct {
		addrs []net.IPAddr
		err   error
	}
	answers := map[string]*answer{}
	var names []string // the lookups write a slot each, not the map
	for _, r := range refs {
		if _, ok := answers[r.host]; ok {
			continue
		}
		if ip, err := netip.ParseAddr(r.host); err == nil {
			answers[r.host] = &answer{addrs: []net.IPAddr{{IP: net.IP(ip.AsSlice()), Zone: ip.Zone()}}}
			continue
		}
		answers[r.host] = nil
		names = append(names, r.host)
	}
	found := make([]answer, len(names))
	var wg sync.WaitGroup
	for i, host := range names {
		wg.Go(func() {
			if err := errNoSuchHost(host); err != nil {
				found[i].err = err
				return
			}
			lctx, cancel := context.WithTimeout(ctx, HostLookupTimeout)
			defer cancel()
			found[i].addrs, found[i].err = hostResolver.LookupIPAddr(lctx, host)
		})
	}
	wg.Wait()
	for i, host := range names {
		answers[host] = &found[i]
	}
	var local *localAddrs
	var errs []error
	for _, r := range refs {
		a := answers[r.host]
		switch {
		case a.err != nil:
			errs = append(errs, fmt.Errorf("%s %q: %s", r.key, r.value, unresolved(a.err)))
		case !r.bind || len(a.addrs) == 0:
		default:
			if local == nil {
				local = thisHostAddrs()
			}
			ip := listenAddr(a.addrs)
			if local.has(ip) {
				continue
			}
			if _, err := netip.ParseAddr(r.host); err == nil {
				errs = append(errs, fmt.Errorf("%s %q: %s is not an address of this host: the daemon cannot listen there", r.key, r.value, ip))
			} else {
				errs = append(errs, fmt.Errorf("%s %q: resolves to %s, not an address of this host: the daemon cannot listen there", r.key, r.value, ip))
			}
		}
	}
	return errors.Join(errs...)
}

// listenAddr is the address of addrs net.Listen takes: the first IPv4
// address, else the first.
func listenAddr(addrs []net.IPAddr) netip.Addr {
	pick := addrs[0]
	for _, a := range addrs {
		if a.IP.To4() != nil {
			pick = a
			break
		}
	}
	ip, _ := netip.AddrFromSlice(pick.IP)
	return ip.Unmap()
}

// localAddrs is what a listen on this host can take: its interfaces'
// addresses, and per family whether ip_nonlocal_bind allows any.
type localAddrs struct {
	addrs    map[netip.Addr]bool
	nonlocal [2]bool // IPv4, IPv6
	unknown  bool    // the interfaces could not be listed: every address passes
}

func thisHostAddrs() *localAddrs {
	l := &localAddrs{addrs: map[netip.Addr]bool{}}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		l.unknown = true
		return l
	}
	for _, a := range ifaddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				l.addrs[ip.Unmap()] = true
			}
		}
	}
	for i, f := range nonlocalBindFiles {
		b, err := os.ReadFile(f)
		l.nonlocal[i] = err == nil && strings.TrimSpace(string(b)) == "1"
	}
	return l
}

// has reports whether a listen on ip can take it here.
func (l *localAddrs) has(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	family := 0
	if ip.Is6() {
		family = 1
	}
	return l.unknown || ip.IsUnspecified() || ip.IsLoopback() || l.nonlocal[family] || l.addrs[ip]
}

// errNoSuchHost is the resolver's "no such host" for a name under .invalid,
// which never resolves (RFC 6761 6.4: a library answers it at once rather
// than ask DNS); nil for any other host.
func errNoSuchHost(host string) error {
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "invalid" || strings.HasSuffix(h, ".invalid") {
		return &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return nil
}

// unresolved says why a host did not resolve in an operator's words: the
// resolver's short reason, without the lookup's Go error text.
func unresolved(err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return "host does not resolve"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &de) && de.IsTimeout:
		return "host does not resolve (the lookup timed out)"
	case errors.As(err, &de):
		return "host does not resolve (" + de.Err + ")"
	}
	return "host does not resolve (" + err.Error() + ")"
}

// bindClash is the daemon in binds (daemon -> bind) whose address a listen
// on bind would collide with, or "": the same port with the same host
// (localhost is 127.0.0.1), or with a wildcard host ("", 0.0.0.0, ::) on
// either side. Port 0 never clashes.
func bindClash(binds map[string]string, bind string) string {
	norm := func(b string) (host, port string, wild bool) {
		host, port, _ = net.SplitHostPort(b)
		if strings.EqualFold(host, "localhost") {
			host = "127.0.0.1"
		}
		if ip := net.ParseIP(host); ip != nil {
			wild = ip.IsUnspecified()
			host = ip.String()
		}
		return host, port, wild || host == ""
	}
	h, p, w := norm(bind)
	if p == "0" {
		return ""
	}
	for _, name := range Daemons { // in a fixed order: the message names the first
		b, ok := binds[name]
		if !ok {
			continue
		}
		oh, op, ow := norm(b)
		if op == p && (w || ow || oh == h) {
			return name
		}
	}
	return ""
}

// memoryLimitRE is what DuckDB's memory_limit takes: a number and a unit
// (case and a space before the unit are free), or "none" / "-1" for no
// limit. A bare number or a percentage DuckDB refuses.
var memoryLimitRE = regexp.MustCompile(`(?i)^\s*(-1|none|(\d+(\.\d*)?|\.\d+)\s*(b|bytes?|k|kb|kib|kilobytes?|m|mb|mib|megabytes?|g|gb|gib|gigabytes?|t|tb|tib|terabytes?))\s*$`)

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validBucket is S3's bucket naming rule (what MinIO enforces too).
func validBucket(b string) bool {
	return bucketRE.MatchString(b) && !strings.Contains(b, "..") && net.ParseIP(b) == nil
}

// checkS3Endpoint: "" when endpoint is host:port, or http(s)://host[:port]
// agreeing with use_ssl; else what is wrong with it. The scheme used to
// win over use_ssl without a word, and a path was dropped.
func checkS3Endpoint(endpoint string, useSSL bool) string {
	const want = "want host:port (like 127.0.0.1:9000) or http(s)://host:port"
	hostport := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return want
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return "want no path: the bucket is [s3].bucket"
		}
		if (u.Scheme == "https") != useSSL {
			return fmt.Sprintf("the scheme says %s but [s3].use_ssl = %v; make them agree", u.Scheme, useSSL)
		}
		hostport = u.Host
	} else if _, _, err := net.SplitHostPort(endpoint); err != nil && strings.ContainsAny(endpoint, "/?#") {
		return want
	}
	// storaged's S3 client (minio-go) reads http://<host:port>: a form that
	// parse refuses (an IPv6 address without brackets, a port that is not
	// a number), reads a path into ("minio:9000/lakehouse", "//minio:9000")
	// or an IPv6 zone stopped storaged at its start, exit 1, after Load and
	// -check had passed it.
	if ip := net.ParseIP(hostport); ip != nil && ip.To4() == nil {
		return "want an IPv6 address in brackets: [" + hostport + "]:9000, or http(s)://[" + hostport + "]:9000"
	}
	u, err := url.Parse("http://" + hostport)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return want
	}
	if strings.Contains(u.Hostname(), "%") {
		return "want no IPv6 zone (storaged's S3 client refuses it): an address S3 is reached at without one"
	}
	return ""
}

func parseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("not an IP or CIDR")
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		} else {
			ip = ip.To4()
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}
