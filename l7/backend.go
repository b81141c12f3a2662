package l7

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/ratelimit"
)

// Backend defaults applied by NewBackend to zero fields.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	DefaultIdleTimeout     = time.Second
	DefaultMaxConnWait     = 100 * time.Millisecond
)

// BackendOptions configure a Backend.
type BackendOptions struct {
	// Name is the backend name (Records, logs).
	Name string
	// ConnectTimeout bounds a dial to a server. Default 2s.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds each wait on a server: for the response head
	// after the request was sent, and then between response body reads (and
	// for each request body write). 504 when it expires before the head.
	// Default 30s.
	ResponseTimeout time.Duration
	// IdleTimeout closes pooled keep-alive connections idle this long.
	// Default 1s: below the keep-alive timeout of common servers (Gunicorn
	// 2s, Node.js and Apache 5s), so sluice closes an idle connection before
	// the server does. A connection the server closed anyway is noticed
	// before reuse (bpool.get), and a request it breaks is retried once on a
	// new connection (FailStale, FailStaleUnsent).
	IdleTimeout time.Duration
	// MaxConnsPerServer bounds connections per server; 0 = unlimited.
	// (balance.Options.MaxConnsPerServer should carry the same value so
	// Pick skips full servers.)
	MaxConnsPerServer int
	// MaxConnWait is how long a request waits for a free connection when
	// MaxConnsPerServer is reached, before trying another server. Default 100ms.
	MaxConnWait time.Duration
	// RateLimit, if not nil, is the whole-backend request limit (contract
	// §2a backends[].rate_limit), shared by every frontend routing here and
	// checked with key 0 before a server is picked. Over it the client gets
	// 429 with Retry-After and nothing reaches a server. The Rule is not
	// owned: the caller builds it (ratelimit.NewRule, Keyed false) and may
	// share it. nil = no limit.
	RateLimit *ratelimit.Rule
	// TLS, when Enabled, speaks TLS to the servers (pooled connections and
	// tunnels). Default off.
	TLS TLSOptions
	// Sticky, when set, pins clients to servers by cookie (sticky.go).
	Sticky StickyOptions
}

func (o BackendOptions) withDefaults() BackendOptions {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConnsPerServer < 0 {
		o.MaxConnsPerServer = 0
	}
	if o.MaxConnWait <= 0 {
		o.MaxConnWait = DefaultMaxConnWait
	}
	return o
}

// Backend is a named group of servers behind a *balance.Balancer; each
// server carries its upstream (options, dialer, connection count) in its
// Ext(balance.ExtL7) slot, and its idle connections are pooled per event
// loop (bconn.go). Safe for concurrent use; Update swaps the balancer
// atomically.
type Backend struct {
	opts   BackendOptions
	bal    atomic.Pointer[balance.Balancer]
	sticky atomic.Pointer[stickyTable] // nil: sticky sessions off
	mu     sync.Mutex                  // serializes attaching upstreams
}

// upstream is what a Backend keeps in a server's ExtL7 slot.
type upstream struct {
	opts   BackendOptions
	srv    *balance.Server
	tls    *tls.Config // nil: plain TCP
	dialer net.Dialer
	open   atomic.Int64 // connections: pooled, busy, dialing, piped
	// retired: the server's options changed and a new upstream replaced
	// this one; its connections close when their request ends.
	retired atomic.Bool
}

// NewBackend builds a Backend over bal and attaches an upstream to each of
// its servers that has none yet. A server that already carries the upstream
// of another Backend (a reload that changed the options) keeps it until
// Update: building a Backend never changes what running requests use.
func NewBackend(opts BackendOptions, bal *balance.Balancer) (*Backend, error) {
	if bal == nil {
		return nil, fmt.Errorf("backend %q: nil balancer", opts.Name)
	}
	b := &Backend{opts: opts.withDefaults()}
	b.mu.Lock()
	for _, s := range bal.Servers() {
		if _, ok := s.Ext(balance.ExtL7).(*upstream); !ok {
			b.attach(s)
		}
	}
	b.bal.Store(bal)
	b.sticky.Store(newStickyTable(&b.opts, bal.Servers()))
	b.mu.Unlock()
	return b, nil
}

// Name returns the backend name.
func (b *Backend) Name() string { return b.opts.Name }

// Balancer returns the current balancer.
func (b *Backend) Balancer() *balance.Balancer { return b.bal.Load() }

// Update switches to bal (a reload). Servers that stay (the same *Server, as
// balance keeps them by identity) keep their upstream and its pooled
// connections; new servers get one. Requests in flight finish on the old
// balancer. Call from one goroutine at a time.
func (b *Backend) Update(bal *balance.Balancer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range bal.Servers() {
		b.attach(s)
	}
	b.bal.Store(bal)
	b.sticky.Store(newStickyTable(&b.opts, bal.Servers()))
}

func (b *Backend) attach(s *balance.Server) *upstream {
	if u, ok := s.Ext(balance.ExtL7).(*upstream); ok && u.opts.Equal(b.opts) {
		return u
	} else if ok {
		// Options changed: a new upstream; the old one's idle connections
		// close now, busy ones when their requests end.
		u.retired.Store(true)
		closePools(u)
	}
	u := &upstream{opts: b.opts, srv: s, tls: b.opts.TLS.clientConfig(s.Addr()),
		dialer: net.Dialer{Timeout: b.opts.ConnectTimeout, KeepAlive: 15 * time.Second}}
	s.SetExt(balance.ExtL7, u)
	return u
}

// upstreamOf returns the server's upstream, attaching one (once) to a server
// that was added to the balancer with balance.Balancer.Update directly.
func (b *Backend) upstreamOf(s *balance.Server) *upstream {
	if u, ok := s.Ext(balance.ExtL7).(*upstream); ok {
		return u
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.attach(s)
}
