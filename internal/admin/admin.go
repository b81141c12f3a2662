// Package admin owns the admin HTTP listener (contract §3 and §8): GET
// /metrics, /healthz and /readyz, and the REST API under /api/v1/ with its
// users, sessions, API keys, roles, audit log and live WebSocket stream,
// plus /debug/pprof/ when enabled. It is a cold path built on net/http.
//
// Every route sits in one table (routes.go) that names its minimum role;
// the guard in front of every handler authenticates (Bearer API key or
// session cookie), enforces the role and the CSRF token rule, and bounds
// the request body. The API reads and changes the running process only
// through state.Control; it never imports internal/app.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/state"
	"github.com/sluicelb/sluice/ratelimit"
)

// Defaults for the zero values of Options.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second // pprof profiles run up to 30 s
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// MetricsContentType is the Content-Type of GET /metrics.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// Options configures New.
type Options struct {
	// Addr is the listen address (host:port), used when Listener is nil.
	Addr string
	// Listener, when non-nil, is served instead of listening on Addr; the
	// Server closes it on Shutdown.
	Listener net.Listener
	// Ready reports readiness for GET /readyz (every listener open, config
	// loaded). nil means always ready. It must be safe for concurrent use.
	Ready func() bool
	// Metrics writes the Prometheus exposition for GET /metrics (e.g.
	// (*metrics.Registry).WritePrometheus). nil: /metrics answers 404.
	Metrics func(w io.Writer)
	// Pprof serves net/http/pprof under /debug/pprof/ (admin role) when
	// true; otherwise those paths answer 404.
	Pprof bool
	// Logger receives serve errors and audit records. nil discards them.
	Logger *slog.Logger
	// Timeouts of the http.Server; zero means the Default* constant.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// Control is the running process the API reads and changes. nil: the
	// API routes exist and are protected, and answer 503 not_available.
	Control state.Control
	// StateDir keeps API keys (hashed), sessions and audit.log; "" keeps
	// sessions in memory, refuses to create API keys and audits to the
	// process log only. Created 0700 by Start.
	StateDir string
	// Settings are the reloadable settings at start (see Configure).
	Settings Settings
	// SessionIdle and SessionLifetime end login sessions; zero means
	// auth.DefaultSessionIdle / auth.DefaultSessionLifetime.
	SessionIdle, SessionLifetime time.Duration
	// LoginLimit bounds login attempts per client address and per user
	// name; zero means DefaultLoginLimit.
	LoginLimit LoginLimit
	// StreamInterval is the stream's ping interval; zero: 20s.
	StreamPing time.Duration
	// Now is the clock of sessions and keys (tests); nil: time.Now.
	Now func() time.Time
}

// Settings are what a reload may change (Configure).
type Settings struct {
	// Users may log in (admin.users).
	Users []auth.UserSpec
	// ProtectMetrics puts GET /metrics behind the viewer role.
	ProtectMetrics bool
	// TLSCert and TLSKey are the admin listener's certificate files; when
	// both are set at Start the listener serves TLS, and a later Configure
	// re-reads them (turning TLS on or off needs a restart).
	TLSCert, TLSKey string
}

// LoginLimit is a GCRA rate (per second) and burst of login attempts.
type LoginLimit struct {
	PerClientRate  float64
	PerClientBurst int
	PerUserRate    float64
	PerUserBurst   int
}

// DefaultLoginLimit: 10 attempts at once then one every 6 s per client
// address; 5 then one every 12 s per user name.
var DefaultLoginLimit = LoginLimit{PerClientRate: 1.0 / 6, PerClientBurst: 10, PerUserRate: 1.0 / 12, PerUserBurst: 5}

// Server is the admin HTTP server. Create it with New, add routes with
// Handle/HandleFunc (before or after Start), then Start and Shutdown.
// Start must be called at most once; Addr and Shutdown after it. The
// other methods are safe for concurrent use.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	probe    *http.ServeMux // the API patterns alone, to tell 404 from 405
	routesMu sync.Mutex
	routes   []route // the role table as registered
	srv      *http.Server
	ln       net.Listener
	log      *slog.Logger
	stopping atomic.Bool
	served   chan struct{}
	done     chan struct{} // closed by BeginShutdown: streams end
	doneOnce sync.Once

	settings atomic.Pointer[settingsRT]
	cert     atomic.Pointer[tls.Certificate]
	tlsOn    bool
	sessions *auth.Sessions
	keys     *auth.Keys
	audit    *audit.Log
	byClient *ratelimit.Table
	byUser   *ratelimit.Table
	checking chan struct{} // bounds concurrent bcrypt checks
	streams  atomic.Int64
}

// settingsRT is Settings in the form requests read.
type settingsRT struct {
	Settings
	users *auth.Users
}

// New builds the server and its routes; it does not listen yet.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LoginLimit == (LoginLimit{}) {
		opts.LoginLimit = DefaultLoginLimit
	}
	if opts.StreamPing <= 0 {
		opts.StreamPing = defaultStreamPing
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), probe: http.NewServeMux(), log: opts.Logger,
		served: make(chan struct{}), done: make(chan struct{}), checking: make(chan struct{}, 2)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	users, err := auth.NewUsers(opts.Settings.Users)
	if err != nil {
		s.log.Error("admin users ignored", "error", err.Error())
		users, _ = auth.NewUsers(nil)
	}
	s.settings.Store(&settingsRT{Settings: opts.Settings, users: users})
	s.register()
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handle registers h for pattern (http.ServeMux syntax with a method, e.g.
// "GET /ui/") behind the guard with the minimum role given (auth.RoleNone:
// public), adding it to the route table. It panics on a conflicting
// pattern, like ServeMux.
func (s *Server) Handle(pattern string, role auth.Role, h http.Handler) {
	method, path, ok := splitPattern(pattern)
	if !ok {
		panic("admin: pattern without a method: " + pattern)
	}
	s.add(route{method: method, path: path, role: role, h: h.ServeHTTP})
}

// Start opens the state (API keys, sessions, audit log in StateDir),
// listens (unless Options.Listener was given; over TLS when Settings name a
// certificate) and serves in the background. An error names the address,
// file or directory.
func (s *Server) Start() error {
	if err := s.openState(); err != nil {
		return err
	}
	var cfgTLS *tls.Config
	if st := s.opts.Settings; st.TLSCert != "" && st.TLSKey != "" {
		cert, err := loadCert(st.TLSCert, st.TLSKey)
		if err != nil {
			return err
		}
		s.cert.Store(cert)
		s.tlsOn = true
		cfgTLS = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
	}
	ln := s.opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.opts.Addr)
		if err != nil {
			return fmt.Errorf("admin listen %s: %w", s.opts.Addr, err)
		}
	}
	s.ln = ln
	if cfgTLS != nil {
		ln = tls.NewListener(ln, cfgTLS)
	}
	s.firstAdminHint()
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// openState opens the key store, the sessions and the audit log.
func (s *Server) openState() error {
	dir := s.opts.StateDir
	if dir != "" {
		if err := mkdirPrivate(dir); err != nil {
			return fmt.Errorf("admin.state_dir %s: %w", dir, err)
		}
	}
	keys, err := auth.OpenKeys(dir, s.opts.Now)
	if err != nil {
		return fmt.Errorf("admin.state_dir %s: %w", dir, err)
	}
	sdir := ""
	if dir != "" {
		sdir = dir + "/sessions"
	}
	sess, err := auth.NewSessions(auth.SessionOptions{Dir: sdir, Idle: s.opts.SessionIdle,
		Lifetime: s.opts.SessionLifetime, Now: s.opts.Now, Logger: s.log})
	if err != nil {
		return fmt.Errorf("admin.state_dir %s: %w", dir, err)
	}
	ll := s.opts.LoginLimit
	byClient, err := ratelimit.NewTable(ratelimit.TableOptions{Rate: ll.PerClientRate, Burst: ll.PerClientBurst, MaxKeys: 4096})
	if err != nil {
		return fmt.Errorf("admin login limit: %w", err)
	}
	byUser, err := ratelimit.NewTable(ratelimit.TableOptions{Rate: ll.PerUserRate, Burst: ll.PerUserBurst, MaxKeys: 4096})
	if err != nil {
		return fmt.Errorf("admin login limit: %w", err)
	}
	s.keys, s.sessions, s.byClient, s.byUser = keys, sess, byClient, byUser
	s.audit = audit.New(dir, s.log)
	return nil
}

// Configure prepares reloadable settings: users (a session whose user is
// gone or changed role follows at its next request), protect_metrics, and
// the TLS certificate files (re-read when TLS is on). Nothing changes until
// the returned commit is called, so that a reload can prepare everything
// first and commit only when nothing else can fail.
func (s *Server) Configure(st Settings) (commit func(), err error) {
	users, err := auth.NewUsers(st.Users)
	if err != nil {
		return nil, err
	}
	var cert *tls.Certificate
	if s.tlsOn && st.TLSCert != "" && st.TLSKey != "" {
		if cert, err = loadCert(st.TLSCert, st.TLSKey); err != nil {
			return nil, err
		}
	}
	return func() {
		switch {
		case cert != nil:
			s.cert.Store(cert)
		case s.tlsOn:
			s.log.Warn("admin.tls removed: the admin listener keeps TLS until the next restart")
		case st.TLSCert != "" && st.TLSKey != "" && s.ln != nil:
			s.log.Warn("admin.tls added: it takes effect at the next restart")
		}
		old := s.settings.Swap(&settingsRT{Settings: st, users: users})
		if old != nil && old.users.Len() > 0 && users.Len() == 0 {
			s.firstAdminHint()
		}
	}, nil
}

func loadCert(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("admin.tls: cannot load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &c, nil
}

// firstAdminHint logs how to create the first admin when nobody can log in.
func (s *Server) firstAdminHint() {
	if s.settings.Load().users.Len() > 0 || s.keys == nil || s.keys.Len() > 0 {
		return
	}
	s.log.Warn("the admin API has no users and no API keys: every request but /metrics, /healthz and /readyz answers 401. " +
		"To create the first admin, run `sluice hash-password` (it reads the password on stdin and prints a bcrypt hash), " +
		`then add it to the configuration as admin.users: [{name: admin, password_hash: "<hash>", role: admin}] and reload (SIGHUP)`)
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// BeginShutdown makes /readyz answer 503 and changes answer 503 while
// reads keep serving, and ends the live streams (they reconnect to the
// next process); call it when graceful stop starts so load balancers in
// front stop sending traffic while connections drain.
func (s *Server) BeginShutdown() {
	s.stopping.Store(true)
	s.doneOnce.Do(func() { close(s.done) })
}

// Shutdown marks the server not ready, stops accepting, and waits for
// in-flight admin requests until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.BeginShutdown()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if s.ln != nil {
		select {
		case <-s.served:
		case <-ctx.Done():
		}
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case s.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down")
	case s.opts.Ready != nil && !s.opts.Ready():
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready")
	default:
		io.WriteString(w, "ok")
	}
}

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", MetricsContentType)
	w.Header().Set("Cache-Control", "no-store")
	s.opts.Metrics(w)
}
