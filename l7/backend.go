package l7

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// Backend defaults applied by NewBackend to zero fields.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	DefaultIdleTimeout     = time.Second
	DefaultMaxConnWait     = 100 * time.Millisecond
	unlimitedConns         = 1 << 20
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
	// before reuse (upConn.alive), and a request it breaks is retried
	// (FailStale).
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

// Backend is a named group of servers behind a *balance.Balancer, with one
// fasthttp.HostClient (a keep-alive pool) per server, stored in the server's
// Ext(balance.ExtL7) slot. Safe for concurrent use; Update swaps the
// balancer atomically.
type Backend struct {
	opts   BackendOptions
	bal    atomic.Pointer[balance.Balancer]
	sticky atomic.Pointer[stickyTable] // nil: sticky sessions off
	mu     sync.Mutex                  // serializes attaching upstreams

	// The event loops with requests queued for a server slot (queue.go);
	// waiting is their count, so a release looks at one atomic when
	// nobody waits.
	wmu     sync.Mutex
	wloops  map[*rloop]int
	waiting atomic.Int32
}

// upstream is what a Backend keeps in a server's ExtL7 slot.
type upstream struct {
	tls  *tls.Config // nil: plain TCP
	hc   *fasthttp.HostClient
	pool connPool       // hc's connection pool (transport.go)
	opts BackendOptions // the options hc was built with
	srv  *balance.Server

	// The event-loop path: connections are dialed with dialer and pooled
	// per loop (bconn.go); open counts them (pooled, busy and dialing).
	dialer net.Dialer
	open   atomic.Int64
}

// NewBackend builds a Backend over bal and attaches a HostClient to each of
// its servers that has none yet. A server that already carries the pool of
// another Backend (a reload that changed the options) keeps it until Update:
// building a Backend never changes what running requests use.
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
// balance keeps them by identity) keep their HostClient and its pooled
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
		// Options changed: new pool; the old one's idle conns close now,
		// busy ones when their requests end.
		defer u.hc.CloseIdleConnections()
	}
	u := &upstream{opts: b.opts, srv: s,
		dialer: net.Dialer{Timeout: b.opts.ConnectTimeout, KeepAlive: 15 * time.Second}}
	u.hc = newHostClient(s.Addr(), b.opts)
	u.pool = newHostPool(u.hc.AcquireConn, u.hc.ReleaseConn, u.hc.CloseConn)
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

// newHostClient builds the connection pool of one server. Only its pool is
// used (AcquireConn/ReleaseConn/CloseConn and the bufio pools, see
// transport.go); the Do-related fields are set anyway, so that a call to Do
// (tests, debugging) behaves as sluice does: no retries, streamed bodies,
// paths untouched.
func newHostClient(addr string, o BackendOptions, tlsConfig *tls.Config) *fasthttp.HostClient {
	maxConns := o.MaxConnsPerServer
	if maxConns == 0 {
		maxConns = unlimitedConns
	}
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	rt := o.ResponseTimeout
	return &fasthttp.HostClient{
		Addr:                      addr,
		NoDefaultUserAgentHeader:  true,
		MaxConns:                  maxConns,
		MaxConnWaitTimeout:        o.MaxConnWait,
		MaxIdleConnDuration:       o.IdleTimeout,
		MaxIdemponentCallAttempts: 1, // sluice decides retries (failure.go)
		RetryIf:                   func(*fasthttp.Request) bool { return false },
		DisablePathNormalizing:    true,
		StreamResponseBody:        true,
		SecureErrorLogMessage:     true,
		ConnPoolStrategy:          fasthttp.LIFO,
		ReadBufferSize:            16 << 10,
		// ReadTimeout/WriteTimeout stay 0: fasthttp would apply them to the
		// whole (streamed) response; upConn applies ResponseTimeout per wait.
		Dial: func(a string) (net.Conn, error) {
			c, err := dialUp(d, a, tlsConfig, o.ConnectTimeout, rt)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

// dialUp dials a server connection (and completes its TLS handshake when
// tlsConfig is set, within connectTimeout too). The error of a failed dial
// is a *dialError (nothing was sent: classify says FailConnect).
func dialUp(d *net.Dialer, addr string, tlsConfig *tls.Config, connectTimeout, timeout time.Duration) (*upConn, error) {
	raw, c, err := dialServer(d, addr, tlsConfig, connectTimeout)
	if err != nil {
		return nil, err
	}
	uc := &upConn{Conn: c, timeout: timeout}
	if tc, ok := raw.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			uc.rc = rc
			uc.peek = uc.peekFD // built once: alive allocates nothing
		}
	}
	return uc, nil
}

// upConn is a server connection. It bounds every read and write by the
// response timeout (an inactivity timeout, so long streams work), counts
// the bytes of the current exchange (so a failure can tell "nothing
// answered" apart) and the requests it carried, and can tell whether the
// server closed it while it sat in the pool (alive). Used by one request at
// a time.
type upConn struct {
	net.Conn
	timeout time.Duration
	uses    int       // requests begun on it; > 0 means a reused pooled connection
	rx, tx  int64     // bytes read and written in the current exchange
	last    time.Time // start of the last read or write: when it went idle, give or take
	rc      syscall.RawConn
	peek    func(fd uintptr)
	peeked  int8 // what peek found
	pbuf    [1]byte
}

func (c *upConn) Read(p []byte) (int, error) {
	c.last = time.Now()
	_ = c.Conn.SetReadDeadline(c.last.Add(c.timeout))
	n, err := c.Conn.Read(p)
	c.rx += int64(n)
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	c.last = time.Now()
	_ = c.Conn.SetWriteDeadline(c.last.Add(c.timeout))
	n, err := c.Conn.Write(p)
	c.tx += int64(n)
	return n, err
}

// What a peek at an idle pooled connection found.
const (
	peekFailed int8 = iota // the socket reported an error (reset)
	peekEmpty              // nothing to read: the connection is open and quiet
	peekEOF                // the server closed it (FIN)
	peekData               // bytes nobody asked for: the connection is out of step
)

// alive reports whether an idle pooled connection can carry a request: a
// non-blocking MSG_PEEK finds nothing to read. The server's FIN (EOF), a
// reset, or stray bytes all mean it cannot. It is one recvfrom system call
// and allocates nothing; the Go runtime's poller and deadlines are not
// involved (RawConn.Control).
func (c *upConn) alive() bool {
	if c.rc == nil {
		return true // not a TCP connection: nothing to look at
	}
	c.peeked = peekFailed
	if err := c.rc.Control(c.peek); err != nil {
		return false
	}
	return c.peeked == peekEmpty
}

func (c *upConn) peekFD(fd uintptr) {
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.pbuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == syscall.EAGAIN:
		c.peeked = peekEmpty
	case errno != 0:
		c.peeked = peekFailed
	case n == 0:
		c.peeked = peekEOF
	default:
		c.peeked = peekData
	}
}
