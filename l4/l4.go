package l4

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/proxyproto"
	"github.com/sluicelb/sluice/ratelimit"
)

// Refusal says why a client was turned away before a server was tried.
type Refusal uint8

// Refusals.
const (
	RefusedAccess        Refusal = iota + 1 // the access list denied the client
	RefusedRateLimit                        // a rate limit rule refused the connection
	RefusedLimit                            // max_connections of the frontend or the process
	RefusedNoServer                         // no server available or none reachable
	RefusedShutdown                         // the engine is stopping
	RefusedProxyProtocol                    // a missing, malformed or untrusted PROXY protocol header
	RefusedNoRoute                          // routes by SNI: none matched and there is no default backend
)

// Backend is the server pool a frontend sends to.
type Backend struct {
	Name     string
	Balancer *balance.Balancer
	// ConnectTimeout bounds one dial. Must be > 0.
	ConnectTimeout time.Duration
	// RateLimit, if not nil, limits new connections to the whole backend
	// (contract §2a backends[].rate_limit), shared with every frontend that
	// uses it; over it a client is refused with RefusedRateLimit. Not owned.
	RateLimit *ratelimit.Rule
}

// Admit decides whether a client may connect; it returns 0 to admit or the
// refusal. Called on the accept goroutine: it must be fast and must not block.
type Admit func(client netip.Addr) Refusal

// Options configure a Frontend. Every field must be set: app fills in defaults.
type Options struct {
	Name   string
	Engine *engine.Engine
	// Backend takes the sessions no route matches; with Routes it may be
	// nil (such sessions are then closed).
	Backend *Backend
	// Routes, if any, choose the backend by the server name of the
	// client's TLS ClientHello: it is read first (off the event loops, at
	// most clienthello.MaxRead bytes, within HelloTimeout), then replayed
	// to the chosen server (after a PROXY protocol header, if one is sent)
	// before any other byte flows. No server name, or bytes that are not a
	// well-formed ClientHello, go to Backend. Without Routes nothing is
	// read before the server is dialed (server-first protocols work).
	Routes       []Route
	HelloTimeout time.Duration
	IdleTimeout  time.Duration
	// Conns is this frontend's max_connections, Global the process-wide one.
	Conns, Global *gate.Gate
	// Admit runs before the connection limits (access lists, rate limits).
	Admit Admit
	Hooks Hooks
	Log   *slog.Logger
	// ProxyProtocol: read a PROXY protocol header from peers Trusted says
	// yes to (within HeaderTimeout of accept), and take the client it names
	// as the session's client; see proxyproto.go.
	ProxyProtocol bool
	Trusted       func(netip.Addr) bool
	HeaderTimeout time.Duration
}

// Frontend is one tcp frontend. Its methods are safe for concurrent use.
type Frontend struct {
	opts   atomic.Pointer[frontendState]
	mu     sync.Mutex
	lns    []*net.TCPListener
	closed bool
	wg     sync.WaitGroup
}

// frontendState is what a session reads: swapped whole on Update, so a
// session keeps the options it started with.
type frontendState struct {
	Options
	sess engine.SessionOptions
}

// New returns a Frontend; call Serve with its listeners.
func New(o Options) *Frontend {
	f := &Frontend{}
	f.Update(o)
	return f
}

// Update swaps the frontend's options (reload). Sessions in flight keep theirs.
func (f *Frontend) Update(o Options) {
	st := &frontendState{Options: o}
	st.sess = engine.SessionOptions{
		IdleTimeout: o.IdleTimeout,
		BytesIn:     o.Hooks.BytesIn(),
		BytesOut:    o.Hooks.BytesOut(),
		OnEnd:       st.onEnd,
	}
	f.opts.Store(st)
}

// Name returns the frontend's name.
func (f *Frontend) Name() string { return f.opts.Load().Name }

// Start accepts on each listener in its own goroutine until Close. The
// frontend owns the listeners from here on (also when already closed).
func (f *Frontend) Start(lns ...*net.TCPListener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ln := range lns {
		if f.closed {
			_ = ln.Close()
			continue
		}
		f.lns = append(f.lns, ln)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := engine.Serve(ln, f.accept, f.opts.Load().Log); err != nil {
				f.opts.Load().Log.Error("tcp listener stopped", "frontend", f.Name(), "error", err.Error())
			}
		}()
	}
}

// Close stops accepting and waits for the accept loops to return; sessions in
// flight go on.
func (f *Frontend) Close() {
	f.mu.Lock()
	f.closed = true
	for _, ln := range f.lns {
		_ = ln.Close()
	}
	f.lns = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// Listeners returns the frontend's open listeners (for a binary upgrade hand-over).
func (f *Frontend) Listeners() []*net.TCPListener {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*net.TCPListener(nil), f.lns...)
}

// accept runs on the accept goroutine for each new client.
func (f *Frontend) accept(c *net.TCPConn) {
	st := f.opts.Load()
	if st.ProxyProtocol {
		go st.acceptProxied(c) // reading the header may wait
		return
	}
	o := &origin{client: clientAddr(c)}
	if st.admit(c, o) {
		go st.connect(c, o)
	}
}

// admit applies the access lists, rate limits and connection limits to a
// new client; false: it was refused (and closed).
func (st *frontendState) admit(c *net.TCPConn, o *origin) bool {
	ip := o.client.Addr()
	if r := st.Admit(ip); r != 0 {
		refuse(c)
		st.Hooks.Refused(r, ip)
		return false
	}
	if len(st.Routes) == 0 && !st.allowBackend(st.Backend) {
		refuse(c)
		st.Hooks.Refused(RefusedRateLimit, ip)
		return false
	}
	if !st.Global.TryAcquire() {
		refuse(c)
		st.Hooks.Refused(RefusedLimit, ip)
		return false
	}
	if !st.Conns.TryAcquire() {
		st.Global.Release()
		refuse(c)
		st.Hooks.Refused(RefusedLimit, ip)
		return false
	}
	st.Hooks.Opened()
	return true
}

// allowBackend applies the backend's rate limit (nil backend: allowed).
func (st *frontendState) allowBackend(be *Backend) bool {
	if be == nil || be.RateLimit == nil {
		return true
	}
	ok, _ := be.RateLimit.Allow(0, ratelimit.Now())
	return ok
}

// conn is the l4 state of one session (engine.Session.User).
type conn struct {
	client netip.Addr
	srv    *balance.Server
	be     *Backend
	route  int   // index in Options.Routes, -1 for Backend
	hello  int64 // bytes read before the session (the ClientHello), counted in BytesIn
}

// connect chooses the backend (by the ClientHello's server name when there
// are routes), dials a server, trying the next one (at most once each) when
// a dial fails, replays the bytes read to choose, then hands the pair to
// the engine.
func (st *frontendState) connect(c *net.TCPConn, o *origin) {
	ip := o.client.Addr()
	be, route, hello := st.Backend, -1, []byte(nil)
	if len(st.Routes) > 0 {
		buf := append(getHelloBuf(), o.leftover...) // bytes after a PROXY header start the hello
		o.leftover = nil
		defer func() { putHelloBuf(buf) }()
		var name string
		var err error
		hello, name, err = readHello(c, time.Now().Add(st.HelloTimeout), buf)
		refusal := RefusedNoRoute
		if o.untrusted {
			if sig, _ := proxyproto.HasSignature(hello); sig {
				refusal, be = RefusedProxyProtocol, nil
			}
		}
		if len(hello) == 0 && err != nil {
			be = nil // nothing arrived: closed or timed out
		} else if route = st.route(name); route >= 0 && refusal == RefusedNoRoute {
			be = st.Routes[route].Backend
		}
		if be != nil && !st.allowBackend(be) {
			be, refusal = nil, RefusedRateLimit
		}
		if be == nil {
			refuse(c)
			st.release()
			st.Hooks.Refused(refusal, ip)
			return
		}
	}
	var tried balance.Tried
	key := balance.KeyIP(ip)
	d := net.Dialer{Timeout: be.ConnectTimeout, KeepAlive: 30 * time.Second}
	// At most one attempt per server, whatever the balancer does.
	for n := len(be.Balancer.Servers()); ; n-- {
		var srv *balance.Server
		if n > 0 {
			srv = be.Balancer.Pick(key, &tried)
		}
		if srv == nil {
			refuse(c)
			st.release()
			st.Hooks.Refused(RefusedNoServer, ip)
			return
		}
		bc, err := d.Dial("tcp", srv.Addr())
		if err != nil {
			srv.Release()
			st.Hooks.ConnectFailed(srv, err)
			continue
		}
		if err := st.prelude(c, bc.(*net.TCPConn), srv, o, be.ConnectTimeout); err != nil {
			_ = bc.Close()
			refuse(c)
			st.release()
			srv.Release()
			st.Hooks.Refused(RefusedProxyProtocol, ip)
			st.Log.Debug("tcp session refused", "frontend", st.Name, "client", ip.String(), "error", err.Error())
			return
		}
		if len(hello) > 0 {
			// The ClientHello (and whatever came with it) reaches the
			// server before any other byte.
			_ = bc.SetWriteDeadline(time.Now().Add(be.ConnectTimeout))
			_, err := bc.Write(hello)
			_ = bc.SetWriteDeadline(time.Time{})
			if err != nil {
				_ = bc.Close()
				srv.Release()
				st.Hooks.ConnectFailed(srv, err)
				continue
			}
			st.sess.BytesIn.Add(len(hello))
		}
		st.Hooks.Connected(srv)
		if err := st.Engine.Proxy(c, bc.(*net.TCPConn), &st.sess, &conn{client: ip, srv: srv, be: be, route: route, hello: int64(len(hello))}); err != nil {
			if errors.Is(err, engine.ErrStopped) {
				return // OnEnd has run
			}
			st.Log.Warn("tcp session not started", "frontend", st.Name, "server", srv.Addr(), "error", err.Error())
		}
		return
	}
}

// onEnd runs once per session, on an event loop or a pipe goroutine.
func (st *frontendState) onEnd(s *engine.Session) {
	c := s.User.(*conn)
	c.srv.Release()
	st.release()
	info := SessionInfo{Frontend: st.Name, Backend: c.be.Name, Route: c.route, Client: c.client, Server: c.srv,
		Start: s.Start, Duration: time.Since(s.Start), Close: s.Close, Err: s.Err,
		BytesIn: s.BytesIn + c.hello, BytesOut: s.BytesOut}
	st.Hooks.Ended(&info)
}

func (st *frontendState) release() {
	st.Conns.Release()
	st.Global.Release()
	st.Hooks.Closed()
}

// refuse closes a client at once with a reset, as a refused connection.
func refuse(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

func clientAddr(c *net.TCPConn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// IsTimeout reports whether a dial error was a timeout (for the failure reason).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// ServerOf returns the server of a session from its engine user value (as
// passed to engine.Abort's match function), or nil for another kind of value.
func ServerOf(user any) *balance.Server {
	if c, ok := user.(*conn); ok {
		return c.srv
	}
	return nil
}
