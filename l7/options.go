package l7

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
)

// Defaults applied by New for zero fields of Options.
const (
	DefaultClientHeader   = 10 * time.Second
	DefaultClientIdle     = 60 * time.Second
	DefaultClientRead     = 30 * time.Second
	DefaultClientWrite    = 30 * time.Second
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxConns       = 10000
)

// Timeouts are the client-side timeouts of a frontend. Zero fields take the
// Default* values; there is no "infinite".
type Timeouts struct {
	// ClientHeader bounds the arrival of a whole request head, from its first
	// byte (from accept for the first request of a connection). A client that
	// dribbles its head (slowloris) is closed at this deadline. Default 10s.
	ClientHeader time.Duration
	// ClientIdle bounds the wait for the first byte of the next request on a
	// keep-alive connection. Default 60s.
	ClientIdle time.Duration
	// ClientRead bounds each wait for request body bytes (an inactivity
	// timeout, so a large upload may take longer as long as it progresses).
	// Default 30s.
	ClientRead time.Duration
	// ClientWrite bounds each write of response bytes to the client (an
	// inactivity timeout, so a large download may take longer). Default 30s.
	ClientWrite time.Duration
	// TunnelIdle closes an upgraded (WebSocket) tunnel after this long without
	// traffic in either direction. Default: ClientIdle.
	TunnelIdle time.Duration
}

// Limits bound what a client may send.
type Limits struct {
	// MaxHeaderBytes bounds the request head (request line, fields, CRLFs)
	// and also a chunked body's trailer section; over it the answer is 431.
	// Default 64 KiB. Heads are held by gnet until complete (nothing per
	// connection is sized by it).
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; 0 means no limit. A Content-Length
	// over it is answered 413 before anything is forwarded; a chunked body is
	// counted while it streams and cut with 413 (the backend connection is
	// then aborted, so the backend never gets a complete request).
	MaxBodyBytes int64
}

// Options configure a Proxy (one HTTP frontend). New copies it; the slices
// and Backends must not be changed afterwards (build new ones and call Update).
type Options struct {
	// Frontend is the frontend name, used in Records and logs.
	Frontend string
	// Addr is the listen address used by ListenAndServe; Serve takes its own
	// listener instead.
	Addr string
	// Routes are matched in order, first match wins (see Route).
	Routes []Route
	// Default is the backend for requests no route matches; nil means 404.
	Default *Backend
	// Timeouts and Limits: see their types.
	Timeouts Timeouts
	Limits   Limits
	// MaxConns bounds concurrent client connections; excess connections get a
	// 503 and are closed. Default 10000; negative means unlimited.
	MaxConns int
	// Global, if not nil, is the process-wide connection bound (contract
	// max_connections) shared with the other frontends, l4 ones included:
	// each accepted connection takes a place (after MaxConns) and gives it
	// back when it closes; when none is free the connection is answered 503
	// and closed, as for MaxConns. nil = no global bound. Update may swap it;
	// the swap applies to connections accepted later.
	Global *gate.Gate
	// Guard, if not nil, screens clients (AllowClient: at accept for a peer
	// that is not a trusted proxy, 403 and close; per request, against the
	// client X-Forwarded-For names, for a trusted proxy's requests: 403)
	// and requests (AllowRequest, after routing: 429 with Retry-After).
	// nil = no checks. Update swaps it (the accept-time check of the new
	// Guard applies to connections accepted later).
	Guard Guard
	// TrustedProxies are peers whose X-Forwarded-For/-Proto/-Host are kept
	// (X-Forwarded-For is appended to); from any other peer they are
	// overwritten. The client IP (X-Real-IP, ip_hash key, Record.ClientIP) is
	// then the right-most X-Forwarded-For address that is not trusted.
	// Matched by package acl, as access lists are: an IPv4-mapped prefix
	// (::ffff:10.0.0.0/104) names IPv4 peers, host bits are ignored.
	TrustedProxies []netip.Prefix
	// ProxyProtocol makes every connection from a peer in TrustedProxies
	// start with a PROXY protocol header (v1 or v2) that names the client;
	// see proxyproto.go. Update applies it to connections accepted later.
	ProxyProtocol bool
	// Logger receives process logs (never per request). Default slog.Default().
	Logger *slog.Logger
	// Observer, if not nil, sees every finished request and every backend
	// attempt (metrics, access log, passive health). See Observer.
	Observer Observer
	// TLS, if not nil, terminates TLS on every connection with this
	// config: certificates chosen by SNI (certs.Server), handshake bounded
	// by Timeouts.ClientHeader from accept, X-Forwarded-Proto https. Fixed
	// at New (Update ignores it): the config is meant to live as long as
	// the listener, swapping certificates through its GetCertificate.
	TLS *tls.Config
	// TLSObserver, if not nil, sees handshake outcomes. Update swaps it.
	TLSObserver TLSObserver
	// HSTS > 0 adds Strict-Transport-Security: max-age=<seconds> to every
	// response on a TLS connection. Update swaps it.
	HSTS time.Duration
	// Engine carries the connections on its event loops (shared with the
	// tcp frontends). nil: the Proxy starts its own with one loop, stopped
	// by Shutdown.
	Engine *engine.Engine
}

// Route is one routing rule. Empty match fields match everything.
type Route struct {
	// Name identifies the route in errors and Records.
	Name string
	// Host is an exact host ("api.example.com") or a leading wildcard
	// ("*.example.com", which matches any name ending in ".example.com" but
	// not "example.com" itself). Case-insensitive; the request's port is
	// ignored. Empty matches any host.
	Host string
	// PathPrefix must prefix the request path (after fasthttp's path
	// normalization, the same path a backend would resolve). Empty matches all.
	PathPrefix string
	// Methods, if not empty, lists the accepted methods (case-sensitive tokens, as HTTP says).
	Methods []string
	// Backend receives the matching requests. Required.
	Backend *Backend
	// RequestHeaders and ResponseHeaders are applied after the proxy headers:
	// Remove first, then Set.
	RequestHeaders  HeaderOps
	ResponseHeaders HeaderOps
}

// HeaderOps sets and removes header fields.
type HeaderOps struct {
	Set    []HeaderField
	Remove []string
}

// HeaderField is one name/value pair.
type HeaderField struct {
	Name, Value string
}

func (o *Options) withDefaults() Options {
	c := *o
	t := &c.Timeouts
	if t.ClientHeader <= 0 {
		t.ClientHeader = DefaultClientHeader
	}
	if t.ClientIdle <= 0 {
		t.ClientIdle = DefaultClientIdle
	}
	if t.ClientRead <= 0 {
		t.ClientRead = DefaultClientRead
	}
	if t.ClientWrite <= 0 {
		t.ClientWrite = DefaultClientWrite
	}
	if t.TunnelIdle <= 0 {
		t.TunnelIdle = t.ClientIdle
	}
	if c.Limits.MaxHeaderBytes <= 0 {
		c.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Limits.MaxBodyBytes < 0 {
		c.Limits.MaxBodyBytes = 0
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
