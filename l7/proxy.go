// Package l7 is Sluice's HTTP/1.1 reverse proxy, served on the event loops
// of package engine (gnet), with fasthttp's header types as its parser and
// writer.
//
// For one HTTP frontend it owns: accepting (connection limits, the access
// list, refusals; serve.go), the client connection on its loop with the
// strict request pre-parser and the client timeouts (hconn.go, strict.go,
// timer.go), routing (route.go), header rewriting and hop-by-hop removal
// (headers.go, hop.go), client screening (guard.go: Guard, the Global
// connection gate, the backend RateLimit), the exchange that carries a
// request to a server and the response back, bodies streamed in both
// directions (exchange.go, exio.go, frame.go), backend connections pooled
// per loop (bconn.go), the wait for a server slot (queue.go), pipe mode for
// a side that cannot keep up (pipe.go), failure classification and retries
// (failure.go), and upgraded connections (tunnel.go). Server choice is
// delegated to package balance; metrics, the access log and passive health
// are fed through Observer. docs/http-parsing.md lists what the strict
// parser refuses, docs/l7-engine.md how the engine works and why.
package l7

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/sluicelb/sluice/engine"
)

// maxConnectRetries bounds retries of attempts where nothing was sent
// (connect failure). Other retries happen at most once.
const maxConnectRetries = 3

// Proxy is one HTTP frontend. Create it with New, run it with Serve, stop it
// with Shutdown. Update swaps the routing table while it runs. Safe for
// concurrent use.
type Proxy struct {
	frontend string
	log      *slog.Logger
	maxConns int
	maxHead  int
	table    atomic.Pointer[table]
	eng      *engine.Engine
	ownEng   bool

	active   atomic.Int64 // open client connections (tunnels and pipes included)
	refused  atomic.Int64
	refusing atomic.Int32  // goroutines writing 503s, bounded by maxRefusers
	draining atomic.Bool   // set by Shutdown: every response closes its connection
	drained  chan struct{} // capacity 1: "a connection closed while draining"
	tunnels  atomic.Int64
	pipes    pipeSet
	// tlsConfig, when set, terminates TLS on every connection (tls.go). It
	// is fixed at New: certificates change through it (certs.Server).
	tlsConfig  *tls.Config
	handshakes connSet // TLS handshakes in progress (closed by a forced shutdown)

	mu      sync.Mutex
	lns     []*net.TCPListener
	serving sync.WaitGroup
}

// Stats are live counters of a Proxy.
type Stats struct {
	ActiveConns int64 // open client connections (tunnels included)
	Refused     int64 // connections answered 503 for MaxConns or the Global gate since start
	Tunnels     int64 // open upgraded tunnels
}

// New validates opts and builds a Proxy. Errors name the frontend and the
// route or field concerned.
func New(opts Options) (*Proxy, error) {
	o := opts.withDefaults()
	t, err := compileTable(&o)
	if err != nil {
		return nil, err
	}
	p := &Proxy{frontend: o.Frontend, log: o.Logger, maxConns: o.MaxConns, maxHead: o.Limits.MaxHeaderBytes,
		drained: make(chan struct{}, 1), tlsConfig: o.TLS}
	p.table.Store(t)
	p.eng = o.Engine
	if p.eng == nil {
		// A Proxy of its own (tests, embedding) runs on one loop: backend
		// connections are pooled per loop, and one loop keeps one pool.
		e, err := engine.New(engine.Options{Loops: 1, Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("frontend %q: %w", o.Frontend, err)
		}
		if err := e.Start(); err != nil {
			return nil, fmt.Errorf("frontend %q: %w", o.Frontend, err)
		}
		p.eng, p.ownEng = e, true
	}
	registerTicker(p.eng)
	return p, nil
}

// Update swaps routes, the default backend, trusted proxies, the observer,
// timeouts and MaxBodyBytes atomically (requests in flight finish with the
// table they started with; timeouts apply to connections accepted later).
// MaxHeaderBytes may not grow past the value given to New; Frontend and
// MaxConns are fixed at New.
func (p *Proxy) Update(opts Options) error {
	u, err := p.Prepare(opts)
	if err != nil {
		return err
	}
	u.Commit()
	return nil
}

// Prepared is an Update validated and compiled by Prepare; Commit applies it.
type Prepared struct {
	p *Proxy
	t *table
}

// Prepare does everything Update does that can fail, without changing the
// running proxy, so that a caller applying several changes at once (a
// reload) can check them all before it commits any.
func (p *Proxy) Prepare(opts Options) (*Prepared, error) {
	o := opts.withDefaults()
	if o.Limits.MaxHeaderBytes > p.maxHead {
		return nil, fmt.Errorf("frontend %q: limits.max_header_bytes %d is larger than at start (%d); restart to grow it",
			p.frontend, o.Limits.MaxHeaderBytes, p.maxHead)
	}
	o.Frontend = p.frontend
	t, err := compileTable(&o)
	if err != nil {
		return nil, err
	}
	return &Prepared{p: p, t: t}, nil
}

// Commit swaps the prepared routing table in (atomically; it cannot fail).
func (u *Prepared) Commit() { u.p.table.Store(u.t) }

// ListenAndServe listens on addr (tcp) and serves until Shutdown.
func (p *Proxy) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("frontend %q: listen %s: %w", p.frontend, addr, err)
	}
	return p.Serve(ln)
}

// Serve accepts connections on ln (a *net.TCPListener) until Shutdown (then
// it returns nil) or until ln fails for good. Out-of-descriptor accept
// errors are retried with back-off, never returned.
func (p *Proxy) Serve(ln net.Listener) error { return p.serve(ln) }

// Shutdown drains: it stops accepting at once; every response from then on
// carries Connection: close and its connection closes after it; requests
// in flight, pipes and tunnels may finish; a connection that stays idle is
// closed only at ctx's deadline (or by its client_idle), never between two
// requests. It returns nil when every connection has closed, or at ctx's
// deadline closes whatever is left and returns ctx.Err().
func (p *Proxy) Shutdown(ctx context.Context) error { return p.shutdown(ctx) }

// Stats returns live counters.
func (p *Proxy) Stats() Stats {
	return Stats{ActiveConns: p.active.Load(), Refused: p.refused.Load(), Tunnels: p.tunnels.Load()}
}
