// Package l7 is Sluice's HTTP/1.1 reverse proxy, built on fasthttp.
//
// It owns, for one HTTP frontend: the listener wrapper (connection limit,
// accept back-off), the strict request pre-parser and client timeouts
// (conn.go, strict.go), routing (route.go), header rewriting and hop-by-hop
// removal (headers.go, hop.go), client screening (guard.go: Guard, the
// Global connection gate, the backend RateLimit), forwarding with streaming
// bodies over one keep-alive connection pool (a fasthttp.HostClient) per
// server, with sluice's own allocation-free request writer and response body
// framer (backend.go, transport.go), failure classification and retries
// (failure.go), and WebSocket tunnels (upgrade.go). Server choice is
// delegated to package balance; metrics, the access log and passive health
// are fed through Observer. docs/http-parsing.md lists what the strict
// parser refuses and what fasthttp alone would let through.
package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/valyala/fasthttp"
)

// maxConnectRetries bounds retries of attempts where nothing was sent
// (connect failure, pool full). Other retries happen at most once.
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
	srv      *fasthttp.Server
	refused  atomic.Int64
	refusing atomic.Int32 // goroutines writing 503s, bounded by maxRefusers
	tunnels  tunnelSet
	// draining is set by Shutdown: every response from then on carries
	// Connection: close, and a connection closing wakes drained.
	draining atomic.Bool
	drained  chan struct{} // capacity 1: "a connection closed while draining"

	mu   sync.Mutex
	lns  []*listener
	shut bool // Shutdown was called: Serve accepts nothing more

	// The event-loop engine (loop mode; see serve.go).
	loop    bool
	eng     *engine.Engine
	ownEng  bool
	active  atomic.Int64 // open client connections (loop mode)
	pipes   pipeSet
	tlns    []*net.TCPListener
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
	p.tunnels.m = make(map[*tunnel]struct{})
	if useLoop(o) {
		if err := p.initLoop(o); err != nil {
			return nil, err
		}
		return p, nil
	}
	concurrency := o.MaxConns + maxRefusers
	if o.MaxConns < 0 {
		concurrency = 0 // fasthttp default (256 Ki)
	}
	p.srv = &fasthttp.Server{
		Handler:      p.serve,
		ErrorHandler: p.parseError,
		Name:         "",
		Concurrency:  concurrency,
		// The head must fit fasthttp's read buffer; clientConn enforces
		// MaxHeaderBytes itself (431) before fasthttp sees the head.
		ReadBufferSize: o.Limits.MaxHeaderBytes + 4096,
		// Response bodies are copied through the write buffer: 4 KiB (the
		// default) cost one write syscall per 4 KiB, three times HAProxy's
		// CPU on 64 KiB responses. Pooled, and given back while idle.
		WriteBufferSize: 32 << 10,
		// Timeouts are enforced by clientConn (see Timeouts); fasthttp's
		// whole-fhExchange budgets would cut long streams.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		SecureErrorLogMessage:        true,
		// Shutdown is sluice's own (fasthttp's closes keep-alive
		// connections between two requests: see Proxy.Shutdown).
		// Idle keep-alive connections give their read and write buffers back
		// to the pools (~70 KiB each otherwise).
		ReduceMemoryUsage:             true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fhLogger{o.Logger},
	}
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

// Serve accepts connections on ln until Shutdown (then it returns nil) or
// until ln fails for good. Out-of-descriptor accept errors are retried with
// back-off, never returned.
func (p *Proxy) Serve(ln net.Listener) error {
	if p.loop {
		return p.serveLoop(ln)
	}
	l := newListener(ln, p)
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	p.lns = append(p.lns, l)
	p.mu.Unlock()
	err := p.srv.Serve(l)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown drains the proxy (graceful stop, binary upgrade, a frontend a
// reload retired). It stops accepting at once: on a listening socket shared
// with a new process, that process takes every new connection. Requests in
// flight and tunnels go on; every response from now on carries Connection:
// close, and its connection is closed once the response is written, so a
// keep-alive client learns from its next answer to open a new connection.
// A connection is never closed under a request or with request bytes
// unread: one that stays idle is closed only at the end of the drain —
// ctx's deadline, or its own client_idle timeout — because closing an idle
// keep-alive connection races with the request its client may be sending
// at that moment (fasthttp's own Shutdown does that every 100 ms, which cost
// requests during upgrades).
//
// Shutdown returns nil when every connection has closed, or, at ctx's
// deadline, closes whatever is left and returns ctx.Err().
func (p *Proxy) Shutdown(ctx context.Context) error {
	if p.loop {
		return p.shutdownLoop(ctx)
	}
	p.draining.Store(true)
	p.mu.Lock()
	p.shut = true
	lns := append([]*listener(nil), p.lns...)
	p.mu.Unlock()
	for _, l := range lns {
		_ = l.Close() // fasthttp's Serve returns; its connections are served on
	}
	err := p.waitDrained(ctx, lns)
	if err == nil {
		err = p.tunnels.wait(ctx)
	}
	if err != nil {
		p.tunnels.closeAll()
		for _, l := range lns {
			l.closeAll()
		}
	}
	return err
}

// waitDrained waits until no client connection of lns is open, or ctx ends.
func (p *Proxy) waitDrained(ctx context.Context, lns []*listener) error {
	for {
		open := int64(0)
		for _, l := range lns {
			open += l.active.Load()
		}
		if open == 0 {
			return nil
		}
		select {
		case <-p.drained: // a connection closed: count again
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stats returns live counters.
func (p *Proxy) Stats() Stats {
	s := Stats{Refused: p.refused.Load(), Tunnels: p.tunnels.n.Load()}
	if p.loop {
		s.ActiveConns = p.active.Load()
		return s
	}
	p.mu.Lock()
	for _, l := range p.lns {
		s.ActiveConns += l.active.Load()
	}
	p.mu.Unlock()
	return s
}

// serve is the fasthttp handler: one request.
func (p *Proxy) serve(ctx *fasthttp.RequestCtx) {
	cc, _ := ctx.Conn().(*clientConn)
	t := p.table.Load()
	ex := acquireFhExchange(p, t, ctx, cc)
	if cc != nil && cc.denied {
		ex.localError(ctx, FailDenied)
		return
	}
	if cc != nil && cc.reject != 0 {
		ex.localError(ctx, violationFailure(cc.viol))
		return
	}
	req := &ctx.Request
	h := &req.Header
	clientClose := h.ConnectionClose()
	upgrade := cc != nil && cc.upgrade && h.ConnectionUpgrade()
	if upgrade {
		ex.upgrade = append(ex.upgrade[:0], h.Peek(fasthttp.HeaderUpgrade)...)
	}
	ex.scratch = stripHopRequest(h, ex.scratch)
	h.Del(fasthttp.HeaderExpect) // the 100-continue was answered by the proxy
	peer := ex.rec.ClientIP
	trusted := t.trusted.Contains(peer)
	client, buf := setForwarded(t, h, peer, trusted, ex.isTLS(), ctx.Host(), ex.buf)
	ex.buf = buf
	ex.rec.ClientIP = client
	// A trusted proxy relays many clients over one connection: the access
	// lists judge each request's client (the accept-time check skipped it).
	if t.guard != nil && (trusted || cc == nil || cc.aclEach) && !t.guard.AllowClient(client) {
		ex.localError(ctx, FailDenied)
		return
	}

	r := t.match(ctx.Host(), ctx.Path(), ctx.Method())
	be := t.def
	if r != nil {
		be = r.backend
		ex.rec.Route = r.name
	}
	if be == nil {
		ex.localError(ctx, FailNoRoute)
		return
	}
	ex.rec.Backend = be.opts.Name
	if !ex.allowRequest(req, be, client) {
		ex.localError(ctx, FailRateLimited)
		return
	}
	if r != nil {
		r.reqHeaders.applyRequest(h)
	}
	if ex.isTLS() {
		req.URI().SetScheme("http")
	}
	if upgrade {
		p.tunnel(ctx, ex, be)
		return
	}
	cl := h.ContentLength()
	hasBody := cl > 0 || cl == -1
	if cl == -1 && cc != nil {
		if err := cc.primeBody(); err != nil {
			ex.localError(ctx, classify(err, cc))
			return
		}
	}
	if !p.forward(ctx, ex, be, client, hasBody) {
		return
	}
	resp := &ctx.Response
	ex.resp.Header.CopyTo(&resp.Header)
	ex.scratch = stripHopResponse(&resp.Header, ex.scratch)
	if clientClose || p.draining.Load() {
		resp.SetConnectionClose()
	}
	if ex.setCookie != nil {
		resp.Header.AddBytesKV(strSetCookie, ex.setCookie)
	}
	if t.hsts != nil && ex.isTLS() {
		resp.Header.SetCanonical(strHSTS, t.hsts)
	}
	if r != nil {
		r.resHeaders.applyResponse(&resp.Header)
	}
	ex.rec.Status = resp.StatusCode()
	if ex.up.active {
		n := ex.resp.Header.ContentLength()
		if n < 0 {
			n = -1
		}
		ex.body = &ex.up
		resp.SetBodyStream(ex, n) // ex.CloseWithError finishes the request
		return
	}
	ex.finish()
}

// forward sends the request to a server of be, retrying as failure.go
// allows. On success ex.resp holds the response and ex.srv the server, and it
// returns true. Otherwise it has answered the client and finished ex.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, ex *fhExchange, be *Backend, client netip.Addr, hasBody bool) bool {
	key := balance.KeyIP(client)
	idem := isIdempotent(ctx.Method())
	bal := be.bal.Load()
	sticky, pref := be.stickyPreference(&ctx.Request.Header)
	fail, connectRetries, otherRetries := FailNoServer, 0, 0
	for {
		var srv *balance.Server
		if sticky != nil && ex.rec.Attempts == 0 {
			srv, _ = bal.PickPreferred(pref, key, &ex.tried)
		} else {
			srv = bal.Pick(key, &ex.tried)
		}
		if srv == nil && fail == FailNoServer && be.allFull(bal) {
			// Every usable server at max_connections_per_server: wait in a
			// short queue (MaxConnWait) for one to free, then 503.
			if srv = be.queue(bal, key, &ex.tried); srv == nil {
				fail = FailPoolFull
			}
		}
		if srv == nil {
			break
		}
		ex.rec.Attempts++
		u := be.upstreamOf(srv)
		ex.rec.Server, ex.rec.ServerAddr = srv, srv.Addr()
		if len(ctx.Request.URI().Host()) == 0 {
			// HTTP/1.0 without Host: name the server, as a backend needs one.
			ctx.Request.URI().SetHost(srv.Addr())
		}
		pp := ex.proxyHeader(srv) // nil unless srv has send_proxy (proxyproto.go)
		err := u.roundTrip(&ctx.Request, &ex.resp, &ex.up, false, pp)
		f := classify(err, ex.cc)
		if f.RetryFresh() && f.RetrySafe(idem, hasBody) {
			// The server had closed the pooled connection: once more, on a
			// new connection to the same server (nothing to report).
			err = u.roundTrip(&ctx.Request, &ex.resp, &ex.up, true, pp)
			f = classify(err, ex.cc)
		}
		if err == nil && ex.resp.StatusCode() >= 500 {
			f = FailStatus5xx
		}
		if ex.obs != nil {
			ex.obs.BackendAttempt(srv, f)
		}
		if err == nil {
			ex.srv = srv
			ex.rec.Failure = f
			if sticky != nil && srv != pref {
				ex.setCookie = sticky.setCookie(srv, ex.isTLS())
			}
			return true
		}
		srv.Release()
		fail = f
		if f.RetryFresh() || !f.RetrySafe(idem, hasBody) {
			break // a stale connection that may not be retried is answered 502
		}
		if failures[f].retry == retryAlways {
			if connectRetries++; connectRetries > maxConnectRetries {
				break
			}
		} else if otherRetries++; otherRetries > 1 {
			break
		}
	}
	ex.localError(ctx, fail)
	return false
}

// queue waits up to MaxConnWait for a server of bal to free a connection
// slot and returns it picked (nil when the wait timed out). It sleeps on the
// balancer's release event, never polls.
func (b *Backend) queue(bal *balance.Balancer, key uint64, tried *balance.Tried) *balance.Server {
	t := time.NewTimer(b.opts.MaxConnWait)
	defer t.Stop()
	for {
		freed := bal.Wait()
		srv := bal.Pick(key, tried) // a slot freed before Wait is not missed
		if srv != nil {
			bal.Unwait()
			return srv
		}
		select {
		case <-freed:
			bal.Unwait()
		case <-t.C:
			bal.Unwait()
			return nil
		}
	}
}

// allFull reports whether some server of bal would be picked but for its
// connection limit (the slow path of a queued request only).
func (b *Backend) allFull(bal *balance.Balancer) bool {
	limit := int64(b.opts.MaxConnsPerServer)
	if limit <= 0 {
		return false
	}
	for _, s := range bal.Servers() {
		if s.Healthy() && !s.Draining() && s.Enabled() && s.Active() >= limit {
			return true
		}
	}
	return false
}

// localError answers the client with f's status and finishes ex.
func (ex *fhExchange) localError(ctx *fasthttp.RequestCtx, f Failure) {
	resp := &ctx.Response
	resp.Reset()
	st := f.Status()
	resp.SetStatusCode(st)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetBodyRaw(statusBody(st))
	switch f {
	case FailBadRequest, FailHeadTooLarge, FailBodyTooLarge, FailClientTimeout, FailClientAbort, FailUpgrade:
		resp.SetConnectionClose()
	case FailDenied:
		if ex.cc == nil || ex.cc.denied {
			resp.SetConnectionClose() // the connection itself was refused
		} // else one client of a trusted proxy: its other clients go on
	case FailRateLimited:
		ex.setRetryAfter(&resp.Header)
	}
	if ex.p.draining.Load() {
		resp.SetConnectionClose()
	}
	if ex.t.hsts != nil && ex.isTLS() {
		resp.Header.SetCanonical(strHSTS, ex.t.hsts)
	}
	ex.rec.Status, ex.rec.Failure = st, f
	ex.rec.BytesOut = int64(len(resp.Body()))
	ex.finish()
}

// parseError answers requests fasthttp itself refused (clientConn lets
// through only heads it validated, so this is defence in depth).
func (p *Proxy) parseError(ctx *fasthttp.RequestCtx, err error) {
	st := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		st = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		st = fasthttp.StatusRequestEntityTooLarge
	case isTimeout(err):
		st = fasthttp.StatusRequestTimeout
	}
	cc, _ := ctx.Conn().(*clientConn)
	if cc != nil && cc.reject != 0 {
		st = cc.reject
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(st)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyRaw(statusBody(st))
	ctx.Response.SetConnectionClose()
	if cc == nil || (cc.bodyErr == nil && cc.reject == 0) {
		return // no complete head was seen: nothing to record
	}
	// fasthttp pre-reads up to 8 KiB of a body before calling the handler;
	// a body failure there ends up here, and is still a request to record.
	f := violationFailure(cc.viol)
	if cc.reject == 0 {
		f = FailClientAbort
		if isTimeout(cc.bodyErr) {
			f = FailClientTimeout
		}
	}
	ex := acquireFhExchange(p, p.table.Load(), ctx, cc)
	ex.rec.Status, ex.rec.Failure = st, f
	ex.rec.BytesOut = int64(len(ctx.Response.Body()))
	ex.finish()
}

// fhLogger sends fasthttp's own messages to slog at debug level.
type fhLogger struct{ l *slog.Logger }

func (f fhLogger) Printf(format string, args ...any) {
	if f.l.Enabled(context.Background(), slog.LevelDebug) {
		f.l.Debug("fasthttp: " + fmt.Sprintf(format, args...))
	}
}
