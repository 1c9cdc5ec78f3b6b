package shared

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
)

// Version is set at build time (-ldflags "-X lakehouse-go/internal/shared.Version=...");
// otherwise it is the VCS revision Go recorded, or "dev".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "dev"
}

// Env is what the harness hands a daemon's constructor.
type Env struct {
	Name    string
	Config  *Config
	Log     *slog.Logger
	Metrics prometheus.Registerer
	// HTTP is for JSON calls between daemons (60 s overall timeout).
	HTTP *http.Client
	// StreamHTTP is for streaming calls (uploads, downloads, SSE): no overall
	// timeout; the caller's ctx bounds it, dial and idle timeouts still apply.
	StreamHTTP *http.Client
	// OwnsProcess is true when the daemon runs as its own process (Run), so
	// process-wide settings (GOMAXPROCS) are its to make; false in
	// in-process tests, where several daemons share one process.
	OwnsProcess bool
}

// Client returns the base client for daemon service (JSON calls).
func (e *Env) Client(service string) *Client {
	return &Client{Service: service, Base: e.Config.URL(service), HTTP: e.HTTP, Token: e.Config.Auth.Token}
}

// StreamClient returns the base client for daemon service (streaming calls).
func (e *Env) StreamClient(service string) *Client {
	return &Client{Service: service, Base: e.Config.URL(service), HTTP: e.StreamHTTP, Token: e.Config.Auth.Token}
}

// Daemon is what a constructor returns: its routes and how to close it.
type Daemon struct {
	// Routes registers the daemon's /v1 routes. They run behind allowed_ips,
	// auth, Langfuse, observer reporting and the timeout/body limits.
	Routes func(r chi.Router)
	// Public, optional, registers routes served without auth (behind
	// allowed_ips only, like /health), never traced: pages that hold no data
	// of their own, such as the gateway's console, which then calls the
	// authenticated routes with the token the user gives it.
	Public func(r chi.Router)
	// Close flushes and releases the daemon's resources after the HTTP server
	// has drained. Optional.
	Close func(ctx context.Context) error
	// Serve, optional, serves the listener in place of the harness's
	// net/http server (the gateway's fast path, ADR-070). srv is that server,
	// configured with the whole middleware chain as its Handler: whatever
	// the daemon does not serve natively it hands to srv (srv.Serve on a
	// listener of its own). hooks are the chain's steps for the requests it
	// serves natively. Shutdown of the returned Serving must drain like
	// http.Server.Shutdown (and shut srv down). ln's connections answer a
	// request net/http could not parse with DESIGN.md's body (malformed.go),
	// unless BareListener.
	Serve func(ln net.Listener, srv *http.Server, hooks *RequestHooks) Serving
	// BareListener, with Serve, hands Serve the listener as bound, its
	// connections unwrapped (the gateway's fast path works on the
	// *net.TCPConn itself): the connections the daemon hands to srv then
	// send MalformedAnswer's JSON in place of net/http's own answers
	// themselves, as the gateway's clConn does.
	BareListener bool
	// Check, optional, tells whether what the daemon depends on is usable
	// (storaged: S3 answers and the bucket exists). /health stays 200 —
	// it is liveness — but says "degraded" with Check's error while it
	// fails. Run at most every healthCheckTTL, under healthCheckTimeout.
	Check func(ctx context.Context) error
	// ErrorWriter, optional, writes the errors the harness itself answers
	// on the daemon's routes — 401, 403 (allowed_ips), 413 by
	// Content-Length, 408 of a stalled body, 404 and 405 with no route, the
	// recoverer's 500 — for routes whose clients read another error shape
	// than DESIGN.md's (chatd's OpenAI and Ollama routes, ADR-125). It
	// answers err (status errs.StatusOf(err), text errs.Message(err))
	// through w and returns true, or returns false, writing nothing, to
	// leave the answer to the harness's body. nil = the harness's body
	// everywhere.
	ErrorWriter func(w http.ResponseWriter, r *http.Request, err error) bool
	// AnswerEnd, optional, runs after each request's handler on the
	// net/http path (not after a panic), before its metrics and access
	// line, unless the answer is already marked cut: a daemon whose
	// connections tell a cut (the gateway's send stall) flushes the
	// answer's tail there and marks a cut with AnswerCut, so a small
	// answer that net/http would flush only after the access line is
	// still this request's.
	AnswerEnd func(w http.ResponseWriter, r *http.Request)
}

// Builder constructs a daemon. ctx ends when the daemon shuts down.
type Builder func(ctx context.Context, env *Env) (*Daemon, error)

// Server is a running daemon.
type Server struct {
	Name   string
	Addr   string // the address it listens on (resolved when bind has port 0)
	Config *Config
	Log    *slog.Logger

	srv      *http.Server
	serving  Serving
	daemon   *Daemon
	langfuse *Langfuse
	report   *reporter
	logw     *lineWriter
	cancel   context.CancelFunc
	draining atomic.Bool
	served   chan error
	once     sync.Once
	check    healthCheck
}

// URL is http://Addr.
func (s *Server) URL() string { return "http://" + s.Addr }

// Langfuse exposes the tracer (nil when not configured), for tests.
func (s *Server) Langfuse() *Langfuse { return s.langfuse }

// ConfigError marks an error of a daemon's builder that only the operator
// can fix — a file the config names is missing, unsafe or wrong, a value
// only the daemon can check — as Load's errors are: Run exits 2 for it, the
// status the units' RestartPreventExitStatus=2 does not restart (a restart
// every 2 s until systemd gives up helps no one). A start failure a restart
// can fix (a port taken, a dependency down) stays exit 1.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigErr wraps err as a ConfigError (nil stays nil).
func ConfigErr(err error) error {
	if err == nil {
		return nil
	}
	return &ConfigError{Err: err}
}

// IsConfigError reports whether err is, or wraps, a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// Run is main for every daemon: flags, config, gates, serve until SIGTERM
// or SIGINT, drain, flush. It returns the process exit code.
func Run(name string, build Builder) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	configPath := fs.String("config", "", "path to lakehouse.toml (default $LAKEHOUSE_CONFIG, else embedded defaults)")
	healthcheck := fs.Bool("healthcheck", false, "check the running daemon instead of starting one: GET /health at its bind "+
		"(0.0.0.0 or :: means loopback), exit 0 when it answers ok, else 1 (for container healthchecks: the image has no curl)")
	check := fs.Bool("check", false, "check the configuration and exit without starting: the file, the environment's "+
		"overrides, the hosts of every bind and url and of the S3 endpoint, and of the outside services in use (embedd's "+
		"Ollama, each chatd provider with its key, Langfuse; looked up when they are names and no HTTP(S) proxy carries "+
		"them; no connection is made), every bind's address (one this host has), and this daemon's bind gates; 0 when "+
		"they hold, else 2 with every problem named")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	cfg, err := Load(*configPath, os.Getenv)
	if *check && cfg != nil {
		// -check also looks up the hosts the file names (every bind, url
		// and the S3 endpoint, and the outside services in use) and
		// compares each bind's address with this host's, with the other
		// problems; a start looks up only its own bind, when it listens
		// (ADR-199, ADR-202 and its amendment).
		err = errors.Join(err, cfg.HostProblems(context.Background()))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if *healthcheck {
			return 1 // docker reserves 2
		}
		return 2
	}
	if *check {
		return checkConfig(name, *configPath, cfg, os.Getenv, os.Stdout, os.Stderr)
	}
	if *healthcheck {
		return checkHealth(name, cfg, os.Stdout, os.Stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.ownsProcess = true
	// The signal starts the drain; it does not cancel the daemon's context:
	// requests in flight derive from that one and are to finish (Shutdown
	// cancels it once they have, or once shutdown_timeout has passed).
	s, err := Start(context.Background(), name, cfg, build, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if IsConfigError(err) {
			return 2 // as a config Load refuses: systemd does not restart it
		}
		return 1
	}
	// No daemon has a reload, and Go's default for SIGHUP is to die at once:
	// in-flight requests cut, nothing flushed, and systemd (which counts
	// SIGHUP as a clean end) would not restart it. Ignore it, loudly.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-hup:
			s.Log.Warn("SIGHUP ignored: there is no reload; restart the daemon (systemctl restart lakehouse-"+name+") to apply a changed config", "op", "signal")
		case err := <-s.served:
			if err != nil {
				s.Log.Error("serve failed", "err", err.Error())
				return 1
			}
			break wait
		}
	}
	s.Log.Info("shutting down", "op", "shutdown")
	if err := s.Shutdown(context.Background()); err != nil {
		s.Log.Error("shutdown incomplete", "err", err.Error())
		s.logw.Flush()
		return 1
	}
	return 0
}

// checkConfig is -check: what Run would refuse before it listens (the
// config as loaded, and this daemon's start gates), without binding or
// touching data. An operator validates an edited lakehouse.toml with it
// before a restart; the answer's exit codes are Run's (2: do not restart).
func checkConfig(name, path string, cfg *Config, getenv func(string) string, stdout, stderr io.Writer) int {
	sec := cfg.Section(name)
	if sec == nil {
		fmt.Fprintf(stderr, "%s: unknown daemon\n", name)
		return 2
	}
	if err := CheckBindGates(name, sec.Bind, cfg.Auth.Token, getenv); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if path == "" {
		path = getenv("LAKEHOUSE_CONFIG")
	}
	if path == "" {
		path = "embedded defaults"
	}
	fmt.Fprintf(stdout, "%s: configuration ok (%s; bind %s, data_dir %s)\n", name, path, sec.Bind, cfg.DataDir)
	return 0
}

// healthcheckTimeout bounds the whole GET /health of -healthcheck.
const healthcheckTimeout = 3 * time.Second

// checkHealth is -healthcheck: GET /health of daemon name at its own bind,
// the way the gateway's /v1/health asks it. 0 when the answer is 200 with
// status "ok" from a daemon of that name; 1 otherwise (refused, timed
// out, draining, another service on the port), with the reason on errOut.
// It binds nothing, starts nothing and logs nothing.
func checkHealth(name string, cfg *Config, out, errOut io.Writer) int {
	sec := cfg.Section(name)
	if sec == nil {
		fmt.Fprintf(errOut, "%s: healthcheck: unknown daemon\n", name)
		return 1
	}
	u, err := healthURL(sec.Bind)
	if err != nil {
		fmt.Fprintf(errOut, "%s: healthcheck: %v\n", name, err)
		return 1
	}
	hc := &http.Client{Timeout: healthcheckTimeout, Transport: &http.Transport{DisableKeepAlives: true}} // no proxy
	resp, err := hc.Get(u)
	if err != nil {
		fmt.Fprintf(errOut, "%s: unhealthy: %v\n", name, err)
		return 1
	}
	defer resp.Body.Close()
	var h Health
	derr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h)
	if resp.StatusCode != http.StatusOK || derr != nil || (h.Status != "ok" && h.Status != "degraded") || h.Service != name {
		fmt.Fprintf(errOut, "%s: unhealthy: %s answered %d, status %q, service %q\n", name, u, resp.StatusCode, h.Status, h.Service)
		return 1
	}
	if h.Status == "degraded" { // alive: what it depends on is not (Daemon.Check)
		fmt.Fprintf(out, "%s: degraded (%s, version %s): %s\n", name, u, h.Version, h.Error)
		return 0
	}
	fmt.Fprintf(out, "%s: ok (%s, version %s)\n", name, u, h.Version)
	return 0
}

// healthURL is the /health URL of a daemon bound to bind; an unspecified
// host (all interfaces) is reached on loopback.
func healthURL(bind string) (string, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("bind %q: %w", bind, err)
	}
	if port == "0" || port == "" {
		return "", fmt.Errorf("bind %q has no fixed port to check", bind)
	}
	switch ip := net.ParseIP(host); {
	case host == "", ip != nil && ip.To4() != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

// CheckBindGates enforces ADR-006 6.1 and audit R-001 for a non-loopback
// bind: both an auth token and LH_<NAME>_ALLOW_NONLOOPBACK=1 are required.
func CheckBindGates(name, bind, token string, getenv func(string) string) error {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("bind %q: %w", bind, err)
	}
	if IsLoopbackHost(host) {
		return nil
	}
	var problems []string
	if token == "" {
		problems = append(problems, "refuse non-loopback bind without auth.token (set AUTH_TOKEN)")
	}
	env := "LH_" + strings.ToUpper(name) + "_ALLOW_NONLOOPBACK"
	if getenv(env) != "1" {
		problems = append(problems, fmt.Sprintf("refusing non-loopback bind %s without %s=1; see audit R-001", bind, env))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP. An empty
// host (all interfaces) is not loopback.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// prebound holds listeners a test bound before it started daemons on
// their addresses (Prebind), "host:port" -> net.Listener.
// ErrStopping is the cause of a daemon's context ending: its stop (the
// drain ran out, or it finished), not a caller.
var ErrStopping = errors.New("the daemon is stopping")

var prebound sync.Map

// Prebind registers ln, already bound, for the next Start whose bind is
// ln's address: Start takes it instead of binding, so no other process can
// take the port between a test choosing it and the daemon starting (an
// outgoing connection of a parallel test did, once: "bind: address already
// in use"). The returned func closes ln unless a Start took it. Tests only.
func Prebind(ln net.Listener) (release func()) {
	addr := ln.Addr().String()
	prebound.Store(addr, ln)
	return func() {
		if v, ok := prebound.LoadAndDelete(addr); ok {
			v.(net.Listener).Close()
		}
	}
}

func listen(addr string) (net.Listener, error) {
	if v, ok := prebound.LoadAndDelete(addr); ok {
		return v.(net.Listener), nil
	}
	return net.Listen("tcp", addr)
}

// Start builds and starts daemon name on cfg.Section(name).Bind (port 0 picks
// a free port; see Server.Addr). Logs go to logOut. Tests use Start directly.
func Start(ctx context.Context, name string, cfg *Config, build Builder, logOut io.Writer) (*Server, error) {
	sec := cfg.Section(name)
	if sec == nil {
		return nil, fmt.Errorf("unknown daemon %q", name)
	}
	if err := CheckBindGates(name, sec.Bind, cfg.Auth.Token, os.Getenv); err != nil {
		return nil, err
	}
	lw := newLineWriter(logOut)
	lw.journal = isJournalStream(logOut, os.Getenv("JOURNAL_STREAM"))
	log := newLogger(cfg.Log, lw).With("svc", name)

	var ln net.Listener
	host, _, _ := net.SplitHostPort(sec.Bind)
	err := errNoSuchHost(host) // a name under .invalid: not asked of DNS
	if err == nil {
		ln, err = listen(sec.Bind)
	}
	if err != nil {
		lw.Close()
		if de := (*net.DNSError)(nil); errors.As(err, &de) {
			// Named as -check names it, not "listen tcp: lookup ... on
			// <resolver>": exit 1 all the same, as DNS may come back.
			return nil, fmt.Errorf("%s %q: %s", cfg.bindKey(name), sec.Bind, unresolved(err))
		}
		return nil, fmt.Errorf("listen %s: %w", sec.Bind, err)
	}
	// The daemon's context ends with ErrStopping as its cause: a request
	// cut by the daemon's own stop is told from one whose caller left
	// (errs.CallerLeft: net/http cancels that one with a plain Canceled).
	dctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(ErrStopping) }
	metrics := newMetrics(name)
	env := &Env{
		OwnsProcess: cfg.ownsProcess,
		Name:        name, Config: cfg, Log: log, Metrics: metrics.Registry,
		HTTP:       &http.Client{Timeout: 60 * time.Second, Transport: NewTransport(64)},
		StreamHTTP: &http.Client{Transport: NewTransport(64)},
	}
	d, err := build(dctx, env)
	if err != nil {
		cancel()
		ln.Close()
		lw.Close()
		return nil, err
	}
	s := &Server{
		Name: name, Addr: ln.Addr().String(), Config: cfg, Log: log, daemon: d,
		langfuse: NewLangfuse(cfg.Langfuse, name, log, metrics.Registry),
		report:   newReporter(cfg, name, log),
		logw:     lw, cancel: cancel, served: make(chan error, 1),
	}
	hooks := s.hooks(metrics)
	s.srv = &http.Server{
		Handler:           lingerUnread(s.router(metrics, hooks)),
		ConnContext:       withJSONErrConn,
		ReadHeaderTimeout: sec.ReadHeaderTimeout.Duration,
		MaxHeaderBytes:    sec.HeaderBytes(), // net/http reads HeaderSlack more (ADR-198)
		ReadTimeout:       sec.ReadTimeout.Duration,
		WriteTimeout:      sec.WriteTimeout.Duration,
		IdleTimeout:       sec.IdleTimeout.Duration,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return dctx },
	}
	// net/http's own text/plain answers to a request it could not parse
	// become DESIGN.md's JSON error body on the way out (malformed.go).
	var sln net.Listener = jsonErrListener{ln, sec.HeaderBytes()}
	s.serving = httpServing{s.srv, sln}
	if d.Serve != nil {
		if d.BareListener {
			sln = ln
		}
		s.serving = d.Serve(sln, s.srv, hooks)
	}
	go func() {
		err := s.serving.Serve()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()
	if addr := os.Getenv("LH_PPROF_ADDR"); addr != "" {
		startPprof(addr, log)
	}
	log.Info("listening", "op", "start", "addr", s.Addr, "version", version(), "config", cfg.Path,
		"auth", cfg.Auth.Token != "", "langfuse", s.langfuse != nil)
	return s, nil
}

// router is the one place the middleware order is defined:
// request id -> (the daemon's error writer) -> recoverer -> access log -> metrics -> answer end -> allowed_ips ->
// body timeout (ADR-110) -> auth -> Langfuse -> observer report ->
// timeout/body limit -> daemon routes.
func (s *Server) router(m *Metrics, h *RequestHooks) http.Handler {
	cfg := s.Config
	sec := cfg.Section(s.Name)
	r := chi.NewRouter()
	r.Use(headAsGet(r), extensionMethods(r), requestIDMW, errorWriterMW(s.daemon.ErrorWriter), recovererMW(s.Log), accessLogMW(h.access), m.middleware, answerEndMW(s.daemon.AnswerEnd), allowedIPsMW(cfg.Auth.allowedNets), bodyTimeoutMW(sec.ReadTimeout.Duration))
	r.Get("/health", s.health)
	if s.daemon.Public != nil {
		s.daemon.Public(r)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		// Method and path cut as in the access line: a 1 MiB head was a 1 MiB answer.
		writeError(w, r, errs.Errorf("route", errs.NotFound, "no route %s %s on %s", cutLogValue(r.Method, maxLogMethod), cutLogValue(r.URL.Path, maxLogPath), s.Name))
	})
	mux := r
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); allow != "" {
			w.Header().Set("Allow", allow) // RFC 9110 15.5.6: a 405 names what the route takes
		}
		writeError(w, r, errs.E("route", errs.Invalid, http.StatusMethodNotAllowed, "method "+cutLogValue(r.Method, maxLogMethod)+" not allowed on "+cutLogValue(r.URL.Path, maxLogPath)))
	})
	r.Group(func(r chi.Router) {
		r.Use(authMW(cfg.Auth.Token, cfg.Auth.SecondaryToken))
		r.Method(http.MethodGet, "/metrics", m.Handler())
		r.Group(func(r chi.Router) {
			r.Use(s.langfuse.middleware, s.report.middleware, limitsMW(sec.RequestTimeout.Duration, sec.MaxBodyBytes))
			if s.daemon.Routes != nil {
				s.daemon.Routes(r)
			}
		})
	})
	m.routesAtZero(routeList(r))
	return r
}

// routeList is every route pattern of r, once each.
func routeList(r chi.Routes) []string {
	seen := map[string]bool{}
	var out []string
	_ = chi.Walk(r, func(_ string, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !seen[route] {
			seen[route] = true
			out = append(out, route)
		}
		return nil
	})
	return out
}

// Health is the body of GET /health.
type Health struct {
	Status  string `json:"status"` // ok | degraded (200, Daemon.Check failed) | draining (503)
	Service string `json:"service"`
	Version string `json:"version"`
	Error   string `json:"error,omitempty"` // why degraded (to a request with the token, when auth is on)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Service: s.Name, Version: version()}
	status := http.StatusOK
	if s.draining.Load() {
		h.Status, status = "draining", http.StatusServiceUnavailable
	} else if s.daemon.Check != nil {
		if err := s.check.result(s.daemon.Check); err != nil {
			h.Status = "degraded"
			// Why is for the token's holders (the gateway's /v1/health
			// probe sends it): the reason names endpoints, buckets and
			// index names, and /health answers anyone (ADR-006 6.7).
			if checkAuth(r.Header.Get("Authorization"), []byte(s.Config.Auth.Token), []byte(s.Config.Auth.SecondaryToken)) == nil {
				h.Error = errs.Message(err)
			}
		}
	}
	WriteJSON(w, status, h)
}

// Bounds of Daemon.Check: a result is reused for healthCheckTTL, and one
// check runs at a time, under healthCheckTimeout (a /health waits for it
// at most that long).
const (
	healthCheckTTL     = 2 * time.Second
	healthCheckTimeout = time.Second
)

// healthCheck caches Daemon.Check's result.
type healthCheck struct {
	mu      sync.Mutex
	at      time.Time     // when err was found
	err     error         // the last result
	running chan struct{} // closed when the check in progress ends
}

func (c *healthCheck) result(check func(context.Context) error) error {
	c.mu.Lock()
	if !c.at.IsZero() && time.Since(c.at) < healthCheckTTL {
		err := c.err
		c.mu.Unlock()
		return err
	}
	done := c.running
	if done == nil {
		done = make(chan struct{})
		c.running = done
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), healthCheckTimeout)
			err := check(ctx)
			cancel()
			c.mu.Lock()
			c.at, c.err, c.running = time.Now(), err, nil
			c.mu.Unlock()
			close(done)
		}()
	}
	c.mu.Unlock()
	t := time.NewTimer(healthCheckTimeout + 100*time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C: // a check that ignores its ctx: report that, not the old result
		return errs.E("health", errs.Timeout, "the health check did not finish in "+healthCheckTimeout.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// telemetryFlushTimeout bounds the flush of Langfuse and observer
// batches at shutdown (each).
const telemetryFlushTimeout = 2 * time.Second

// Shutdown stops accepting, drains in-flight requests (bounded by the
// section's shutdown_timeout), closes the daemon, flushes Langfuse and
// observer queues and the log.
func (s *Server) Shutdown(ctx context.Context) error {
	var result error
	s.once.Do(func() {
		s.draining.Store(true)
		timeout := s.Config.Section(s.Name).ShutdownTimeout.Duration
		if timeout <= 0 {
			timeout = 20 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var errList []error
		// In-flight requests finish, for all but the last stretch of
		// shutdown_timeout; what still runs then (a chat stream, an SSE
		// subscription: open-ended by nature) has its context cancelled so
		// it ends with its own error frame, and what does not end even so
		// is closed. Either is the bounded drain working, not a failure:
		// the exit stays 0 (a chat stream held chatd's stop for 20 s and
		// made it exit 1).
		grace := min(timeout/4, 2*time.Second)
		drainCtx, cancelDrain := context.WithTimeout(ctx, timeout-grace)
		err := s.serving.Shutdown(drainCtx)
		cancelDrain()
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("requests still running at the end of the drain; cancelling them", "op", "shutdown", "grace_ms", grace.Milliseconds())
			s.cancel()
			err = s.serving.Shutdown(ctx)
		}
		if err != nil {
			s.Log.Warn("connections still open after shutdown_timeout; closed", "op", "shutdown", "err", err.Error())
			s.serving.Close()
		}
		s.cancel()
		if s.daemon.Close != nil {
			if err := s.daemon.Close(ctx); err != nil {
				errList = append(errList, fmt.Errorf("close: %w", err))
			}
		}
		// Tracing and observer reports are fail-open (ADR-005): their last
		// batches get a short time of their own to go out, and what a slow
		// or absent server does not take is dropped with a warning — it
		// neither holds the stop for shutdown_timeout nor fails it (a hung
		// Langfuse made every daemon exit 1 after 20 s, a failed unit).
		flush := func(what string, close func(context.Context) error) {
			fctx, cancel := context.WithTimeout(context.Background(), telemetryFlushTimeout)
			defer cancel()
			if err := close(fctx); err != nil {
				s.Log.Warn(what+" not flushed at shutdown; its last events are dropped", "op", "shutdown", "err", err.Error())
			}
		}
		flush("langfuse", s.langfuse.Close)
		flush("observer report", s.report.close)
		s.Log.Info("stopped", "op", "shutdown")
		s.logw.Close()
		result = errors.Join(errList...)
	})
	return result
}

// WriteJSON writes v as JSON with status, the whole answer. On the
// harness's writer (every daemon route's w) the write is WriteAnswer's:
// cut after AnswerStall without progress (unless the section's
// write_timeout is in charge), Content-Length set. A client that sent a
// request and never read the answer held the handler, the answer's buffer
// and the connection for as long as it stayed connected (vectord's scroll
// with vectors, 45 MB; a catalog list; a pathway search); a slow client
// that keeps reading still gets everything. Another writer (a test's
// recorder) gets the answer as is. A daemon's wrapper of w (chatd's
// startWriter) is seen through by its Unwrap.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshalAnswer(w, v)
	if err != nil {
		return err
	}
	if s := harnessWriter(w); s != nil {
		return writeAnswer(w, s.answerBound, status, b)
	}
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// allowedMethods lists the methods mux routes r's path for, in the order
// of RFC 9110's method table, for a 405's Allow header ("" if none).
// chi computes the list too, but hands it only to its own 405 handler.
func allowedMethods(mux *chi.Mux, r *http.Request) string {
	path := routePath(r)
	var allow []string
	get := routes(mux, http.MethodGet, path)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if routes(mux, m, path) || (m == http.MethodHead && get) {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// headAsGet routes a HEAD request that no HEAD route takes to the GET
// route of its path, as RFC 9110 9.3.2 asks and net/http's own mux, nginx
// and MinIO do: the GET handler runs and net/http sends its head without
// the body. Every daemon's GET routes (/health, /metrics, lists, status)
// answered HEAD with 405 — curl -I and load-balancer HEAD probes saw a
// broken daemon. (chi's middleware.GetHead misses routes inside a
// mounted sub-router: its Match says yes to every method there.)
func headAsGet(mux *chi.Mux) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				path := r.URL.RawPath
				if path == "" {
					path = r.URL.Path
				}
				if rctx := chi.RouteContext(r.Context()); rctx != nil && !routes(mux, http.MethodHead, path) && routes(mux, http.MethodGet, path) {
					rctx.RouteMethod = http.MethodGet
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// routePath is the path chi routes r by.
func routePath(r *http.Request) string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if path == "" {
		path = "/" // as chi routes it: a CONNECT's authority-form target has no path
	}
	return path
}

// chiMethods are the methods chi routes (v5.5: QUERY too). It refuses any
// other — an extension method (RFC 9110 16.1: PROPFIND, MKCOL ...) or a
// lower-case "get" — with a 405 before it looks at the path.
var chiMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "QUERY"}

// extensionMethods routes a request whose method chi does not know by its
// path, as chi routes the others: to the route there that takes every
// method (r.Handle: the gateway's /v1 prefixes, forwarded unchanged to
// the daemon, whose own 405 names what it takes; chatd's /v1/chat/api/*),
// or to a 404 where no route is. chi answered both with a 405 of its own —
// naming all seven methods as allowed on an any-method route, and none on
// a path without a route. A path whose routes take some methods keeps its
// 405 naming them. The request keeps its own method; only the route
// lookup uses one the any-method route takes.
func extensionMethods(mux *chi.Mux) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rctx := chi.RouteContext(r.Context()); rctx != nil && !slices.Contains(chiMethods[:], r.Method) {
				path := routePath(r)
				if m, ok := anyMethodRoute(mux, path); ok {
					rctx.RouteMethod = m
				} else if !slices.ContainsFunc(chiMethods[:], func(m string) bool { return routes(mux, m, path) }) {
					rctx.RouteMethod = http.MethodGet // no route: chi's 404
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// anyMethodRoute returns a method that mux routes on path to a route
// registered for every method (Handle, HandleFunc), not a mounted
// sub-router's.
func anyMethodRoute(mux *chi.Mux, path string) (string, bool) {
	all := mux.Routes()
	for _, m := range chiMethods {
		p := mux.Find(chi.NewRouteContext(), m, path)
		if p == "" {
			continue
		}
		for _, rt := range all {
			if rt.Pattern == p && rt.SubRoutes == nil && rt.Handlers["*"] != nil {
				return m, true
			}
		}
	}
	return "", false
}

// routes reports whether rs routes method m on path to a handler of its
// own. chi's Match alone says yes to every method on the path of a
// sub-router mounted with Route or Mount (it registers the mount's own
// path, and that path plus "/", for all methods and decides inside the
// sub-router), so a 405 there named all seven: the sub-router is asked
// for its "/" instead.
func routes(rs chi.Routes, m, path string) bool {
	p := rs.Find(chi.NewRouteContext(), m, path)
	if p == "" {
		return false
	}
	mount := strings.TrimSuffix(p, "/") + "/*"
	for _, rt := range rs.Routes() {
		if rt.SubRoutes != nil && rt.Pattern == mount {
			return routes(rt.SubRoutes, m, "/")
		}
	}
	return true
}
