// Package admin owns the admin HTTP listener: GET /metrics (Prometheus
// text), GET /healthz, GET /readyz and, when enabled, /debug/pprof/. It is
// a cold path built on net/http. The wiring can add routes (the REST API,
// the UI) with Handle/HandleFunc.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"
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
	// Pprof serves net/http/pprof under /debug/pprof/ when true; otherwise
	// those paths answer 404.
	Pprof bool
	// Logger receives serve errors. nil discards them.
	Logger *slog.Logger
	// Timeouts of the http.Server; zero means the Default* constant.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server is the admin HTTP server. Create it with New, add routes with
// Handle/HandleFunc (before or after Start), then Start and Shutdown.
// Start must be called at most once; Addr and Shutdown after it. The
// other methods are safe for concurrent use.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	srv      *http.Server
	ln       net.Listener
	log      *slog.Logger
	stopping atomic.Bool
	served   chan struct{}
}

// New builds the server and its routes; it does not listen yet.
func New(opts Options) *Server {
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger, served: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Metrics != nil {
		s.mux.HandleFunc("GET /metrics", s.metrics)
	}
	if opts.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
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

// Handle registers h for pattern (http.ServeMux syntax, e.g.
// "GET /api/v1/status"). It panics on a conflicting pattern, like ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc registers f for pattern; see Handle.
func (s *Server) HandleFunc(pattern string, f http.HandlerFunc) { s.mux.HandleFunc(pattern, f) }

// Start listens (unless Options.Listener was given) and serves in the
// background. A listen error names the address.
func (s *Server) Start() error {
	ln := s.opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.opts.Addr)
		if err != nil {
			return fmt.Errorf("admin listen %s: %w", s.opts.Addr, err)
		}
	}
	s.ln = ln
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// BeginShutdown makes /readyz answer 503 while everything else keeps
// serving; call it when graceful stop starts so load balancers in front
// stop sending traffic while connections drain.
func (s *Server) BeginShutdown() { s.stopping.Store(true) }

// Shutdown marks the server not ready, stops accepting, and waits for
// in-flight admin requests until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
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
